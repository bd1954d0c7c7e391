"""Baseline decision makers on tiny datasets: the label rule, the shortcut learners, resume, CLI."""

from __future__ import annotations

import shutil
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import vpt.cli
from vpt.datasets.cues import dataset_cue_table
from vpt.deciders.base import Decider
from vpt.deciders.baselines import LabelRule, ShortcutBaselines, make_deciders
from vpt.deciders.run import run_all, run_decider
from vpt.errors import UserError
from vpt.trials import store
from vpt.trials.items import load_dataset, sweep_datasets_beside


@pytest.fixture(scope="module")
def planned(tiny_benchmark) -> Path:
    """A planned (not rendered) binary dataset with every split and a sweep dataset beside it."""
    return tiny_benchmark


@pytest.fixture(scope="module")
def planned_runs(planned, tmp_path_factory):
    ds = load_dataset(planned)
    sweeps = sweep_datasets_beside(planned)
    results = tmp_path_factory.mktemp("results")
    t0 = time.perf_counter()
    runs = run_all(make_deciders(ds), [ds, *sweeps], results, command=["test"], progress=False)
    return ds, sweeps, results, runs, time.perf_counter() - t0


def test_deciders_follow_the_protocol(planned):
    ds = load_dataset(planned)
    for d in make_deciders(ds):
        assert isinstance(d, Decider) and d.kind == "baseline"
        assert d.describe() == d.describe() and "seeds" in d.describe()
    with pytest.raises(UserError, match="unknown shortcut family"):
        ShortcutBaselines("pixels", ds)


def test_label_rule_is_right_wherever_a_label_is_defined(planned_runs):
    ds, sweeps, results, runs, _ = planned_runs
    df = store.read_trials(*[r.path for r in runs if r.decider == "label-rule"])
    assert set(df["split"]) == {"train", "val", "test", "ood", "human", "sweep"}
    assert set(df["task"]) == {"vpt", "depth"} and set(df["decision_maker"]) == {"baseline:label-rule"}
    n_items = len(ds.items) + ds.items["human_set"].sum() + sum(len(s.items) for s in sweeps)
    assert len(df) == 2 * n_items  # every item, both tasks; the human set once more as `human`
    labelled = df[df["label"].notna()]
    assert labelled["correct"].all() and len(labelled) > 0.8 * len(df)
    # where the label is undefined (partial or ambiguous sweep steps) the rule gives no answer either
    undefined = df[df["label"].isna()]
    assert len(undefined) > 0 and set(undefined["split"]) == {"sweep"}
    assert undefined["correct"].isna().all() and undefined["response"].isna().all()
    assert df.loc[df["split"] == "sweep", ["sweep_id", "sweep_step"]].notna().all().all()
    assert df.loc[df["split"] != "sweep", ["sweep_id", "sweep_step"]].isna().all().all()


def test_label_rule_catches_an_index_that_disagrees_with_its_scenes(planned, tmp_path):
    copy_root = tmp_path / "tampered"
    shutil.copytree(planned, copy_root)
    index = pd.read_parquet(copy_root / "index.parquet")
    victim = index.index[index["split"] == "test"][0]
    index.loc[victim, "vpt_label"] = 1 - index.loc[victim, "vpt_label"]
    index.to_parquet(copy_root / "index.parquet")
    ds = load_dataset(copy_root)
    run = run_decider(LabelRule(), ds, tmp_path / "results", command=["test"])
    df = store.read_trials(run.path)
    wrong = df[df["correct"] == False]  # noqa: E712 (a nullable boolean column)
    assert list(wrong["scene_id"]) == [index.loc[victim, "scene_id"]] and list(wrong["task"]) == ["vpt"]


