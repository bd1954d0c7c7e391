"""Render-side checks that need no Blender: material catalogue, presets, PNG codec, lazy bpy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from vpt.render.materials import (color_name, hex_to_srgb, load_materials, reserved_color_violations)
from vpt.fileio import atomic_write_bytes, encode_png, read_png
from vpt.render.presets import PRESETS, render_settings
from vpt.resources import asset

ROOT = Path(__file__).resolve().parents[1]


def test_every_style_material_is_in_the_catalogue():
    styles = yaml.safe_load((asset("styles")).read_text())
    mats = load_materials()
    for style, st in styles.items():
        for key in ("floor_materials", "wall_materials", "occluder_materials"):
            missing = [m for m in st[key] if m not in mats]
            assert not missing, f"styles.yaml {style}.{key}: {missing} not in materials.yaml"
    for name in ("ball_red", "viewer_green", "viewer_green_light", "viewer_dark", "viewer_white"):
        assert name in mats


def test_only_ball_is_red_and_only_viewer_is_green():
    assert reserved_color_violations(load_materials()) == []
    assert color_name(hex_to_srgb(load_materials()["ball_red"]["color"])) == "red"
    assert color_name(hex_to_srgb(load_materials()["viewer_green"]["color"])) == "green"


def test_reserved_colour_check_catches_offenders():
    bad = {"brick": {"color": "#b02020"}, "grass": {"ramp": [[0, "#30a040"]]}}
    assert len(reserved_color_violations(bad)) == 2


def test_presets_record_every_setting():
    for name in PRESETS:
        s = render_settings(name)
        for key in ("engine", "samples", "denoiser", "view_transform", "look", "exposure", "resolution",
                    "light_bounces", "threads", "device", "seed"):
            assert key in s
        assert s["view_transform"] == "Standard"
    assert PRESETS["preview"]["samples"] < PRESETS["standard"]["samples"] < PRESETS["paper"]["samples"]
    with pytest.raises(ValueError, match="unknown render preset"):
        render_settings("ultra")


@pytest.mark.parametrize("shape", [(7, 5), (4, 6, 3)])
def test_png_roundtrip_keeps_exact_values(shape, tmp_path):
    a = ((np.arange(np.prod(shape)) * 7919) % 255).astype(np.uint8).reshape(shape)
    atomic_write_bytes(tmp_path / "a.png", encode_png(a))
    assert np.array_equal(read_png(tmp_path / "a.png"), a)
    with pytest.raises(ValueError, match="uint8"):
        encode_png(a.astype(np.uint16))


def test_atomic_write_leaves_no_temp(tmp_path):
    atomic_write_bytes(tmp_path / "x.bin", b"abc")
    assert [p.name for p in tmp_path.iterdir()] == ["x.bin"]


def test_render_package_imports_without_bpy():
    code = ("import sys; import vpt.render, vpt.render.executor, vpt.render.presets, vpt.render.materials, "
            "vpt.render.worker, vpt.render.examples; assert 'bpy' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_missing_bpy_gives_install_command():
    code = ("import sys; sys.modules['bpy'] = None\n"
            "from vpt.render import RenderUnavailable, require_bpy\n"
            "try:\n    require_bpy()\nexcept RenderUnavailable as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, capture_output=True, text=True).stdout
    assert "pip install 'bpy==4.5.15'" in out and "pip install -e '.[render]'" in out


def test_viewer_front_materials_contrast_with_its_green_body():
    """The camera's lens rim (white) and glass (dark), and a head's pale face, must stand
    out of the green body at a glance: a large luminance step, in both directions."""
    mats = load_materials()

    def luma(name: str) -> float:
        r, g, b = hex_to_srgb(mats[name]["color"])
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    body = luma("viewer_green")
    assert luma("viewer_white") - body > 0.35
    assert body - luma("viewer_dark") > 0.35
    assert luma("viewer_green_light") - body > 0.25
    assert color_name(hex_to_srgb(mats["viewer_green_light"]["color"])) == "green"
    assert color_name(hex_to_srgb(mats["viewer_white"]["color"])) == "other"  # the rim is not a second green


def test_check_fraction_reports_disagreement():
    """The worker's check of the ray-cast fraction against the analytic one: pure Python, so
    it runs without Blender."""
    from vpt.render.worker import FRACTION_TOLERANCE, check_fraction

    ok, reason = check_fraction({"visible_fraction": 0.5, "blocked_by": {3: 0.4}}, 0.9)
    assert not ok and "0.500 differs from the analytic 0.900" in reason and "{3: 0.4}" in reason
    assert check_fraction({"visible_fraction": 0.5, "blocked_by": {}}, 0.52) == (True, None)
    assert check_fraction({"visible_fraction": 0.5, "blocked_by": {}}, 0.5 + FRACTION_TOLERANCE + 0.01)[0] is False
    assert check_fraction(None, 0.3) == (True, None) and check_fraction({"visible_fraction": 0.1}, None) == (True, None)
