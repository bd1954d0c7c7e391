"""The conflict set as a dataset (vpt.datasets.conflict_set, vpt.datasets.conflict_card): the
recipe, the solving jobs, a small plan written by `vpt scenes` (pairs together, splits
disjoint, byte-identical for a seed whatever the number of processes), the card's criteria,
and one rendered pair checked by `vpt verify`."""

import copy
import json

import numpy as np
import pandas as pd
import pytest

from tests.conftest import recipe_dict
from vpt.datasets import conflict_card as cc
from vpt.datasets.conflict_set import INDEX_RANGE, SPLIT_OFFSET, pair_id, plan_jobs
from vpt.datasets.recipe import RecipeError, load_recipe, parse_recipe


def small(splits=None, **kw) -> dict:
    d = copy.deepcopy(recipe_dict("conflict"))
    d["splits"] = splits or {"train": 4, "val": 2, "test": 4, "ood": 2}
    d.update({"human_set": 2, "warmup": 2, **kw})
    d["conflict"]["pairs_per_job"] = 2  # two pairs per job, the kinds (facing, cover, depth) in turn
    return d


# ------------------------------------------------------------------------- recipe and jobs


def test_the_packaged_recipe_is_a_conflict_recipe():
    r = load_recipe("conflict")
    assert r.kind == "conflict" and r.name == "conflict"
    assert all(v % 2 == 0 for v in r.split_sizes().values())
    assert all(v % 2 == 0 for v in r.split_sizes("paper").values())
    assert r.split_sizes("paper")["test"] == 4 * r.split_sizes()["test"]
    assert r.config["conflict"]["basic"] == "depth-vpt"


@pytest.mark.parametrize("change, words", [
    (lambda d: d["splits"].update(test=5), "splits.test: the conflict set is made of look-alike pairs"),
    (lambda d: d.update(human_set=3), "human_set: the conflict set is made of look-alike pairs"),
    (lambda d: d.update(human_set=8), "cannot be drawn from a test split"),
    (lambda d: d.update(balance={"pool": 3}), "balance: unknown key"),
    (lambda d: d["conflict"].update(pairs_per_jobs=3), "Did you mean 'pairs_per_job'"),
])
def test_bad_conflict_recipes_say_what_is_wrong(change, words):
    d = small()
    change(d)
    with pytest.raises(RecipeError, match=words.replace("(", r"\(").replace(")", r"\)")):
        parse_recipe(d, "bad")


def test_jobs_cover_each_split_from_its_own_base_scenes():
    d = small({"train": 22, "val": 2, "test": 8, "ood": 0})
    d["conflict"]["pairs_per_job"] = 4
    r = parse_recipe(d, "t")
    jobs = plan_jobs(r)
    per = {s: sum(j.n_pairs for j in jobs if j.split == s) for s in ("train", "val", "test", "ood")}
    assert per == {"train": 11, "val": 1, "test": 4, "ood": 0}
    ranges = sorted((j.start, j.start + j.attempts) for j in jobs)
    assert all(a[1] <= b[0] for a, b in zip(ranges, ranges[1:]))  # no base scene tried twice
    for j in jobs:
        assert SPLIT_OFFSET[j.split] <= j.start and j.start + j.attempts <= SPLIT_OFFSET[j.split] + INDEX_RANGE
        assert j.attempts == j.n_pairs * d["conflict"]["attempts_per_pair"]
    d["splits"]["train"] = 10**6  # 500,000 pairs at 150 tries each
    with pytest.raises(RecipeError, match="base scenes"):
        plan_jobs(parse_recipe(d, "t"))


def test_pair_ids():
    assert pair_id("conflict-test-00000012-cover-a") == pair_id("conflict-test-00000012-cover-b")
    assert pair_id("conflict-test-00000012-cover-a") == "conflict-test-00000012-cover"


# ------------------------------------------------------------------------- the criteria's measures


def test_auc_and_smd_agree_with_the_textbook():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    x = rng.normal(size=200) + 0.8 * y
    assert cc.auc(x, y) == pytest.approx(roc_auc_score(y, x))
    assert cc.auc(np.ones(10), np.r_[np.ones(5), np.zeros(5)].astype(int)) == 0.5  # ties count half
    a, b = x[y == 1], x[y == 0]
    assert cc.smd(x, y) == pytest.approx((a.mean() - b.mean()) / np.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2))


