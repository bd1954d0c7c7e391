"""Cue families in the shortcut audit and the criteria of `vpt audit --strict` (issue 26)."""

import json

import numpy as np
import pandas as pd
import pytest

from vpt.datasets.audit import audit_cues
from vpt.datasets.audit_families import auc_smd, checks, profile_of
from vpt.datasets.cues import CUE_FAMILY, DERIVED_CUES, FAMILY_NAMES, GEOMETRY_CUES, RGB_CUES, family_cues, image_cues

CUES = ["ball_x", "viewer_width", "brightness",  # nuisance
        "facing_ball_angle", "cover_lens_1", "segment_gap",  # image-plane
        "dy", "size_ratio", "ball_area"]  # depth


def _table(n=600, seed=0, leak=None, scale=3.0):
    g = np.random.default_rng(seed)  # test data only
    df = pd.DataFrame({c: g.normal(size=n) for c in CUES})
    df["scene_id"] = [f"s{i}" for i in range(n)]
    df["split"] = np.where(np.arange(n) % 3 == 0, "test", "train")
    df["vpt_label"] = g.integers(0, 2, n)
    df["depth_label"] = g.integers(0, 2, n)
    df["hidden_reason"] = np.where(df["vpt_label"] == 1, "", np.where(g.random(n) < 0.5, "occluded", "out_of_view"))
    df["sweep_id"] = ""
    if leak:
        df[leak] = df["vpt_label"] * scale + g.normal(scale=0.3, size=n)
    return df


def test_every_cue_has_one_family_and_the_planned_cues_are_untouched():
    names = [*GEOMETRY_CUES, *DERIVED_CUES, *RGB_CUES]
    assert set(CUE_FAMILY) == set(names) and set(CUE_FAMILY.values()) == set(FAMILY_NAMES)
    assert sum(len(family_cues(f)) for f in FAMILY_NAMES) == len(names)
    assert CUE_FAMILY["facing_ball_angle"] == CUE_FAMILY["cover_lens_1"] == CUE_FAMILY["facing_rule_2d"] == "image-plane"
    assert CUE_FAMILY["dy"] == CUE_FAMILY["size_ratio"] == CUE_FAMILY["viewer_area"] == "depth"
    assert CUE_FAMILY["ball_x"] == CUE_FAMILY["mean_r"] == CUE_FAMILY["near_ball_occ"] == "nuisance"
    assert not set(DERIVED_CUES) & set(GEOMETRY_CUES)  # the matched sampler reads GEOMETRY_CUES only
    with pytest.raises(ValueError, match="unknown cue family"):
        family_cues("colour")


def test_derived_cues_apply_the_two_rules_and_read_ground_contacts():
    mask = np.zeros((40, 60), np.uint8)
    mask[20:30, 10:16] = 2  # viewer, bottom row 29
    mask[15:19, 40:44] = 1  # ball, bottom row 18, straight ahead of the lens
    c = image_cues(mask, None, (16.0, 25.0))
    assert c["facing_rule_2d"] == 1.0 and c["cover_rule_2d"] == 0.0 and c["image_plane_rule"] == 1.0
    assert (c["ball_bottom_y"], c["viewer_bottom_y"], c["bottom_dy"]) == (19.0, 30.0, -11.0)
    mask[5:38, 20:36] = 10  # a wall over most of the segment
    c = image_cues(mask, None, (16.0, 25.0))
    assert c["cover_rule_2d"] == 1.0 and c["image_plane_rule"] == 0.0
    c = image_cues(mask, None, (4.0, 25.0))  # lens on the far side: the ball is behind the viewer
    assert c["facing_rule_2d"] == 0.0


