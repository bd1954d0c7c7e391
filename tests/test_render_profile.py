"""benchmarks/render_profile.py: one image's render time split into its parts (tiny renders)."""

from __future__ import annotations

import pytest


@pytest.mark.render
def test_profile_parts_add_up_and_the_denoiser_costs(tmp_path):
    pytest.importorskip("bpy", reason="bpy (Blender as a Python module) is not installed")
    from benchmarks import render_profile as rp
    from vpt.render.examples import example_spec

    spec = example_spec("shapes", "studio", size=48)
    rp.timed_render(spec, tmp_path / "warm", "draft", {})  # kernels loaded, as in the script
    parts = rp.profile_scene(spec, tmp_path, "draft")
    assert set(parts) == {*rp.PARTS, "total"}
    for clock in ("wall", "cpu"):
        assert parts["total"][clock] > 0 and parts["sync + mask pass"][clock] > 0
        named = sum(parts[p][clock] for p in rp.PARTS)
        # the parts are differences of separate renders: they add up to the image's time within noise
        assert named == pytest.approx(parts["total"][clock], rel=0.5)
    assert parts["build"]["wall"] > 0 and parts["ray cast"]["wall"] > 0 and parts["write"]["wall"] > 0
    # preview has no denoiser: that part is exactly zero there
    assert rp.profile_scene(spec, tmp_path, "preview")["denoise"] == {"wall": 0.0, "cpu": 0.0}
    table = rp.table("draft", [parts, parts])
    assert "| sampling |" in table and "(2 images)" in table and "**total**" in table


@pytest.mark.render
def test_process_start_is_timed(tmp_path):
    pytest.importorskip("bpy", reason="bpy (Blender as a Python module) is not installed")
    from benchmarks import render_profile as rp
    from vpt.render.examples import example_spec

    start = rp.process_start(example_spec("plain", "studio", size=32), tmp_path, "preview")
    assert start["start_to_ready_s"] > 0 and set(start) == {"start_to_ready_s", "first_image_extra_s"}
