"""The shortcut audit: single image cues, the permutation null, combined models, --strict."""

import copy

import numpy as np
import pandas as pd
import pytest
import yaml

from vpt.cli import main
from vpt.datasets import audit as audit_mod
from vpt.datasets.audit import audit_cues
from vpt.datasets.cues import GEOMETRY_CUES
from vpt.errors import UserError
from tests.conftest import recipe_dict


def _table(n=240, leak=None, seed=0):
    g = np.random.default_rng(seed)  # test data only
    df = pd.DataFrame({c: g.normal(size=n) for c in list(GEOMETRY_CUES)[:8]})
    df["scene_id"] = [f"s{i}" for i in range(n)]
    df["split"] = np.where(np.arange(n) % 3 == 0, "test", "train")
    df["vpt_label"] = g.integers(0, 2, n)
    df["depth_label"] = g.integers(0, 2, n)
    df["sweep_id"] = ""
    if leak:
        df[leak] = df["vpt_label"] * 3.0 + g.normal(scale=0.3, size=n)
    return df


def test_audit_catches_a_planted_shortcut_and_passes_noise():
    clean = audit_cues(_table(n=900), permutations=3)
    assert clean.passed() and clean.max_single("vpt_label") < 0.6
    assert 0.5 < clean.null_max["vpt_label"] < 0.65
    leaky = audit_cues(_table(leak="ball_x"), permutations=0)
    assert not leaky.passed() and leaky.worst_cue() == "ball_x"
    assert leaky.single.loc["ball_x", "vpt_label cv logistic"] > 0.95
    assert leaky.single.loc["ball_x", "vpt_label test tree"] > 0.95
    assert leaky.combined.loc["logistic", "test"] > 0.95
    assert "FAIL" in leaky.to_markdown() and '"passed": false' in leaky.to_json()


def test_the_cell_table_finds_the_cell_a_leak_lives_in():
    """A cue gives the label away in one counterbalancing cell only: the per-cell table of
    the combined models shows that cell near 1 and the others near chance, and splits the
    cell's accuracy by kind of item."""
    df = _table(n=1600, seed=3)
    g = np.random.default_rng(4)
    cells = ["ball-left/facing-right/overlap-no", "ball-left/facing-left/overlap-no",
             "ball-right/facing-left/overlap-yes", "ball-right/facing-right/overlap-yes"]
    df["cell"] = [cells[i % 4] for i in range(len(df))]
    df["hidden_reason"] = np.where(df["vpt_label"] == 1, "", np.where(g.random(len(df)) < 0.5, "occluded",
                                                                     "out_of_view"))
    leak = (df["cell"] == cells[0]).to_numpy()
    df.loc[leak, "ball_x"] = df.loc[leak, "vpt_label"] * 4.0 + g.normal(scale=0.3, size=leak.sum())
    res = audit_cues(df, permutations=0)
    t = res.by_cell
    assert sorted(t.index) == sorted(cells)
    assert t["n"].sum() == (df["split"] == "test").sum()
    # (its hidden items share ball_x with the other cells' items, so not quite 1)
    assert t.loc[cells[0], "boosted trees"] > 0.85 and t.loc[cells[0], "trees, visible"] > 0.95
    assert t.loc[cells[0], "trees, occluded"] > 0.75 and t.loc[cells[0], "trees, out of view"] > 0.75
    assert all(0.3 < t.loc[c, "boosted trees"] < 0.7 for c in cells[1:])
    assert "Where the combined cues win" in res.to_markdown()
    assert '"combined_vpt_by_cell"' in res.to_json()
    # a table without cells (old cue tables) has no per-cell section
    bare = audit_cues(_table(), permutations=0)
    assert bare.by_cell.empty and "Where the combined cues win" not in bare.to_markdown()