def test_shortcut_baselines_answer_every_split_but_train(planned_runs):
    ds, sweeps, results, runs, seconds = planned_runs
    df = store.read_trials(results)
    sc = df[df["decision_maker"] != "baseline:label-rule"]
    dms = set(sc["decision_maker"])
    assert {"baseline:logreg:all-cues", "baseline:hgb:all-cues", "baseline:logreg:thumbnail",
            "baseline:logreg:ball_y", "baseline:hgb:ball_y", "baseline:logreg:cover_lens_5"} <= dms
    # each cue family's cues together (the report's family floors), on exactly that family's cues
    assert {f"baseline:{m}:{f}-cues" for m in ("logreg", "hgb") for f in ("nuisance", "image-plane", "depth")} <= dms
    assert not any(":brightness" in d for d in dms)  # analytic cues: no colour
    for dm, g in sc.groupby("decision_maker"):
        assert set(g["split"]) == {"val", "test", "ood", "human", "sweep"}, dm
        assert set(g["task"]) == {"vpt", "depth"}, dm
    assert sc["score"].between(0, 1).all() and sc["response"].notna().all()
    decided = sc[sc["score"] != 0.5]  # a tie answers 0
    assert ((decided["score"] > 0.5).astype(int) == decided["response"]).all()
    for dm in ("baseline:hgb:all-cues", "baseline:hgb:ball_y", "baseline:logreg:thumbnail"):
        assert sc.loc[sc["decision_maker"] == dm, "score"].nunique() > 2, dm  # fitted, not constant
    sw = sc[sc["split"] == "sweep"]
    na = sw[sw["label"].isna()]
    assert len(na) and na["correct"].isna().all() and na["response"].notna().all()
    assert sc.loc[sc["label"].notna(), "correct"].notna().all()
    assert (sc["seed"] == 0).all() and set(sc["dataset"]) == {"tiny", "tiny-sweeps"}
    manifests = store.read_manifests(results)
    assert len(manifests) == len(runs) == 4 * 2 + 4  # 4 deciders x (tiny: all, human) + (tiny-sweeps: all)
    single = [m for m in manifests if m["decider"] == "baseline-single" and m["dataset"]["name"] == "tiny"]
    assert single[0]["config"]["train"]["hash"] == ds.hash and single[0]["seeds"] == {"model": 0}
    assert single[0]["started_utc"] <= single[0]["finished_utc"] and single[0]["versions"]["scikit-learn"]
    print(f"baselines on {len(ds.items)} + {sum(len(s.items) for s in sweeps)} items: {seconds:.1f} s")


