"""The human set and the warm-up are also rendered at the recipe's ``human_resolution``."""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from vpt.cli import main
from vpt.datasets.recipe import RecipeError, parse_recipe
from vpt.fileio import read_png, sha256_file
from tests.conftest import ROOT, recipe_dict


@pytest.mark.parametrize("value, words", [
    ([512], "[width, height] in pixels, or null"),
    ("512", "[width, height] in pixels, or null"),
    ([512, 512.5], "[width, height] in pixels, or null"),
    ([16, 16], "outside [32, 4096] pixels"),
    ([512, 384], "does not have the shape of resolution [256, 256]"),
])
def test_human_resolution_is_validated_with_a_clear_error(value, words):
    d = recipe_dict("depth-vpt")
    d["human_resolution"] = value
    with pytest.raises(RecipeError) as err:
        parse_recipe(d, "x.yaml")
    msg = str(err.value)
    assert msg.startswith("x.yaml: human_resolution: ") and words in msg, msg


@pytest.mark.parametrize("value", [None, 0, []])
def test_human_resolution_switches_off(value):
    d = recipe_dict("depth-vpt")
    d["human_resolution"] = value
    assert parse_recipe(d).config["human_resolution"] is None


def test_human_resolution_defaults_to_512():
    assert parse_recipe({"name": "mini"}).config["human_resolution"] == [512, 512]
    assert parse_recipe(recipe_dict("depth-vpt")).config["human_resolution"] == [512, 512]
    d = recipe_dict("depth-vpt")
    d["resolution"], d["human_resolution"] = [128, 96], [512, 384]  # same shape, 4x the pixels
    assert parse_recipe(d).config["human_resolution"] == [512, 384]


def test_stimuli_without_a_human_render_are_counted_and_shown_at_the_model_resolution(tmp_path):
    from tests.human_helpers import make_dataset
    from vpt.deciders.human.protocol import load_stimuli, stimulus_size
    from vpt.errors import UserError
    from vpt.trials.items import load_dataset

    root = make_dataset(tmp_path / "ds", n_human=4, n_warmup=2, px=128)
    assert load_stimuli(load_dataset(root), "vpt").model_resolution == 0
    df = pd.read_parquet(root / "index.parquet")
    df["human_image"] = ""  # as `make scenes` leaves it without --human-renders
    df.to_parquet(root / "index.parquet", index=False)
    stimuli = load_stimuli(load_dataset(root), "vpt")
    assert stimuli.model_resolution == 6 and stimuli.native_size == (64, 64)
    with pytest.raises(UserError, match="make human-set"):
        stimulus_size(stimuli, 128)


# ---- rendering (Blender) ----------------------------------------------------------------

def human_recipe(folder: Path, human_resolution) -> Path:
    d = recipe_dict("depth-vpt")
    d["balance"]["pool"] = 2  # matched selection on a small pool (fast)
    d["name"] = "humanres"
    d["resolution"], d["human_resolution"] = [128, 128], human_resolution
    d["splits"] = {"train": 3, "val": 0, "test": 2, "ood": 0}
    d["human_set"], d["warmup"] = 2, 2
    d["labels"]["min_ball_px"], d["labels"]["min_viewer_px"] = 2.5, 4.5  # 128 px images
    p = folder / "humanres.yaml"
    p.write_text(yaml.safe_dump(d))
    return p


def scenes(recipe: Path, out: Path, capsys, human: bool = True) -> str:
    capsys.readouterr()
    extra = ["--human-renders"] if human else []
    assert main(["scenes", str(recipe), "--out", str(out), "--preset", "preview", "--quiet", *extra]) == 0
    return capsys.readouterr().out


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    pytest.importorskip("bpy", reason="rendering tests need Blender's Python module (pip install -e '.[render]')")
    tmp = tmp_path_factory.mktemp("human")
    recipe = human_recipe(tmp, [512, 512])
    assert main(["scenes", str(recipe), "--out", str(tmp / "data"), "--preset", "preview", "--quiet",
                 "--human-renders"]) == 0
    return tmp, tmp / "data" / "humanres"


def _ball(mask: np.ndarray) -> np.ndarray:
    return mask == 1


