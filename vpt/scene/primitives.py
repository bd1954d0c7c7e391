"""A scene spec's solids as primitive rows, the input of the batched ray tests in
:mod:`vpt.scene.geometry`.

A row is ``(query, kind, centre, half extents, yaw)``: ``query`` says which batched query
(scene, eye) the row belongs to, ``kind`` is a :data:`vpt.scene.geometry.KIND_CODES` code.
Both :mod:`vpt.scene.labels` (lines of sight) and :mod:`vpt.scene.raster` (the analytic
mask) build on these rows; this module imports neither.
"""

from __future__ import annotations

import math

import numpy as np

from vpt.scene import geometry as geo
from vpt.scene.spec import SceneSpec

__all__ = ["occluder_rows", "sphere_row", "viewer_rows"]


def occluder_rows(spec: SceneSpec, query: int) -> list[tuple]:
    """Primitive rows (query, kind, centre, half extents, yaw) of a scene's occluders."""
    rows = []
    for o in spec.occluders:
        sx, sy, sz = o.size
        half = (sx / 2, sy / 2, sz / 2) if o.primitive == "box" else (sx / 2, sx / 2, sz / 2)
        rows.append((query, geo.KIND_CODES[o.primitive], tuple(o.position), half, math.radians(o.yaw_deg)))
    return rows


def sphere_row(query: int, center, radius: float) -> tuple:
    """The primitive row of a sphere (the ball, a viewer's proxy sphere)."""
    return (query, geo.SPHERE, tuple(center), (radius, radius, radius), 0.0)


def viewer_rows(spec: SceneSpec) -> list[tuple]:
    """Primitive rows (query 0) standing in for the viewer: body, lens block, stand pole."""
    v = spec.viewer
    g = v.geometry
    s = v.scale
    yaw = math.radians(v.yaw_deg)
    f = np.array([math.cos(yaw), math.sin(yaw), 0.0])
    pos = np.asarray(v.position, float)
    d, w, h, eye = g["depth"], g["width"], g["height"], g["eye"]
    lens_r = 0.068 * s
    lens_len = max(eye - d / 2.0, 1e-3)
    rows = [(0, geo.BOX, tuple(pos), (d / 2, w / 2, h / 2), yaw),
            (0, geo.BOX, tuple(pos + f * (d / 2 + lens_len / 2)), (lens_len / 2, lens_r, lens_r), yaw)]
    bottom = pos[2] - h / 2
    if v.model != "figure" and v.stand and bottom > 0.02:
        rows.append((0, geo.CYLINDER, (pos[0], pos[1], bottom / 2), (0.012 * s, 0.012 * s, bottom / 2), 0.0))
    return rows
