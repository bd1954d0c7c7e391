"""`vpt scenes` end to end with Blender: tiny renders, verify, export, kill and resume."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

pytest.importorskip("bpy", reason="rendering tests need Blender's Python module (pip install -e '.[render]')")
pytestmark = pytest.mark.render

from vpt.cli import main  # noqa: E402
from vpt.fileio import read_png, sha256_file  # noqa: E402
from tests.conftest import RECIPES, ROOT  # noqa: E402


def tiny_recipe(folder: Path, name: str = "tiny", train: int = 12, test: int = 12) -> Path:
    d = yaml.safe_load((RECIPES / "depth-vpt.yaml").read_text())
    d["balance"]["pool"] = 2  # matched selection on a small pool (fast)
    d["name"] = name
    d["resolution"] = [64, 64]
    d["splits"] = {"train": train, "val": 0, "test": test, "ood": 0}
    d["human_set"], d["warmup"] = 4, 4
    d["labels"]["min_ball_px"], d["labels"]["min_viewer_px"] = 1.2, 2.2  # 64 px images
    d["human_resolution"] = [128, 128]  # the human set and warm-up also at 2x (512 px costs more time)
    p = folder / f"{name}.yaml"
    p.write_text(yaml.safe_dump(d))
    return p


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("render")
    recipe = tiny_recipe(tmp)
    out = tmp / "data"
    assert main(["scenes", str(recipe), "--out", str(out), "--preset", "preview", "--quiet", "--depth"]) == 0
    return recipe, out / "tiny"


def test_render_writes_images_masks_json_index_and_card(rendered):
    _, root = rendered
    df = pd.read_parquet(root / "index.parquet")
    assert len(df) == 24 and df["rendered"].all()
    for row in df.itertuples():
        img, mask = read_png(root / row.image), read_png(root / row.mask)
        assert img.shape == (64, 64, 3) and mask.shape == (64, 64)
        assert set(mask.ravel()) <= {0, 1, 2} | {10 + k for k in range(8)}
        assert (mask == 1).any() and (mask == 2).any(), "ball and viewer must both be in the image"
        rec = json.loads((root / row.scene_json).read_text())
        assert rec["files"]["image"]["sha256"] == sha256_file(root / row.image)
        assert rec["render"]["settings"]["preset"] == "preview"
        assert rec["versions"]["bpy"].startswith("4.5")
        vis = rec["visibility"]["viewer"]
        assert abs(vis["raycast_fraction"] - vis["analytic_fraction"]) <= 0.05
        assert (root / rec["files"]["depth"]["path"]).exists()
    assert (root / "contact_sheet.png").exists()
    card = (root / "card.md").read_text()
    assert "## Rendering" in card and "images per hour" in card


def test_verify_passes_and_catches_tampering(rendered, capsys):
    _, root = rendered
    assert main(["verify", str(root), "--sample", "6", "--quiet"]) == 0
    report = json.loads((root / "verify.json").read_text())
    assert report["passed"] and len(report["viewer_renders"]) == 6
    assert {r["vpt_label"] for r in report["viewer_renders"]} == {0, 1}
    # flip one label in the index: verify must notice
    df = pd.read_parquet(root / "index.parquet")
    bad = df.copy()
    bad.loc[0, "vpt_label"] = 1 - bad.loc[0, "vpt_label"]
    bad.to_parquet(root / "index.parquet", index=False)
    try:
        assert main(["verify", str(root), "--sample", "0", "--quiet"]) == 1
        assert "index vpt_label" in capsys.readouterr().out
    finally:
        df.to_parquet(root / "index.parquet", index=False)


def test_export_loads_with_hugging_face_datasets(rendered, tmp_path):
    datasets = pytest.importorskip("datasets")
    _, root = rendered
    out = tmp_path / "hf"
    assert main(["export", str(root), str(out)]) == 0
    ds = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "hf-cache"))  # no stale cache from other runs
    assert set(ds.keys()) == {"train", "test"}
    assert len(ds["train"]) == 12 and len(ds["test"]) == 12
    row = ds["test"][0]
    assert row["image"].size == (64, 64) and row["vpt_label"] in (0, 1) and row["depth_label"] in (0, 1)
    assert row["tasks"] == "vpt,depth"  # a basic item serves both tasks (a conflict set's items say which)


def _vpt_scenes(recipe: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "vpt.cli", "scenes", str(recipe), "--out", str(out),
                             "--preset", "preview", "--quiet"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            # a run started in the background (`cmd &`) inherits SIGINT ignored,
                            # and Python then never raises KeyboardInterrupt: give Ctrl-C back
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_interrupted_run_keeps_finished_stimuli_and_resumes(tmp_path, sig):
    recipe = tiny_recipe(tmp_path, "resume", train=16, test=16)
    out = tmp_path / "data"
    root = out / "resume"
    proc = _vpt_scenes(recipe, out)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((root / "scenes").rglob("*.json"))) < 4:
        time.sleep(0.05)
    os.killpg(proc.pid, sig)  # Ctrl-C, or a crash, of the whole process group
    proc.communicate(timeout=60)
    done = list((root / "scenes").rglob("*.json"))
    assert 4 <= len(done) < 32, "the run should have been stopped midway"
    for f in done:  # whatever survived is complete: JSON parses and its files match their hashes
        rec = json.loads(f.read_text())
        for meta in rec["files"].values():
            assert sha256_file(root / meta["path"]) == meta["sha256"]
    # resume: finished stimuli are kept, the rest is made, nothing temporary is left
    proc = _vpt_scenes(recipe, out)
    log, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, log
    assert f"({len(done)} kept from an earlier run" in log or f"{len(done)} kept" in log, log
    df = pd.read_parquet(root / "index.parquet")
    assert len(df) == 32 and df["rendered"].all()
    leftovers = [p for p in root.rglob("*") if p.name.startswith(".") or ".tmp" in p.name]
    assert not leftovers, leftovers
