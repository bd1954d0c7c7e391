"""An analytic object-index image of a scene spec, seen from the observer camera.

One ray per pixel centre (the image convention of :mod:`vpt.scene.spec`) is cast against
the ball, the occluders and a simple stand-in for the viewer (its body box, a lens block
reaching the eye, and the stand's pole), and each pixel takes the id of the first solid it
hits: the same values as the rendered mask (0 nothing, 1 ball, 2 viewer, 10 + k occluder k).
The floor and the surroundings are id 0, and every object stands on or above the floor, so
they never hide one.

Plan-time audits run the same image cues on this mask as on the rendered one, so a
shortcut can be found before anything is rendered. The viewer stand-in is coarser than
the rendered model (no tripod legs, no pitch), so its silhouette cues agree with the
render only approximately; ``tests/test_image_cues.py`` measures by how much.
"""

from __future__ import annotations

import numpy as np

from vpt.scene import geometry as geo
from vpt.scene.primitives import occluder_rows, viewer_rows
from vpt.scene.spec import SceneSpec

BALL_ID, VIEWER_ID, OCCLUDER_BASE = 1, 2, 10


def scene_rows(spec: SceneSpec, query: int) -> tuple[list[tuple], list[int]]:
    """Primitive rows of everything the observer can see (ball, viewer stand-in, occluders)
    for query ``query``, and the mask id of each row."""
    b = spec.ball
    vr = [(query,) + r[1:] for r in viewer_rows(spec)]
    occ = occluder_rows(spec, query)
    rows = [(query, geo.SPHERE, tuple(b.position), (b.radius,) * 3, 0.0)] + vr + occ
    ids = [BALL_ID] + [VIEWER_ID] * len(vr) + [OCCLUDER_BASE + o.id for o in spec.occluders]
    return rows, ids


def _camera(spec: SceneSpec, scale: float) -> tuple[int, int, float, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    obs = spec.observer
    width, height = max(1, int(round(obs.width * scale))), max(1, int(round(obs.height * scale)))
    return height, width, obs.focal_px * width / obs.width, obs.basis()


def _rays(ys: np.ndarray, xs: np.ndarray, height: int, width: int, f_px: float, basis) -> np.ndarray:
    """Unit world directions (len(ys) * len(xs), 3) through the centres of pixels
    (ys x xs, row-major), as :func:`pixel_rays` computes them."""
    fwd, right, up = basis
    u = (xs + 0.5 - width / 2.0) / f_px
    v = (ys + 0.5 - height / 2.0) / f_px
    d = (fwd[None, None, :] + u[None, :, None] * right[None, None, :] - v[:, None, None] * up[None, None, :]).reshape(-1, 3)
    return d / np.linalg.norm(d, axis=1, keepdims=True)


def pixel_rays(spec: SceneSpec, scale: float = 1.0) -> tuple[np.ndarray, int, int]:
    """Unit world directions (H*W, 3) through the pixel centres of the observer's image,
    optionally at ``scale`` times its resolution; returns (directions, H, W)."""
    height, width, f_px, basis = _camera(spec, scale)
    return _rays(np.arange(height), np.arange(width), height, width, f_px, basis), height, width


def analytic_mask(spec: SceneSpec, scale: float = 1.0) -> np.ndarray:
    """The object-index mask (H, W) uint8 of ``spec`` seen from its observer.

    Each solid is ray-cast only over the pixels of its screen box (the bounding rectangle of
    its projected bounding-box corners, one pixel wider; the whole image when a corner is
    not in front of the camera), outside which no ray can hit it, and a pixel keeps the
    first solid (in row order) at the smallest distance: the same mask as casting every
    pixel against every solid. The rays are made once, over the union of the screen boxes."""
    height, width, f_px, basis = _camera(spec, scale)
    rows, ids = scene_rows(spec, 0)
    prims = geo.Primitives.from_rows(rows)
    origin = np.asarray(spec.observer.position, float)[None, None, :]
    best = np.full((height, width), np.inf)
    out = np.zeros((height, width), np.uint8)
    boxes = [b for b in _screen_boxes(spec, prims, scale, height, width)]
    live = [k for k, (y0, y1, x0, x1) in enumerate(boxes) if y0 < y1 and x0 < x1]
    if not live:
        return out
    uy0, uy1 = min(boxes[k][0] for k in live), max(boxes[k][1] for k in live)
    ux0, ux1 = min(boxes[k][2] for k in live), max(boxes[k][3] for k in live)
    dirs = _rays(np.arange(uy0, uy1), np.arange(ux0, ux1), height, width, f_px, basis).reshape(uy1 - uy0, ux1 - ux0, 3)
    enter = {geo.BOX: geo._enter_box, geo.CYLINDER: geo._enter_cylinder, geo.SPHERE: geo._enter_sphere}
    for k in live:
        y0, y1, x0, x1 = boxes[k]
        d = dirs[y0 - uy0:y1 - uy0, x0 - ux0:x1 - ux0].reshape(1, -1, 3)
        t = enter[int(prims.kind[k])](origin, d, prims.center[k:k + 1], prims.half[k:k + 1],
                                      prims.yaw[k:k + 1])[0].reshape(y1 - y0, x1 - x0)
        closer = t < best[y0:y1, x0:x1]
        best[y0:y1, x0:x1][closer] = t[closer]
        out[y0:y1, x0:x1][closer] = ids[k]
    return out


def _screen_boxes(spec: SceneSpec, prims: geo.Primitives, scale: float, height: int, width: int) -> list[tuple]:
    """Per solid, the pixel rows [y0, y1) and columns [x0, x1) its image can cover."""
    obs = spec.observer
    c, s = np.cos(prims.yaw), np.sin(prims.yaw)
    h = prims.half
    # half extents of each solid's world-axis bounding box (a yawed box's corners; a
    # cylinder's and a sphere's radius is the same in every direction)
    ext = np.stack([np.abs(c) * h[:, 0] + np.abs(s) * h[:, 1], np.abs(s) * h[:, 0] + np.abs(c) * h[:, 1], h[:, 2]], 1)
    ext = np.where((prims.kind == geo.BOX)[:, None], ext, h)
    signs = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float)
    corners = prims.center[:, None, :] + signs[None] * ext[:, None, :]  # (M, 8, 3)
    uv, z = obs.project(corners)
    f = width / obs.width  # pixels of the mask per pixel of the image
    out = []
    for k in range(len(prims)):
        if not np.all(z[k] > 1e-6):
            out.append((0, height, 0, width))
            continue
        u, v = uv[k, :, 0] * f, uv[k, :, 1] * f
        out.append((max(0, int(np.floor(v.min())) - 1), min(height, int(np.ceil(v.max())) + 1),
                    max(0, int(np.floor(u.min())) - 1), min(width, int(np.ceil(u.max())) + 1)))
    return out


