"""Mesh primitives and object helpers (Blender side; imported only by the render stage).

Every primitive is built with ``bmesh`` in its own frame, centred at the origin, with its
real size baked into the vertices (object scale stays 1), so an object's ``dimensions``
are the spec's extents. Curved solids have their vertices on the true surface: a cylinder
with 48 segments, a sphere with 64 x 32 segments. The inscribed facets fall short of the
analytic solid by at most ``1 - cos(pi/48) = 0.2 %`` of the radius (cylinder) and about
0.6 % (sphere), far inside the ray-cast tolerance.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np

from vpt.render.blender import require_bpy

bpy = require_bpy()
import bmesh  # noqa: E402  (these ship with bpy: import them once it is known to be there)
from mathutils import Matrix, Vector  # noqa: E402

CYLINDER_SEGMENTS = 48
SPHERE_SEGMENTS = (64, 32)


def _finish(name: str, bm: Any, smooth: bool | str = False) -> Any:
    """Write a bmesh into a new mesh. ``smooth``: True (all faces), 'sides' (quads only)."""
    if smooth == "sides":
        for f in bm.faces:
            f.smooth = len(f.verts) == 4
    me = bpy.data.meshes.new(name)
    bm.to_mesh(me)
    bm.free()
    if smooth is True:
        me.shade_smooth()
    return me


def box_mesh(name: str, size: Iterable[float]) -> Any:
    sx, sy, sz = size
    bm = bmesh.new()
    bmesh.ops.create_cube(bm, size=1.0)
    bmesh.ops.scale(bm, vec=Vector((sx, sy, sz)), verts=bm.verts)
    return _finish(name, bm)


def cylinder_mesh(name: str, radius: float, depth: float, segments: int = CYLINDER_SEGMENTS,
                  radius_top: float | None = None) -> Any:
    """A capped cylinder (or cone frustum) along +Z, centred at the origin."""
    bm = bmesh.new()
    bmesh.ops.create_cone(bm, cap_ends=True, cap_tris=False, segments=segments, radius1=radius,
                          radius2=radius if radius_top is None else radius_top, depth=depth)
    return _finish(name, bm, smooth="sides")


def sphere_mesh(name: str, radius: float, segments: tuple[int, int] = SPHERE_SEGMENTS,
                scale: tuple[float, float, float] | None = None) -> Any:
    """A UV sphere (or, with ``scale``, an ellipsoid) centred at the origin, built with
    numpy (bmesh's sphere operator is ~20x slower). Vertices sit on the true sphere, one
    of them on each of +-X, +-Y (``u`` a multiple of 4) and the poles."""
    u, v = segments
    theta = np.pi * np.arange(1, v) / v
    phi = 2.0 * np.pi * np.arange(u) / u
    ring = np.stack([np.outer(np.sin(theta), np.cos(phi)), np.outer(np.sin(theta), np.sin(phi)),
                     np.repeat(np.cos(theta)[:, None], u, axis=1)], axis=-1).reshape(-1, 3)
    verts = np.concatenate([[[0.0, 0.0, 1.0]], ring, [[0.0, 0.0, -1.0]]]) * radius
    if scale is not None:
        verts = verts * np.asarray(scale, float)
    top, bottom = 0, len(verts) - 1
    idx = 1 + np.arange((v - 1) * u).reshape(v - 1, u)
    nxt = np.roll(idx, -1, axis=1)
    faces = [(top, int(a), int(b)) for a, b in zip(idx[0], nxt[0], strict=True)]
    quads = np.stack([idx[:-1], idx[1:], nxt[1:], nxt[:-1]], axis=-1).reshape(-1, 4)
    faces += [tuple(map(int, q)) for q in quads]
    faces += [(bottom, int(b), int(a)) for a, b in zip(idx[-1], nxt[-1], strict=True)]
    me = bpy.data.meshes.new(name)
    me.from_pydata(verts.tolist(), [], faces)
    me.update()
    me.shade_smooth()
    return me


def plane_mesh(name: str, size_x: float, size_y: float) -> Any:
    """A rectangle in the XY plane, centred at the origin, normal +Z."""
    bm = bmesh.new()
    hx, hy = size_x / 2.0, size_y / 2.0
    vs = [bm.verts.new(co) for co in ((-hx, -hy, 0.0), (hx, -hy, 0.0), (hx, hy, 0.0), (-hx, hy, 0.0))]
    bm.faces.new(vs)
    return _finish(name, bm)


def sheet_mesh(name: str, profile: list[tuple[float, float]], width: float) -> Any:
    """A sheet swept along Y (``width``, centred) from a profile of (x, z) points."""
    bm = bmesh.new()
    left = [bm.verts.new((x, -width / 2.0, z)) for x, z in profile]
    right = [bm.verts.new((x, width / 2.0, z)) for x, z in profile]
    for i in range(len(profile) - 1):
        bm.faces.new((left[i], left[i + 1], right[i + 1], right[i]))
    return _finish(name, bm, smooth=True)


def add_object(name: str, mesh: Any, material: Any | None, pass_index: int,
               matrix: Matrix | None = None, location: Iterable[float] | None = None,
               yaw_deg: float = 0.0) -> Any:
    """Link a mesh object into the scene with a material and an object pass index."""
    obj = bpy.data.objects.new(name, mesh)
    bpy.context.scene.collection.objects.link(obj)
    if material is not None:
        mesh.materials.append(material)
    obj.pass_index = pass_index
    if matrix is not None:
        obj.matrix_world = matrix
    else:
        if location is not None:
            obj.location = Vector(location)
        obj.rotation_euler = (0.0, 0.0, math.radians(yaw_deg))
    return obj


def segment_matrix(p0: Vector, p1: Vector) -> tuple[Matrix, float]:
    """(matrix, length) placing a +Z-aligned, origin-centred solid along segment p0 -> p1."""
    d = p1 - p0
    length = d.length
    rot = d.normalized().to_track_quat("Z", "Y").to_matrix().to_4x4()
    return Matrix.Translation((p0 + p1) / 2.0) @ rot, length


def frame_matrix(origin: Iterable[float], forward: Iterable[float], left: Iterable[float],
                 up: Iterable[float]) -> Matrix:
    """4x4 matrix whose columns are the local axes (x forward, y left, z up) and origin."""
    m = Matrix.Identity(4)
    for col, vec in enumerate((forward, left, up, origin)):
        for row, value in enumerate(vec):
            m[row][col] = float(value)
    return m