def test_a_leak_shows_in_its_own_family_only():
    res = audit_cues(_table(leak="cover_lens_1"), permutations=0)
    fs = res.family_single
    assert fs.loc["image-plane", "vpt_label"] > 0.95 and fs.loc["image-plane", "vpt_label cue"] == "cover_lens_1"
    assert fs.loc["nuisance", "vpt_label"] < 0.65 and fs.loc["depth", "vpt_label"] < 0.65
    fv = res.family_vpt
    assert fv.loc["image-plane · boosted trees", "test"] > 0.95
    assert fv.loc["nuisance · logistic", "test"] < 0.65 and fv.loc["depth · boosted trees", "test"] < 0.65
    assert "Cue families" in res.to_markdown()
    out = json.loads(res.to_json())
    assert out["family_strongest_cue"]["image-plane"]["vpt_label cue"] == "cover_lens_1"
    assert out["family_vpt"]["image-plane · logistic"]["test"] > 0.95
    # the graded cue separates the labels in both halves of the task
    assert res.balance.loc["cover_lens_1", "VPT, all AUC"] > 0.95


def test_auc_and_smd():
    y = np.array([0, 0, 0, 1, 1, 1])
    auc, smd = auc_smd(np.array([1.0, 2, 3, 4, 5, 6]), y)
    assert auc == 1.0 and smd == pytest.approx(3 / 1.0)
    auc, smd = auc_smd(np.array([1.0, 2, 3, np.nan, 2, 3]), y)  # NaN left out
    assert auc == pytest.approx((1 + 0.5 + 0 + 1 + 1 + 0.5) / 6) and smd > 0  # positives 2, 3 against 1, 2, 3
    assert np.isnan(auc_smd(np.array([1.0, 2.0]), np.array([0, 1]))[0])  # a label with one item