def segment_coverage(specs, p_viewer_px: np.ndarray, p_ball_px: np.ndarray, n_samples: int = 64
                     ) -> tuple[np.ndarray, list[list[int]]]:
    """How much of the image segment from the viewer to the ball occluder pixels cover, as
    the image shows it: rays from the observer through ``n_samples`` points along the
    segment (pixel coordinates, (Q, 2) each) take the first solid they hit (ball, viewer
    stand-in, occluders); the share of the rays that do not hit the ball or the viewer and
    do hit an occluder. Returns (coverage (Q,), ids of the occluders seen on the segment)."""
    rows, ids = [], []
    for q, s in enumerate(specs):
        r, i = scene_rows(s, q)
        rows += r
        ids += i
    prims = geo.Primitives.from_rows(rows)
    t = np.linspace(0.0, 1.0, n_samples)
    dirs, origins = [], []
    for q, s in enumerate(specs):
        obs = s.observer
        uv = p_viewer_px[q][None] + t[:, None] * (p_ball_px[q] - p_viewer_px[q])[None]
        fwd, right, up = obs.basis()
        x = (uv[:, 0] - obs.width / 2.0) / obs.focal_px
        y = (uv[:, 1] - obs.height / 2.0) / obs.focal_px
        d = fwd[None] + x[:, None] * right[None] - y[:, None] * up[None]
        dirs.append(d / np.linalg.norm(d, axis=1, keepdims=True))
        origins.append(np.asarray(obs.position, float))
    dirs_a, orig_a = np.stack(dirs), np.stack(origins)
    qi = prims.query
    hit_t = geo.ray_entry(orig_a[qi][:, None, :], dirs_a[qi], prims.kind, prims.center, prims.half, prims.yaw)
    ids_a = np.asarray(ids)
    cover = np.zeros(len(specs))
    seen: list[list[int]] = []
    for q in range(len(specs)):
        sel = np.flatnonzero(qi == q)
        tq = hit_t[sel]
        first = np.argmin(tq, axis=0)
        hit = np.isfinite(tq[first, np.arange(n_samples)])
        first_id = np.where(hit, ids_a[sel][first], 0)
        free = (first_id != BALL_ID) & (first_id != VIEWER_ID)
        occ = first_id >= OCCLUDER_BASE
        cover[q] = float(occ[free].mean()) if free.any() else 0.0
        seen.append(sorted(int(i) - OCCLUDER_BASE for i in np.unique(first_id[occ])))
    return cover, seen
