"""Visibility geometry checked against an independent brute-force ray reference.

The reference below is written from scratch: it does not call ``vpt.scene.geometry``'s ray
functions. It estimates the visible share of a sphere's solid angle by casting many rays,
uniformly distributed (stratified and jittered, from a local seeded generator) over the cap of
directions that hit the sphere. A ray counts as visible when it lies inside the (optional)
rectangular frustum and meets the sphere before any occluder or the floor ``z = 0``.

Occluders follow the :class:`vpt.scene.spec.OccluderSpec` convention: ``position`` is the
centre of the bounding box, ``size`` the full extents in the solid's own frame, a cylinder is
vertical with size ``(2r, 2r, h)``, a sphere ``(2r, 2r, 2r)``, and the yaw turns about ``+Z``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from vpt.scene import geometry as geo
from vpt.scene.labels import LabelConfig, label_scenes
from vpt.scene.spec import (
    VIEWER_GEOMETRY,
    AppearanceSpec,
    BallSpec,
    ObserverSpec,
    OccluderSpec,
    SceneSpec,
    ViewerSpec,
    camera_basis,
    direction_from_angles,
)

# ---------------------------------------------------------------------------------------------
# Independent reference
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefSolid:
    """One occluder in the OccluderSpec convention (degrees for the yaw)."""

    primitive: str
    position: tuple[float, float, float]
    size: tuple[float, float, float]
    yaw_deg: float = 0.0

    @classmethod
    def of(cls, o: OccluderSpec) -> "RefSolid":
        return cls(o.primitive, tuple(o.position), tuple(o.size), o.yaw_deg)


def _to_local(solid: RefSolid, v: np.ndarray, is_point: bool) -> np.ndarray:
    """World vectors/points (..., 3) expressed in the solid's own frame (rotated by -yaw)."""
    a = math.radians(solid.yaw_deg)
    ex = np.array([math.cos(a), math.sin(a), 0.0])  # the solid's own +x axis in world
    ey = np.array([-math.sin(a), math.cos(a), 0.0])
    ez = np.array([0.0, 0.0, 1.0])
    w = v - np.asarray(solid.position, float) if is_point else v
    return np.stack([w @ ex, w @ ey, w @ ez], axis=-1)


