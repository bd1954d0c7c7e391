"""The ray-cast label of record against hand-made canonical cases and the analytic label."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

pytest.importorskip("bpy", reason="needs the render extra (Blender as a Python module): pip install -e '.[render]'")
pytestmark = pytest.mark.render

from vpt.render.examples import analytic_visible_fraction, example_spec, with_ball  # noqa: E402
from vpt.render.raycast import raycast_viewer_visibility  # noqa: E402
from vpt.render.verify import render_viewer_index  # noqa: E402
from vpt.render.worker import FRACTION_TOLERANCE  # noqa: E402
from vpt.scene.spec import OccluderSpec  # noqa: E402

CASES = {  # case -> expected visible fraction
    "plain": 1.0,
    "wall": 0.0,
    "half": 0.5,
    "behind": 0.0,
    "outside_fov": 0.0,
}


@pytest.mark.parametrize("case,expected", sorted(CASES.items()))
def test_canonical_cases(case, expected):
    spec = example_spec(case)
    rc = raycast_viewer_visibility(spec)
    assert rc["visible_fraction"] == pytest.approx(expected, abs=0.02)
    assert abs(rc["visible_fraction"] - analytic_visible_fraction(spec)) <= FRACTION_TOLERANCE
    if case == "wall":
        assert rc["occluder_ids"] == [0] and rc["n_rays"] > 500
    if case in ("behind", "outside_fov"):
        assert rc["in_view_fraction"] == 0.0


def _spec_with(occluder: OccluderSpec):
    return replace(example_spec("plain"), occluders=(occluder,))


@pytest.mark.parametrize("occluder,expected", [
    (OccluderSpec(3, "pillar", "cylinder", (1.5, 0.0, 0.6), (0.5, 0.5, 1.2), 0.0, "concrete"), 0.0),
    (OccluderSpec(4, "boulder", "sphere", (1.6, 0.0, 0.45), (0.9, 0.9, 0.9), 0.0, "stone"), 0.0),
    (OccluderSpec(5, "box", "box", (1.5, 0.0, 0.18), (0.5, 0.5, 0.36), 40.0, "wood"), None),  # top edge cuts the ball
    (OccluderSpec(6, "box", "box", (1.5, 1.5, 0.25), (0.5, 0.5, 0.5), 40.0, "wood"), 1.0),   # off the line
])
def test_primitives_agree_with_analytic(occluder, expected):
    spec = _spec_with(occluder)
    rc = raycast_viewer_visibility(spec)
    analytic = analytic_visible_fraction(spec)
    assert abs(rc["visible_fraction"] - analytic) <= FRACTION_TOLERANCE, (rc, analytic)
    if expected is not None:
        assert rc["visible_fraction"] == pytest.approx(expected, abs=0.02)
    else:
        assert 0.05 < rc["visible_fraction"] < 0.95


def test_floor_and_frustum_edge_agree_with_analytic():
    spec = example_spec("plain")
    # a ball sunk halfway into the floor: the floor hides its lower half
    sunk = with_ball(spec, (spec.ball.position[0], 0.0, 0.0))
    rc = raycast_viewer_visibility(sunk)
    assert rc["visible_fraction"] == pytest.approx(analytic_visible_fraction(sunk), abs=FRACTION_TOLERANCE)
    assert 0.3 < rc["visible_fraction"] < 0.7 and "floor" in rc["blocked_by"]
    # a ball cut by the left edge of the viewer's field of view (hfov 70: edge at 35 deg)
    eye = spec.viewer.eye
    ang = math.radians(35.0)
    edge = with_ball(spec, (eye[0] + 2.0 * math.cos(ang), 2.0 * math.sin(ang), float(eye[2]) - 0.2))
    rc = raycast_viewer_visibility(edge)
    assert 0.2 < rc["visible_fraction"] < 0.8
    assert rc["visible_fraction"] == pytest.approx(analytic_visible_fraction(edge), abs=FRACTION_TOLERANCE)


@pytest.mark.parametrize("case,visible", [("plain", True), ("wall", False), ("half", True), ("outside_fov", False)])
def test_viewer_index_render_matches_label(case, visible):
    res = render_viewer_index(example_spec(case), size=64)
    assert res["ball_visible"] is visible
    assert res["viewer_px"] == 0  # its own body is hidden from its own camera
    assert res["size"][0] == 64
