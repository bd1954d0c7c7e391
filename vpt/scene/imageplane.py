"""The image-plane strategy, named: two rules that answer the VPT question from the observer's
image alone, and their graded values computed analytically from a scene spec.

A network can score well on VPT-basic without taking the viewer's perspective in 3D by
reading two things off the picture (issue 26):

* the **2D facing rule**: the viewer "sees" the ball when the angle *in the observer's
  image* between the viewer's projected facing and the image direction from its lens to the
  ball is below a threshold. The projected facing is the image of the lens axis: the
  direction from the projected body centre to the projected eye (lens front), both of which
  lie on the viewer's 3D facing ray, so it is the exact image of that ray (pitch included).
  Graded value: :func:`facing_angle_2d`, in degrees (0 = the ball lies straight along the
  projected facing, 180 = straight behind it).
* the **2D cover rule**: the line of sight is "blocked" when occluder pixels cover the image
  segment from the projected lens to the projected ball centre. Graded value:
  :func:`segment_coverage_2d`, the covered share of the segment's *free* part (the part
  outside the ball's and the viewer's own silhouettes, as the pixel cue
  ``cover_lens_*`` of :mod:`vpt.datasets.cues` counts it), from the occluders' projected
  silhouettes (convex hulls of projected corners or rims) clipped against the segment.

Both rules are right for side-on viewers and simple layouts. Both fail under perspective:

* a viewer turned towards or away from the observer has a short projected facing, and the
  observer's own line of sight through the ball is squeezed to a point in the image, so a
  ball can slide far along the observer's view ray (in or out of the viewer's 3D field of
  view) while its image direction from the lens, and hence the 2D angle, stays the same;
* an occluder moved along the observer's view rays (in front of the 3D line of sight, or
  behind it) keeps covering the image segment without blocking the line of sight.

:mod:`vpt.scene.conflict` builds look-alike pairs on exactly these two failures.

Approximations (measured in ``tests/test_imageplane.py``): the pixel cues use mask
centroids (the viewer's silhouette centroid for the body, the ball's for its centre) where
this module projects the body centre and the ball centre; the coverage ignores which of an
occluder and the ball or viewer is in front where they overlap in the image (at most 10 % of
either may be hidden on a valid item); cylinder and sphere silhouettes are polygons with
:data:`RIM_POINTS` vertices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from vpt.scene.spec import OccluderSpec, SceneSpec

# Default thresholds of the two rules, for the confusion tables (:func:`rule_predictions`);
# the AUCs of :mod:`vpt.scene.conflict` need no threshold. The facing threshold is half the
# default viewer's horizontal field of view (70 deg); the cover threshold counts a segment as
# blocked when occluder pixels cover at least a quarter of its free part.
FACING_THRESHOLD_DEG = 35.0
COVER_THRESHOLD = 0.25
RIM_POINTS = 48

# the viewer stand-in of the analytic mask (vpt.scene.raster.viewer_rows): lens block radius
# and stand pole radius, per unit of viewer scale
_LENS_R = 0.068
_POLE_R = 0.012


# ---------------------------------------------------------------------------------------------
# projection helpers


def _project(spec: SceneSpec, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return spec.observer.project(np.asarray(pts, float))


def facing_geometry(specs: Sequence[SceneSpec]) -> dict[str, np.ndarray]:
    """Projected body centre, eye (lens front) and ball centre of each scene (N, 2) pixels,
    the 2D facing vector (eye minus body), the vector from the eye to the ball, and the
    unsigned and signed 2D angle between them in degrees (signed: positive when the ball lies
    clockwise of the facing in the image, i.e. turning from the facing towards +u when the
    facing points up). Vectorised over scenes."""
    n = len(specs)
    if n == 0:
        z = np.zeros((0, 2))
        return {"body_px": z, "eye_px": z, "ball_px": z, "facing": z, "to_ball": z,
                "angle_deg": np.zeros(0), "signed_deg": np.zeros(0)}
    pts = np.stack([[s.viewer.position, s.viewer.eye, s.ball.position] for s in specs]).astype(float)  # (N, 3, 3)
    w2c = np.stack([s.observer._world_to_cv for s in specs])
    cam = np.einsum("sij,skj->ski", w2c[:, :3, :3], pts) + w2c[:, None, :3, 3]
    foc = np.array([s.observer.focal_px for s in specs])
    cxy = np.array([[s.observer.width / 2.0, s.observer.height / 2.0] for s in specs])
    uv = foc[:, None, None] * cam[..., :2] / cam[..., 2:3] + cxy[:, None, :]
    body, eye, ball = uv[:, 0], uv[:, 1], uv[:, 2]
    facing, to_ball = eye - body, ball - eye
    cross = facing[:, 0] * to_ball[:, 1] - facing[:, 1] * to_ball[:, 0]
    dot = np.einsum("nk,nk->n", facing, to_ball)
    signed = np.degrees(np.arctan2(cross, dot))
    return {"body_px": body, "eye_px": eye, "ball_px": ball, "facing": facing, "to_ball": to_ball,
            "angle_deg": np.abs(signed), "signed_deg": signed}


def facing_angle_2d(specs: Sequence[SceneSpec]) -> np.ndarray:
    """The 2D facing rule's graded value (N,): degrees between the viewer's projected facing
    and the image direction from its lens to the ball (see the module docstring)."""
    return facing_geometry(specs)["angle_deg"]


# ---------------------------------------------------------------------------------------------
# silhouettes


def _hull(points: np.ndarray) -> np.ndarray:
    """Convex hull (K, 2) of 2D points, counter-clockwise in (u, v) (monotone chain)."""
    p = np.unique(np.round(np.asarray(points, float), 9), axis=0)
    if len(p) < 3:
        return p

    def half(pts):  # plain floats: the cross product per point is the hot loop of the pair solver
        out: list[tuple[float, float]] = []
        for qx, qy in pts:
            while len(out) >= 2 and ((out[-1][0] - out[-2][0]) * (qy - out[-2][1])
                                     - (out[-1][1] - out[-2][1]) * (qx - out[-2][0])) <= 0:
                out.pop()
            out.append((qx, qy))
        return out

    pts = p.tolist()
    lower, upper = half(pts), half(pts[::-1])
    return np.array(lower[:-1] + upper[:-1], float)


def _box_corners(center, half, yaw_rad) -> np.ndarray:
    c, s = math.cos(yaw_rad), math.sin(yaw_rad)
    sx = np.array([-1, 1])
    corners = np.array([[x, y, z] for x in sx for y in sx for z in sx], float) * np.asarray(half, float)
    rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    return corners @ rot.T + np.asarray(center, float)


def _cylinder_points(center, radius, half_h, n: int = RIM_POINTS) -> np.ndarray:
    # the circumscribed polygon, so the hull contains the true silhouette's every point
    phi = np.linspace(0, 2 * math.pi, n, endpoint=False)
    r = radius / math.cos(math.pi / n)
    ring = np.stack([r * np.cos(phi), r * np.sin(phi), np.zeros(n)], 1)
    c = np.asarray(center, float)
    return np.concatenate([c + ring + [0, 0, -half_h], c + ring + [0, 0, half_h]])


def _sphere_points(eye, center, radius, n: int = RIM_POINTS) -> np.ndarray:
    from vpt.scene.geometry import sphere_rims

    r = radius / math.cos(math.pi / n)
    return sphere_rims(np.asarray(eye, float)[None], np.asarray(center, float)[None], np.array([r]), n)[0]


def occluder_silhouettes(spec: SceneSpec) -> list[np.ndarray]:
    """The projected silhouette of each occluder (in ``spec.occluders`` order) as a convex
    polygon (K, 2) in pixels."""
    out = []
    obs = spec.observer.position
    for o in spec.occluders:
        sx, sy, sz = o.size
        if o.primitive == "box":
            pts = _box_corners(o.position, (sx / 2, sy / 2, sz / 2), math.radians(o.yaw_deg))
        elif o.primitive == "cylinder":
            pts = _cylinder_points(o.position, sx / 2, sz / 2)
        else:
            pts = _sphere_points(obs, o.position, sx / 2)
        out.append(_hull(_project(spec, pts)[0]))
    return out


def viewer_silhouettes(spec: SceneSpec) -> list[np.ndarray]:
    """Convex polygons whose union is the viewer stand-in's silhouette (body box, lens block,
    stand pole: the solids of :func:`vpt.scene.raster.viewer_rows`)."""
    v = spec.viewer
    g, s = v.geometry, v.scale
    yaw = math.radians(v.yaw_deg)
    f = np.array([math.cos(yaw), math.sin(yaw), 0.0])
    pos = np.asarray(v.position, float)
    d, w, h, eye = g["depth"], g["width"], g["height"], g["eye"]
    lens_len = max(eye - d / 2.0, 1e-3)
    polys = [_box_corners(pos, (d / 2, w / 2, h / 2), yaw),
             _box_corners(pos + f * (d / 2 + lens_len / 2), (lens_len / 2, _LENS_R * s, _LENS_R * s), yaw)]
    bottom = pos[2] - h / 2
    if v.model != "figure" and v.stand and bottom > 0.02:
        polys.append(_cylinder_points((pos[0], pos[1], bottom / 2), _POLE_R * s, bottom / 2, 12))
    return [_hull(_project(spec, p)[0]) for p in polys]


def ball_silhouette(spec: SceneSpec) -> np.ndarray:
    """The ball's projected silhouette as a convex polygon (K, 2)."""
    return _hull(_project(spec, _sphere_points(spec.observer.position, spec.ball.position, spec.ball.radius))[0])


