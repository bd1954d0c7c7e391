"""The viewer models: a camera, a head, a simple figure (all green, pass index 2).

Parts are laid out in the viewer's own frame (x forward, y left, z up, origin at the body
centre, lengths times ``scale``) and placed with the viewer's yaw and pitch; stands and
legs stay vertical. ``VIEWER_GEOMETRY`` in :mod:`vpt.scene.spec` fixes the body size and
where the eye (the lens front, or the eyes) sits, which the labels use.

* camera: a green body that tapers toward the back, a pale green front plate, a protruding
  lens barrel with a white rim and dark glass at the lens front (the eye), and a green
  viewfinder hump on top at the back. Nothing dark or lens-like is on the back, so the
  front reads at a glance from every side (``vpt legibility`` measures it).
* head: a green ellipsoid with a pale face on the front: large eyes (white, dark pupils)
  and a protruding nose; the back of the head is plain green.
* figure: the head on a torso with arms, legs and feet that point forward.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from vpt.render.blender import require_bpy

require_bpy()
from mathutils import Matrix, Vector  # noqa: E402

from vpt.render.materials import get_material  # noqa: E402
from vpt.render.meshes import (add_object, box_mesh, cylinder_mesh, frame_matrix, segment_matrix,  # noqa: E402
                               sphere_mesh)
from vpt.scene.spec import ViewerSpec  # noqa: E402

VIEWER_PASS_INDEX = 2
_Y_AXIS_TO_X = Matrix.Rotation(math.pi / 2.0, 4, "Y")  # a +Z-aligned solid turned to +X


def viewer_frame(v: ViewerSpec, upright: bool = False) -> Matrix:
    """The viewer's frame (x forward, y left, z up); ``upright`` ignores the pitch."""
    fwd, right, up = v.basis()
    if upright:
        f2 = np.array([math.cos(math.radians(v.yaw_deg)), math.sin(math.radians(v.yaw_deg)), 0.0])
        return frame_matrix(v.position, f2, [-f2[1], f2[0], 0.0], [0.0, 0.0, 1.0])
    return frame_matrix(v.position, fwd, -right, up)


class _Parts:
    """Collects the viewer's objects, all with pass index 2."""

    def __init__(self, v: ViewerSpec) -> None:
        self.v = v
        self.s = v.scale
        self.objects: list[Any] = []
        self.green = get_material(f"viewer_{v.color}")

    def add(self, name: str, mesh: Any, material: Any, matrix: Matrix) -> Any:
        obj = add_object(f"viewer_{name}", mesh, material, VIEWER_PASS_INDEX, matrix=matrix)
        self.objects.append(obj)
        return obj

    def rod(self, name: str, p0: Vector, p1: Vector, radius: float, material: Any) -> None:
        m, length = segment_matrix(p0, p1)
        if length > 1e-4:
            self.add(name, cylinder_mesh(name, radius, length, segments=12), material, m)


def _tapered_box(name: str, depth: float, front: tuple[float, float], back: tuple[float, float]) -> Any:
    """A box along x whose front face (+x) is ``front`` (width, height) and back face
    (-x) the smaller ``back``: the body's silhouette narrows toward the rear."""
    import bpy

    verts = []
    for x, (w, h) in ((-depth / 2.0, back), (depth / 2.0, front)):
        verts += [(x, -w / 2.0, -h / 2.0), (x, w / 2.0, -h / 2.0), (x, w / 2.0, h / 2.0), (x, -w / 2.0, h / 2.0)]
    faces = [(0, 3, 2, 1), (4, 5, 6, 7), (0, 1, 5, 4), (1, 2, 6, 5), (2, 3, 7, 6), (3, 0, 4, 7)]
    me = bpy.data.meshes.new(name)
    me.from_pydata(verts, [], faces)
    me.update()
    return me


def _camera(p: _Parts, frame: Matrix) -> float:
    """Box body tapering to the back, a protruding lens with a white rim and dark glass at
    the front (the eye), a pale front plate; the back carries only a green viewfinder hump."""
    g = p.v.geometry
    s = p.s
    d, w, h = g["depth"], g["width"], g["height"]
    eye = g["eye"]
    p.add("body", _tapered_box("viewer_body", d, (w, h), (0.8 * w, 0.75 * h)), p.green, frame)
    light, white, dark = get_material("viewer_green_light"), get_material("viewer_white"), get_material("viewer_dark")
    plate = 0.006 * s
    p.add("front_plate", box_mesh("viewer_front_plate", (plate, 0.94 * w, 0.92 * h)), light,
          frame @ Matrix.Translation((d / 2.0 + plate / 2.0, 0.0, 0.0)))
    # lens barrel from the front face to the rim; the rim and the glass end at the eye
    ring_len, r_lens, r_ring = 0.035 * s, 0.056 * s, 0.076 * s
    barrel_len = eye - ring_len - d / 2.0
    p.add("lens", cylinder_mesh("viewer_lens", r_lens, barrel_len), p.green,
          frame @ Matrix.Translation((d / 2.0 + barrel_len / 2.0, 0.0, 0.0)) @ _Y_AXIS_TO_X)
    p.add("lens_ring", cylinder_mesh("viewer_lens_ring", r_ring, ring_len), white,
          frame @ Matrix.Translation((eye - ring_len / 2.0, 0.0, 0.0)) @ _Y_AXIS_TO_X)
    p.add("lens_glass", cylinder_mesh("viewer_lens_glass", 0.05 * s, 0.004 * s), dark,
          frame @ Matrix.Translation((eye - 0.0015 * s, 0.0, 0.0)) @ _Y_AXIS_TO_X)
    hump_x = -d / 2.0 + 0.055 * s  # green, on top at the back: it breaks the front-back symmetry
    p.add("viewfinder", box_mesh("viewer_viewfinder", (0.07 * s, 0.08 * s, 0.05 * s)), p.green,
          frame @ Matrix.Translation((hump_x, 0.0, 0.75 * h / 2.0 + 0.015 * s)))
    return h / 2.0