def test_balance_rows_judge_by_hidden_reason():
    """A cue equal within pairs passes; one that separates the out-of-view pairs fails there
    (and its table row says so), however balanced it is over the occluded ones."""
    rows = []
    rng = np.random.default_rng(1)
    for i in range(40):
        reason = "occluded" if i % 2 else "out_of_view"
        v = rng.normal()
        for half, lab in (("a", 1), ("b", 0)):
            rows.append({"scene_id": f"c-test-{i:08d}-k-{half}", "vpt_label": lab, "depth_label": lab,
                         "hidden_reason": "" if lab else reason, "matched": v,
                         "leaky": v + (3.0 * lab if reason == "out_of_view" else 0.0)})
    t = pd.DataFrame(rows).assign(pair=lambda f: f["scene_id"].map(pair_id))
    out = {(r["cue"], r["group"]): r for r in cc.balance_rows(t, ["matched", "leaky"])}
    assert {g for _, g in out} == {"all", "visible vs occluded", "visible vs out of view"}
    assert all(out[("matched", g)]["pass"] and out[("matched", g)]["auc"] == 0.5 for _, g in out)
    assert out[("leaky", "visible vs occluded")]["pass"]
    assert not out[("leaky", "visible vs out of view")]["pass"] and out[("leaky", "visible vs out of view")]["auc"] > 0.8
    assert cc.family("cover_lens_1") == "image-plane" and cc.family("ball_y") == "depth"
    assert cc.family("brightness") == "nuisance" and cc.family("angle_2d") == "image-plane"


# ------------------------------------------------------------------------- a small plan, written


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """The small recipe planned and written (no render) with 2 planning processes: (dataset
    folder, recipe, the written scene records by id)."""
    from vpt.datasets import audit
    from vpt.datasets.pipeline import build_dataset

    mp = pytest.MonkeyPatch()
    mp.setattr(audit, "N_PERMUTATIONS", 2)
    d = small({"train": 12, "val": 4, "test": 8, "ood": 4})
    d["conflict"]["basic"] = ""
    r = parse_recipe(d, "small")
    out = tmp_path_factory.mktemp("conflict")
    mp.setenv("VPT_PLAN_WORKERS", "2")
    build_dataset(r, out, progress=False, log=lambda _: None)
    mp.undo()
    root = out / r.name
    recs = {f.stem: json.loads(f.read_text()) for f in (root / "scenes").rglob("*.json")}
    return root, r, recs


@pytest.mark.slow
def test_the_scene_json_is_byte_identical_for_a_seed_whatever_the_number_of_processes(written, tmp_path,
                                                                                         monkeypatch):
    from vpt.datasets.pipeline import build_dataset

    root, r, _ = written
    monkeypatch.setenv("VPT_PLAN_WORKERS", "1")
    build_dataset(r, tmp_path, progress=False, log=lambda _: None)
    files = sorted((root / "scenes").rglob("*.json"))
    assert len(files) == 28
    for f in files:
        assert f.read_bytes() == (tmp_path / r.name / f.relative_to(root)).read_bytes(), f.name
    assert sorted(p.name for p in (tmp_path / r.name / "scenes").rglob("*.json")) == sorted(f.name for f in files)


@pytest.mark.slow
def test_pairs_stay_together_and_splits_are_disjoint(written):
    from vpt.datasets.index import read_index
    from vpt.scene.labels import label_scenes
    from vpt.scene.spec import scene_from_dict

    root, r, recs = written
    df = read_index(root)
    assert df.groupby("split").size().to_dict() == {"train": 12, "val": 4, "test": 8, "ood": 4}
    assert set(df["cell"]) == {"facing", "cover", "depth"}
    # every pair serves VPT; only depth pairs serve the depth task, and both their labels flip
    assert (df["tasks"] == df["cell"].map({"facing": "vpt", "cover": "vpt", "depth": "vpt,depth"})).all()
    df["pair"] = df["scene_id"].map(pair_id)
    for _, g in df.groupby("pair"):
        assert len(g) == 2 and g["split"].nunique() == 1 and g["cell"].nunique() == 1
        assert sorted(g["vpt_label"]) == [0, 1] and g["depth_label"].notna().all()
        a, b = g[g["scene_id"].str.endswith("-a")].iloc[0], g[g["scene_id"].str.endswith("-b")].iloc[0]
        assert (a.vpt_label, a.hidden_reason) == (1, "")
        assert b.vpt_label == 0 and b.hidden_reason == {"facing": "out_of_view", "cover": "occluded",
                                                        "depth": "out_of_view"}[b.cell]
        if a.cell == "depth":
            assert sorted(g["depth_label"]) == [0, 1]
        assert a["style"] == b["style"]
        assert g["human_set"].nunique() == 1 and g["warmup"].nunique() == 1  # flags take whole pairs
    assert df.loc[df["human_set"], "split"].eq("test").all() and df["human_set"].sum() == 2
    assert df.loc[df["warmup"], "split"].eq("train").all() and df["warmup"].sum() == 2
    # disjoint by scene: different base scenes, from each split's own range of indices
    for sid, rec in recs.items():
        s = rec["split"]
        assert SPLIT_OFFSET[s] <= rec["seeds"]["scene_index"] < SPLIT_OFFSET[s] + INDEX_RANGE
    assert len({rec["seeds"]["scene_index"] for rec in recs.values()}) == len(recs) // 2
    specs = {sid: scene_from_dict(rec["spec"]) for sid, rec in recs.items()}
    ood = [s for sid, s in specs.items() if recs[sid]["split"] == "ood"]
    # every occluder an OOD shape, but the stands that raise balls (the same in both halves of a pair)
    assert ood and all(o.shape in r.config["ood"]["occluder_shapes"] for s in ood for o in s.occluders
                       if o.shape != "stand")
    assert all(s.appearance.style in r.config["ood"]["styles"] for s in ood)
    # every label again, from scratch, with the recipe's margins
    ids = sorted(specs)
    again = label_scenes([specs[i] for i in ids], r.labels)
    assert [(x.vpt_label, x.hidden_reason, x.depth_label) for x in again] == \
        [(recs[i]["labels"]["vpt_label"], recs[i]["labels"]["hidden_reason"], recs[i]["labels"]["depth_label"])
         for i in ids]