@pytest.mark.render
def test_human_set_and_warmup_get_512_px_files(rendered):
    _, root = rendered
    df = pd.read_parquet(root / "index.parquet")
    assert len(df) == 5 and df["rendered"].all()
    people = df[df["human_set"] | df["warmup"]]
    assert people["human_set"].sum() == 2 and people["warmup"].sum() == 2 and len(people) == 4
    assert (df.loc[~(df["human_set"] | df["warmup"]), ["human_image", "human_mask"]] == "").all().all()
    for row in people.itertuples():
        assert row.human_image == f"images/human/{row.scene_id}.png"
        assert row.human_mask == f"images/human/{row.scene_id}_mask.png"
        big, big_mask = read_png(root / row.human_image), read_png(root / row.human_mask)
        small, small_mask = read_png(root / row.image), read_png(root / row.mask)
        assert big.shape == (512, 512, 3) and big_mask.shape == (512, 512)
        assert small.shape == (128, 128, 3) and small_mask.shape == (128, 128)
        # the ball is where the 128 px mask has it, scaled by 4
        down = _ball(big_mask).reshape(128, 4, 128, 4).mean(axis=(1, 3)) >= 0.5
        sm = _ball(small_mask)
        assert sm.sum() >= 3 and (down & sm).sum() / (down | sm).sum() >= 0.6
        cy, cx = np.argwhere(_ball(big_mask)).mean(axis=0) / 4
        sy, sx = np.argwhere(sm).mean(axis=0)
        assert abs(cx - sx) < 1.0 and abs(cy - sy) < 1.0
        assert (big_mask == 2).sum() > 8 * (small_mask == 2).sum()  # the viewer too, at 16x the area
        rec = json.loads((root / row.scene_json).read_text())
        for kind in ("image", "mask", "human_image", "human_mask"):
            assert rec["files"][kind]["sha256"] == sha256_file(root / rec["files"][kind]["path"])
        cam, big_cam = rec["cameras"]["observer"], rec["cameras"]["observer_human"]
        assert (big_cam["width"], big_cam["height"]) == (512, 512)
        np.testing.assert_allclose(np.array(big_cam["K"])[:2], 4 * np.array(cam["K"])[:2], rtol=1e-6)
        assert big_cam["hfov_deg"] == cam["hfov_deg"] and big_cam["vfov_deg"] == pytest.approx(cam["vfov_deg"])
        assert big_cam["world_to_camera_opencv"] == cam["world_to_camera_opencv"]
        human = rec["render"]["human"]
        assert human["resolution"] == [512, 512] and "raycast" not in human
        assert human["timings"]["raycast"] < 0.01  # the viewer's ray cast ran once, for the model render
        assert rec["render"]["raycast"]["visible_fraction"] is not None
        assert rec["spec_hash"] != rec["model_spec_hash"]
    for row in df[~(df["human_set"] | df["warmup"])].itertuples():
        rec = json.loads((root / row.scene_json).read_text())
        assert "observer_human" not in rec["cameras"] and "human" not in rec["render"]
        assert rec["spec_hash"] == rec["model_spec_hash"]


@pytest.mark.render
def test_card_reports_the_viewer_size_at_both_resolutions(rendered):
    _, root = rendered
    card = (root / "card.md").read_text()
    section = card.split("## Viewer size", 1)[1].split("\n## ", 1)[0]
    assert "`labels.min_viewer_px`" in section and "4.5 px" in section and "18 px at the human resolution" in section
    df = pd.read_parquet(root / "index.parquet")
    people = df[df["human_set"] | df["warmup"]]["viewer_radius_px"]
    assert f"| all | 128x128 | 5 | {df['viewer_radius_px'].min():.1f} | {df['viewer_radius_px'].median():.1f} |" in section
    assert (f"| human set + warm-up (shown to people) | 512x512 | 4 | {4 * people.min():.1f} | "
            f"{4 * people.median():.1f} | {4 * people.max():.1f} |") in section


@pytest.mark.render
def test_verify_checks_the_high_resolution_files(rendered, capsys):
    _, root = rendered
    assert main(["verify", str(root), "--sample", "0", "--quiet"]) == 0
    df = pd.read_parquet(root / "index.parquet")
    target = root / df.loc[df["human_image"] != "", "human_image"].iloc[0]
    saved = target.read_bytes()
    try:
        target.write_bytes(saved[:-1] + bytes([saved[-1] ^ 1]))
        capsys.readouterr()
        assert main(["verify", str(root), "--sample", "0", "--quiet"]) == 1
        assert "human_image file changed" in capsys.readouterr().out
    finally:
        target.write_bytes(saved)


@pytest.mark.render
def test_export_has_a_human_config(rendered, tmp_path):
    datasets = pytest.importorskip("datasets")
    _, root = rendered
    out = tmp_path / "hf"
    assert main(["export", str(root), str(out)]) == 0
    ds = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "c1"))
    assert set(ds) == {"train", "test"} and ds["test"][0]["image"].size == (128, 128)
    human = datasets.load_dataset(str(out), "human", cache_dir=str(tmp_path / "c2"))
    assert set(human) == {"human_set", "warmup"} and len(human["human_set"]) == 2 and len(human["warmup"]) == 2
    assert human["human_set"][0]["image"].size == (512, 512) and human["warmup"][0]["warmup"]


