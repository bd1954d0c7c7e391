"""`vpt saliency`: attribution maps scored against the rendered masks (tiny 64 px benchmark)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch", reason="vision models need the eval extra (pip install -e '.[eval]')")
pytest.importorskip("timm")
pytest.importorskip("captum")

import vpt.cli  # noqa: E402
from vpt.deciders.vision import saliency as S  # noqa: E402
from vpt.deciders.vision.features import FeatureCache, extract  # noqa: E402
from vpt.deciders.vision.probe import VisionProbe  # noqa: E402
from vpt.trials.items import load_dataset  # noqa: E402

FAST = ["--ig-steps", "4", "--sg-samples", "3", "--quiet"]
SMALL = ["--models", "resnet10t", "--random-init", "--input-size", "32"]


@pytest.fixture(scope="module")
def rendered(tiny_rendered) -> Path:
    return tiny_rendered


@pytest.fixture(scope="module")
def human(rendered) -> pd.DataFrame:
    return load_dataset(rendered).select("human").assign(dataset="vis-tiny")


def _cli(monkeypatch, argv: list[str]) -> int:
    for mod in ("vpt.deciders.vision.cli", "vpt.deciders.vision.saliency_cli"):
        if mod not in vpt.cli.EVALUATOR_COMMANDS:
            monkeypatch.setattr(vpt.cli, "EVALUATOR_COMMANDS", (*vpt.cli.EVALUATOR_COMMANDS, mod))
    return vpt.cli.main(argv)


class Planted(torch.nn.Module):
    """A model whose output is a nonlinear function of the pixels under ``weight`` only."""

    def __init__(self, weight: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("w", torch.as_tensor(weight, dtype=torch.float32)[None, None])

    def forward(self, x):
        r = (x * self.w).sum((1, 2, 3)) / self.w.sum()
        return torch.tanh(3 * r - 1) + r ** 2


def _mask(path) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(path))


@pytest.mark.parametrize("method", S.METHODS)
def test_a_planted_model_on_the_ball_puts_its_attribution_on_the_ball_and_one_on_a_corner_on_the_background(
        human, method):
    for it in human.to_dict("records")[:3]:
        pixels, mask = S.load_pixels(it["image"]), _mask(it["mask"])
        ball = S.score_map(S.attribute(Planted(mask == 1), pixels, method, seed=1), mask)
        share = {r["object"]: r["share"] for r in ball}
        assert share["ball"] > 0.95, share
        corner = np.zeros(mask.shape, bool)
        corner[:6, :6] = True
        assert (mask[corner] == 0).all()  # the top-left corner shows no object in these scenes
        bg = {r["object"]: r for r in S.score_map(S.attribute(Planted(corner), pixels, method, seed=1), mask)}
        assert bg["background"]["share"] > 0.95 and bg["background"]["ratio"] > 1
        assert bg["ball"]["ratio"] < 0.05


def test_the_ball_is_where_the_red_pixels_are(human):
    """The mask read from disk lines up with the image: a model that only looks at red pixels
    (the ball is the one red object) is attributed to the ball, many times its area."""

    class Red(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("k", torch.tensor(8.0))

        def forward(self, x):
            red = torch.relu(x[:, 0] - torch.maximum(x[:, 1], x[:, 2]) - 0.15)
            return torch.tanh(self.k * red).sum((1, 2))

    ratios = []
    for it in human.to_dict("records"):
        pixels, mask = S.load_pixels(it["image"]), _mask(it["mask"])
        rows = {r["object"]: r for r in S.score_map(S.attribute(Red(), pixels, "ig", {"ig_steps": 8}), mask)}
        ratios.append(rows["ball"]["ratio"])
    assert np.median(ratios) > 20, ratios


def test_scores_partition_the_map_and_normalise_by_area():
    mask = np.zeros((4, 5), np.uint8)
    mask[0, :2] = 1
    mask[1, :] = 2
    mask[2, 0] = 10
    mask[3, 4] = 11
    amap = np.ones((4, 5))
    amap[0, :2] = 4.0
    rows = {r["object"]: r for r in S.score_map(amap, mask)}
    assert set(rows) == {"ball", "viewer", "occluder-0", "occluder-1", "background"}
    assert sum(r["share"] for r in rows.values()) == pytest.approx(1.0)
    assert rows["ball"]["share"] == pytest.approx(8 / 26) and rows["ball"]["area_share"] == pytest.approx(2 / 20)
    assert rows["ball"]["ratio"] == pytest.approx((8 / 26) / (2 / 20))
    assert rows["occluder-1"]["region"] == "occluders"
    none = {r["object"]: r for r in S.score_map(amap, np.zeros((4, 5), np.uint8))}
    assert none["ball"]["area_share"] == 0 and np.isnan(none["ball"]["ratio"])


def test_the_differentiable_probe_answers_as_the_fitted_probe(rendered, tmp_path):
    """Pixels -> backbone -> scaler -> logistic regression in torch gives the sklearn probe's
    decision values (no resize at the image's own size: the same input)."""
    ds = load_dataset(rendered)
    cache = FeatureCache(tmp_path / "f")
    probe = VisionProbe({"model": "resnet10t", "random_init": True, "device": "cpu", "input_size": 64}, ds,
                        cache=cache, progress=False)
    heads = probe.fit()
    test = ds.items[ds.items["split"] == "test"].head(4)
    x = extract(probe.backbone, list(test["image"]), cache, progress=False)
    for task, (head, _) in heads.items():
        net = S.probe_model(probe.backbone, head)
        with torch.no_grad():
            got = torch.cat([net(S.load_pixels(p)) for p in test["image"]]).numpy()
        np.testing.assert_allclose(got, head.decision_function(x), rtol=1e-3, atol=1e-3)
    cache.close()


def test_vpt_saliency_writes_maps_overlays_and_scores_and_a_rerun_skips(rendered, tmp_path, monkeypatch, capsys):
    from vpt.report.load import load_inputs

    out = tmp_path / "results"
    common = [str(rendered), *SMALL, "--out", str(out), "--cache", str(tmp_path / "f"), "--sweeps"]
    assert _cli(monkeypatch, ["probe", *common, "--quiet"]) == 0
    argv = ["saliency", *common, "--limit", "3", *FAST]
    assert _cli(monkeypatch, argv) == 0
    (folder,) = (out / "saliency").iterdir()
    assert folder.name == "resnet10t__random-init-32px__linear__vis-tiny__human"
    ds = load_dataset(rendered)
    maps = sorted((folder / "maps").glob("*.npz"))
    assert len(maps) == 3 and len(list((folder / "overlays").glob("*.png"))) == 3
    with np.load(maps[0]) as z:
        assert {"vpt__smoothgrad", "vpt__ig", "depth__smoothgrad", "depth__ig"} <= set(z.files)
        assert z["vpt__ig"].shape == (64, 64) and z["vpt__ig"].dtype == np.float32  # the image's shape
    detail = pd.read_parquet(folder / "saliency.parquet")
    assert set(detail.columns) == set(S.DETAIL_COLUMNS) and detail["scene_id"].nunique() == 3
    assert set(detail["scene_id"]) <= set(ds.items.loc[ds.items["human_set"], "scene_id"])
    sums = detail.groupby(["scene_id", "task", "method"])["share"].sum()
    np.testing.assert_allclose(sums.to_numpy(), 1.0, atol=1e-6)
    summary = pd.read_parquet(folder / "attribution.parquet")
    assert list(summary.columns) == list(S.SUMMARY_COLUMNS) and len(summary) == 2 * 2 * 4
    np.testing.assert_allclose(summary.groupby(["task", "method"])["share"].sum().to_numpy(), 1.0, atol=1e-6)
    # the report reads it
    att = load_inputs([out]).attribution
    assert att is not None and set(att["method"]) == {"smoothgrad", "ig"}
    # a rerun skips the finished model and changes nothing
    stamp = {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}
    capsys.readouterr()
    assert _cli(monkeypatch, argv) == 0
    assert "kept (finished earlier)" in capsys.readouterr().out
    assert stamp == {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}
    # an interrupted run (a map left, no summary) resumes: the map on disk is kept
    (folder / "attribution.parquet").unlink()
    assert _cli(monkeypatch, argv) == 0
    assert maps[0].stat().st_mtime_ns == stamp[maps[0]] and (folder / "attribution.parquet").exists()
    # other settings into the same folder: a one-line error
    capsys.readouterr()
    assert _cli(monkeypatch, [*argv[:-len(FAST)], "--ig-steps", "5", "--sg-samples", "3", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--force" in err and len(err.splitlines()) == 1
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["settings"]["ig_steps"] == 4


def test_saliency_of_a_model_trained_from_scratch(rendered, tmp_path, monkeypatch, capsys):
    common = [str(rendered), *SMALL[:2], "--input-size", "32", "--out", str(tmp_path / "r"),
              "--work", str(tmp_path / "w"), "--epochs", "1", "--batch-size", "16"]
    capsys.readouterr()
    assert _cli(monkeypatch, ["saliency", *common, "--kind", "scratch", *FAST]) == 2  # not trained yet
    err = capsys.readouterr().err
    assert "vpt train" in err and len(err.strip().splitlines()) == 1
    assert _cli(monkeypatch, ["train", *common, "--quiet"]) == 0
    # options other than those it was trained with: the error names the ones to pass
    other = [*common[:-4], "--epochs", "3", "--batch-size", "16"]
    capsys.readouterr()
    assert _cli(monkeypatch, ["saliency", *other, "--kind", "scratch", *FAST]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "differ in: --epochs 1:" in err, err
    assert _cli(monkeypatch, ["saliency", *common, "--kind", "scratch", "--split", "sweep", "--limit", "2",
                              "--methods", "ig", *FAST]) == 0
    (folder,) = (tmp_path / "r" / "saliency").iterdir()
    assert folder.name == "resnet10t__random-init-32px__scratch__vis-tiny__sweep"
    detail = pd.read_parquet(folder / "saliency.parquet")
    assert set(detail["method"]) == {"ig"} and set(detail["split"]) == {"sweep"} and set(detail["kind"]) == {"scratch"}
    assert detail["score"].between(0, 1).all()


@pytest.mark.parametrize("extra, needle", [
    (["--methods", "gradcam"], "--methods"),
    (["--layer", "layer1,layer2"], "one layer"),
    (["--limit", "-1"], "--limit"),
    (["--split", "sweep", "--sweeps"], "--split sweep"),
])
def test_bad_saliency_options_are_one_line_errors(rendered, tmp_path, monkeypatch, capsys, extra, needle):
    argv = ["saliency", str(rendered), *SMALL, "--out", str(tmp_path), "--cache", str(tmp_path / "f"), *FAST]
    if "--sweeps" not in extra:
        argv.append("--sweeps")
    assert _cli(monkeypatch, argv + extra) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1, err
