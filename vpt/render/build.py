"""Build a Blender scene from a :class:`~vpt.scene.spec.SceneSpec`, one way, deterministically.

Order: factory reset, floor, surroundings of the style, occluders, ball, viewer, lights,
world, observer camera, render settings. Nothing is random here: every number comes from
the spec, the style catalogue (``assets/styles.yaml``) or the material catalogue.

Object pass indices (the object-index mask): floor, walls, backdrop, sky = 0; ball = 1;
every part of the viewer = 2; occluder ``k`` = ``10 + k``.

Lights (``LightSpec``): ``energy`` is Blender's light energy (watts for point and area
lights, irradiance in W/m^2 for a sun), ``color`` linear RGB, ``size`` the side of a square
area light or the diameter of a point light (metres), or a sun's angular diameter (radians,
Blender's ``angle``).
Each light points from ``position`` at ``target``.

Surroundings are laid out in the observer's horizontal frame (u forward, v left) around
everything the scene contains, so they never come between the observer and the content:
* ``backdrop`` (studio): a seamless sheet curving up from the floor behind the content; the
  curve starts ``BACKDROP_CLEARANCE_M`` behind the farthest ball, occluder or viewer, so it
  never touches them;
* ``room``: three walls (back, left, right) 3 m high or more; the observer's side stays open;
* ``open`` (outdoor): a 600 m ground plane under Blender's sky texture.
"""

from __future__ import annotations

import functools
import math
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import yaml

from vpt import resources
from vpt.render.blender import require_bpy
from vpt.render.materials import build_world, get_material
from vpt.render.presets import preset_values, render_settings
from vpt.scene.spec import SceneSpec

bpy = require_bpy()
from mathutils import Matrix, Vector  # noqa: E402  (after the bpy check, so its error is ours)

from vpt.render.meshes import (add_object, box_mesh, cylinder_mesh, plane_mesh, sheet_mesh,  # noqa: E402
                               sphere_mesh)
from vpt.render.viewer_models import build_viewer  # noqa: E402

BALL_PASS_INDEX = 1
VIEWER_PASS_INDEX = 2
OCCLUDER_PASS_BASE = 10
WALL_HEIGHT_M = 3.0
WALL_THICKNESS_M = 0.1
SURROUND_MARGIN_M = 1.2
BACKDROP_RADIUS_M = 1.5  # the studio sheet's curve from floor to wall
BACKDROP_CLEARANCE_M = 0.3  # flat floor between the farthest content and the curve
BACKDROP_CURVE_STEPS = 12  # segments of the curve (benchmarks/render_quality.py tries fewer)


@dataclass
class BuiltScene:
    """Handles to what :func:`build_scene` made."""

    spec: SceneSpec
    scene: Any
    camera: Any
    ball: Any
    viewer_parts: list[Any]
    occluders: dict[int, Any]
    surroundings: list[Any]
    lights: list[Any]
    settings: dict[str, Any] = field(default_factory=dict)