@pytest.mark.render
def test_rerun_keeps_everything_and_a_new_human_resolution_redoes_only_those_files(rendered, tmp_path, capsys):
    tmp, first = rendered
    out = tmp_path / "data"
    shutil.copytree(first, out / "humanres")  # the module's dataset stays as it is
    root = out / "humanres"
    recipe = human_recipe(tmp_path, [512, 512])
    files = sorted(p for d in ("images", "scenes") for p in (root / d).rglob("*") if p.is_file())
    stamp = {p: os.stat(p).st_mtime_ns for p in files}

    log = scenes(recipe, out, capsys)  # nothing changed: nothing rendered, nothing rewritten
    assert "5 kept from an earlier run, 0 written" in log, log
    assert {p: os.stat(p).st_mtime_ns for p in files} == stamp

    df = pd.read_parquet(root / "index.parquet")
    people = set(df.loc[df["human_set"] | df["warmup"], "scene_id"])
    before = {r.scene_id: json.loads((root / r.scene_json).read_text()) for r in df.itertuples()}
    log = scenes(human_recipe(tmp_path, [256, 256]), out, capsys)
    assert "1 kept from an earlier run, 4 written (4 of them only at the human resolution)" in log, log
    for r in df.itertuples():
        rec = json.loads((root / r.scene_json).read_text())
        for kind in ("image", "mask"):  # the model-resolution files were not rendered again
            p = root / rec["files"][kind]["path"]
            assert os.stat(p).st_mtime_ns == stamp[p] and rec["files"][kind] == before[r.scene_id]["files"][kind]
        assert rec["model_spec_hash"] == before[r.scene_id]["model_spec_hash"]
        if r.scene_id in people:
            assert rec["spec_hash"] != before[r.scene_id]["spec_hash"]
            assert read_png(root / rec["files"]["human_image"]["path"]).shape == (256, 256, 3)
            assert rec["files"]["human_mask"]["sha256"] == sha256_file(root / rec["files"]["human_mask"]["path"])
            assert rec["cameras"]["observer_human"]["width"] == 256
            assert rec["render"]["raycast"] == before[r.scene_id]["render"]["raycast"]
        else:
            assert rec == before[r.scene_id]

    log = scenes(human_recipe(tmp_path, None), out, capsys)  # switched off: no render, files removed
    assert "0 rejected" in log and "4 written" in log and "stale files removed" in log, log
    df = pd.read_parquet(root / "index.parquet")
    assert (df["human_image"] == "").all() and not any((root / "images" / "human").glob("*.png"))
    for r in df.itertuples():
        p = root / r.image
        assert os.stat(p).st_mtime_ns == stamp[p]
        assert "human_image" not in json.loads((root / r.scene_json).read_text())["files"]


@pytest.mark.render
def test_without_human_renders_nothing_is_rendered_for_people_and_nothing_removed(rendered, tmp_path, capsys):
    tmp, first = rendered
    out = tmp_path / "data"
    shutil.copytree(first, out / "humanres")
    root = out / "humanres"
    recipe = human_recipe(tmp_path, [512, 512])
    human_files = sorted((root / "images" / "human").glob("*.png"))
    stamp = {p: os.stat(p).st_mtime_ns for p in human_files}
    log = scenes(recipe, out, capsys, human=False)  # the default run keeps what the human path rendered
    assert "5 kept from an earlier run, 0 written" in log, log
    assert {p: os.stat(p).st_mtime_ns for p in human_files} == stamp and len(human_files) == 8

    fresh = tmp_path / "fresh"
    log = scenes(recipe, fresh, capsys, human=False)  # a first run without them: model images only
    assert "5 written" in log, log
    df = pd.read_parquet(fresh / "humanres" / "index.parquet")
    assert (df["human_image"] == "").all() and not list((fresh / "humanres" / "images").glob("human/*"))
    assert json.loads((fresh / "humanres" / "timings.json").read_text())["human_renders"] is False
    log = scenes(recipe, fresh, capsys)  # the human path adds the 512 px renders, nothing else
    assert "4 written (4 of them only at the human resolution)" in log, log
    df = pd.read_parquet(fresh / "humanres" / "index.parquet")
    assert (df.loc[df["human_set"] | df["warmup"], "human_image"] != "").all()
    assert main(["verify", str(fresh / "humanres"), "--sample", "0", "--quiet"]) == 0
