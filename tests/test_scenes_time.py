"""`vpt scenes` records the seconds of each stage (timings.json), and benchmarks/scenes_time.py
splits them into install, plan, audit, 256 px, 512 px and sweep renders and files."""

import json
from pathlib import Path

import pytest

from benchmarks import scenes_time


def test_the_pipeline_writes_its_stage_timings(tiny_benchmark):
    t = json.loads((tiny_benchmark / "timings.json").read_text())
    assert set(t["stage_seconds"]) == {"plan", "render", "audit", "files"}
    assert t["stage_seconds"]["plan"] > 0 and t["stage_seconds"]["render"] == 0  # planned, not rendered
    assert sum(t["stage_seconds"].values()) == pytest.approx(t["seconds"], abs=0.05)
    assert t["items"] == 64


def _scene(root: Path, split: str, sid: str, model: float, human: float | None = None, sweep: bool = False) -> None:
    render = {"timings": {"total": model}}
    if human is not None:
        render["human"] = {"timings": {"total": human}}
    (root / "scenes" / split).mkdir(parents=True, exist_ok=True)
    (root / "scenes" / split / f"{sid}.json").write_text(json.dumps({"render": render, "sweep": {"id": 1} if sweep else None}))


def fake_run(data: Path) -> None:
    a, b = data / "a", data / "b"
    for root in (a, b):
        root.mkdir(parents=True)
        (root / "index.parquet").write_bytes(b"")
    _scene(a, "train", "a0", 1.0)
    _scene(a, "train", "a1", 1.0, human=4.0)
    _scene(b, "test", "b0", 2.0, sweep=True)
    (a / "timings.json").write_text(json.dumps({"stage_seconds": {"plan": 30, "render": 12.0, "audit": 6, "files": 3}}))


def test_render_time_is_split_by_the_per_image_timings(tmp_path):
    fake_run(tmp_path)
    r = scenes_time.breakdown(tmp_path, install_s=120.0)
    st = r["stages"]
    # a: 12 s of render wall time, 2 s of 256 px and 4 s of 512 px worker time: a third and two thirds
    assert st["256 px renders"] == pytest.approx(4.0) and st["512 px renders"] == pytest.approx(8.0)
    assert st["sweeps"] == pytest.approx(2.0)  # b has no timings.json: its worker time as it is
    assert (st["install"], st["plan"], st["audit"], st["files"]) == (120.0, 30, 6, 3)
    text = scenes_time.table(r)
    assert "| 512 px renders | 0.1 |" in text and "No timings.json in b" in text
    assert f"Without the 512 px renders: {(120 + 30 + 6 + 3 + 4 + 2) / 60:.1f} min." in text


def test_the_preset_and_the_render_call_share_are_printed(tmp_path):
    root = tmp_path / "d"
    (root / "scenes" / "train").mkdir(parents=True)
    (root / "index.parquet").write_bytes(b"")
    for i, (call, samples) in enumerate([(0.9, 7), (0.7, 7), (0.8, 8)]):
        rec = {"render": {"timings": {"total": 1.0, "render": call},
                          "settings": {"preset": "standard", "samples": samples}}, "sweep": None}
        (root / "scenes" / "train" / f"s{i}.json").write_text(json.dumps(rec))
    text = scenes_time.table(scenes_time.breakdown(tmp_path))
    assert "d: standard (7 samples) x 2, standard (8 samples) x 1; Blender's render call" in text
    assert "80% of the worker's time" in text


def test_a_folder_without_datasets_is_refused_with_the_fix(tmp_path, capsys):
    with pytest.raises(SystemExit) as err:
        scenes_time.main(["--data", str(tmp_path)])
    assert "no dataset folders" in str(err.value) and "make scenes OUT=" in str(err.value)
    with pytest.raises(SystemExit):
        scenes_time.main(["--data", str(tmp_path / "nope")])
    assert "no such folder" in capsys.readouterr().err
