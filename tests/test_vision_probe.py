"""Cached features, probes and `vpt probe` on a tiny rendered benchmark (64 px, preview preset)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch", reason="vision models need the eval extra (pip install -e '.[eval]')")
pytest.importorskip("timm")

import vpt.cli  # noqa: E402
from vpt.deciders.base import Decider  # noqa: E402
from vpt.deciders.run import run_decider  # noqa: E402
from vpt.deciders.vision.backbones import load_backbone  # noqa: E402
from vpt.deciders.vision.features import FeatureCache, backbone_key, extract  # noqa: E402
from vpt.deciders.vision.probe import VisionProbe, fit_linear, grouped_folds, scene_groups  # noqa: E402
from vpt.trials import schema, store  # noqa: E402
from vpt.trials.items import load_dataset  # noqa: E402

MODEL = {"model": "resnet18", "random_init": True, "device": "cpu"}


@pytest.fixture(scope="module")
def rendered(tiny_rendered) -> Path:
    return tiny_rendered


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("features")


def _cli(monkeypatch, argv: list[str]) -> int:
    if "vpt.deciders.vision.cli" not in vpt.cli.EVALUATOR_COMMANDS:
        monkeypatch.setattr(vpt.cli, "EVALUATOR_COMMANDS", (*vpt.cli.EVALUATOR_COMMANDS, "vpt.deciders.vision.cli"))
    return vpt.cli.main(argv)


def test_features_are_cached_and_a_second_pass_runs_no_forward(rendered, cache_dir):
    ds, sweeps = load_dataset(rendered), load_dataset(rendered.parent / "vis-sweeps")
    paths = list(ds.items["image"]) + list(sweeps.items["image"])
    cache = FeatureCache(cache_dir)
    b = load_backbone(**MODEL)
    first = extract(b, paths, cache, batch_size=16, progress=False)
    assert first.shape == (len(paths), 512) and first.dtype == np.float32
    assert b.forward_calls == -(-len(paths) // 16)
    assert cache.count(backbone_key(b.identity())) == len(set(map(lambda p: Path(p).read_bytes(), paths)))
    again = extract(b, paths, cache, progress=False)
    assert b.forward_calls == -(-len(paths) // 16) and np.array_equal(first, again)  # no second forward
    # another layer, or other preprocessing, is another key
    b2 = load_backbone(**MODEL, layer="layer2")
    assert backbone_key(b2.identity()) != backbone_key(b.identity())
    cache.close()


def test_synthetic_separable_features_are_learnt_and_shuffled_labels_are_not():
    rng = np.random.default_rng(0)
    n, d = 200, 20
    y = rng.integers(0, 2, n)
    x = rng.normal(size=(n, d)).astype(np.float32)
    x[:, 0] += 3.0 * (2 * y - 1)
    groups = np.array([f"s{i // 2}" for i in range(n)])  # two images per scene
    model, info = fit_linear(x[:100], y[:100], groups[:100], seed=0)
    assert info["cv_folds"] == 5 and info["C"] > 0
    assert (model.predict(x[100:]) == y[100:]).mean() > 0.95
    shuffled = rng.permutation(y)
    model, _ = fit_linear(x[:100], shuffled[:100], groups[:100], seed=0)
    assert abs((model.predict(x[100:]) == shuffled[100:]).mean() - 0.5) < 0.15


@pytest.mark.slow
def test_the_warm_started_c_search_chooses_as_grid_search_does():
    """fit_linear's C path with warm starts picks GridSearchCV's C over the same grouped folds
    and predicts as the pipeline GridSearchCV refits."""
    import warnings

    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from vpt.deciders.vision.probe import C_GRID

    rng = np.random.default_rng(3)
    for signal in (0.0, 0.3, 1.0):
        n, d = 240, 40
        y = rng.integers(0, 2, n)
        x = rng.normal(size=(n, d)).astype(np.float32)
        x[:, :3] += signal * (2 * y[:, None] - 1)
        groups = np.array([f"s{i // 3}" for i in range(n)])
        model, info = fit_linear(x, y, groups, seed=0)
        pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000, random_state=0))
        search = GridSearchCV(pipe, {"logisticregression__C": list(C_GRID)}, cv=grouped_folds(y, groups, 0),
                              scoring="accuracy")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            search.fit(x, y, groups=groups)
        assert info["C"] == search.best_params_["logisticregression__C"], signal
        assert info["cv_accuracy"] == pytest.approx(search.best_score_, abs=1e-9)
        assert (model.predict(x) == search.best_estimator_.predict(x)).all()


def test_grouped_cv_never_puts_one_scene_in_two_folds():
    items = pd.DataFrame({"scene_id": [f"s{i}" for i in range(30)],
                          "sweep_id": [f"w{i // 5}" if i < 15 else None for i in range(30)]})
    groups = scene_groups(items)
    assert len(set(groups)) == 3 + 15  # a sweep's steps share one group
    y = np.array([i % 2 for i in range(30)])
    cv = grouped_folds(y, groups, seed=0)
    for train, test in cv.split(np.zeros((30, 1)), y, groups):
        assert not set(groups[train]) & set(groups[test])


@pytest.fixture(scope="module")
def probe_runs(rendered, cache_dir, tmp_path_factory):
    results = tmp_path_factory.mktemp("results")
    ds = load_dataset(rendered)
    sweeps = load_dataset(rendered.parent / "vis-sweeps")
    probe = VisionProbe(MODEL, ds, "linear", seed=0, cache=FeatureCache(cache_dir), progress=False)
    runs = [run_decider(probe, d, results, sel, command=["test"]) for d in (ds, sweeps) for sel in d.selections()]
    return ds, sweeps, probe, results, runs


def test_probe_writes_conforming_rows_for_every_split(probe_runs):
    ds, sweeps, probe, results, runs = probe_runs
    assert isinstance(probe, Decider) and probe.kind == "probe"
    assert probe.backbone.forward_calls == 0  # every feature came from the cache of the first test
    df = store.read_trials(results)
    schema.conform(df)
    assert set(df["split"]) == {"val", "test", "ood", "human", "sweep"}
    assert set(df["decision_maker"]) == {"resnet18/random-init/linear"} and set(df["kind"]) == {"probe"}
    assert set(df["task"]) == {"vpt", "depth"}
    n_items = (ds.items["split"] != "train").sum() + ds.items["human_set"].sum() + len(sweeps.items)
    assert len(df) == 2 * n_items
    assert df["score"].between(0, 1).all() and df["response"].notna().all()
    assert ((df["score"] >= 0.5).astype(int) == df["response"]).all()
    m = store.read_manifests(results)
    assert {x["kind"] for x in m} == {"probe"}
    pre = m[0]["config"]["backbone"]["preprocessing"]
    assert pre["crop"] == "none" and pre["size"] == [224, 224]


def test_the_3dpc_head_writes_rows_too(probe_runs, cache_dir, tmp_path):
    ds = probe_runs[0]
    probe = VisionProbe(MODEL, ds, "3dpc", seed=1, cache=FeatureCache(cache_dir), progress=False,
                        head_params={"epochs": 20})
    run = run_decider(probe, ds, tmp_path, "all", command=["test"])
    df = store.read_trials(run.path)
    assert set(df["decision_maker"]) == {"resnet18/random-init/3dpc"} and set(df["split"]) == {"val", "test", "ood"}
    info = probe.fit()["vpt"][1]
    assert 0 <= info["best_epoch"] < 20 and 0 <= info["val_accuracy"] <= 1
    assert store.read_manifest(run.path)["config"]["head"]["epochs"] == 20


def test_cli_end_to_end_and_rerun_keeps_finished_runs(rendered, cache_dir, tmp_path, monkeypatch, capsys):
    out = tmp_path / "results"
    argv = ["probe", str(rendered), "--model", "resnet18", "--random-init", "--out", str(out), "--cache",
            str(cache_dir), "--quiet", "--device", "cpu"]
    assert _cli(monkeypatch, argv) == 0
    text = capsys.readouterr().out
    assert "resnet18/random-init/linear" in text and "3 runs (0 kept" in text
    df = store.read_trials(out)
    assert set(df["split"]) == {"val", "test", "ood", "human", "sweep"}
    assert _cli(monkeypatch, argv) == 0
    assert "3 runs (3 kept" in capsys.readouterr().out


def test_cli_with_a_checkpoint_file(rendered, cache_dir, tmp_path, monkeypatch, capsys):
    import timm

    torch.manual_seed(3)
    torch.save(timm.create_model("resnet18", pretrained=False).state_dict(), tmp_path / "r18.pth")
    argv = ["probe", str(rendered), "--model", "resnet18", "--checkpoint", str(tmp_path / "r18.pth"), "--out",
            str(tmp_path / "r"), "--cache", str(cache_dir), "--quiet", "--sweeps"]
    assert _cli(monkeypatch, argv) == 0
    dms = set(store.read_trials(tmp_path / "r")["decision_maker"])
    assert len(dms) == 1 and dms.pop().startswith("resnet18/ckpt-")


def test_cli_per_layer_curve_is_one_decision_maker_per_layer(rendered, cache_dir, tmp_path, monkeypatch, capsys):
    argv = ["probe", str(rendered), "--model", "resnet18", "--random-init", "--layer", "layer1,layer4", "--input-size",
            "64", "--out", str(tmp_path / "r"), "--cache", str(cache_dir), "--quiet", "--sweeps"]
    assert _cli(monkeypatch, argv) == 0
    df = store.read_trials(tmp_path / "r")
    assert set(df["decision_maker"]) == {"resnet18/random-init-64px@layer1/linear", "resnet18/random-init-64px@layer4/linear"}
    sizes = {m["config"]["backbone"]["layer"]: m["config"]["backbone"]["preprocessing"]["size"]
             for m in store.read_manifests(tmp_path / "r")}
    assert sizes == {"layer1": [64, 64], "layer4": [64, 64]}
    # the curve: one point per layer, task and split, at that probe's accuracy; and its figure
    curve = pd.read_csv(tmp_path / "r" / "layer-curves" / "resnet18__random-init-64px__linear.csv")
    assert (tmp_path / "r" / "layer-curves" / "resnet18__random-init-64px__linear.png").stat().st_size > 5000
    labelled = df[df["label"].notna()]
    want = labelled.groupby(["decision_maker", "task", "split"], observed=True)["correct"].mean()
    assert len(curve) == len(want) and set(curve["split"]) == {"val", "test", "ood", "human"}
    for r in curve.itertuples():
        assert r.decision_maker == f"resnet18/random-init-64px@{r.layer}/linear"
        assert r.position == ["layer1", "layer4"].index(r.layer)
        assert r.accuracy == pytest.approx(want[(r.decision_maker, r.task, r.split)])


def test_cli_bad_input_is_one_line(rendered, tmp_path, monkeypatch, capsys):
    unrendered = tmp_path / "unrendered"
    shutil.copytree(rendered, unrendered)
    index = pd.read_parquet(unrendered / "index.parquet")
    index.loc[0, ["rendered", "image", "mask"]] = [False, "", ""]
    index.to_parquet(unrendered / "index.parquet")
    cases = [(["--model", "resnet181", "--random-init"], "did you mean resnet18"),
             (["--model", "resnet18"], "--checkpoint FILE"),
             (["--model", "resnet18", "--random-init", "--layer", "layer9"], "no layer 'layer9'")]
    for extra, message in cases:
        argv = ["probe", str(rendered), *extra, "--out", str(tmp_path / "r"), "--cache", str(tmp_path / "c"),
                "--quiet", "--sweeps"]
        assert _cli(monkeypatch, argv) == vpt.cli.EXIT_USER_ERROR
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and err.startswith("vpt: error: "), err
    for target, message in ((unrendered, "no rendered image"), (tmp_path / "nope", "no such dataset folder")):
        argv = ["probe", str(target), "--model", "resnet18", "--random-init", "--out", str(tmp_path / "r")]
        assert _cli(monkeypatch, argv) == vpt.cli.EXIT_USER_ERROR
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err


def test_cli_answers_the_conflict_set_beside_with_the_probe_fitted_on_the_benchmark(tiny_rendered_conflict, cache_dir,
                                                                                     tmp_path, monkeypatch, capsys):
    """The conflict set beside the benchmark is found, answered by the probe fitted on the
    benchmark's train split (the same probabilities as that probe's), kept under its own
    dataset name and shown as its own columns; one without images is left out with a note,
    or, named with --conflict, is an error."""
    root = tiny_rendered_conflict
    out = tmp_path / "r"
    argv = ["probe", str(root), "--model", "resnet18", "--random-init", "--input-size", "64", "--cache",
            str(cache_dir), "--quiet", "--sweeps"]
    assert _cli(monkeypatch, argv + ["--out", str(out)]) == 0
    text = capsys.readouterr().out
    df = store.read_trials(out)
    rows = df[df["dataset"] == "vis-conflict"]
    assert set(rows["split"]) == {"val", "test", "ood"} and set(rows["kind"]) == {"probe"}
    assert "| test · vis-conflict |" in text.splitlines()[0]
    conflict = load_dataset(root.parent / "vis-conflict")
    probe = VisionProbe({**MODEL, "input_size": 64}, load_dataset(root), "linear", seed=0,
                        cache=FeatureCache(cache_dir), progress=False)
    asked = conflict.items[conflict.items["split"] != "train"]
    x = probe.features(conflict, asked)
    for task, (model, _) in probe.fit().items():
        got = rows[rows["task"] == task].set_index("scene_id").loc[list(asked["scene_id"]), "score"]
        np.testing.assert_allclose(got.to_numpy(), model.predict_proba(x)[:, 1], rtol=1e-6)

    # a per-layer curve keeps the conflict set's test items out of the benchmark's test point
    assert _cli(monkeypatch, argv + ["--out", str(tmp_path / "l"), "--layer", "layer1,layer4"]) == 0
    capsys.readouterr()
    curve = pd.read_csv(tmp_path / "l" / "layer-curves" / "resnet18__random-init-64px__linear.csv")
    assert {"test", "test · vis-conflict"} <= set(curve["split"])
    df = store.read_trials(tmp_path / "l")
    for r in curve[curve["split"].isin(["test", "test · vis-conflict"])].itertuples():
        dataset = "vis-tiny" if r.split == "test" else "vis-conflict"
        want = df[(df["decision_maker"] == r.decision_maker) & (df["task"] == r.task) & (df["split"] == "test")
                  & (df["dataset"] == dataset)]
        assert r.n == len(want) and r.accuracy == pytest.approx(want["correct"].mean())

    # the conflict set without one image: skipped with a note, an error where it is named
    copy = tmp_path / "copy"
    for folder in (root, root.parent / "vis-conflict"):
        shutil.copytree(folder, copy / folder.name)
    index = pd.read_parquet(copy / "vis-conflict" / "index.parquet")
    index.loc[0, ["rendered", "image", "mask"]] = [False, "", ""]
    index.to_parquet(copy / "vis-conflict" / "index.parquet")
    argv[1] = str(copy / root.name)
    assert _cli(monkeypatch, argv + ["--out", str(tmp_path / "r2")]) == 0
    assert "vis-conflict skipped: not rendered" in capsys.readouterr().err
    assert set(store.read_trials(tmp_path / "r2")["dataset"]) == {"vis-tiny"}
    named = argv + ["--out", str(tmp_path / "r3"), "--conflict", str(copy / "vis-conflict")]
    assert _cli(monkeypatch, named) == vpt.cli.EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert "vis-conflict: 1 of 8 stimuli have no rendered image" in err and err.count("\n") == 1, err


def test_registering_vpt_probe_imports_nothing_heavy():
    code = ("import sys, argparse, vpt.deciders.vision.cli as c; p = argparse.ArgumentParser(); "
            "c.add_parser(p.add_subparsers()); print(sorted(m for m in ('torch', 'timm', 'transformers', 'pandas', "
            "'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_all_layers_in_one_pass_give_each_layers_own_features(rendered, tmp_path):
    """extract_layers fills the cache for several layers with one forward per batch, with the
    values (and under the keys) that reading each layer on its own gives."""
    from vpt.deciders.vision.features import extract_layers

    ds = load_dataset(rendered)
    paths = list(ds.items["image"])[:20]
    cache = FeatureCache(tmp_path / "c")
    b = load_backbone(**MODEL, input_size=64)
    assert extract_layers(b, ["layer1", "layer3"], paths, cache, batch_size=8, progress=False) == 20
    assert b.forward_calls == 3  # 20 images in batches of 8, both layers at once
    assert extract_layers(b, ["layer1", "layer3"], paths, cache, batch_size=8, progress=False) == 0
    for layer, dim in (("layer1", 64), ("layer3", 256)):
        one = load_backbone(**MODEL, input_size=64, layer=layer)
        cached = extract(one, paths, cache, progress=False)
        assert one.forward_calls == 0 and cached.shape == (20, dim)  # all from the one pass
        fresh = extract(one, paths, None, batch_size=8, progress=False)
        torch.testing.assert_close(torch.from_numpy(cached), torch.from_numpy(fresh), atol=1e-5, rtol=1e-5)
    cache.close()