def test_the_two_halves_of_the_task_are_audited_apart():
    """A cue that tells out-of-view items from visible ones, and nothing that tells occluded
    ones: the visible-vs-out-of-view half is near 1, the visible-vs-occluded half near chance
    (balanced accuracy, so the 2:1 visible majority of a half is no help)."""
    df = _table(n=1500, seed=5)
    g = np.random.default_rng(6)
    df["hidden_reason"] = np.where(df["vpt_label"] == 1, "", np.where(g.random(len(df)) < 0.5, "occluded",
                                                                     "out_of_view"))
    out = (df["hidden_reason"] == "out_of_view").to_numpy()
    df.loc[out, "ball_x"] = 4.0 + g.normal(scale=0.3, size=out.sum())
    halves = audit_cues(df, permutations=0).by_reason
    assert list(halves.columns) == ["visible vs occluded", "visible vs out of view"]
    for model in ("logistic", "boosted trees"):
        assert halves.loc[model, "visible vs out of view"] > 0.95
        assert 0.4 < halves.loc[model, "visible vs occluded"] < 0.6
    # occlusion half: only the overlap cells, where visible items are not told apart by the
    # overlap alone (a cue that is high in the other cells' visible items must not help)
    df["ball_x"] = g.normal(size=len(df))  # no out-of-view leak this time
    df["cell"] = np.where(np.arange(len(df)) % 2 == 0, "ball-left/facing-left/overlap-yes",
                          "ball-left/facing-left/overlap-no")
    df.loc[(df["cell"] == "ball-left/facing-left/overlap-yes") & (df["vpt_label"] == 0), "hidden_reason"] = "occluded"
    df.loc[df["cell"].str.endswith("overlap-no") & (df["vpt_label"] == 0), "hidden_reason"] = "out_of_view"
    df["segment_gap"] = np.where(df["cell"].str.endswith("overlap-no"), 5.0, 0.0) + g.normal(scale=0.1, size=len(df))
    halves = audit_cues(df, permutations=0).by_reason
    assert 0.4 < halves.loc["boosted trees", "visible vs occluded"] < 0.6


def test_a_band_cue_is_caught_by_the_tree():
    """Label 1 in the middle band only: a linear model cannot see it, a depth-2 tree can."""
    df = _table()
    g = np.random.default_rng(1)
    middle = g.normal(scale=0.3, size=len(df))
    outer = np.sign(g.normal(size=len(df))) * (2.0 + g.normal(scale=0.3, size=len(df)))
    df["segment_length"] = np.where(df["vpt_label"] == 1, middle, outer)
    res = audit_cues(df, permutations=0)
    assert res.single.loc["segment_length", "vpt_label cv tree"] > 0.95
    assert res.single.loc["segment_length", "vpt_label cv logistic"] < 0.7
    assert not res.passed()


def test_sweep_rows_are_evaluation_sets_only():
    df = _table(leak="ball_x")
    sw = df.iloc[:30].copy()
    sw["sweep_id"], sw["sweep_kind"], sw["split"] = "turn-000", "viewer_turn", "strategy"
    sw["sweep_step_label"] = np.where(sw["vpt_label"] == 1, "0", "1")  # the cue now points the wrong way
    sw[["vpt_label", "depth_label"]] = np.nan
    res = audit_cues(pd.concat([df, sw], ignore_index=True), permutations=0)
    assert res.n_items == len(df)
    assert res.combined.loc["logistic", "sweep viewer_turn"] < 0.1


def test_audit_rejects_bad_tables():
    with pytest.raises(UserError, match="lacks the columns"):
        audit_cues(pd.DataFrame({"a": [1]}))
    with pytest.raises(UserError, match="too few"):
        audit_cues(_table(n=12))


@pytest.fixture(scope="module")
def tiny_recipe(tmp_path_factory):
    d = copy.deepcopy(recipe_dict("depth-vpt"))
    d["balance"]["pool"] = 2  # matched selection on a small pool (fast)
    d.update(name="tiny-audit", splits={"train": 24, "val": 0, "test": 24, "ood": 0}, human_set=8, warmup=4)
    path = tmp_path_factory.mktemp("audit") / "tiny.yaml"
    path.write_text(yaml.safe_dump(d))
    return path


@pytest.mark.slow
def test_strict_recipe_audit_fails_over_the_limit_and_passes_under_it(tiny_recipe, monkeypatch, capsys):
    """`vpt audit RECIPE --strict` exits 1 when a cue is over the limit (it returned 0 always)."""
    monkeypatch.setattr(audit_mod, "N_PERMUTATIONS", 0)
    monkeypatch.setattr(audit_mod, "VPT_SINGLE_CUE_LIMIT", 0.0)
    assert main(["audit", str(tiny_recipe), "--strict"]) == 1
    assert "FAIL" in capsys.readouterr().out
    monkeypatch.setattr(audit_mod, "VPT_SINGLE_CUE_LIMIT", 1.0)
    assert main(["audit", str(tiny_recipe), "--strict"]) == 0
    assert "analytic projection" in capsys.readouterr().out