def ref_hit_box(solid: RefSolid, o: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Entry distance of rays (o (3,), d (N, 3)) into a yawed box; inf on a miss."""
    lo = _to_local(solid, o, True)
    ld = _to_local(solid, d, False)
    half = np.asarray(solid.size, float) / 2.0
    t_near = np.full(len(d), -np.inf)
    t_far = np.full(len(d), np.inf)
    for k in range(3):
        dk = ld[:, k]
        parallel = np.abs(dk) < 1e-15
        with np.errstate(divide="ignore", invalid="ignore"):
            ta = (-half[k] - lo[k]) / dk
            tb = (half[k] - lo[k]) / dk
        lo_t = np.where(parallel, -np.inf, np.minimum(ta, tb))
        hi_t = np.where(parallel, np.inf, np.maximum(ta, tb))
        if abs(lo[k]) > half[k]:  # outside this slab: parallel rays never enter
            hi_t = np.where(parallel, -np.inf, hi_t)
        t_near = np.maximum(t_near, lo_t)
        t_far = np.minimum(t_far, hi_t)
    hit = (t_near <= t_far) & (t_far >= 0)
    return np.where(hit, np.maximum(t_near, 0.0), np.inf)


def ref_hit_cylinder(solid: RefSolid, o: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Entry distance into a finite vertical cylinder, by enumerating surface hits
    (side wall within the height, caps within the radius); 0 when the origin is inside."""
    r = solid.size[0] / 2.0
    hz = solid.size[2] / 2.0
    p = np.asarray(o, float) - np.asarray(solid.position, float)
    if math.hypot(p[0], p[1]) <= r and abs(p[2]) <= hz:
        return np.zeros(len(d))
    best = np.full(len(d), np.inf)
    # side wall: |p_xy + t d_xy|^2 = r^2
    a = d[:, 0] ** 2 + d[:, 1] ** 2
    b = 2.0 * (p[0] * d[:, 0] + p[1] * d[:, 1])
    c = p[0] ** 2 + p[1] ** 2 - r * r
    disc = b * b - 4.0 * a * c
    with np.errstate(divide="ignore", invalid="ignore"):
        for sign in (-1.0, 1.0):
            t = (-b + sign * np.sqrt(np.maximum(disc, 0.0))) / (2.0 * a)
            ok = (a > 1e-15) & (disc >= 0) & (t >= 0) & (np.abs(p[2] + t * d[:, 2]) <= hz)
            best = np.where(ok & (t < best), t, best)
        # caps: z = +-hz
        for zc in (-hz, hz):
            t = (zc - p[2]) / d[:, 2]
            x = p[0] + t * d[:, 0]
            y = p[1] + t * d[:, 1]
            ok = (np.abs(d[:, 2]) > 1e-15) & (t >= 0) & (x * x + y * y <= r * r)
            best = np.where(ok & (t < best), t, best)
    return best


def ref_hit_sphere(center, radius: float, o: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Entry distance into a solid sphere; 0 when the origin is inside; inf on a miss."""
    p = np.asarray(o, float) - np.asarray(center, float)
    if p @ p <= radius * radius:
        return np.zeros(len(d))
    b = d @ p
    disc = b * b - (p @ p - radius * radius)
    t = -b - np.sqrt(np.maximum(disc, 0.0))
    return np.where((disc >= 0) & (t >= 0), t, np.inf)


def ref_hit(solid: RefSolid, o, d) -> np.ndarray:
    if solid.primitive == "box":
        return ref_hit_box(solid, o, d)
    if solid.primitive == "cylinder":
        return ref_hit_cylinder(solid, o, d)
    if solid.primitive == "sphere":
        return ref_hit_sphere(solid.position, solid.size[0] / 2.0, o, d)
    raise ValueError(solid.primitive)


def ref_distance_to_solid(solid: RefSolid, p) -> float:
    """Euclidean distance from a point to a solid (0 inside)."""
    p = np.asarray(p, float)
    if solid.primitive == "sphere":
        return max(0.0, float(np.linalg.norm(p - np.asarray(solid.position))) - solid.size[0] / 2.0)
    q = _to_local(solid, p, True)
    half = np.asarray(solid.size, float) / 2.0
    if solid.primitive == "box":
        return float(np.linalg.norm(np.maximum(np.abs(q) - half, 0.0)))
    radial = max(0.0, math.hypot(q[0], q[1]) - half[0])
    vertical = max(0.0, abs(q[2]) - half[2])
    return math.hypot(radial, vertical)


@dataclass(frozen=True)
class RefFrustum:
    forward: np.ndarray
    right: np.ndarray
    up: np.ndarray
    half_h: float  # radians
    half_v: float


def _orthonormal_frame(axis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors orthogonal to ``axis`` and to each other (Gram-Schmidt on the world
    axis least aligned with ``axis``)."""
    k = int(np.argmin(np.abs(axis)))
    e = np.zeros(3)
    e[k] = 1.0
    e1 = e - (e @ axis) * axis
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(axis, e1)
    return e1, e2


def ref_cap_directions(eye, center, radius, n: int, seed: int) -> np.ndarray:
    """About ``n`` directions uniform over the solid-angle cap of a sphere seen from ``eye``,
    stratified on an equal-area (1 - cos theta, phi) grid with one jittered sample per cell."""
    eye, center = np.asarray(eye, float), np.asarray(center, float)
    axis = center - eye
    dist = float(np.linalg.norm(axis))
    axis /= dist
    one_minus_cos_alpha = 1.0 - math.sqrt(1.0 - (radius / dist) ** 2)
    rng = np.random.default_rng(seed)
    n_u = max(1, int(round(math.sqrt(n / (2 * math.pi)))))
    n_phi = max(1, n // n_u)
    i, j = np.meshgrid(np.arange(n_u), np.arange(n_phi), indexing="ij")
    u = (i.ravel() + rng.random(i.size)) / n_u  # uniform share of the cap's solid angle
    phi = 2 * math.pi * (j.ravel() + rng.random(j.size)) / n_phi
    cos_t = 1.0 - u * one_minus_cos_alpha
    sin_t = np.sqrt(np.maximum(0.0, 1.0 - cos_t * cos_t))
    e1, e2 = _orthonormal_frame(axis)
    return (cos_t[:, None] * axis + (sin_t * np.cos(phi))[:, None] * e1
            + (sin_t * np.sin(phi))[:, None] * e2)


def ref_in_frustum(d: np.ndarray, fr: RefFrustum) -> np.ndarray:
    a = d @ fr.forward
    ang_h = np.arctan2(d @ fr.right, a)
    ang_v = np.arctan2(d @ fr.up, a)
    return (a > 0) & (np.abs(ang_h) <= fr.half_h) & (np.abs(ang_v) <= fr.half_v)


@dataclass(frozen=True)
class RefResult:
    visible: float  # in frustum and unblocked
    in_view: float  # in frustum, occlusion ignored
    unoccluded: float  # unblocked, frustum ignored
    floor_blocks: bool
    blocks: tuple[bool, ...]  # per occluder: blocks part of the sphere


def ref_visibility(eye, center, radius: float, solids=(), frustum: RefFrustum | None = None, floor: bool = True,
                   n: int = 200_000, seed: int = 0) -> RefResult:
    """Brute-force visible fraction of a sphere from ``eye``."""
    eye, center = np.asarray(eye, float), np.asarray(center, float)
    d = ref_cap_directions(eye, center, radius, n, seed)
    rel = center - eye
    b = d @ rel
    t_ball = b - np.sqrt(np.maximum(radius * radius - (rel @ rel - b * b), 0.0))
    if floor:
        if eye[2] <= 0:
            t_floor = np.zeros(len(d))
        else:
            with np.errstate(divide="ignore"):
                t_floor = np.where(d[:, 2] < 0, -eye[2] / d[:, 2], np.inf)
    else:
        t_floor = np.full(len(d), np.inf)
    t_occ = [ref_hit(s, eye, d) for s in solids]
    blocked_by_floor = t_floor < t_ball
    blocked = blocked_by_floor.copy()
    for t in t_occ:
        blocked |= t < t_ball
    inside = np.ones(len(d), bool) if frustum is None else ref_in_frustum(d, frustum)
    return RefResult(
        visible=float(np.mean(inside & ~blocked)),
        in_view=float(np.mean(inside)),
        unoccluded=float(np.mean(~blocked)),
        floor_blocks=bool(np.any(blocked_by_floor)),
        blocks=tuple(bool(np.any(t < t_ball)) for t in t_occ),
    )


def viewer_frustum(v: ViewerSpec) -> RefFrustum:
    f, r, u = camera_basis(direction_from_angles(v.yaw_deg, v.pitch_deg))
    return RefFrustum(f, r, u, math.radians(v.hfov_deg) / 2, math.radians(v.vfov_deg) / 2)


def viewer_eye(v: ViewerSpec) -> np.ndarray:
    return np.asarray(v.position, float) + direction_from_angles(v.yaw_deg, v.pitch_deg) * (
        VIEWER_GEOMETRY[v.model]["eye"] * v.scale)


def ref_viewer_visibility(s: SceneSpec, n: int = 200_000, seed: int = 0) -> RefResult:
    return ref_visibility(viewer_eye(s.viewer), s.ball.position, s.ball.radius,
                          [RefSolid.of(o) for o in s.occluders], viewer_frustum(s.viewer), True, n, seed)


# ---------------------------------------------------------------------------------------------
# Scene helpers
# ---------------------------------------------------------------------------------------------

APPEARANCE = AppearanceSpec(style="plain", floor_material="grey", wall_material="white", background=(0.5, 0.5, 0.5))


def make_scene(viewer: ViewerSpec, ball: BallSpec, occluders=(), observer: ObserverSpec | None = None,
               scene_id: str = "t") -> SceneSpec:
    if observer is None:
        mid = (np.asarray(viewer.position, float) + np.asarray(ball.position, float)) / 2.0
        observer = ObserverSpec(position=(float(mid[0]) + 0.3, float(mid[1]) - 12.0, 5.0),
                                look_at=(float(mid[0]), float(mid[1]), float(mid[2])),
                                hfov_deg=50.0, width=640, height=480)
    return SceneSpec(scene_id=scene_id, recipe="test", split="test", seed=0, index=0, observer=observer,
                     viewer=viewer, ball=ball, occluders=tuple(occluders), lights=(), appearance=APPEARANCE)


def occ(i: int, primitive: str, position, size, yaw_deg: float = 0.0) -> OccluderSpec:
    return OccluderSpec(id=i, shape=primitive, primitive=primitive, position=tuple(map(float, position)),
                        size=tuple(map(float, size)), yaw_deg=float(yaw_deg), material="grey")


# ---------------------------------------------------------------------------------------------
# The reference itself is right (closed forms)
# ---------------------------------------------------------------------------------------------


def test_reference_unobstructed_is_fully_visible():
    r = ref_visibility((0, 0, 1), (3, 0, 1), 0.2, n=20_000)
    assert r.visible == 1.0 and r.unoccluded == 1.0 and not r.floor_blocks


def test_reference_concentric_sphere_occluder_closed_form():
    # a sphere occluder centred on the axis with angular radius beta < alpha hides the share
    # (1 - cos beta) / (1 - cos alpha) of the cap
    eye, c, rad = np.array([0.0, 0.0, 1.0]), np.array([4.0, 0.0, 1.0]), 0.5
    occ_c, occ_r = np.array([1.0, 0.0, 1.0]), 0.08
    alpha = math.asin(rad / 4.0)
    beta = math.asin(occ_r / 1.0)
    expect = 1.0 - (1 - math.cos(beta)) / (1 - math.cos(alpha))
    r = ref_visibility(eye, c, rad, [RefSolid("sphere", tuple(occ_c), (2 * occ_r,) * 3)], floor=False)
    assert r.visible == pytest.approx(expect, abs=2e-3)


def test_reference_half_plane_cases():
    eye, c = (0.0, 0.0, 1.0), (3.0, 0.0, 1.0)
    # wall covering y <= 0 with its edge in the plane through eye and centre
    wall = RefSolid("box", (1.5, -1.0, 1.0), (0.1, 2.0, 2.0))
    assert ref_visibility(eye, c, 0.3, [wall]).visible == pytest.approx(0.5, abs=2e-3)
    # the same wall given as a rotated box (yaw 90 swaps the x / y extents)
    wall90 = RefSolid("box", (1.5, -1.0, 1.0), (2.0, 0.1, 2.0), 90.0)
    assert ref_visibility(eye, c, 0.3, [wall90]).visible == pytest.approx(0.5, abs=2e-3)
    # frustum edge through the centre
    f, r, u = camera_basis(direction_from_angles(20.0, 0.0))
    fr = RefFrustum(f, r, u, math.radians(20.0), math.radians(30.0))
    res = ref_visibility(eye, c, 0.3, frustum=fr)
    assert res.visible == pytest.approx(0.5, abs=2e-3) and res.unoccluded == 1.0
    # floor through (almost) the eye and the centre
    res = ref_visibility((0.0, 0.0, 1e-9), (3.0, 0.0, 0.0), 0.3)
    assert res.visible == pytest.approx(0.5, abs=2e-3) and res.floor_blocks


def test_reference_primitives_known_hits():
    o = np.array([0.0, 0.0, 0.5])
    d = np.array([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    box = RefSolid("box", (3.0, 0.0, 0.5), (1.0, 1.0, 1.0))
    np.testing.assert_allclose(ref_hit_box(box, o, d), [2.5, np.inf, np.inf])
    box45 = RefSolid("box", (3.0, 0.0, 0.5), (1.0, 1.0, 1.0), 45.0)  # a corner points at the eye
    assert ref_hit_box(box45, o, d[:1])[0] == pytest.approx(3.0 - math.sqrt(0.5))
    cyl = RefSolid("cylinder", (3.0, 0.0, 0.5), (1.0, 1.0, 1.0), 33.0)
    np.testing.assert_allclose(ref_hit_cylinder(cyl, o, d), [2.5, np.inf, np.inf])
    # from above, straight down onto the cap
    assert ref_hit_cylinder(cyl, np.array([3.2, 0.1, 3.0]), np.array([[0.0, 0.0, -1.0]]))[0] == pytest.approx(2.0)
    sph = RefSolid("sphere", (3.0, 0.0, 0.5), (1.0, 1.0, 1.0))
    np.testing.assert_allclose(ref_hit(sph, o, d), [2.5, np.inf, np.inf])
    assert ref_distance_to_solid(box45, (0.0, 0.0, 0.5)) == pytest.approx(3.0 - math.sqrt(0.5))
    assert ref_distance_to_solid(cyl, (3.0, 0.0, 2.0)) == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------------
# Library ray primitives agree with the reference ray by ray
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("primitive", ["box", "cylinder", "sphere"])
def test_ray_entry_matches_reference(primitive):
    rng = np.random.default_rng(1234)
    n_solids, n_rays = 40, 2000
    kinds, centers, halves, yaws, origins, dirs, expected = [], [], [], [], [], [], []
    for _ in range(n_solids):
        size = rng.uniform(0.1, 2.0, 3)
        if primitive != "box":
            size[1] = size[0]
        if primitive == "sphere":
            size[2] = size[0]
        solid = RefSolid(primitive, tuple(rng.uniform(-2, 2, 3)), tuple(size), float(rng.uniform(-180, 180)))
        while True:  # an origin outside the solid
            o = rng.uniform(-5, 5, 3)
            if ref_distance_to_solid(solid, o) > 0.01:
                break
        # aim about half of the rays at the solid
        target = np.asarray(solid.position) + rng.uniform(-1, 1, (n_rays, 3)) * size
        d = target - o
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        kinds.append(geo.KIND_CODES[primitive])
        centers.append(solid.position)
        halves.append((size[0] / 2, size[1] / 2, size[2] / 2))
        yaws.append(math.radians(solid.yaw_deg))
        origins.append(o)
        dirs.append(d)
        expected.append(ref_hit(solid, o, d))
    got = geo.ray_entry(np.array(origins)[:, None, :], np.array(dirs), np.array(kinds), np.array(centers),
                        np.array(halves), np.array(yaws))
    expected = np.array(expected)
    hit_ref, hit_got = np.isfinite(expected), np.isfinite(got)
    assert 0.2 < hit_ref.mean() < 0.9  # the test exercises both hits and misses
    assert np.array_equal(hit_ref, hit_got), f"{np.sum(hit_ref != hit_got)} rays disagree on hit / miss"
    np.testing.assert_allclose(got[hit_got], expected[hit_ref], rtol=1e-9, atol=1e-9)


def test_ray_entry_origin_inside_is_zero():
    got = geo.ray_entry(np.array([[[0.1, 0.1, 0.1]]] * 3), np.array([[[1.0, 0.0, 0.0]]] * 3),
                        np.array([geo.BOX, geo.CYLINDER, geo.SPHERE]), np.zeros((3, 3)),
                        np.full((3, 3), 0.5), np.array([0.3, 0.3, 0.3]))
    np.testing.assert_array_equal(got, 0.0)


def test_ray_entry_vertical_rays_into_cylinder_and_box():
    # rays straight down (no xy component) onto a cylinder and a box
    o = np.array([[[0.2, 0.1, 3.0]], [[0.2, 0.1, 3.0]], [[0.9, 0.0, 3.0]]])
    d = np.array([[[0.0, 0.0, -1.0]]] * 3)
    got = geo.ray_entry(o, d, np.array([geo.CYLINDER, geo.BOX, geo.CYLINDER]), np.array([[0.0, 0.0, 0.5]] * 3),
                        np.array([[0.5, 0.5, 0.5]] * 3), np.array([0.0, 0.7, 0.0]))
    np.testing.assert_allclose(got[:, 0], [2.0, 2.0, np.inf])


# ---------------------------------------------------------------------------------------------
# cone_visibility directly: closed forms and no-frustum / no-floor queries
# ---------------------------------------------------------------------------------------------


def _cone_query(eye, center, radius, *, dilate=1.0, frustum=None, margin=0.0, floor=True, solids=()):
    rows = []
    for s in solids:
        half = (s.size[0] / 2, s.size[1] / 2, s.size[2] / 2)
        rows.append((0, geo.KIND_CODES[s.primitive], tuple(s.position), half, math.radians(s.yaw_deg)))
    fr = frustum or RefFrustum(np.array([1.0, 0, 0]), np.array([0, -1.0, 0]), np.array([0, 0, 1.0]), 0.5, 0.5)
    return geo.ConeQueries(
        eye=np.array([eye], float), center=np.array([center], float), radius=np.array([radius], float),
        dilate=np.array([dilate]), forward=fr.forward[None], right=fr.right[None], up=fr.up[None],
        half_h=np.array([fr.half_h]), half_v=np.array([fr.half_v]), margin=np.array([margin]),
        has_frustum=np.array([frustum is not None]), floor=np.array([floor]), occluders=geo.Primitives.from_rows(rows))


def test_cone_visibility_concentric_sphere_closed_form():
    eye, c, rad = (0.0, 0.0, 1.0), (4.0, 0.0, 1.0), 0.5
    s = RefSolid("sphere", (1.0, 0.0, 1.0), (0.16, 0.16, 0.16))
    expect = 1.0 - (1 - math.cos(math.asin(0.08))) / (1 - math.cos(math.asin(rad / 4.0)))
    res = geo.cone_visibility(_cone_query(eye, c, rad, floor=False, solids=[s]))
    assert res.visible_fraction[0] == pytest.approx(expect, abs=0.01)
    assert res.unoccluded_fraction[0] == pytest.approx(expect, abs=0.01)
    assert res.in_view_fraction[0] == 1.0
    assert res.occluder_blocks.tolist() == [True]
    assert not res.clear_occluded[0] and not res.clear_visible[0]


def test_cone_visibility_floor_half_and_no_floor():
    q = _cone_query((0.0, 0.0, 1e-9), (3.0, 0.0, 0.0), 0.3)
    res = geo.cone_visibility(q)
    assert res.visible_fraction[0] == pytest.approx(0.5, abs=0.01)
    assert res.floor_blocks[0]
    res = geo.cone_visibility(_cone_query((0.0, 0.0, 1e-9), (3.0, 0.0, 0.0), 0.3, floor=False))
    assert res.visible_fraction[0] == 1.0 and not res.floor_blocks[0]


def test_cone_visibility_eye_inside_sphere_raises():
    with pytest.raises(ValueError):
        geo.cone_visibility(_cone_query((0.0, 0.0, 1.0), (0.1, 0.0, 1.0), 0.3))
    with pytest.raises(ValueError):  # inside the dilated sphere only
        geo.cone_visibility(_cone_query((0.0, 0.0, 1.0), (0.33, 0.0, 1.0), 0.3, dilate=1.2))


# ---------------------------------------------------------------------------------------------
# Random scenes (hypothesis)
# ---------------------------------------------------------------------------------------------

# largest |library - reference| seen per quantity, printed at the end of the session (-s)
MAX_ERR: dict[str, float] = {}
N_REF = 200_000
TOL = 0.01



def random_scene(rng: np.random.Generator, scene_id: str = "r") -> SceneSpec | None:
    """A random scene whose ball often straddles the viewer's frustum edges, the floor or
    occluder edges. Occluders never intersect the ball nor contain the eye; ``None`` when the
    draw is unusable."""
    model = str(rng.choice(["camera", "head", "figure"]))
    pos = (rng.uniform(-3, 3), rng.uniform(-3, 3), rng.uniform(0.3, 1.8))
    viewer = ViewerSpec(model=model, position=tuple(float(x) for x in pos), yaw_deg=float(rng.uniform(-180, 180)),
                        pitch_deg=float(rng.uniform(-35, 35)), hfov_deg=float(rng.uniform(30, 100)),
                        vfov_deg=float(rng.uniform(20, 80)), scale=float(rng.uniform(0.7, 1.5)))
    eye = viewer_eye(viewer)
    hh, hv = viewer.hfov_deg / 2, viewer.vfov_deg / 2
    radius = float(rng.uniform(0.05, 0.4))
    dist = float(rng.uniform(0.8, 6.0))
    mode = rng.random()
    if mode < 0.55:  # inside the field of view
        dh, dv = rng.uniform(-1, 1) * (hh - 3), rng.uniform(-1, 1) * (hv - 3)
    elif mode < 0.75:  # straddling a side edge
        dh, dv = rng.choice([-1, 1]) * (hh + rng.uniform(-8, 8)), rng.uniform(-1, 1) * hv
    elif mode < 0.9:  # straddling the top or bottom edge
        dh, dv = rng.uniform(-1, 1) * hh, rng.choice([-1, 1]) * (hv + rng.uniform(-8, 8))
    else:  # anywhere, behind included
        dh, dv = rng.uniform(-180, 180), rng.uniform(-60, 60)
    direction = direction_from_angles(viewer.yaw_deg + dh, viewer.pitch_deg + dv)
    center = eye + dist * direction
    if center[2] < -radius and direction[2] < 0:  # mostly kept above the floor: come closer
        z = rng.uniform(-0.8, 3.0) * radius
        center = eye + (eye[2] - z) / -direction[2] * direction
    if rng.random() < 0.15:  # resting on or sunk into the floor
        center[2] = rng.uniform(-0.8, 1.0) * radius
    if np.linalg.norm(center - eye) <= radius * 1.3:
        return None
    ball = BallSpec(position=tuple(float(x) for x in center), radius=radius)
    # occluders near the eye -> ball segment, offset so that their edges often cross the ball
    axis = (center - eye) / np.linalg.norm(center - eye)
    e1 = np.cross(axis, [0.0, 0.0, 1.0])
    e1 = e1 / np.linalg.norm(e1) if np.linalg.norm(e1) > 1e-6 else np.array([1.0, 0.0, 0.0])
    e2 = np.cross(axis, e1)
    occluders = []
    n_max = int(rng.choice([0, 1, 2, 3], p=[0.15, 0.35, 0.3, 0.2]))
    for prim in ("box", "cylinder", "sphere"):
        for _ in range(int(rng.integers(0, n_max + 1))):
            if prim == "box":
                size = tuple(rng.uniform(0.03, 1.2, 3))
            elif prim == "cylinder":
                r = rng.uniform(0.02, 0.5)
                size = (2 * r, 2 * r, rng.uniform(0.05, 1.5))
            else:
                size = (2 * rng.uniform(0.02, 0.5),) * 3
            s = rng.uniform(0.1, 0.9)
            phi = rng.uniform(0, 2 * math.pi)
            reach = rng.uniform(0.0, 1.2) * (min(size) / 2 + radius * s) + rng.uniform(0.0, 0.3) * max(size)
            p = eye + s * (center - eye) + reach * (math.cos(phi) * e1 + math.sin(phi) * e2)
            o = occ(len(occluders), prim, p, size, float(rng.uniform(-180, 180)))
            solid = RefSolid.of(o)
            if ref_distance_to_solid(solid, center) <= radius * 1.02 or ref_distance_to_solid(solid, eye) <= 0.01:
                continue  # never intersecting the ball, never containing the eye
            occluders.append(o)
    return make_scene(viewer, ball, occluders, scene_id=scene_id)


@st.composite
def vpt_scenes(draw):
    scene = random_scene(np.random.default_rng(draw(st.integers(0, 2**63 - 1))))
    assume(scene is not None)
    return scene


def _check_against_reference(scene: SceneSpec, n_rays: int) -> dict:
    rec = label_scenes([scene], LabelConfig(n_rays=n_rays))[0]
    ref = ref_viewer_visibility(scene, N_REF)
    errs = {
        "visible": abs(rec.viewer_visible_fraction - ref.visible),
        "in_view": abs(rec.viewer_in_view_fraction - ref.in_view),
        "unoccluded": abs(rec.viewer_unoccluded_fraction - ref.unoccluded),
    }
    return rec, ref, errs


# The labeller's default ray count (2048, geometry.N_RAYS_DEFAULT) is the smallest found to
# meet TOL on both scene families here (random scenes and fences); 1024 does not: see the hard
# cases below.
N_RAYS = LabelConfig().n_rays
N_RAYS_TOO_FEW = 1024


@pytest.mark.slow  # 150 scenes against the brute-force reference (about 10 s)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
          derandomize=True, database=None)
@given(scene=vpt_scenes())
def test_viewer_fractions_match_reference(scene):
    n_rays = N_RAYS
    rec, ref, errs = _check_against_reference(scene, n_rays)
    event(f"label {rec.vpt_label} {rec.hidden_reason}")
    event("ref visible " + ("0" if ref.visible == 0 else "1" if ref.visible == 1 else "partial"))
    for k, e in errs.items():
        MAX_ERR[f"{k}@{n_rays}"] = max(MAX_ERR.get(f"{k}@{n_rays}", 0.0), e)
    assert errs["visible"] <= TOL, (rec.viewer_visible_fraction, ref.visible)
    assert errs["in_view"] <= TOL, (rec.viewer_in_view_fraction, ref.in_view)
    assert errs["unoccluded"] <= TOL, (rec.viewer_unoccluded_fraction, ref.unoccluded)
    # labels agree with the reference: clearly visible / hidden balls are really so
    if rec.vpt_label == 1:
        assert ref.visible == 1.0
    if rec.vpt_label == 0:
        assert ref.visible == 0.0
    if rec.hidden_reason == "out_of_view":
        assert ref.in_view == 0.0
    if rec.hidden_reason == "occluded":
        assert ref.unoccluded == 0.0 and ref.in_view == 1.0
    # every blocker (and the floor) the library reports really blocks part of the ball
    ref_ids = {o.id for o, b in zip(scene.occluders, ref.blocks) if b}
    assert set(rec.blocking_occluders) <= ref_ids
    assert rec.floor_blocks <= ref.floor_blocks


# ---------------------------------------------------------------------------------------------
# Many thin occluders ("fences"): the hardest case for a fixed ray pattern
# ---------------------------------------------------------------------------------------------

FENCE_VIEWER = ViewerSpec(model="camera", position=(0.0, 0.0, 1.0), yaw_deg=0.0, pitch_deg=0.0, hfov_deg=60.0,
                          vfov_deg=45.0)


def fence_scene(rng: np.random.Generator) -> SceneSpec:
    """1-9 thin poles, slats or yawed square posts (0.6-10 cm thick) across a ball 3.5 m away."""
    k = int(rng.integers(1, 10))
    w = float(rng.uniform(0.003, 0.05))
    kind = str(rng.choice(["pole", "slat", "post"]))
    ball = BallSpec((3.5, 0.0, 1.0), float(rng.uniform(0.15, 0.4)))
    yaw = float(rng.uniform(-180, 180))
    occs = []
    for j in range(k):
        off = float(rng.uniform(-0.7, 0.7)) * ball.radius
        if kind == "pole":
            occs.append(occ(j, "cylinder", (1.8, off, 1.0), (2 * w, 2 * w, 2.0)))
        elif kind == "slat":
            occs.append(occ(j, "box", (1.8, 0.0, 1.0 + off), (0.05, 2.0, 2 * w), float(rng.uniform(-30, 30))))
        else:
            occs.append(occ(j, "box", (1.8, off, 1.0), (2 * w, 2 * w, 2.0), yaw))
    return make_scene(FENCE_VIEWER, ball, occs)


@pytest.mark.slow  # 60 fences against the brute-force reference (about 7 s)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True,
          database=None)
@given(st.integers(0, 2**63 - 1))
def test_fence_fractions_match_reference(seed):
    scene = fence_scene(np.random.default_rng(seed))
    rec, ref, errs = _check_against_reference(scene, N_RAYS)
    key = f"fence_visible@{N_RAYS}"
    MAX_ERR[key] = max(MAX_ERR.get(key, 0.0), errs["visible"])
    assert errs["visible"] <= TOL, (rec.viewer_visible_fraction, ref.visible)


# Hard cases, each checked against a reference that agrees with itself to 1e-4 over seeds.
# * Three 1.2 cm poles across a 0.3 m ball: reference visible 0.8588; 1024 sunflower rays
#   give 0.8475 (off by 0.011), 2048 give 0.8598.
# * A ball sunk 0.15 m into the floor behind a small sphere (found by hypothesis): reference
#   unoccluded 0.5119; 1024 rays give 0.5226 (off by 0.011), 2048 give 0.5136.
HARD_CASES = {
    "three_poles": (make_scene(FENCE_VIEWER, BallSpec((3.5, 0.0, 1.0), 0.3),
                               [occ(j, "cylinder", (1.8, y, 1.0), (0.012, 0.012, 2.0))
                                for j, y in enumerate((-0.08, 0.0, 0.08))]), "visible", 0.8588),
    "floor_and_spheres": (make_scene(
        ViewerSpec(model="figure", position=(-1.1797947728314186, -1.3885933127772248, 1.7777357195133041),
                   yaw_deg=-100.83915048012902, pitch_deg=-32.75941554795797, hfov_deg=89.8287976795317,
                   vfov_deg=30.249475948870145, scale=1.37469033111696),
        BallSpec((-1.4817890737431105, -2.57008592487879, -0.14505490842723953), 0.3031334161220485),
        [occ(0, "sphere", (-1.3421844723843168, -1.97163744842015, 0.9331807261131475), (0.11822801289410376,) * 3),
         occ(1, "sphere", (-1.7925649375123363, -2.756453540683344, 0.3998859186080807), (0.42274798100327826,) * 3)]),
        "unoccluded", 0.5119),
}


@pytest.mark.parametrize("case", sorted(HARD_CASES))
def test_hard_cases_match_reference(case):
    scene, key, expected = HARD_CASES[case]
    rec, ref, errs = _check_against_reference(scene, N_RAYS)
    assert getattr(ref, key) == pytest.approx(expected, abs=0.001)  # the reference is stable
    assert errs[key] <= TOL, f"n_rays={N_RAYS}: library {getattr(rec, f'viewer_{key}_fraction'):.4f}, " \
                             f"reference {getattr(ref, key):.4f}"


@pytest.mark.parametrize("case", sorted(HARD_CASES))
def test_hard_cases_miss_tolerance_with_fewer_rays(case):
    """Why the default is not lower: 1024 rays miss TOL on each hard case."""
    scene, key, _ = HARD_CASES[case]
    _, _, errs = _check_against_reference(scene, N_RAYS_TOO_FEW)
    assert errs[key] > TOL


def teardown_module(module):
    print(f"\nmax |library - reference| over the hypothesis runs: {MAX_ERR}")