def _pairs(n=2000, seed=2):
    """Look-alike pairs: a visible item and a hidden one (occluded or out of view) with the
    same values of every cue, as a conflict set is built (the depth labels are random)."""
    df = _table(n=n, seed=seed)
    first = np.arange(n) % 2 == 0
    df.loc[~first, CUES] = df.loc[first, CUES].to_numpy()
    g = np.random.default_rng(seed + 100)
    reason = np.repeat(np.where(g.random(n // 2) < 0.5, "occluded", "out_of_view"), 2)
    df["vpt_label"] = np.where(first, 1, 0)
    df["hidden_reason"] = np.where(first, "", reason)
    df["split"] = np.repeat(np.where(np.arange(n // 2) % 3 == 0, "test", "train"), 2)
    df["pair_id"] = [f"p{i // 2}" for i in range(n)]
    return df


def test_profile_and_conflict_criteria():
    df = _table(n=900, seed=2)
    assert profile_of(df) == "basic"
    assert [c.name for c in audit_cues(df, permutations=0).checks()] == ["strongest single cue, VPT"]
    df = _pairs()
    assert profile_of(df) == "conflict"
    res = audit_cues(df, permutations=0)
    names = [c.name for c in res.checks()]
    assert res.profile == "conflict" and any("AUC (VPT, visible vs occluded" in n for n in names)
    assert any("image height and image size" in n for n in names) and "nuisance cues together, test" in names
    assert res.passed(), [c for c in res.checks() if not c.passed]
    # an image-plane cue that leaks on the occluded half only fails that half's AUC
    leak = df["hidden_reason"].isin(["", "occluded"]).to_numpy()
    g = np.random.default_rng(3)
    df.loc[leak, "cover_lens_1"] = (1 - df.loc[leak, "vpt_label"]) * 0.4 + g.normal(scale=1.0, size=leak.sum())
    bad = {c.name: c for c in audit_cues(df, permutations=0).checks()}
    assert not bad["image-plane cues' AUC (VPT, visible vs occluded; furthest from 0.5)"].passed
    # the depth criteria read the depth pairs where the index names pair kinds
    df = _table(n=900, seed=4)
    df["pair_kind"] = np.where(np.arange(len(df)) % 2 == 0, "depth", "facing")
    depth = (df["pair_kind"] == "depth").to_numpy()
    df.loc[~depth, "dy"] = df.loc[~depth, "depth_label"] * 5.0  # a leak outside the depth pairs: not judged
    res = audit_cues(df, permutations=0)
    assert {c.name: c for c in res.checks()}["image height and image size AUC (depth label; furthest from 0.5)"].passed
    with pytest.raises(ValueError, match="profile"):
        checks("other", 0.5, 0.6, pd.DataFrame(), pd.DataFrame(), pd.DataFrame())


def test_hidden_reason_groups_compare_the_halves_of_the_same_pairs():
    """In a conflict set the visible halves of cover pairs are covered as much as their
    occluded halves, the visible halves of facing pairs not at all: the group "visible vs
    occluded" compares the halves of the cover pairs (ids ending -a / -b), not every visible
    item with the occluded ones, which would read the pair kinds' difference as a leak."""
    from vpt.datasets.audit_families import balance_table

    df = _pairs(seed=5).drop(columns="pair_id")
    df["scene_id"] = [f"c-{i // 2}-{'ab'[i % 2]}" for i in range(len(df))]
    cover = df.groupby(df["scene_id"].str[:-2])["hidden_reason"].transform("max").eq("occluded")
    df.loc[cover, "cover_lens_1"] += 3.0  # both halves of every cover pair covered
    t = balance_table(df, ["cover_lens_1"])
    assert abs(t.loc["cover_lens_1", "VPT, visible vs occluded AUC"] - 0.5) < 0.01
    assert abs(t.loc["cover_lens_1", "VPT, visible vs out of view AUC"] - 0.5) < 0.01
    assert t.loc["cover_lens_1", "VPT, visible vs occluded SMD"] == pytest.approx(0.0, abs=1e-9)
    df["scene_id"] = [f"s{i}" for i in range(len(df))]  # no pairs: every visible item against the occluded ones
    t = balance_table(df, ["cover_lens_1"])
    assert t.loc["cover_lens_1", "VPT, visible vs occluded AUC"] < 0.4


def test_invariance_and_conflict_sets_are_judged_beside_a_basic_set():
    df = _table(leak="facing_ball_angle", scale=0.4, seed=5)
    sw = df.iloc[:60].copy()
    sw["sweep_id"], sw["sweep_kind"], sw["split"] = "invariance-000", "invariance", "strategy"
    sw["sweep_step_label"] = sw["vpt_label"].astype(str)  # the leak holds along these sweeps
    sw[["vpt_label", "depth_label"]] = np.nan
    other = _table(n=120, seed=6)  # a conflict set: the cue tells nothing there
    other["split"] = "conflict " + other["split"]
    res = audit_cues(pd.concat([df, sw, other], ignore_index=True), permutations=0)
    assert res.n_items == len(df) and "conflict test" in res.combined.columns
    found = {c.name: c for c in res.checks()}
    assert not found["strongest cue model on invariance sweeps"].passed
    trees = found["boosted trees, all cues, basic train -> conflict test"]
    assert trees.value == res.combined.loc["boosted trees", "conflict test"] and trees.value < 0.65
    assert not res.passed() and "FAIL" in res.to_markdown()


def test_conflict_sets_beside_a_basic_set_are_found(tmp_path, monkeypatch):
    from vpt.datasets import audit_families as fam

    indexes = {"depth-vpt": pd.DataFrame({"scene_id": ["a"], "sweep_id": [""], "recipe": ["depth-vpt"]}),
               "conflict": pd.DataFrame({"scene_id": ["c"], "sweep_id": [""], "pair_id": ["p0"]}),
               "named": pd.DataFrame({"scene_id": ["n"], "sweep_id": [""], "recipe": ["conflict-small"]}),
               "vpt-strategy": pd.DataFrame({"scene_id": ["s"], "sweep_id": ["inv-0"], "recipe": ["vpt-strategy"]})}
    for name in [*indexes, "not-a-dataset"]:
        (tmp_path / name).mkdir()
    import vpt.datasets.index as index_mod

    monkeypatch.setattr(index_mod, "is_dataset", lambda p: p.name in indexes)
    monkeypatch.setattr(index_mod, "read_index", lambda p, columns=None: indexes[p.name])
    found = fam.conflict_folders_beside(tmp_path / "depth-vpt")
    assert [p.name for p in found] == ["conflict", "named"]
