"""The label of record: rays cast in Blender from the viewer's eye at the ball.

Rays go from ``spec.viewer.eye`` through the pixel centres of the viewer's own pinhole
camera (``grid_px`` pixels across its ``hfov_deg``; the grid extends past the frame so the
whole projected disc of the ball is covered). A ray *belongs to the ball* when it hits the
ball's mesh (tested on the ball object alone); it is *visible* when it also lies inside the
viewer's frustum and its first hit in the whole scene (``scene.ray_cast``) is the ball. The
viewer's own parts are transparent to these rays (the ray continues past them).

``visible_fraction`` weights every ray by the solid angle of its pixel (``cos^3`` of its
angle off the grid's axis), so it measures the visible share of the ball's solid angle, the
same quantity as the analytic label in :mod:`vpt.scene.geometry`; the plain pixel share is
``visible_fraction_px``. When the ball sits far off the viewer's axis (the cone reaches 75
deg or more from it, where an image-plane grid degenerates) the grid is laid on the plane
facing the ball instead, at the same angular pitch (``grid_axis = 'ball'``). A ball whose
whole cone lies outside the frustum is settled without rays (fraction 0). Disc grids over
``max_rays`` rays are thinned by an integer stride (``stride`` records it).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from vpt.render.blender import require_bpy
from vpt.scene.spec import SceneSpec, camera_basis

bpy = require_bpy()
from mathutils import Vector  # noqa: E402

GRID_PX = 512
MAX_RAYS = 6000
OFF_AXIS_LIMIT_DEG = 75.0
_PASS_NAMES = {0: "surroundings", 1: "ball", 2: "viewer"}


def _frustum_planes(f: np.ndarray, r: np.ndarray, u: np.ndarray, half_h: float, half_v: float) -> np.ndarray:
    sh, ch, sv, cv = math.sin(half_h), math.cos(half_h), math.sin(half_v), math.cos(half_v)
    return np.stack([sh * f - ch * r, sh * f + ch * r, sv * f - cv * u, sv * f + cv * u])


def _blocker_name(obj: Any) -> str:
    idx = int(obj.pass_index)
    if idx >= 10:
        return f"occluder_{idx - 10}"
    return obj.name if idx == 0 else _PASS_NAMES.get(idx, obj.name)


def first_hit(scene: Any, depsgraph: Any, origin: Vector, direction: Vector, skip: set[str]) -> Any:
    """The first object hit along a ray, passing through objects named in ``skip``."""
    o = origin
    for _ in range(16):
        ok, loc, _n, _i, obj, _m = scene.ray_cast(depsgraph, o, direction)
        if not ok:
            return None
        if obj.name not in skip:
            return obj
        o = loc + direction * 1e-5
    return None


def raycast_viewer_visibility(spec: SceneSpec, built: Any = None, grid_px: int = GRID_PX,
                              max_rays: int = MAX_RAYS) -> dict[str, Any]:
    """Ray-cast the ball's visible fraction from the viewer (see the module docstring).

    ``built`` is the :class:`~vpt.render.build.BuiltScene` of ``spec``; when omitted the
    scene is built here (preset ``preview``). Returns a JSON-ready dict.
    """
    t0 = time.perf_counter()
    if built is None:
        from vpt.render.build import build_scene

        built = build_scene(spec, "preview")
    scene = built.scene
    depsgraph = bpy.context.evaluated_depsgraph_get()
    v = spec.viewer
    eye = np.asarray(v.eye, float)
    f, r, u = v.basis()
    half_h, half_v = math.radians(v.hfov_deg) / 2.0, math.radians(v.vfov_deg) / 2.0
    centre = np.asarray(spec.ball.position, float)
    to_ball = centre - eye
    dist = float(np.linalg.norm(to_ball))
    if dist <= spec.ball.radius:
        raise ValueError(f"{spec.scene_id}: the viewer's eye is inside the ball")
    bdir = to_ball / dist
    alpha = math.asin(spec.ball.radius / dist)
    focal = (grid_px / 2.0) / math.tan(half_h)  # pixels per unit of image-plane tangent
    result: dict[str, Any] = {
        "method": "blender_ray_cast", "grid_px": grid_px, "grid_px_v": int(round(2 * focal * math.tan(half_v))),
        "grid_axis": "viewer", "stride": 1, "n_rays": 0, "n_in_view": 0, "n_visible": 0,
        "visible_fraction": 0.0, "visible_fraction_px": 0.0, "in_view_fraction": 0.0,
        "blocked_by": {}, "occluder_ids": [], "settled": None,
    }
    planes = _frustum_planes(f, r, u, half_h, half_v)
    if np.any(planes @ bdir <= -math.sin(alpha)):  # the whole cone is outside one side plane
        result["settled"] = "outside_fov"
        result["seconds"] = time.perf_counter() - t0
        return result

    off_axis = math.degrees(math.acos(float(np.clip(np.dot(f, bdir), -1.0, 1.0))) + alpha)
    if off_axis < OFF_AXIS_LIMIT_DEG:
        a, ar, au = f, r, u
    else:
        result["grid_axis"] = "ball"
        a, ar, au = camera_basis(bdir)
    # the cone's rim on the grid plane gives the bounding box of the projected disc
    helper = np.array([0.0, 0.0, 1.0]) if abs(bdir[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    e1 = np.cross(bdir, helper)
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(bdir, e1)
    phi = np.linspace(0.0, 2.0 * math.pi, 64, endpoint=False)
    rim = math.cos(alpha) * bdir + math.sin(alpha) * (np.cos(phi)[:, None] * e1 + np.sin(phi)[:, None] * e2)
    za = rim @ a
    xs, ys = (rim @ ar) / za, (rim @ au) / za
    pad = 2.0 / focal
    lo_x, hi_x = math.floor((xs.min() - pad) * focal), math.ceil((xs.max() + pad) * focal)
    lo_y, hi_y = math.floor((ys.min() - pad) * focal), math.ceil((ys.max() + pad) * focal)
    n_box = (hi_x - lo_x) * (hi_y - lo_y)
    stride = max(1, math.ceil(math.sqrt(n_box * (math.pi / 4.0) / max_rays)))
    result["stride"] = stride
    gx = (np.arange(lo_x, hi_x, stride) + 0.5) / focal
    gy = (np.arange(lo_y, hi_y, stride) + 0.5) / focal
    x, y = np.meshgrid(gx, gy)
    x, y = x.ravel(), y.ravel()
    d = a[None, :] + x[:, None] * ar[None, :] + y[:, None] * au[None, :]
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    weight = (1.0 + x * x + y * y) ** -1.5
    # prefilter on the true sphere's cone (the mesh lies inside it), then test the mesh
    cand = np.flatnonzero(d @ bdir >= math.cos(alpha) - 1e-9)
    fd, rd, ud = d @ f, d @ r, d @ u
    in_view = (fd > 0) & (np.abs(rd) <= fd * math.tan(half_h)) & (np.abs(ud) <= fd * math.tan(half_v))

    ball = built.ball
    inv = ball.matrix_world.inverted()
    inv3 = inv.to_3x3()
    o_local = inv @ Vector(eye)
    skip = {obj.name for obj in built.viewer_parts}
    eye_v = Vector(eye)
    on_ball = np.zeros(len(d), bool)
    visible = np.zeros(len(d), bool)
    blocked: dict[str, int] = {}
    for i in cand:
        dv = Vector(d[i])
        if not ball.ray_cast(o_local, inv3 @ dv, depsgraph=depsgraph)[0]:
            continue
        on_ball[i] = True
        if not in_view[i]:
            continue
        hit = first_hit(scene, depsgraph, eye_v, dv, skip)
        if hit is not None and hit.name == ball.name:
            visible[i] = True
        else:
            name = _blocker_name(hit) if hit is not None else "nothing"
            blocked[name] = blocked.get(name, 0) + 1
    w_ball = float(weight[on_ball].sum())
    n_ball = int(on_ball.sum())
    result.update({
        "n_rays": n_ball,
        "n_in_view": int((on_ball & in_view).sum()),
        "n_visible": int(visible.sum()),
        "visible_fraction": float(weight[visible].sum() / w_ball) if n_ball else 0.0,
        "visible_fraction_px": float(visible.sum() / n_ball) if n_ball else 0.0,
        "in_view_fraction": float(weight[on_ball & in_view].sum() / w_ball) if n_ball else 0.0,
        "blocked_by": dict(sorted(blocked.items())),
        "occluder_ids": sorted(int(k.split("_")[1]) for k in blocked if k.startswith("occluder_")),
        "seconds": time.perf_counter() - t0,
    })
    if not n_ball:
        result["settled"] = "no_ball_rays"
    return result


def sphere_silhouette(eye: np.ndarray, center: np.ndarray, radius: float, n: int = 256) -> np.ndarray:
    """Points (n, 3) on the circle where the lines of sight from ``eye`` graze the sphere."""
    axis = center - eye
    dist = float(np.linalg.norm(axis))
    axis = axis / dist
    helper = np.array([0.0, 0.0, 1.0]) if abs(axis[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    e1 = np.cross(axis, helper)
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(axis, e1)
    alpha = math.asin(min(1.0, radius / dist))
    phi = np.linspace(0.0, 2.0 * math.pi, n, endpoint=False)
    dirs = math.cos(alpha) * axis + math.sin(alpha) * (np.cos(phi)[:, None] * e1 + np.sin(phi)[:, None] * e2)
    return eye + dirs * (dist * math.cos(alpha))


def observer_pixel_counts(mask: np.ndarray, spec: SceneSpec) -> dict[str, Any]:
    """Ball and viewer pixel counts in the observer's object-index mask, with the area of the
    ball's whole projected disc (the projected silhouette, 256-gon) for a visible share."""
    ob = spec.observer
    c = np.asarray(spec.ball.position, float)
    uv, z = ob.project(c[None, :])
    rim_uv, rim_z = ob.project(sphere_silhouette(np.asarray(ob.position, float), c, spec.ball.radius))
    disc = 0.0
    if np.all(rim_z > 0):
        x, y = rim_uv[:, 0], rim_uv[:, 1]
        disc = 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))
    ball_px = int(np.count_nonzero(mask == 1))
    return {
        "ball_px": ball_px,
        "viewer_px": int(np.count_nonzero(mask == 2)),
        "ball_disc_px": disc,
        "ball_visible_share": ball_px / disc if disc > 0 else 0.0,
        "ball_center_px": [float(uv[0, 0]), float(uv[0, 1])],
        "image_px": int(mask.size),
    }
