"""Render settings overrides, the persistent Blender session, PNG metadata stripping and the
quality benchmark (tiny renders: 48 px, a few samples)."""

from __future__ import annotations

import io
import math
import zlib

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from vpt.render.presets import PRESETS, preset_values, render_settings


def test_overrides_are_checked_and_recorded():
    assert preset_values("standard", {"samples": 3})["samples"] == 3
    assert preset_values("standard")["samples"] == PRESETS["standard"]["samples"]
    s = render_settings("standard", overrides={"samples": 3})
    assert s["samples"] == 3 and s["overrides"] == {"samples": 3}
    assert "overrides" not in render_settings("standard")
    with pytest.raises(ValueError, match="unknown render setting 'smaples'"):
        preset_values("standard", {"smaples": 3})


def _png_with_text() -> tuple[bytes, np.ndarray]:
    a = (np.arange(5 * 7 * 3) % 251).astype(np.uint8).reshape(5, 7, 3)
    info = PngImagePlugin.PngInfo()
    info.add_text("Date", "2026/12/02 04:00:00")
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG", pnginfo=info, dpi=(72, 72))
    return buf.getvalue(), a


@pytest.mark.render
def test_png_critical_chunks_drops_metadata_keeps_pixels():
    pytest.importorskip("bpy", reason="bpy (Blender as a Python module) is not installed")
    from vpt.render.output import png_critical_chunks

    blob, a = _png_with_text()
    assert b"tEXt" in blob and b"pHYs" in blob
    out = png_critical_chunks(blob)
    assert b"tEXt" not in out and b"pHYs" not in out
    with Image.open(io.BytesIO(out)) as img:
        assert np.array_equal(np.asarray(img), a) and not img.info
    with pytest.raises(ValueError, match="not a PNG"):
        png_critical_chunks(b"GIF89a" + blob)
    with pytest.raises(ValueError, match="truncated"):
        png_critical_chunks(blob[:-12])
    assert zlib.crc32(out) == zlib.crc32(png_critical_chunks(out))  # idempotent


@pytest.fixture(scope="module")
def tiny_specs():
    pytest.importorskip("bpy", reason="bpy (Blender as a Python module) is not installed")
    from vpt.render.examples import example_spec

    return [example_spec("shapes", style, size=48) for style in ("studio", "room", "outdoor")]


@pytest.mark.render
def test_persistent_session_renders_the_same_bytes(tiny_specs, tmp_path):
    """Keeping Blender's session between scenes (``persistent_data``) changes no pixel of
    any image or mask, in either order of scenes."""
    from vpt.render.output import render

    def run(persistent: bool, order: list[int]) -> dict[int, tuple[str, str]]:
        out = {}
        for i in order:
            res = render(tiny_specs[i], tmp_path / f"{persistent}-{i}", preset="preview",
                         overrides={"persistent_data": persistent})
            out[i] = (res["files"]["image"]["sha256"], res["files"]["mask"]["sha256"])
        return out

    fresh = run(False, [0, 1, 2])
    kept = run(True, [2, 0, 1, 0])
    assert kept == fresh


@pytest.mark.render
def test_quality_bench_table(tiny_specs, tmp_path):
    from benchmarks import render_quality as qb

    cands = {"baseline": {"samples": 2}, "one sample": {"samples": 1, "denoiser": None}}
    ref = {**qb.REFERENCE, "samples": 8, "adaptive_min_samples": 4}
    old = qb.REFERENCE
    qb.REFERENCE = ref
    try:
        res = qb.run(tiny_specs[:2], cands, tmp_path / "cache", log=io.StringIO())
        cached = sorted(p.name for p in (tmp_path / "cache").glob("*.png"))
        log = io.StringIO()
        again = qb.run(tiny_specs[:1], {"baseline": {"samples": 2}}, tmp_path / "cache", log=log)
    finally:
        qb.REFERENCE = old
    assert len(cached) == 4  # image and mask per scene
    assert "reference" not in log.getvalue() and "0 rendered" in log.getvalue()  # the rerun used the caches
    assert again["rows"]["baseline"][0] == res["rows"]["baseline"][0]
    s = res["summary"]
    assert s["baseline"]["images"] == 2 and s["baseline"]["mask_px_diff"] == 0
    assert s["baseline"]["psnr_db"] > s["one sample"]["psnr_db"]  # fewer samples, no denoiser: worse
    assert 0 < s["one sample"]["ssim"] < s["baseline"]["ssim"] <= 1
    assert s["baseline"]["mask_px_diff_ref"] == s["one sample"]["mask_px_diff_ref"] == 0  # one index per pixel
    assert math.isnan(s["baseline"]["cue_shift_sd"]) and "fewer than 3 scenes" in s["baseline"]["cue_shift_cue"]
    table = qb.table(res)
    assert "| one sample |" in table and "fail: psnr_db" in table  # 48 px noise is far below the floor


