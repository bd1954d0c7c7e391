"""Blender-state tests: build a scene from a spec and check Blender mirrors it (no rendering)."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("bpy", reason="needs the render extra (Blender as a Python module): pip install -e '.[render]'")
pytestmark = pytest.mark.render

from vpt.render.build import build_scene  # noqa: E402
from vpt.render.examples import example_spec  # noqa: E402
from vpt.render.presets import PRESETS  # noqa: E402
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
    assert sc.cycles.samples == s["samples"] == PRESETS["standard"]["samples"] == 7  # the quality floor's choice
    assert sc.cycles.denoising_input_passes == s["denoise_passes"] == "RGB_ALBEDO"
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


# ---------------------------------------------------------------- a viewer a person can read
_STAND = ("viewer_pole", "viewer_leg_")  # the stand (dark) is vertical, under the body
_FIGURE_BODY = ("viewer_neck", "viewer_torso", "viewer_arm_", "viewer_leg_", "viewer_foot_")


def _local_verts(obj, frame_inv: np.ndarray) -> np.ndarray:
    """The object's vertices in the viewer's frame (x forward, y left, z up)."""
    m = frame_inv @ _mat(obj)
    co = np.array([v.co[:] for v in obj.data.vertices])
    return co @ m[:3, :3].T + m[:3, 3]


def _viewer_frame_inv(spec) -> np.ndarray:
    from vpt.render.viewer_models import viewer_frame

    return np.linalg.inv(np.array([list(r) for r in viewer_frame(spec.viewer)]))


@pytest.mark.parametrize("yaw", [30.0, 200.0])
def test_camera_front_is_unmistakable_and_its_back_plain(yaw):
    from dataclasses import replace

    spec = example_spec("plain", "studio", "camera")
    spec = replace(spec, viewer=replace(spec.viewer, yaw_deg=yaw, scale=1.3))
    b = build_scene(spec, "preview")
    inv = _viewer_frame_inv(spec)
    g = spec.viewer.geometry
    parts = {o.name: o for o in b.viewer_parts}
    verts = {n: _local_verts(o, inv) for n, o in parts.items()}
    # the lens barrel protrudes from the front face and ends in a white rim at the eye
    assert verts["viewer_lens"][:, 0].min() == pytest.approx(g["depth"] / 2, abs=1e-6)
    assert verts["viewer_lens"][:, 0].max() > g["depth"] / 2 + 0.05 * spec.viewer.scale
    rim = parts["viewer_lens_ring"]
    assert rim.active_material.name == "viewer_white"
    assert verts["viewer_lens_ring"][:, 0].max() == pytest.approx(g["eye"], abs=1e-6)
    rim_r = np.hypot(verts["viewer_lens_ring"][:, 1], verts["viewer_lens_ring"][:, 2]).max()
    lens_r = np.hypot(verts["viewer_lens"][:, 1], verts["viewer_lens"][:, 2]).max()
    assert rim_r > 1.25 * lens_r  # a flange that stands out of the barrel's silhouette
    assert parts["viewer_lens_glass"].active_material.name == "viewer_dark"
    # nothing dark or light-coloured on the back: only green behind the front face, and the
    # only dark parts off the stand sit in front of the body
    for name, obj in parts.items():
        if name.startswith(_STAND):
            continue
        mat = obj.active_material.name
        if mat != "viewer_green":
            assert verts[name][:, 0].min() >= g["depth"] / 2 - 1e-6, (name, mat)
        if mat == "viewer_dark":
            assert verts[name][:, 0].min() > g["depth"] / 2, name
    assert "viewer_screen" not in parts
    # the body is not front-back symmetric: its front face is larger than its back face
    body = verts["viewer_body"]
    front, back = body[body[:, 0] > 0], body[body[:, 0] < 0]
    assert np.ptp(front[:, 1]) > 1.15 * np.ptp(back[:, 1]) and np.ptp(front[:, 2]) > 1.15 * np.ptp(back[:, 2])
    assert np.allclose([np.ptp(body[:, 0]), np.ptp(front[:, 1]), np.ptp(front[:, 2])],
                       [g["depth"], g["width"], g["height"]], atol=1e-6)
    plate = parts["viewer_front_plate"]
    assert plate.active_material.name == "viewer_green_light"
    assert verts["viewer_front_plate"][:, 0].min() == pytest.approx(g["depth"] / 2, abs=1e-6)
    finder = verts["viewer_viewfinder"]
    assert finder[:, 0].max() < 0 and finder[:, 2].min() > 0  # on top, at the back


@pytest.mark.parametrize("model", ["camera", "head", "figure"])
def test_viewer_stays_inside_its_proxy_sphere(model):
    from dataclasses import replace

    spec = example_spec("plain", "studio", model)
    spec = replace(spec, viewer=replace(spec.viewer, yaw_deg=123.0, pitch_deg=-15.0, scale=1.4))
    b = build_scene(spec, "preview")
    centre, radius = spec.viewer.proxy_center, spec.viewer.proxy_radius
    checked = 0
    for obj in b.viewer_parts:
        if obj.name.startswith(_STAND + _FIGURE_BODY):
            continue
        co = np.array([v.co[:] for v in obj.data.vertices])
        m = _mat(obj)
        world = co @ m[:3, :3].T + m[:3, 3]
        assert np.linalg.norm(world - centre, axis=1).max() <= radius + 1e-6, obj.name
        checked += 1
    assert checked >= 5


@pytest.mark.parametrize("model", ["head", "figure"])
def test_head_has_a_clear_face_in_front_and_a_plain_back(model):
    spec = example_spec("plain", "studio", model)
    b = build_scene(spec, "preview")
    inv = _viewer_frame_inv(spec)
    parts = {o.name: o for o in b.viewer_parts}
    a = spec.viewer.geometry["depth"] / 2
    face = _local_verts(parts["viewer_face"], inv)
    assert parts["viewer_face"].active_material.name == "viewer_green_light"
    assert face[:, 0].max() > a and face[:, 0].min() > -0.1 * a  # the pale face covers the front only
    for side in ("left", "right"):
        eye = _local_verts(parts[f"viewer_eye_{side}"], inv)
        pupil = _local_verts(parts[f"viewer_pupil_{side}"], inv)
        assert parts[f"viewer_pupil_{side}"].active_material.name == "viewer_dark"
        assert pupil[:, 0].max() > eye[:, 0].max() > face[:, 0].max() - 0.02  # pupils on the eyes, on the face
    nose = _local_verts(parts["viewer_nose"], inv)
    assert nose[:, 0].max() > face[:, 0].max() + 0.03 * spec.viewer.scale  # the nose sticks out
    for name, obj in parts.items():
        if name.startswith(_STAND + _FIGURE_BODY) or obj.active_material.name == "viewer_green":
            continue
        assert _local_verts(obj, inv)[:, 0].min() > -0.1 * a, name  # the back of the head is plain green


def _observer_u(spec, pts: np.ndarray) -> np.ndarray:
    pos = np.asarray(spec.observer.position, float)
    fwd = np.subtract(spec.observer.look_at, pos)
    fwd[2] = 0.0
    return (pts - pos) @ (fwd / np.linalg.norm(fwd))


@pytest.mark.parametrize("recipe", ["depth-vpt", "vpt-strategy"])
def test_studio_backdrop_stays_clear_of_everything_the_recipes_place(recipe, small_binary, small_sweeps):
    """The curve of the studio sheet rises behind the farthest ball, occluder and viewer
    part of the scenes the recipes make (the labels know only the flat floor)."""
    from dataclasses import replace

    from vpt.datasets.build import plan_recipe
    from vpt.datasets.recipe import parse_recipe
    from vpt.render.build import BACKDROP_CLEARANCE_M, content_extent

    d = small_binary if recipe == "depth-vpt" else small_sweeps
    if recipe == "depth-vpt":
        d["splits"], d["human_set"], d["warmup"] = {"train": 16, "val": 8, "test": 8, "ood": 8}, 4, 2
    plan = plan_recipe(parse_recipe(d), progress=False)
    specs = sorted((it.spec for it in plan.items), key=lambda s: content_extent(s)[1] - _observer_u(
        s, np.array([s.viewer.position]))[0])[-4:]  # the scenes whose content reaches farthest back
    for spec in specs:
        app = replace(spec.appearance, style="studio", floor_material="matte_grey", wall_material="backdrop_white")
        b = build_scene(replace(spec, appearance=app), "preview")
        sheet = b.scene.objects["backdrop"]
        co = np.array([v.co[:] for v in sheet.data.vertices])
        m = _mat(sheet)
        sheet_u = _observer_u(spec, co @ m[:3, :3].T + m[:3, 3])
        content = [b.ball, *b.viewer_parts, *b.occluders.values()]
        far = max(_observer_u(spec, np.array([v.co[:] for v in o.data.vertices]) @ _mat(o)[:3, :3].T
                              + _mat(o)[:3, 3]).max() for o in content)
        assert sheet_u.min() - far >= BACKDROP_CLEARANCE_M - 1e-6, spec.scene_id
        rising = sheet_u[co[:, 2] > 1e-6]  # every vertex above the floor lies behind the content
        assert rising.min() > far + BACKDROP_CLEARANCE_M
