"""The pair solver's parts (:mod:`vpt.scene.conflict`): the pair record, the analytic frustum
margins of balls seen by the viewer, points on an image ray of the observer, raised balls on
stands, the sampler's spacing rules for a moved occluder, the checks of a solved half's labels,
and the two balance measures of a set (ROC AUC and the standardised mean difference)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import numpy as np

from vpt.scene.labels import SceneLabels
from vpt.scene.sampling import occluder_fits
from vpt.scene.spec import BallSpec, OccluderSpec, SceneSpec

KINDS = ("facing", "cover", "depth")
ANGLE_TOL_DEG = 2.0  # the halves of a VPT pair differ by at most this much in 2D facing angle
COVER_TOL = 0.03  # ... and by at most this much in 2D coverage
CLEAR_BUFFER_DEG = 1.0  # extra clearance beyond the label margins when choosing placements
STAND = "stand"  # the catalogue shape under a raised ball (assets/occluders.yaml)
STAND_RADIUS = 0.12  # a stand's radius, as a share of its ball's radius (so its image width scales alike)
STAND_MIN_M, STAND_MAX_M = 0.12, 1.4  # how tall a stand may be


@dataclass(frozen=True)
class ConflictPair:
    """Two look-alike scenes: ``a`` has VPT label 1 and ``b`` label 0 in every kind
    (``hidden_reason`` ``out_of_view`` for facing and depth pairs, ``occluded`` for cover
    pairs); in ``depth`` pairs the depth label flips as well (``a``'s is 1 where
    ``detail["visible_nearer"]``, else 0)."""

    kind: str  # "facing" | "cover" | "depth"
    index: int  # the base scene's candidate index
    a: SceneSpec
    b: SceneSpec
    labels_a: SceneLabels
    labels_b: SceneLabels
    angle_a: float  # 2D facing angle (deg), imageplane.facing_angle_2d
    angle_b: float
    cover_a: float  # 2D coverage of the lens-ball segment, imageplane.segment_cover
    cover_b: float
    detail: dict[str, Any] = field(default_factory=dict)


def is_stand(o: OccluderSpec) -> bool:
    return o.shape == STAND


def raised_ball(center: Sequence[float], radius: float, oid: int) -> tuple[BallSpec, OccluderSpec]:
    """A ball at ``center`` and the stand under it: a cylinder from the floor to the ball's
    bottom, on the ball's vertical axis (an ordinary occluder row; material set by dressing)."""
    x, y, z = (float(c) for c in center)
    h = z - radius
    if h <= 0:
        raise ValueError(f"a raised ball needs its bottom above the floor (centre z {z:.3f}, radius {radius:.3f})")
    d = 2 * STAND_RADIUS * radius
    stand = OccluderSpec(id=oid, shape=STAND, primitive="cylinder", position=(x, y, h / 2), size=(d, d, h), yaw_deg=0.0,
                         material="")
    return BallSpec(position=(x, y, z), radius=float(radius)), stand


def points_on_image_ray(spec: SceneSpec, q_px: np.ndarray, zc: np.ndarray) -> np.ndarray:
    """World points (..., 3) whose image is ``q_px`` (..., 2) at OpenCV z depth ``zc`` (...)."""
    obs = spec.observer
    x = (q_px[..., 0] - obs.width / 2.0) / obs.focal_px
    y = (q_px[..., 1] - obs.height / 2.0) / obs.focal_px
    fwd, right, up = obs.basis()
    d = fwd + x[..., None] * right - y[..., None] * up
    return np.asarray(obs.position, float) + zc[..., None] * d


