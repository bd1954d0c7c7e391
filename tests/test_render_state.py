"""Blender-state tests: build a scene from a spec and check Blender mirrors it (no rendering)."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("bpy", reason="bpy (Blender as a Python module) is not installed: pip install 'bpy==4.5.15'")

from vpt.render.build import build_scene  # noqa: E402
from vpt.render.examples import example_spec  # noqa: E402
from vpt.scene.spec import ObserverSpec  # noqa: E402


@pytest.fixture
def built():  # per test: any later build resets Blender and frees these objects
    return build_scene(example_spec("shapes", "room"), "standard")


def _mat(obj) -> np.ndarray:
    return np.array([list(row) for row in obj.matrix_world])


def test_observer_camera_intrinsics_and_pose(built):
    spec = built.spec
    cam = built.camera
    assert built.scene.camera == cam
    assert cam.data.sensor_fit == "HORIZONTAL"
    assert math.degrees(cam.data.angle_x) == pytest.approx(spec.observer.hfov_deg, abs=1e-4)
    r = built.scene.render
    assert (r.resolution_x, r.resolution_y, r.resolution_percentage) == (spec.observer.width, spec.observer.height, 100)
    assert np.allclose(_mat(cam), spec.observer.blender_matrix_world(), atol=1e-5)
    # Blender's own projection agrees with the spec's pinhole model at the ball centre
    from bpy_extras.object_utils import world_to_camera_view
    from mathutils import Vector

    ndc = world_to_camera_view(built.scene, cam, Vector(spec.ball.position))
    uv, _ = spec.observer.project(np.array([spec.ball.position]))
    assert ndc.x * spec.observer.width == pytest.approx(uv[0, 0], abs=1e-3)
    assert (1 - ndc.y) * spec.observer.height == pytest.approx(uv[0, 1], abs=1e-3)


def test_non_square_camera_keeps_horizontal_fov():
    spec = example_spec("plain")
    ob = spec.observer
    wide = ObserverSpec(ob.position, ob.look_at, 60.0, 320, 180)
    from dataclasses import replace

    b = build_scene(replace(spec, observer=wide), "preview")
    assert math.degrees(b.camera.data.angle_x) == pytest.approx(60.0, abs=1e-4)
    assert math.degrees(b.camera.data.angle_y) == pytest.approx(wide.vfov_deg, abs=1e-3)
    corners = b.camera.data.view_frame(scene=b.scene)  # the frame Blender actually renders
    ys = [abs(c.y / c.z) for c in corners]
    assert math.degrees(2 * math.atan(max(ys))) == pytest.approx(wide.vfov_deg, abs=1e-3)


def test_occluders_mirror_the_spec(built):
    assert set(built.occluders) == {o.id for o in built.spec.occluders}
    for o in built.spec.occluders:
        obj = built.occluders[o.id]
        assert obj.pass_index == 10 + o.id
        assert np.allclose(obj.location, o.position, atol=1e-6)
        assert math.degrees(obj.rotation_euler.z) == pytest.approx(o.yaw_deg, abs=1e-6)
        assert obj.rotation_euler.x == 0 and obj.rotation_euler.y == 0
        assert np.allclose(obj.dimensions, o.size, atol=1e-5), (o.primitive, tuple(obj.dimensions), o.size)
        assert obj.active_material.name == o.material
        if o.primitive != "box":  # curved solids: vertices on the true surface
            co = np.array([v.co[:] for v in obj.data.vertices])
            r = o.size[0] / 2
            radial = np.hypot(co[:, 0], co[:, 1]) if o.primitive == "cylinder" else np.linalg.norm(co, axis=1)
            ring = radial[radial > 1e-6] if o.primitive == "cylinder" else radial
            assert np.allclose(ring, r, atol=1e-5)
            assert len(obj.data.polygons) >= 48


def test_ball_and_viewer(built):
    spec = built.spec
    ball = built.ball
    assert ball.pass_index == 1
    assert np.allclose(ball.location, spec.ball.position, atol=1e-6)
    assert np.allclose(ball.dimensions, [2 * spec.ball.radius] * 3, atol=1e-5)
    assert ball.active_material.name == "ball_red"
    names = {o.name for o in built.viewer_parts}
    assert {"viewer_body", "viewer_lens", "viewer_lens_ring", "viewer_viewfinder", "viewer_pole"} <= names
    assert all(o.pass_index == 2 for o in built.viewer_parts)
    body = next(o for o in built.viewer_parts if o.name == "viewer_body")
    m = _mat(body)
    assert np.allclose(m[:3, 3], spec.viewer.position, atol=1e-6)
    assert np.allclose(m[:3, 0], spec.viewer.forward, atol=1e-6)  # local +x is the facing direction
    g = spec.viewer.geometry
    assert np.allclose(body.dimensions, [g["depth"], g["width"], g["height"]], atol=1e-6)
    # the lens front (glass) sits at the eye
    glass = next(o for o in built.viewer_parts if o.name == "viewer_lens_glass")
    front = np.array(glass.matrix_world.translation) + spec.viewer.forward * glass.dimensions.z / 2
    assert np.allclose(front, spec.viewer.eye, atol=2e-3)


def test_everything_else_is_background(built):
    special = {built.ball.name} | {o.name for o in built.viewer_parts} | {o.name for o in built.occluders.values()}
    meshes = [o for o in built.scene.objects if o.type == "MESH" and o.name not in special]
    assert {"floor", "wall_back", "wall_left", "wall_right"} <= {o.name for o in meshes}
    assert all(o.pass_index == 0 for o in meshes)
    assert built.scene.objects["floor"].location.z == 0


def test_lights_and_settings(built):
    spec = built.spec
    assert [light.data.type for light in built.lights] == [ls.kind.upper() for ls in spec.lights]
    for obj, ls in zip(built.lights, spec.lights, strict=True):
        assert obj.data.energy == pytest.approx(ls.energy)
        aim = -np.array(obj.matrix_world.to_3x3().col[2])
        want = np.subtract(ls.target, ls.position)
        assert np.allclose(aim, want / np.linalg.norm(want), atol=1e-6)
    s = built.settings
    sc = built.scene
    assert sc.view_settings.view_transform == "Standard" == s["view_transform"]
    assert sc.cycles.samples == s["samples"] == 16
    assert s["engine"] == "CYCLES" and s["device"] == "CPU" and s["bpy_version"].startswith("4.5")
    assert sc.view_settings.exposure == pytest.approx(s["exposure"])


@pytest.mark.parametrize("style", ["studio", "outdoor"])
@pytest.mark.parametrize("model", ["head", "figure"])
def test_other_styles_and_viewer_models_build(style, model):
    b = build_scene(example_spec("plain", style, model), "preview")
    assert b.viewer_parts and all(o.pass_index == 2 for o in b.viewer_parts)
    assert any(o.name == "viewer_nose" for o in b.viewer_parts)
    if style == "outdoor":
        assert any(n.bl_idname == "ShaderNodeTexSky" for n in b.scene.world.node_tree.nodes)
    else:
        assert "backdrop" in b.scene.objects


def test_build_is_deterministic():
    spec = example_spec("shapes", "studio")

    def snapshot():
        b = build_scene(spec, "standard")
        return sorted((o.name, tuple(np.round(_mat(o).ravel(), 9)), o.pass_index) for o in b.scene.objects)

    assert snapshot() == snapshot()