@pytest.mark.slow
def test_the_card_reports_the_conflict_criteria(written):
    root, *_ = written
    card = (root / "card.md").read_text()
    assert "## Conflict criteria" in card and "## Look-alike pairs" in card and "## Shortcut audit" in card
    m = json.loads((root / cc.CRITERIA_FILE).read_text())
    assert m["n_items"] == 28 and m["n_pairs"] == 14
    cues = {r["cue"] for r in m["image_plane"]}
    assert {"angle_2d", "coverage_2d", "facing_ball_angle", "cover_lens_1"} <= cues
    # the solver matches the two rules' values within a pair: their AUC sits near 0.5 even at
    # 14 pairs (a pair's halves differ by at most 2 degrees and 0.03 coverage)
    for r in m["image_plane"]:
        if r["cue"] in ("angle_2d", "coverage_2d") and r["group"] == "all":
            assert abs(r["auc"] - 0.5) <= 0.08, r
    assert set(m["combined_test"]) == {"image-plane", "depth", "nuisance", "all cues"}
    assert m["single_max"]["accuracy"] >= 0.5 and m["verdict"]["single_cue_at_most_58"] == (
        m["single_max"]["accuracy"] <= cc.SINGLE_CUE_LIMIT)
    # the card's table shows the measured numbers, not typed ones
    row = next(r for r in m["image_plane"] if r["cue"] == "angle_2d" and r["group"] == "all")
    assert f"{row['auc']:.3f} / {row['smd']:+.3f}" in card


@pytest.mark.render
def test_one_rendered_pair_passes_vpt_verify(tmp_path):
    from vpt.cli import main
    from vpt.datasets.verify import VerifyOptions, verify_dataset

    d = small({"train": 0, "val": 0, "test": 2, "ood": 0}, warmup=0, human_resolution=None)
    d["conflict"]["basic"] = ""
    import yaml

    (tmp_path / "c.yaml").write_text(yaml.safe_dump(d))
    assert main(["scenes", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "data"), "--preset", "preview",
                 "--quiet"]) == 0
    report = verify_dataset(tmp_path / "data" / "conflict", VerifyOptions(sample=2, progress=False))
    assert report.passed, report.summary()


def test_pair_kinds_are_checked_against_the_solver():
    from vpt.datasets.conflict_set import Job, kinds_for, solver_kinds

    d = small()
    d["conflict"]["kinds"] = ["facing", "sideways"]
    r = parse_recipe(d, "k")
    with pytest.raises(RecipeError, match="no 'sideways' pairs"):
        plan_jobs(r)
    d["conflict"]["kinds"] = ["facing", "facing"]
    with pytest.raises(RecipeError, match="twice"):
        parse_recipe(d, "k")
    assert solver_kinds(parse_recipe(small(), "k")) == ("facing", "cover", "depth")
    job = Job("test", 3, 2, 0, 80)
    assert kinds_for(("facing", "cover", "depth"), job) == ("facing", "cover", "depth")
    assert kinds_for(("facing", "cover", "depth"), Job("test", 1, 2, 0, 80)) == ("cover", "depth", "facing")


def test_make_scenes_writes_the_basic_set_before_the_conflict_set():
    """`vpt scenes scenes/` runs the recipes in this order; the conflict card reads the basic set."""
    from tests.conftest import RECIPES
    from vpt.datasets.recipe import find_recipes

    names = [r.name for r in find_recipes(RECIPES)]
    assert names.index("depth-vpt") < names.index("conflict") and "vpt-strategy" in names


@pytest.mark.slow
def test_the_criteria_command_reruns_them_and_says_what_failed(written, capsys):
    root, *_ = written
    before = json.loads((root / cc.CRITERIA_FILE).read_text())
    code = cc.main([str(root), "--no-audit", "--basic", "", "--strict"])
    after = json.loads((root / cc.CRITERIA_FILE).read_text())
    assert after["image_plane"] == before["image_plane"] and after["combined_test"] == before["combined_test"]
    failed = [k for k, v in after["verdict"].items() if v is False]
    assert code == (1 if failed else 0)
    assert "## Conflict criteria" in capsys.readouterr().out
    assert cc.main([str(root.parent / "nothing-here")]) == 2