@functools.lru_cache(maxsize=1)
def load_styles() -> dict[str, dict[str, Any]]:
    with open(resources.asset("styles"), encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def occluder_pass_index(occluder_id: int) -> int:
    return OCCLUDER_PASS_BASE + int(occluder_id)


# ------------------------------------------------------------------------ devices
_GPU_CACHE: dict[str, Any] = {}


def configure_device(scene: Any, device: str) -> str:
    """Select Cycles' device; 'gpu' tries OptiX then CUDA and falls back to CPU with a
    message on stderr. Returns the device used ('CPU', 'OPTIX' or 'CUDA')."""
    if device.lower() != "gpu":
        scene.cycles.device = "CPU"
        return "CPU"
    prefs = bpy.context.preferences.addons["cycles"].preferences
    kinds = [_GPU_CACHE["kind"]] if "kind" in _GPU_CACHE else ["OPTIX", "CUDA", "HIP", "METAL", "ONEAPI"]
    for kind in kinds:
        try:
            prefs.compute_device_type = kind
        except TypeError:  # this build does not know the backend
            continue
        prefs.get_devices()
        gpus = [d for d in prefs.devices if d.type == kind]
        if gpus:
            for d in prefs.devices:
                d.use = d.type == kind
            scene.cycles.device = "GPU"
            _GPU_CACHE["kind"] = kind
            return kind
    if not _GPU_CACHE.get("warned"):
        print("vpt: --device gpu asked for, but Cycles found no CUDA/OptiX/HIP/Metal/oneAPI device; "
              "rendering on the CPU instead.", file=sys.stderr)
        _GPU_CACHE["warned"] = True
    scene.cycles.device = "CPU"
    return "CPU"


def apply_render_settings(scene: Any, preset: str, spec: SceneSpec | None, device: str = "cpu",
                          threads: int | None = None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Apply a preset (and colour management) to the scene; returns the settings record.
    ``threads``: Cycles CPU threads (None: all cores); ``overrides``: see
    :func:`vpt.render.presets.preset_values`."""
    p = preset_values(preset, overrides)
    settings = render_settings(preset, spec, device, overrides=overrides)
    scene.render.engine = "CYCLES"
    c = scene.cycles
    c.samples = p["samples"]
    c.use_adaptive_sampling = p["adaptive_threshold"] is not None
    if p["adaptive_threshold"] is not None:
        c.adaptive_threshold = p["adaptive_threshold"]
        c.adaptive_min_samples = p["adaptive_min_samples"]
    c.use_denoising = p["denoiser"] is not None
    if p["denoiser"]:
        c.denoiser = p["denoiser"]
        c.denoising_prefilter = p["denoise_prefilter"]
        c.denoising_input_passes = p["denoise_passes"]
        c.denoising_quality = p["denoise_quality"]
    b = p["bounces"]
    c.max_bounces, c.diffuse_bounces, c.glossy_bounces = b["max"], b["diffuse"], b["glossy"]
    c.transmission_bounces, c.volume_bounces = b["transmission"], b["volume"]
    c.transparent_max_bounces = b["transparent"]
    c.caustics_reflective = c.caustics_refractive = bool(p["caustics"])
    c.blur_glossy = p["filter_glossy"]
    c.sample_clamp_direct, c.sample_clamp_indirect = p["clamp_direct"], p["clamp_indirect"]
    c.use_light_tree = p["light_tree"]
    c.light_sampling_threshold = p["light_threshold"]
    c.use_auto_tile, c.tile_size = True, p["tile_size"]
    c.seed = settings["seed"]
    c.use_animated_seed = False
    c.pixel_filter_type = "BLACKMAN_HARRIS"
    c.filter_width = settings["pixel_filter_width_px"]
    r = scene.render
    if spec is not None:
        r.resolution_x, r.resolution_y = spec.observer.width, spec.observer.height
    r.resolution_percentage = 100
    r.pixel_aspect_x = r.pixel_aspect_y = 1.0
    r.film_transparent = False
    if threads:
        r.threads_mode, r.threads = "FIXED", int(threads)
    else:
        r.threads_mode = "AUTO"
    r.use_persistent_data = bool(p["persistent_data"])
    vs = scene.view_settings
    scene.display_settings.display_device = settings["display_device"]
    vs.view_transform = settings["view_transform"]
    vs.look = settings["look"]
    vs.exposure = settings["exposure"]
    vs.gamma = settings["gamma"]
    settings["device"] = configure_device(scene, device)
    settings["threads"] = r.threads
    settings["bpy_version"] = bpy.app.version_string
    return settings


# ------------------------------------------------------------------------ pieces
def _observer_frame(spec: SceneSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(origin, u, v): the observer's ground position, horizontal forward and left."""
    pos = np.asarray(spec.observer.position, float)
    fwd = np.subtract(spec.observer.look_at, pos)
    fwd[2] = 0.0
    n = np.linalg.norm(fwd)
    u = fwd / n if n > 1e-9 else np.array([1.0, 0.0, 0.0])
    return np.array([pos[0], pos[1], 0.0]), u, np.array([-u[1], u[0], 0.0])


def content_extent(spec: SceneSpec) -> tuple[float, float, float, float]:
    """(u_min, u_max, v_min, v_max) of everything in the scene, in the observer's frame."""
    o, u, v = _observer_frame(spec)
    items = [(spec.ball.position, spec.ball.radius), (spec.viewer.position, spec.viewer.proxy_radius * 1.5),
             (spec.observer.look_at, 0.0)]
    items += [(oc.position, oc.bounding_radius) for oc in spec.occluders]
    us = [(float(np.dot(np.subtract(p, o), u)), r) for p, r in items]
    vs = [(float(np.dot(np.subtract(p, o), v)), r) for p, r in items]
    return (min(a - r for a, r in us), max(a + r for a, r in us), min(a - r for a, r in vs), max(a + r for a, r in vs))


def backdrop_curve_start(spec: SceneSpec) -> float:
    """Where the studio backdrop leaves the floor (observer frame u, metres): at least
    ``BACKDROP_CLEARANCE_M`` behind everything in the scene, so the sheet never rises into
    the content (the analytic labels know only the floor)."""
    return content_extent(spec)[1] + BACKDROP_CLEARANCE_M


def _placement(o: np.ndarray, u: np.ndarray, v: np.ndarray, a: float, b: float, z: float) -> Matrix:
    """Matrix of a surroundings piece at (u=a, v=b, z) whose local x is the observer's u."""
    p = o + a * u + b * v
    m = Matrix.Identity(4)
    for row in range(3):
        m[row][0], m[row][1], m[row][2] = float(u[row]), float(v[row]), float(row == 2)
    m[0][3], m[1][3], m[2][3] = float(p[0]), float(p[1]), float(z)
    return m


def build_surroundings(spec: SceneSpec) -> list[Any]:
    """Floor plus the style's backdrop, room walls or open ground (pass index 0)."""
    style = spec.appearance.style
    styles = load_styles()
    if style not in styles:
        raise ValueError(f"unknown style {style!r}; assets/styles.yaml has {sorted(styles)}")
    kind = styles[style]["surroundings"]
    o, u, v = _observer_frame(spec)
    u_min, u_max, v_min, v_max = content_extent(spec)
    floor_mat = get_material(spec.appearance.floor_material)
    centre_u, centre_v = (min(u_min, 0.0) + u_max) / 2.0, (v_min + v_max) / 2.0
    floor_size = 600.0 if kind == "open" else 60.0
    objs = [add_object("floor", plane_mesh("floor", floor_size, floor_size), floor_mat, 0,
                       matrix=_placement(o, u, v, centre_u, centre_v, 0.0))]
    if kind == "open":
        return objs
    wall_mat = get_material(spec.appearance.wall_material)
    back = u_max + SURROUND_MARGIN_M
    if kind == "backdrop":
        radius, height, width = BACKDROP_RADIUS_M, 8.0, 60.0
        back = backdrop_curve_start(spec) + radius  # the curve starts behind all the content
        prof = [(back - radius + radius * math.sin(t), radius * (1 - math.cos(t)))
                for t in np.linspace(0.0, math.pi / 2.0, BACKDROP_CURVE_STEPS + 1)]
        prof.append((back, height))
        objs.append(add_object("backdrop", sheet_mesh("backdrop", prof, width), wall_mat, 0,
                               matrix=_placement(o, u, v, 0.0, centre_v, 0.0)))
        return objs
    if kind != "room":
        raise ValueError(f"style {style!r}: unknown surroundings {kind!r}")
    height = max(WALL_HEIGHT_M, spec.observer.position[2] + 1.0)
    left = max(v_max, 0.0) + SURROUND_MARGIN_M
    right = min(v_min, 0.0) - SURROUND_MARGIN_M
    front = min(u_min, 0.0) - 3.0
    t = WALL_THICKNESS_M
    walls = {
        "wall_back": ((t, left - right + 2 * t, height), (back + t / 2, (left + right) / 2)),
        "wall_left": ((back - front, t, height), ((back + front) / 2, left + t / 2)),
        "wall_right": ((back - front, t, height), ((back + front) / 2, right - t / 2)),
    }
    for name, (size, (a, b)) in walls.items():
        objs.append(add_object(name, box_mesh(name, size), wall_mat, 0, matrix=_placement(o, u, v, a, b, height / 2)))
    return objs


def build_occluders(spec: SceneSpec) -> dict[int, Any]:
    """Occluders as exact primitives at their spec position, size and yaw."""
    out = {}
    for oc in spec.occluders:
        name = f"occluder_{oc.id}_{oc.shape}"
        sx, sy, sz = oc.size
        if oc.primitive == "box":
            mesh = box_mesh(name, oc.size)
        elif oc.primitive == "cylinder":
            mesh = cylinder_mesh(name, sx / 2.0, sz)
        elif oc.primitive == "sphere":
            mesh = sphere_mesh(name, sx / 2.0)
        else:
            raise ValueError(f"occluder {oc.id}: unknown primitive {oc.primitive!r}")
        out[oc.id] = add_object(name, mesh, get_material(oc.material), occluder_pass_index(oc.id),
                                location=oc.position, yaw_deg=oc.yaw_deg)
    return out


def build_lights(spec: SceneSpec) -> list[Any]:
    """Lights from ``spec.lights`` (see the module docstring for units)."""
    objs = []
    for i, ls in enumerate(spec.lights):
        kind = ls.kind.upper()
        if kind not in ("SUN", "AREA", "POINT"):
            raise ValueError(f"light {i}: unknown kind {ls.kind!r}; use sun, area or point")
        data = bpy.data.lights.new(f"light_{i}", kind)
        data.energy = float(ls.energy)
        data.color = tuple(float(c) for c in ls.color)
        if kind == "AREA":
            data.shape, data.size = "SQUARE", float(ls.size)
        elif kind == "POINT":
            data.shadow_soft_size = float(ls.size) / 2.0
        else:
            data.angle = float(ls.size)
        obj = bpy.data.objects.new(f"light_{i}", data)
        bpy.context.scene.collection.objects.link(obj)
        pos, tgt = Vector(ls.position), Vector(ls.target)
        direction = tgt - pos if (tgt - pos).length > 1e-9 else Vector((0.0, 0.0, -1.0))
        obj.matrix_world = Matrix.Translation(pos) @ direction.to_track_quat("-Z", "Y").to_matrix().to_4x4()
        objs.append(obj)
    return objs


def add_camera(name: str, matrix: np.ndarray, hfov_deg: float, width: int, height: int) -> Any:
    """A pinhole camera (horizontal sensor fit) with a Blender camera-to-world matrix."""
    cam = bpy.data.cameras.new(name)
    cam.sensor_fit = "HORIZONTAL"
    cam.sensor_width = 36.0
    cam.sensor_height = 36.0 * height / width  # unused by the horizontal fit; keeps angle_y true
    cam.lens = 18.0 / math.tan(math.radians(hfov_deg) / 2.0)
    cam.shift_x = cam.shift_y = 0.0
    cam.clip_start, cam.clip_end = 0.01, 2000.0
    obj = bpy.data.objects.new(name, cam)
    bpy.context.scene.collection.objects.link(obj)
    obj.matrix_world = Matrix([list(map(float, row)) for row in np.asarray(matrix)])
    return obj


_DATA_KINDS = ("objects", "meshes", "materials", "lights", "cameras", "worlds", "images", "node_groups")


def remove_bump_nodes() -> int:
    """Drop every Bump node from the scene's materials (the ``bump: False`` setting); the
    shaders then use the geometric normal. Returns how many were removed."""
    n = 0
    for mat in bpy.data.materials:
        if mat.node_tree is None:
            continue
        for node in [nd for nd in mat.node_tree.nodes if nd.type == "BUMP"]:
            mat.node_tree.nodes.remove(node)
            n += 1
    return n


def reset_blender(keep_session: bool = False) -> None:
    """Start from an empty scene. Normally Blender's factory reset; with ``keep_session``
    (the ``persistent_data`` setting) the scene itself stays, so Cycles keeps its render
    session (devices, kernels, the denoiser) between scenes, and only the data blocks a
    build makes are removed (every render setting is set again by
    :func:`apply_render_settings`)."""
    scene = bpy.context.scene if bpy.data.scenes else None
    if not keep_session or scene is None or len(bpy.data.scenes) != 1 or not scene.render.use_persistent_data:
        bpy.ops.wm.read_factory_settings(use_empty=True)
        return
    for kind in _DATA_KINDS:
        collection = getattr(bpy.data, kind)
        for block in list(collection):
            collection.remove(block)


def build_scene(spec: SceneSpec, preset: str = "standard", device: str = "cpu",
                threads: int | None = None, overrides: dict[str, Any] | None = None) -> BuiltScene:
    """Factory-reset Blender and build ``spec`` into it; returns handles to the objects.
    ``device`` is 'cpu' or 'gpu'; ``threads`` the CPU threads (None: all); ``overrides``
    change preset values (see :func:`vpt.render.presets.preset_values`)."""
    reset_blender(bool(preset_values(preset, overrides)["persistent_data"]))
    scene = bpy.context.scene
    surroundings = build_surroundings(spec)
    occluders = build_occluders(spec)
    ball_mat = get_material(f"ball_{spec.ball.color}")
    ball = add_object("ball", sphere_mesh("ball", spec.ball.radius), ball_mat, BALL_PASS_INDEX,
                      location=spec.ball.position)
    viewer_parts = build_viewer(spec.viewer)
    lights = build_lights(spec)
    app = spec.appearance
    wall_world = app.wall_material if load_styles()[app.style]["surroundings"] == "open" else ""
    scene.world = build_world(wall_world, app.background, app.sun_elevation_deg, app.sun_azimuth_deg)
    ob = spec.observer
    camera = add_camera("observer", ob.blender_matrix_world(), ob.hfov_deg, ob.width, ob.height)
    scene.camera = camera
    settings = apply_render_settings(scene, preset, spec, device, threads, overrides)
    if not preset_values(preset, overrides)["bump"]:
        remove_bump_nodes()
    return BuiltScene(spec, scene, camera, ball, viewer_parts, occluders, surroundings, lights, settings)