def _head(p: _Parts, frame: Matrix) -> float:
    """A green ellipsoid with a pale face on the front: two large eyes (white, dark pupils)
    and a green nose that sticks out; the back of the head is plain green."""
    g = p.v.geometry
    s = p.s
    a, b, c = g["depth"] / 2.0, g["width"] / 2.0, g["height"] / 2.0
    p.add("head", sphere_mesh("viewer_head", 1.0, segments=(48, 24), scale=(a, b, c)), p.green, frame)
    light, white, dark = get_material("viewer_green_light"), get_material("viewer_white"), get_material("viewer_dark")
    fx, fa, fb, fc = 0.5 * a, 0.55 * a, 0.8 * b, 0.72 * c  # the face: an ellipsoid just proud of the front

    def face_x(y: float, z: float) -> float:
        return fx + fa * math.sqrt(max(0.0, 1.0 - (y / fb) ** 2 - (z / fc) ** 2))

    p.add("face", sphere_mesh("viewer_face", 1.0, segments=(32, 16), scale=(fa, fb, fc)), light,
          frame @ Matrix.Translation((fx, 0.0, 0.0)))
    for side, y in (("left", 0.045 * s), ("right", -0.045 * s)):
        z = 0.03 * s
        x = face_x(y, z)
        p.add(f"eye_{side}", sphere_mesh("viewer_eye", 0.03 * s, segments=(24, 12)), white,
              frame @ Matrix.Translation((x - 0.014 * s, y, z)))
        p.add(f"pupil_{side}", sphere_mesh("viewer_pupil", 0.016 * s, segments=(16, 8)), dark,
              frame @ Matrix.Translation((x + 0.004 * s, y, z)))
    nose_len, nose_z = 0.06 * s, -0.022 * s
    p.add("nose", cylinder_mesh("viewer_nose", 0.026 * s, nose_len, segments=16, radius_top=0.006 * s), p.green,
          frame @ Matrix.Translation((face_x(0.0, nose_z) - 0.008 * s + nose_len / 2.0, 0.0, nose_z)) @ _Y_AXIS_TO_X)
    return c


def _stand(p: _Parts, top_z: float) -> None:
    """A vertical pole from under the body to a tripod on the floor."""
    s = p.s
    x, y, _ = p.v.position
    if top_z < 0.12 * s:
        return
    grey = get_material("viewer_dark")
    split = max(0.06 * s, 0.35 * top_z)
    p.rod("pole", Vector((x, y, split)), Vector((x, y, top_z)), 0.012 * s, grey)
    spread = min(0.3 * s, 0.6 * split)
    for k in range(3):
        ang = math.radians(p.v.yaw_deg + 60.0 + 120.0 * k)
        foot = Vector((x + spread * math.cos(ang), y + spread * math.sin(ang), 0.0))
        p.rod(f"leg_{k}", Vector((x, y, split)), foot, 0.009 * s, grey)


def _figure_body(p: _Parts, head_half_height: float) -> None:
    """Neck, torso, arms, and (with ``stand``) legs and forward-pointing feet, upright."""
    s = p.s
    up = viewer_frame(p.v, upright=True)  # origin at the head centre, z up
    z0 = p.v.position[2]
    neck_top = -head_half_height + 0.02 * s  # frame z (relative to the head centre)
    shoulder = -head_half_height - 0.05 * s
    torso_h = min(0.5 * s, max(0.1 * s, z0 + shoulder))
    hip = shoulder - torso_h
    p.rod("neck", up @ Vector((0.0, 0.0, shoulder - 0.01 * s)), up @ Vector((0.0, 0.0, neck_top)), 0.035 * s, p.green)
    elliptic = Matrix.Diagonal((0.1 * s, 0.17 * s, 1.0, 1.0))  # a flattened torso: its front is readable
    p.add("torso", cylinder_mesh("viewer_torso", 1.0, torso_h, segments=32), p.green,
          up @ Matrix.Translation((0.0, 0.0, shoulder - torso_h / 2.0)) @ elliptic)
    for side, y in (("left", 0.2), ("right", -0.2)):
        top = up @ Vector((0.0, y * s, shoulder - 0.04 * s))
        hand = up @ Vector((0.02 * s, y * s * 1.05, shoulder - torso_h * 0.95))
        p.rod(f"arm_{side}", top, hand, 0.035 * s, p.green)
    if z0 + hip <= 0.05 * s or not p.v.stand:
        return
    for side, y in (("left", 0.075), ("right", -0.075)):
        top = up @ Vector((0.0, y * s, hip + 0.02 * s))
        p.rod(f"leg_{side}", top, Vector((top.x, top.y, 0.03 * s)), 0.045 * s, p.green)
        p.add(f"foot_{side}", box_mesh("viewer_foot", (0.16 * s, 0.08 * s, 0.05 * s)), p.green,
              up @ Matrix.Translation((0.05 * s, y * s, -z0 + 0.025 * s)))


def build_viewer(v: ViewerSpec) -> list[Any]:
    """Add the viewer's parts to the scene; returns the objects (all pass index 2)."""
    p = _Parts(v)
    frame = viewer_frame(v)
    if v.model == "camera":
        below = _camera(p, frame)
    elif v.model in ("head", "figure"):
        below = _head(p, frame)
    else:
        raise ValueError(f"unknown viewer model {v.model!r}")
    if v.model == "figure":
        _figure_body(p, below)
    elif v.stand:
        _stand(p, v.position[2] - below * 0.9)
    return p.objects