def clip_segment(p0: np.ndarray, p1: np.ndarray, poly: np.ndarray) -> tuple[float, float] | None:
    """The parameter interval [t0, t1] of the segment p0 + t (p1 - p0), t in [0, 1], that lies
    inside a convex polygon (counter-clockwise in (u, v)), or None (Cyrus-Beck)."""
    if len(poly) < 3:
        return None
    d = np.asarray(p1, float) - np.asarray(p0, float)
    a, b = poly, np.roll(poly, -1, axis=0)
    e = b - a
    # inside means cross(e, p - a) >= 0 for a counter-clockwise polygon
    num = e[:, 0] * (p0[1] - a[:, 1]) - e[:, 1] * (p0[0] - a[:, 0])  # value at t = 0
    den = e[:, 0] * d[1] - e[:, 1] * d[0]  # its change per unit t
    t0, t1 = 0.0, 1.0
    for nm, dn in zip(num, den):
        if abs(dn) < 1e-12:
            if nm < 0:
                return None
            continue
        t = -nm / dn
        if dn > 0:
            t0 = max(t0, t)
        else:
            t1 = min(t1, t)
        if t0 > t1:
            return None
    return (t0, t1)


def _union_length(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[list[float]] = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def _measure(intervals) -> float:
    return float(sum(b - a for a, b in intervals))


def _intersect(xs, ys) -> list[tuple[float, float]]:
    out = []
    for a, b in xs:
        for c, d in ys:
            lo, hi = max(a, c), min(b, d)
            if hi > lo:
                out.append((lo, hi))
    return out


def _complement(intervals) -> list[tuple[float, float]]:
    out, t = [], 0.0
    for a, b in intervals:
        if a > t:
            out.append((t, a))
        t = max(t, b)
    if t < 1.0:
        out.append((t, 1.0))
    return out


@dataclass(frozen=True)
class Coverage:
    """The 2D cover rule's graded value of one scene and what it is made of."""

    coverage: float  # covered share of the free part of the segment (0 when nothing is free)
    free_px: float  # length of the free part, pixels
    segment_px: float  # length of the whole segment (lens to ball centre), pixels
    occluders: tuple[int, ...]  # ids of the occluders whose silhouettes meet the free part


class SegmentFrame:
    """The image segment of a scene with its free part (outside the ball's and the viewer's
    silhouettes) worked out once, so the coverage of changed occluders is cheap
    (:meth:`cover`); the viewer, the ball and the observer must stay as they are."""

    def __init__(self, spec: SceneSpec, start: str = "lens") -> None:
        g = facing_geometry([spec])
        self.spec = spec
        self.p0 = g["eye_px" if start == "lens" else "body_px"][0]
        self.p1 = g["ball_px"][0]
        self.length = float(np.hypot(*(self.p1 - self.p0)))
        own = [iv for poly in viewer_silhouettes(spec) + [ball_silhouette(spec)]
               if (iv := clip_segment(self.p0, self.p1, poly))]
        self.free = _complement(_union_length(own))

    def cover(self, occluders: Sequence[OccluderSpec]) -> Coverage:
        one = replace(self.spec, occluders=tuple(occluders))
        occ_iv, ids = [], []
        for o, poly in zip(one.occluders, occluder_silhouettes(one)):
            iv = clip_segment(self.p0, self.p1, poly)
            if iv and _measure(_intersect([iv], self.free)) > 0:
                occ_iv.append(iv)
                ids.append(o.id)
        free_len = _measure(self.free)
        covered = _measure(_intersect(_union_length(occ_iv), self.free))
        return Coverage(coverage=covered / free_len if free_len > 0 else 0.0, free_px=free_len * self.length,
                        segment_px=self.length, occluders=tuple(sorted(ids)))


def segment_cover(spec: SceneSpec, start: str = "lens") -> Coverage:
    """How much of the image segment from the viewer's projected lens (``start="lens"``) or
    body centre (``"body"``) to the projected ball centre the occluders' silhouettes cover,
    as a share of the part outside the ball's and the viewer's silhouettes."""
    return SegmentFrame(spec, start).cover(spec.occluders)


def segment_coverage_2d(specs: Sequence[SceneSpec], start: str = "lens") -> np.ndarray:
    """The 2D cover rule's graded value (N,) of each scene (see :func:`segment_cover`)."""
    return np.array([segment_cover(s, start).coverage for s in specs], float)


# ---------------------------------------------------------------------------------------------
# the rules and where they disagree with the 3D label


def facing_rule(angle_deg: np.ndarray, threshold_deg: float = FACING_THRESHOLD_DEG) -> np.ndarray:
    """The 2D facing rule: 1 ("sees") where the 2D angle is below the threshold."""
    return (np.asarray(angle_deg, float) < threshold_deg).astype(int)


def cover_rule(coverage: np.ndarray, threshold: float = COVER_THRESHOLD) -> np.ndarray:
    """The 2D cover rule: 1 ("blocked") where the coverage reaches the threshold."""
    return (np.asarray(coverage, float) >= threshold).astype(int)


def image_plane_answer(angle_deg: np.ndarray, coverage: np.ndarray, facing_threshold_deg: float = FACING_THRESHOLD_DEG,
                       cover_threshold: float = COVER_THRESHOLD) -> np.ndarray:
    """The image-plane strategy's VPT answer: sees by the facing rule and not blocked by the
    cover rule."""
    return facing_rule(angle_deg, facing_threshold_deg) * (1 - cover_rule(coverage, cover_threshold))


def rule_agreement(vpt_label: Sequence[int], hidden_reason: Sequence[str | None], angle_deg: np.ndarray,
                   coverage: np.ndarray, facing_threshold_deg: float = FACING_THRESHOLD_DEG,
                   cover_threshold: float = COVER_THRESHOLD) -> dict[str, dict[str, float]]:
    """Where each rule agrees with the 3D label, per group of items:

    * ``facing`` on visible and out-of-view items (is the ball in the field of view?),
    * ``cover`` on visible and occluded items (is the line of sight blocked?),
    * ``combined`` (:func:`image_plane_answer`) on all of them;

    each with ``n``, ``accuracy`` and the ``errors`` counted per true answer."""
    y = np.asarray(vpt_label, int)
    why = np.array([r or "" for r in hidden_reason])
    ang, cov = np.asarray(angle_deg, float), np.asarray(coverage, float)
    sees = facing_rule(ang, facing_threshold_deg)
    blocked = cover_rule(cov, cover_threshold)
    out: dict[str, dict[str, float]] = {}
    sel = (y == 1) | (why == "out_of_view")
    out["facing"] = _agree(y[sel], sees[sel])
    sel = (y == 1) | (why == "occluded")
    out["cover"] = _agree(y[sel], 1 - blocked[sel])
    out["combined"] = _agree(y, image_plane_answer(ang, cov, facing_threshold_deg, cover_threshold))
    return out


def _agree(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    n = len(y)
    return {"n": n, "accuracy": float(np.mean(y == pred)) if n else math.nan,
            "wrong_on_label_1": int(np.sum((y == 1) & (pred == 0))),
            "wrong_on_label_0": int(np.sum((y == 0) & (pred == 1)))}