def test_the_quality_floor_names_what_a_setting_misses():
    from benchmarks.render_quality import FLOOR, meets_floor

    good = {"psnr_db": 40.0, "psnr_db_min": 36.0, "ssim": 0.975, "mask_px_diff_ref": 0, "cue_shift_sd": 0.02,
            "cue_shift_cue": "brightness"}
    assert meets_floor(good) == []
    bad = good | {"ssim": 0.96, "mask_px_diff_ref": 3, "cue_shift_sd": 0.3, "cue_shift_cue": "thumb_4"}
    misses = meets_floor(bad)
    assert len(misses) == 3 and misses[0].startswith("ssim 0.960 < 0.97") and "3 mask px differ" in misses[1]
    assert "thumb_4 moves 0.300 SD" in misses[2]
    assert meets_floor(good | {"psnr_db": float("nan")}) and FLOOR["psnr_db"] == 38.0


def test_cue_shift_ignores_a_shift_common_to_every_image():
    from benchmarks.render_quality import cue_shift

    ref = [0.2, 0.4, 0.6, 0.8]
    rows = [{"cues": {"b": r + 0.05}, "cues_ref": {"b": r}} for r in ref]  # all a little brighter
    assert cue_shift(rows)[0] == pytest.approx(0.0, abs=1e-12)
    noisy = [{"cues": {"b": r + d}, "cues_ref": {"b": r}} for r, d in zip(ref, [0.02, -0.02, 0.02, -0.02])]
    shift, cue = cue_shift(noisy)
    assert cue == "b" and shift == pytest.approx(0.02 * (4 / 3) ** 0.5 / 0.2582, rel=1e-3)


def test_scene_variants_of_the_benchmark(tiny_specs):
    from benchmarks.render_quality import scene_variant

    spec = next(s for s in tiny_specs if len(s.lights) > 1)
    one = scene_variant(spec, {"lights": 1})
    assert len(one.lights) == 1 and one.lights[0].energy == max(ls.energy for ls in spec.lights)
    assert scene_variant(spec, {"seed": 1}).index == spec.index + 100_000
    assert scene_variant(spec, {}) is spec


@pytest.mark.render
def test_pick_specs_takes_styles_in_turn(tiny_specs):
    from benchmarks.render_quality import pick_specs, resized

    picked = pick_specs(tiny_specs * 2, 4)
    assert [s.appearance.style for s in picked] == ["outdoor", "room", "studio", "outdoor"]
    with pytest.raises(ValueError, match="only 6 scene specs"):
        pick_specs(tiny_specs * 2, 7)
    small = resized(tiny_specs[0], 24)
    assert (small.observer.width, small.observer.height) == (24, 24)


@pytest.mark.render
def test_bump_setting_removes_only_bump_nodes():
    pytest.importorskip("bpy", reason="bpy (Blender as a Python module) is not installed")
    import bpy

    from vpt.render.build import build_scene
    from vpt.render.examples import example_spec

    def bumps() -> tuple[int, int]:
        nodes = [nd for m in bpy.data.materials if m.node_tree for nd in m.node_tree.nodes]
        return sum(nd.type == "BUMP" for nd in nodes), len(nodes)

    spec = example_spec("shapes", "room", size=32)
    build_scene(spec, "preview")
    with_bump, total = bumps()
    build_scene(spec, "preview", overrides={"bump": False})
    assert with_bump > 0 and bumps() == (0, total - with_bump)


def test_default_rows_are_known_candidates():
    from benchmarks.render_quality import CANDIDATES, DEFAULT_CANDIDATES

    assert set(DEFAULT_CANDIDATES) <= set(CANDIDATES) and DEFAULT_CANDIDATES[0] == "baseline"
    assert {"standard", "draft"} <= set(DEFAULT_CANDIDATES)


def test_every_candidate_is_a_valid_override():
    from benchmarks.render_quality import CANDIDATES, SCENE_KEYS

    for name, row in CANDIDATES.items():
        if row is not None:
            preset_values("standard", {k: v for k, v in row.items() if k not in SCENE_KEYS})  # raises if unknown


@pytest.mark.render
def test_speed_bench_splits_cores_between_workers_and_counts_their_cpu(tmp_path, capsys):
    """``render_speed.py --workers 2 --threads 1`` renders with one thread a worker, counts
    the workers' CPU seconds, and the images are the bytes one 2-thread worker renders."""
    pytest.importorskip("bpy", reason="bpy (Blender as a Python module) is not installed")
    import json

    from benchmarks import render_speed

    figures = {}
    for label, extra in (("one", ["--workers", "1", "--threads", "2"]), ("two", ["--workers", "2", "--threads", "1"])):
        assert render_speed.main(["-n", "2", "--size", "48", "--preset", "preview", "--out", str(tmp_path / label),
                                  *extra]) == 0
        out = capsys.readouterr().out
        figures[label] = json.loads(out[out.index("{"):])
    assert figures["two"]["threads_per_worker"] == 1 and figures["one"]["threads_per_worker"] == 2
    assert all(f["cpu_s_per_image"] > 0 and f["failed"] == 0 for f in figures.values())
    for png in sorted((tmp_path / "one").glob("*.png")):
        assert png.read_bytes() == (tmp_path / "two" / png.name).read_bytes(), png.name