def frustum_margins(eye: np.ndarray, centre: np.ndarray, radius: float, forward: np.ndarray, hfov: float, vfov: float,
                     dilate: float, margin_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """(clear-in margin, clear-out margin) in sin units for balls at ``centre`` (..., 3) seen
    from ``eye`` (..., 3) along ``forward`` (..., 3): positive clear-in means the dilated
    ball's cone lies inside the frustum shrunk by the margin, positive clear-out that it lies
    entirely outside one side plane of the frustum grown by the margin (the conservative
    tests of :func:`vpt.scene.geometry.cone_visibility`)."""
    axis = centre - eye
    dist = np.linalg.norm(axis, axis=-1)
    axis = axis / dist[..., None]
    sin_a = np.minimum(1.0, radius * dilate / dist)
    fwd = forward / np.linalg.norm(forward, axis=-1, keepdims=True)
    right = np.stack([fwd[..., 1], -fwd[..., 0], np.zeros_like(fwd[..., 0])], -1)
    right = right / np.linalg.norm(right, axis=-1, keepdims=True)
    up = np.cross(right, fwd)
    a, b, c = (np.einsum("...k,...k->...", axis, v) for v in (fwd, right, up))

    def planes(h, v):
        sh, ch, sv, cv = math.sin(h), math.cos(h), math.sin(v), math.cos(v)
        return np.stack([sh * a - ch * b, sh * a + ch * b, sv * a - cv * c, sv * a + cv * c], -1)

    m = math.radians(margin_deg)
    hh, hv = math.radians(hfov) / 2, math.radians(vfov) / 2
    inner = planes(hh - m, hv - m)
    outer = planes(hh + m, hv + m)
    clear_in = np.where(a > 0, inner.min(-1) - sin_a, -1.0)
    clear_out = -outer.min(-1) - sin_a
    return clear_in, clear_out


def floor_points_on_image_ray(spec: SceneSpec, start_px: np.ndarray, dir_px: np.ndarray, lam: np.ndarray,
                               z: float) -> tuple[np.ndarray, np.ndarray]:
    """World points at height ``z`` whose image is ``start_px + lam * dir_px``; (..., 3) and a
    validity mask (the ray reaches the plane in front of the camera)."""
    obs = spec.observer
    q = start_px[..., None, :] + lam[..., :, None] * dir_px[..., None, :]
    x = (q[..., 0] - obs.width / 2.0) / obs.focal_px
    y = (q[..., 1] - obs.height / 2.0) / obs.focal_px
    fwd, right, up = obs.basis()
    d = fwd + x[..., None] * right - y[..., None] * up
    o = np.asarray(obs.position, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        mu = (z - o[2]) / d[..., 2]
    ok = (d[..., 2] < 0) & (mu > 0)
    return o + np.where(ok, mu, 0.0)[..., None] * d, ok


def clear_of(occ: OccluderSpec, spec: SceneSpec) -> bool:
    """The sampler's spacing rules for a moved occluder: clear of the ball, the viewer and the
    scene's other occluders (a stand counts through its ball: it stands inside the ball's
    clearance)."""
    return occluder_fits(occ, spec.viewer, spec.ball, [o for o in spec.occluders if o.id != occ.id and not is_stand(o)])


def auc(scores: np.ndarray, y: np.ndarray) -> float:
    """ROC AUC of ``scores`` for ``y == 1`` (Mann-Whitney, ties count half; values are
    rounded to 6 decimals first, so values equal up to float noise tie)."""
    s, y = np.round(np.asarray(scores, float), 6), np.asarray(y, int)
    pos, neg = s[y == 1], s[y == 0]
    if not len(pos) or not len(neg):
        return math.nan
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(pos) * len(neg)))


def smd(scores: np.ndarray, y: np.ndarray) -> float:
    """Standardised mean difference (label 1 minus label 0, over the pooled SD)."""
    s, y = np.asarray(scores, float), np.asarray(y, int)
    a, b = s[y == 1], s[y == 0]
    sd = math.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2) if len(a) > 1 and len(b) > 1 else math.nan
    return float((a.mean() - b.mean()) / sd) if sd and sd > 0 else 0.0


def usable(lab: SceneLabels, vpt: int, reason: str | None) -> bool:
    return lab.observer_ok and lab.vpt_label == vpt and lab.hidden_reason == reason and lab.depth_label is not None


def why_not(lab: SceneLabels) -> str:
    if lab.observer_problems:
        return "; ".join(lab.observer_problems)
    if lab.depth_label is None:
        return "no depth label"
    return f"labelled {lab.vpt_label} ({lab.hidden_reason})"


def renumber(occ: Sequence[OccluderSpec]) -> tuple[OccluderSpec, ...]:
    return tuple(replace(o, id=i) for i, o in enumerate(occ))