def test_a_single_cue_model_is_what_sklearn_fits_on_the_train_split(planned_runs):
    """The stored scores of `baseline:logreg:ball_y` equal an independent fit of the same
    pipeline on the train rows of the audit's cue table."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    ds, _, results, _, _ = planned_runs
    table, _ = dataset_cue_table(ds.root, ds.index)
    train, test = table[table["split"] == "train"], table[table["split"] == "test"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = make_pipeline(SimpleImputer(strategy="median"), StandardScaler(), LogisticRegression(max_iter=2000))
        m.fit(train[["ball_y"]].to_numpy(float), train["depth_label"].astype(int))
    expect = pd.Series(m.predict_proba(test[["ball_y"]].to_numpy(float))[:, 1], index=test["scene_id"])
    df = store.read_trials(results)
    got = df[(df["decision_maker"] == "baseline:logreg:ball_y") & (df["task"] == "depth") & (df["split"] == "test")]
    np.testing.assert_allclose(got.set_index("scene_id")["score"].loc[expect.index], expect, rtol=1e-6)


def test_rerun_keeps_finished_runs_and_redoes_an_interrupted_one(planned_runs):
    ds, sweeps, results, runs, _ = planned_runs
    victim = next(r for r in runs if r.decider == "baseline-thumbnail" and r.selection == "all" and r.dataset == "tiny")
    (victim.path / store.MANIFEST).unlink()  # as if killed between the part and the manifest
    before = store.read_trials(results)
    assert victim.run_id not in set(before["run_id"])
    stamp = {r.run_id: (r.path / store.PART).stat().st_mtime_ns for r in runs if r.run_id != victim.run_id}
    again = run_all(make_deciders(ds), [ds, *sweeps], results, command=["test"], progress=False)
    assert [r.run_id for r in again] == [r.run_id for r in runs]
    assert [r.run_id for r in again if not r.kept] == [victim.run_id]
    assert all((results / rid / store.PART).stat().st_mtime_ns == t for rid, t in stamp.items())
    after = store.read_trials(results)
    assert victim.run_id in set(after["run_id"]) and len(after) == len(before) + victim.rows


def test_other_seeds_and_training_data_make_new_runs(planned):
    ds = load_dataset(planned)
    ids = {store.make_run_id(d.name, d.describe(), ds.hash) for d in
           (ShortcutBaselines("combined", ds, seed=0), ShortcutBaselines("combined", ds, seed=1))}
    assert len(ids) == 2


def _cli(monkeypatch, argv):
    monkeypatch.setattr(vpt.cli, "EVALUATOR_COMMANDS", ("vpt.deciders.cli",))
    return vpt.cli.main(argv)


def test_cli_writes_runs_and_prints_a_summary(planned, tmp_path, monkeypatch, capsys):
    out = tmp_path / "results"
    assert _cli(monkeypatch, ["baseline", str(planned), "--out", str(out), "--only", "thumbnail", "--quiet"]) == 0
    cap = capsys.readouterr()
    assert "not rendered" in cap.err and "analytic projection" in cap.err and "make scenes" in cap.err
    assert "| vpt | baseline:logreg:thumbnail |" in cap.out and "| sweep |" in cap.out
    df = store.read_trials(out)
    assert set(df["decision_maker"]) == {"baseline:logreg:thumbnail"}
    acc = df[(df["task"] == "vpt") & (df["split"] == "test")].groupby("decision_maker")["correct"].mean()
    assert f"{acc['baseline:logreg:thumbnail']:.3f}" in cap.out
    assert f"{len(df)} rows in 3 runs (0 kept" in cap.out
    m = store.read_manifests(out)[0]
    assert m["command"][:2] == ["vpt", "baseline"] and "--only" in m["command"]
    assert _cli(monkeypatch, ["baseline", str(planned), "--out", str(out), "--only", "thumbnail", "--quiet"]) == 0
    assert "(3 kept from an earlier run, 0 written" in capsys.readouterr().out
    assert _cli(monkeypatch, ["baseline", str(planned), "--out", str(out), "--only", "label-rule", "--sweeps",
                              "--quiet"]) == 0
    out_text = capsys.readouterr().out
    assert "| vpt | baseline:label-rule | 1.000 | 1.000 | 1.000 | 1.000 | 1.000 |\n" in out_text
    assert "| sweep |" not in out_text  # `--sweeps` alone: no sweep datasets


def test_cli_bad_input_is_one_line(planned, tmp_path, monkeypatch, capsys):
    for target, message in ((tmp_path / "nope", "no such dataset folder"), (tmp_path, "not a dataset folder"),
                            (planned.parent / "tiny-sweeps", "no train split")):
        assert _cli(monkeypatch, ["baseline", str(target), "--out", str(tmp_path / "r")]) == vpt.cli.EXIT_USER_ERROR
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and err.startswith("vpt: error: ")


@pytest.fixture(scope="module")
def rendered(tiny_rendered) -> Path:
    return tiny_rendered


def test_cli_on_a_rendered_dataset_uses_the_pixels(rendered, planned, tmp_path, monkeypatch, capsys):
    out = tmp_path / "results"
    argv = ["baseline", str(rendered), "--out", str(out), "--sweeps", str(planned.parent / "tiny-sweeps"), "--quiet"]
    assert _cli(monkeypatch, argv) == 0
    cap = capsys.readouterr()
    assert "not rendered" not in cap.err.split("skipped")[0]
    assert "tiny-sweeps skipped for the shortcut baselines: not rendered" in cap.err
    df = store.read_trials(out)
    dms = set(df["decision_maker"])
    assert {"baseline:logreg:brightness", "baseline:hgb:ball_brightness", "baseline:logreg:thumbnail"} <= dms
    rule = df[df["decision_maker"] == "baseline:label-rule"]
    assert rule.loc[rule["label"].notna(), "correct"].all() and "sweep" in set(rule["split"])
    sc = df[df["decision_maker"] != "baseline:label-rule"]
    assert set(sc["split"]) == {"val", "test", "ood", "human"} and set(sc["dataset"]) == {"vis-tiny"}
    m = [x for x in store.read_manifests(out) if x["decider"] == "baseline-thumbnail"]
    assert m and all(x["config"]["cue_source"] == "images" for x in m)


def test_the_cli_module_imports_nothing_heavy():
    """`vpt --help` stays fast: registering `vpt baseline` loads neither pandas nor sklearn."""
    import subprocess
    import sys

    code = ("import sys, argparse, vpt.deciders.cli as c; p = argparse.ArgumentParser(); "
            "c.add_parser(p.add_subparsers()); print(sorted(m for m in ('pandas', 'sklearn', 'pyarrow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_conflict_set_beside_is_answered_as_a_set_of_its_own(tiny_conflict_beside, tmp_path, monkeypatch,
                                                                   capsys):
    """`vpt baseline` finds the conflict set beside the benchmark as the audit does, answers it
    with the models fitted on the benchmark's train split (never on the conflict set's), keeps
    its rows under its own dataset name and shows them as `test · tiny-conflict`."""
    from vpt.datasets.audit_families import conflict_folders_beside
    from vpt.deciders.run import conflict_sets_beside, evaluation_sets, set_names

    basic = load_dataset(tiny_conflict_beside)
    conflict = tiny_conflict_beside.parent / "tiny-conflict"
    assert [d.root for d in conflict_sets_beside(basic.root)] == conflict_folders_beside(basic.root) == [conflict]
    sweeps, conflicts = evaluation_sets(basic)
    assert [s.name for s in sweeps] == ["tiny-sweeps"] and [c.name for c in conflicts] == ["tiny-conflict"]
    assert evaluation_sets(load_dataset(conflict))[1] == []  # no conflict set is evaluated beside a conflict set
    assert evaluation_sets(basic, [], []) == ([], [])

    out = tmp_path / "results"
    argv = ["baseline", str(tiny_conflict_beside), "--out", str(out), "--only", "combined", "--sweeps", "--quiet"]
    assert _cli(monkeypatch, argv) == 0
    text = capsys.readouterr().out
    df = store.read_trials(out)
    rows = df[df["dataset"] == "tiny-conflict"]
    assert set(rows["split"]) == {"val", "test", "ood"}  # its train split is not answered
    assert set(rows["scene_id"]) == set(load_dataset(conflict).items.query("split != 'train'")["scene_id"])
    fitted = {m["config"]["train"]["dataset"] for m in store.read_manifests(out)}
    assert fitted == {"tiny"}
    header = text.splitlines()[0]
    assert "| test |" in header and "| test · tiny-conflict |" in header
    acc = rows[(rows["task"] == "vpt") & (rows["split"] == "test")].groupby("decision_maker")["correct"].mean()
    line = next(ln for ln in text.splitlines() if ln.startswith("| vpt | baseline:hgb:all-cues |"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[header.strip("|").split("|").index(" test · tiny-conflict ")] == f"{acc['baseline:hgb:all-cues']:.3f}"
    assert "(best cue on val)" not in text  # the cue families are combined models, not single cues
    names = set_names(df, "tiny")
    assert set(names[df["dataset"] == "tiny-conflict"]) == {"val · tiny-conflict", "test · tiny-conflict",
                                                            "ood · tiny-conflict"}
    assert set(names[df["dataset"] == "tiny"]) == {"val", "test", "ood", "human"}

    # `--conflict` alone: none; a folder named: that one (and the command says so)
    assert _cli(monkeypatch, argv + ["--conflict", "--out", str(tmp_path / "none")]) == 0
    assert "tiny-conflict" not in capsys.readouterr().out
    assert set(store.read_trials(tmp_path / "none")["dataset"]) == {"tiny"}
    assert _cli(monkeypatch, argv + ["--out", str(tmp_path / "named"), "--conflict", str(conflict)]) == 0
    assert "test · tiny-conflict" in capsys.readouterr().out
    assert all("--conflict" in m["command"] for m in store.read_manifests(tmp_path / "named"))
