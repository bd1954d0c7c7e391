"""Look-alike pairs: two scenes with the same image-plane evidence and opposite VPT labels.

The image-plane strategy (:mod:`vpt.scene.imageplane`) reads two graded values off the
picture: the 2D facing angle and the 2D coverage of the lens-ball segment. A pair built here
keeps both (the angle within :data:`ANGLE_TOL_DEG`, the coverage within :data:`COVER_TOL`)
while the 3D answer flips, so across a set of pairs neither value carries information about
the label. Two kinds, each solved from a base scene of a recipe rather than waited for:

* **facing pairs** (:func:`solve_facing_pair`): the observer, the viewer's position, model,
  pitch and field of view, and the ball's size stay; the viewer's yaw (its turn toward or
  away from the observer) and the ball's position change. For a yaw, the floor points whose
  image lies on the ray from the projected lens at the base's signed 2D angle from the
  projected facing form a line (the floor cut by the plane through the observer and that
  image ray), so a ball anywhere on it has exactly the base's 2D angle; along it the ball
  moves in depth, along the observer's view rays, and its 3D angle from the viewer's facing
  changes. On a grid of yaws (inside the recipe's turn range) and image distances, the
  analytic frustum test of :mod:`vpt.scene.geometry` (the dilated ball's cone against the
  frustum shrunk or grown by the label margin) finds the placements that are clearly in view
  and those clearly out of view; one of each is drawn. Half ``a`` is visible, half ``b`` out
  of view.
* **cover pairs** (:func:`solve_cover_pair`): viewer and ball stay (the 2D angle is the same
  by construction), the ball clearly in view. Half ``b`` puts an occluder of a recipe shape on
  the 3D line of sight, across it, tall enough to block it (``occluded``); half ``a`` moves the
  same occluder along the floor toward the observer (in front of the line of sight) or away
  from it (behind) and solves its height by bisection so that its silhouette covers the same
  share of the image segment (coverage is monotone in height), off the line of sight
  (visible). Both halves have the segment covered.

Every output is labelled by :func:`vpt.scene.labels.label_scenes` with the recipe's margins
and kept only when both halves carry the intended labels, a depth label, and pass the image
checks (ball and viewer at least ``min_observer_visible`` visible, sizes above the minimums):
no near misses, no partial balls. Deterministic for a seed: each base scene and each solve
draws from :func:`vpt.rng.stream` of ``(seed, index, purpose)``.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import numpy as np

from vpt.rng import stream
from vpt.scene.conflict_parts import (auc, clear_of, floor_points_on_image_ray, frustum_margins, renumber, smd,
                                      usable, why_not)
from vpt.scene.imageplane import SegmentFrame, facing_geometry, segment_cover
from vpt.scene.labels import LabelConfig, SceneLabels, label_scenes
from vpt.scene.sampling import Rejected, Target, footprint_gap, make_occluder, sample_candidate
from vpt.scene.settings import SamplingSettings
from vpt.scene.spec import BallSpec, OccluderSpec, SceneSpec, camera_basis, direction_from_angles

ANGLE_TOL_DEG = 2.0  # the halves of a pair differ by at most this much in 2D facing angle
COVER_TOL = 0.03  # ... and by at most this much in 2D coverage
CLEAR_BUFFER_DEG = 1.0  # extra clearance beyond the label margins when choosing placements
YAW_STEP_DEG = 3.0
N_LAMBDA = 160  # image distances tried along the iso-angle ray, per yaw
SPLIT = "conflict"


@dataclass(frozen=True)
class ConflictPair:
    """Two look-alike scenes: ``a`` with VPT label 1, ``b`` with label 0 (``hidden_reason``
    ``out_of_view`` for facing pairs, ``occluded`` for cover pairs)."""

    kind: str  # "facing" | "cover"
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


# ---------------------------------------------------------------------------------------------
# base scenes


def base_scene(cfg: SamplingSettings, recipe: str, index: int, shapes: Sequence[str], catalogue: dict[str, Any],
               vpt: int = 1) -> SceneSpec:
    """Candidate ``index`` of the recipe's sampler in the ``conflict`` split's streams, aimed
    at a random cell with VPT label ``vpt`` (raises :class:`~vpt.scene.sampling.Rejected`)."""
    rng = stream(cfg.seed, index, f"{recipe}/{SPLIT}/target")
    side, facing = ("left", "right")[int(rng.integers(2))], ("left", "right")[int(rng.integers(2))]
    depth = int(rng.integers(2))
    target = Target(vpt=vpt, reason=None if vpt else "out_of_view", overlap=False, side=side, facing=facing, depth=depth)
    return sample_candidate(recipe, cfg, SPLIT, index, target, list(shapes), catalogue)


# ---------------------------------------------------------------------------------------------
# small geometry


# ---------------------------------------------------------------------------------------------
# facing pairs


def facing_candidates(base: SceneSpec, cfg: SamplingSettings, labels: LabelConfig, angle_deg: float | None = None
                      ) -> dict[str, np.ndarray]:
    """Every (yaw, ball position) on the grid that keeps the base's signed 2D facing angle
    (or ``angle_deg``), with whether it is clearly in view and clearly out of view (label
    margins plus :data:`CLEAR_BUFFER_DEG`) and passes the cheap checks: the ball on the
    floor at a distance from the eye in the recipe's range, inside the image and at least the
    minimum size, a depth gap above the minimum. Arrays over candidates: ``yaw``, ``ball``
    (K, 3), ``clear_in``, ``clear_out``, ``ok``, ``lam`` (pixels from the lens)."""
    v, obs, r = base.viewer, base.observer, base.ball.radius
    theta = float(facing_geometry([base])["signed_deg"][0]) if angle_deg is None else float(angle_deg)
    centre = 0.0 if math.cos(math.radians(v.yaw_deg)) > 0 else 180.0
    lo, hi = cfg.viewer.facing_offset_deg
    offsets = np.arange(-hi, hi + 1e-9, YAW_STEP_DEG)
    offsets = offsets[np.abs(offsets) >= lo]
    yaws = centre + offsets
    fwd = np.stack([direction_from_angles(float(y), v.pitch_deg) for y in yaws])  # (Y, 3)
    pos = np.asarray(v.position, float)
    eyes = pos + fwd * v.geometry["eye"]
    uv, _ = obs.project(np.concatenate([pos[None], eyes]))
    body_px, eye_px = uv[0], uv[1:]
    facing = eye_px - body_px
    facing /= np.linalg.norm(facing, axis=1, keepdims=True)
    c, s = math.cos(math.radians(theta)), math.sin(math.radians(theta))
    dir_px = np.stack([c * facing[:, 0] - s * facing[:, 1], s * facing[:, 0] + c * facing[:, 1]], 1)
    lam = np.broadcast_to(np.linspace(4.0, float(max(obs.width, obs.height)), N_LAMBDA), (len(yaws), N_LAMBDA))
    ball, ok = floor_points_on_image_ray(base, eye_px, dir_px, lam, r)  # (Y, L, 3)
    eye_b = np.broadcast_to(eyes[:, None, :], ball.shape)
    fwd_b = np.broadcast_to(fwd[:, None, :], ball.shape)
    dist = np.linalg.norm(ball - eye_b, axis=-1)
    d_lo, d_hi = cfg.ball.distance
    ok &= (dist >= d_lo) & (dist <= d_hi)
    q = eye_px[:, None, :] + lam[..., None] * dir_px[:, None, :]
    _, zc = obs.project(ball)
    r_px = obs.focal_px * r / np.maximum(zc, 1e-6)
    ok &= (zc > 0) & (r_px >= labels.min_ball_px * 1.05)
    ok &= (q[..., 0] > 2 * r_px) & (q[..., 0] < obs.width - 2 * r_px)
    ok &= (q[..., 1] > 2 * r_px) & (q[..., 1] < obs.height - 2 * r_px)
    o = np.asarray(obs.position, float)
    d_ball = np.linalg.norm(ball - o, axis=-1)
    d_view = float(np.linalg.norm(pos - o))
    ok &= np.abs(d_ball - d_view) / np.maximum(d_ball, d_view) >= labels.min_depth_gap * 1.2
    z_view = float(obs.project(pos)[1])  # the depth label needs the gap in z depth as well, same order
    ok &= np.abs(zc - z_view) / np.maximum(np.abs(zc), abs(z_view)) >= labels.min_depth_gap * 1.2
    ok &= (d_ball < d_view) == (zc < z_view)
    # the ball keeps clear of the viewer's body in the image (it must stay visible)
    ok &= np.linalg.norm(q - body_px, axis=-1) > r_px + 2.5 * obs.focal_px * v.proxy_radius / max(d_view, 1e-6) * 0.6
    cin, cout = frustum_margins(eye_b, ball, r, fwd_b, v.hfov_deg, v.vfov_deg, 1.0 + labels.ball_margin,
                                 labels.fov_margin_deg + CLEAR_BUFFER_DEG)
    to_obs = o[:2] - pos[:2]
    to_obs /= max(float(np.linalg.norm(to_obs)), 1e-9)
    yr = np.radians(yaws)
    turn = np.degrees(np.arcsin(np.clip(np.cos(yr) * to_obs[0] + np.sin(yr) * to_obs[1], -1.0, 1.0)))
    return {"yaw": np.broadcast_to(yaws[:, None], lam.shape).ravel(), "ball": ball.reshape(-1, 3),
            "turn": np.broadcast_to(turn[:, None], lam.shape).ravel(), "r_px": r_px.ravel(),
            "clear_in": (cin > 0).ravel() & ok.ravel(), "clear_out": (cout > 0).ravel() & ok.ravel(),
            "lam": lam.ravel(), "theta": np.full(lam.size, theta)}


def _strip_for_facing(spec: SceneSpec) -> SceneSpec:
    """Drop the occluders that crowd the ball or cover the lens-ball segment."""
    keep = [o for o in spec.occluders if clear_of(o, spec)]
    spec = replace(spec, occluders=tuple(keep))
    seen = set(segment_cover(spec).occluders)
    return replace(spec, occluders=tuple(o for o in spec.occluders if o.id not in seen))


ANGLE_GRID_DEG = np.arange(-90.0, 90.1, 3.0)
MIN_PLACEMENTS = 4


TURN_TOL_DEG = 6.0  # the viewer's |turn| from side-on differs by at most this within a facing pair


def turn_matched(cand: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The clearly-in and clearly-out placements (indices) that have a partner of the other
    kind with the viewer turned as far from side-on (|turn| within :data:`TURN_TOL_DEG`;
    one may be turned toward the observer and the other away), so that the viewer's
    silhouette does not tell the halves of a pair apart."""
    ins, outs = np.flatnonzero(cand["clear_in"]), np.flatnonzero(cand["clear_out"])
    if not len(ins) or not len(outs):
        return ins[:0], outs[:0]
    ti, to = np.abs(cand["turn"][ins]), np.abs(cand["turn"][outs])
    ui, uo = np.unique(np.round(ti, 6)), np.unique(np.round(to, 6))
    ok_i = np.min(np.abs(ti[:, None] - uo[None, :]), axis=1) <= TURN_TOL_DEG
    ok_o = np.min(np.abs(to[:, None] - ui[None, :]), axis=1) <= TURN_TOL_DEG
    return ins[ok_i], outs[ok_o]


def feasible_angles(base: SceneSpec, cfg: SamplingSettings, labels: LabelConfig,
                    grid: np.ndarray = ANGLE_GRID_DEG) -> np.ndarray:
    """The signed 2D facing angles of ``grid`` at which the base's observer and viewer
    position admit both a clearly-in and a clearly-out placement with the viewer turned
    alike (:func:`turn_matched`, at least :data:`MIN_PLACEMENTS` grid points each): where
    the two labels overlap in the image."""
    ok = []
    for th in grid:
        ins, outs = turn_matched(facing_candidates(base, cfg, labels, float(th)))
        ok.append(len(ins) >= MIN_PLACEMENTS and len(outs) >= MIN_PLACEMENTS)
    return np.asarray(grid, float)[np.asarray(ok, bool)]


def _matched_placements(cand: dict[str, np.ndarray], ins: np.ndarray, outs: np.ndarray, rng: np.random.Generator
                        ) -> tuple[int, int]:
    """One clearly-in and one clearly-out placement that also look alike in how far the
    viewer is turned from side-on (its silhouette: |turn| within :data:`TURN_TOL_DEG`), in
    the ball's image distance from the lens and its image size: a random placement of one
    kind (in view or out of view, at random, so that neither kind is always the nearest to
    the other) and, of the other kind's placements turned alike, one of the three nearest to
    it in (log image distance / 0.15, log size / 0.1)."""
    flip = rng.random() < 0.5
    first, other = (outs, ins) if flip else (ins, outs)
    i0 = int(first[rng.integers(len(first))])
    alike = other[np.abs(np.abs(cand["turn"][other]) - abs(cand["turn"][i0])) <= TURN_TOL_DEG]
    if len(alike):
        other = alike

    def feat(k):
        return np.stack([np.log(cand["lam"][k]) / 0.15, np.log(cand["r_px"][k]) / 0.1], -1)

    d = np.sum((feat(other) - feat(np.array([i0])))**2, axis=1)
    near = other[np.argsort(d, kind="stable")[:3]]
    i1 = int(near[rng.integers(len(near))])
    return (i1, i0) if flip else (i0, i1)


def solve_facing_pair(base: SceneSpec, cfg: SamplingSettings, labels: LabelConfig, rng: np.random.Generator,
                      tries: int = 6, why: Counter | None = None) -> ConflictPair | None:
    """A facing pair from ``base`` (see the module docstring), or None when no 2D angle
    admits both a clearly-in and a clearly-out placement or none survives the labels. The
    target angle is drawn uniformly from :func:`feasible_angles` (plus a jitter within the
    grid step): the base's own angle is rarely one where the labels overlap."""
    why = why if why is not None else Counter()
    angles = feasible_angles(base, cfg, labels)
    if not len(angles):
        why["facing: no 2D angle with both labels reachable"] += 1
        return None
    step = float(ANGLE_GRID_DEG[1] - ANGLE_GRID_DEG[0])
    theta = float(angles[rng.integers(len(angles))] + rng.uniform(-step / 2, step / 2))
    cand = facing_candidates(base, cfg, labels, theta)
    ins, outs = turn_matched(cand)
    if not len(ins) or not len(outs):
        why["facing: no placement at the drawn angle"] += 1
        return None
    specs: list[SceneSpec] = []
    for _ in range(tries):
        ia, ib = _matched_placements(cand, ins, outs, rng)
        for k, tag in ((ia, "a"), (ib, "b")):
            v = replace(base.viewer, yaw_deg=float(cand["yaw"][k]))
            ball = BallSpec(position=tuple(float(x) for x in cand["ball"][k]), radius=base.ball.radius)
            specs.append(replace(base, viewer=v, ball=ball, scene_id=f"{base.scene_id}-facing-{tag}"))
    # the occluders both halves keep: clear of both balls and off both segments
    stripped = [_strip_for_facing(s) for s in specs]
    specs = []
    for i in range(0, len(stripped), 2):
        ids = {o.id for o in stripped[i].occluders} & {o.id for o in stripped[i + 1].occluders}
        for s in stripped[i:i + 2]:
            specs.append(replace(s, occluders=renumber([o for o in base.occluders if o.id in ids])))
    labs = label_scenes(specs, labels)
    for i in range(0, len(specs), 2):
        (sa, sb), (la, lb) = specs[i:i + 2], labs[i:i + 2]
        if not usable(la, 1, None):
            why[f"facing a: {why_not(la)}"] += 1
        if not usable(lb, 0, "out_of_view"):
            why[f"facing b: {why_not(lb)}"] += 1
        if usable(la, 1, None) and usable(lb, 0, "out_of_view"):
            g = facing_geometry([sa, sb])["angle_deg"]
            ca, cb = segment_cover(sa).coverage, segment_cover(sb).coverage
            if abs(g[0] - g[1]) > ANGLE_TOL_DEG or abs(ca - cb) > COVER_TOL:
                why["facing: image-plane values apart"] += 1
            else:
                return ConflictPair("facing", base.index, sa, sb, la, lb, float(g[0]), float(g[1]), ca, cb,
                                    {"turn_a": la.viewer_turn_deg, "turn_b": lb.viewer_turn_deg})
    return None


# ---------------------------------------------------------------------------------------------
# cover pairs


def _blocking_occluder(spec: SceneSpec, shape: str, catalogue: dict[str, Any], rng: np.random.Generator,
                       oid: int) -> OccluderSpec | None:
    """An occluder of ``shape`` (size drawn from the catalogue) across the viewer's line of
    sight, at a random fraction ``t`` of the way from the eye to the ball where its footprint
    keeps the sampler's clearance from both, tall and wide enough to block the dilated ball's
    cone there with room to spare, within the catalogue's size ranges; None if it cannot be."""
    v, b = spec.viewer, spec.ball
    eye, bp = v.eye, np.asarray(b.position, float)
    line = bp[:2] - eye[:2]
    ground = float(np.linalg.norm(line))
    yaw = math.degrees(math.atan2(line[1], line[0]))
    occ = make_occluder(oid, shape, catalogue, rng, (0.0, 0.0), yaw)
    half_along = occ.size[0] / 2
    t_lo = (v.proxy_radius + 0.15 + half_along) / ground
    t_hi = 1.0 - (b.radius * 1.4 + 0.13 + half_along) / ground
    t_lo, t_hi = max(t_lo, 0.2), min(t_hi, 0.8)
    if t_lo > t_hi:
        return None
    t = float(rng.uniform(t_lo, t_hi))
    xy = eye[:2] + t * line
    occ = replace(occ, position=(float(xy[0]), float(xy[1]), occ.position[2]))
    c = catalogue[shape]
    dist = float(np.linalg.norm(bp - eye))
    cone_r = 1.6 * b.radius * t * dist / max(dist - 0.0, 1e-6)  # the dilated cone's radius there, with room
    z_line = eye[2] + t * (bp[2] - eye[2])
    need_h = z_line + cone_r + 0.05
    hz = c.get("size_z", c["size_x"])
    if need_h > hz[1]:
        return None
    h = max(float(hz[0]), min(float(hz[1]), need_h + float(rng.uniform(0.0, 0.15))))  # no taller than needed
    across = occ.size[1] if occ.primitive == "box" else occ.size[0]
    if across / 2 < cone_r + 0.03:
        return None
    size = (occ.size[0], occ.size[1], h) if occ.primitive != "sphere" else (h, h, h)
    return replace(occ, position=(occ.position[0], occ.position[1], h / 2), size=size)


def _off_line(occ: OccluderSpec, spec: SceneSpec, n: int = 24) -> bool:
    """Whether an occluder's footprint keeps clear of the floor shadow of the viewer's line
    of sight widened by the dilated ball's cone (so it cannot block at any height)."""
    eye, bp = spec.viewer.eye, np.asarray(spec.ball.position, float)
    r = spec.ball.radius * 1.6
    for t in np.linspace(0.0, 1.0, n):
        p = eye[:2] + t * (bp[:2] - eye[:2])
        if footprint_gap(occ, p) < r * t + 0.05:
            return False
    return True


def _with_height(occ: OccluderSpec, h: float) -> OccluderSpec:
    size = (occ.size[0], occ.size[1], h) if occ.primitive != "sphere" else (h, h, h)
    return replace(occ, position=(occ.position[0], occ.position[1], h / 2), size=size)


def _cover_with(frame: SegmentFrame, occ: OccluderSpec) -> float:
    return frame.cover(frame.spec.occluders + (occ,)).coverage


def _strip_for_cover(spec: SceneSpec) -> SceneSpec:
    seen = set(segment_cover(spec).occluders)
    return replace(spec, occluders=tuple(o for o in spec.occluders if o.id not in seen))


def solve_cover_pair(base: SceneSpec, cfg: SamplingSettings, labels: LabelConfig, shapes: Sequence[str],
                     catalogue: dict[str, Any], rng: np.random.Generator, tries: int = 8,
                     why: Counter | None = None) -> ConflictPair | None:
    """A cover pair from ``base`` (see the module docstring), or None."""
    why = why if why is not None else Counter()
    clean = _strip_for_cover(base)
    lab0 = label_scenes([clean], labels)[0]
    if not usable(lab0, 1, None):
        why[f"cover base: {why_not(lab0)}"] += 1
        return None
    oid = max([o.id for o in clean.occluders], default=-1) + 1
    frame = SegmentFrame(clean)
    o_xy = np.asarray(base.observer.position[:2], float)
    for _ in range(tries):
        shape = shapes[int(rng.integers(len(shapes)))]
        blk = _blocking_occluder(clean, shape, catalogue, rng, oid)
        if blk is None:
            why[f"cover b: {shape} cannot block there"] += 1
            continue
        if not clear_of(blk, replace(clean, occluders=clean.occluders + (blk,))):
            why["cover b: no room on the line of sight"] += 1
            continue
        spec_b = replace(clean, occluders=clean.occluders + (blk,), scene_id=f"{base.scene_id}-cover-b")
        lab_b = label_scenes([spec_b], labels)[0]
        if not usable(lab_b, 0, "occluded"):
            why[f"cover b: {why_not(lab_b)}"] += 1
            continue
        target = segment_cover(spec_b).coverage
        if target <= 0:
            continue
        # move it along the floor toward (front) or away from (behind) the observer
        toward = o_xy - np.asarray(blk.position[:2])
        toward /= np.linalg.norm(toward)
        side = 1.0 if rng.random() < 0.5 else -1.0
        hz = catalogue[shape].get("size_z", catalogue[shape]["size_x"])
        cands = []
        for sgn in (side, -side):
            for delta in np.arange(0.1, 3.01, 0.1):
                xy = np.asarray(blk.position[:2]) + sgn * delta * toward
                moved = replace(blk, position=(float(xy[0]), float(xy[1]), blk.position[2]))
                if not _off_line(moved, clean) or not clear_of(moved, replace(clean,
                                                                             occluders=clean.occluders + (moved,))):
                    continue
                lo, hi = float(hz[0]), float(hz[1])
                c_lo, c_hi = _cover_with(frame, _with_height(moved, lo)), _cover_with(frame, _with_height(moved, hi))
                if c_hi < target - COVER_TOL or c_lo > target + COVER_TOL:
                    continue
                for _ in range(14):  # coverage is monotone in height: bisection
                    mid = 0.5 * (lo + hi)
                    if _cover_with(frame, _with_height(moved, mid)) < target:
                        lo = mid
                    else:
                        hi = mid
                # the heights just below and just above the target: one of those within the
                # tolerance, at random, so that the visible half is not always the more covered
                ends = [h for h in (lo, hi) if abs(_cover_with(frame, _with_height(moved, h)) - target) <= COVER_TOL]
                if not ends:
                    continue
                occ_a = _with_height(moved, ends[int(rng.integers(len(ends)))])
                cands.append((occ_a, "front" if sgn > 0 else "behind", float(delta)))
            if len(cands) >= 3:
                break
        if not cands:
            why["cover a: no height matches the coverage off the line of sight"] += 1
            continue
        specs_a = [replace(clean, occluders=clean.occluders + (o,), scene_id=f"{base.scene_id}-cover-a")
                   for o, _, _ in cands]
        for spec_a, lab_a, (occ_a, where, delta) in zip(specs_a, label_scenes(specs_a, labels), cands):
            if not usable(lab_a, 1, None):
                why[f"cover a: {why_not(lab_a)}"] += 1
            else:
                g = facing_geometry([spec_a, spec_b])["angle_deg"]
                ca = segment_cover(spec_a).coverage
                return ConflictPair("cover", base.index, spec_a, spec_b, lab_a, lab_b, float(g[0]), float(g[1]), ca,
                                    target, {"shape": shape, "where": where, "delta_m": delta,
                                             "height_a": occ_a.size[2], "height_b": blk.size[2]})
    return None


# ---------------------------------------------------------------------------------------------
# sets of pairs and what the image-plane cues say about them


@dataclass
class SolveReport:
    attempts: dict[str, int] = field(default_factory=lambda: {"facing": 0, "cover": 0})
    successes: dict[str, int] = field(default_factory=lambda: {"facing": 0, "cover": 0})
    no_base: int = 0
    why: Counter = field(default_factory=Counter)  # why solving failed, per stage and reason

    def rate(self, kind: str) -> float:
        return self.successes[kind] / self.attempts[kind] if self.attempts[kind] else math.nan


def build_pairs(cfg: SamplingSettings, labels: LabelConfig, recipe: str, shapes: Sequence[str], catalogue: dict[str, Any],
                n_pairs: int, start: int = 0, max_attempts: int | None = None) -> tuple[list[ConflictPair], SolveReport]:
    """``n_pairs`` pairs, alternating facing and cover pairs, from base scenes ``start``,
    ``start + 1``, ... of the recipe's sampler; each base is tried once for the kind it is
    assigned (even index: facing, odd: cover), so the report's success rates are per random
    base scene."""
    pairs: list[ConflictPair] = []
    rep = SolveReport()
    index = start
    limit = max_attempts if max_attempts is not None else 40 * n_pairs + 20
    want = {"facing": (n_pairs + 1) // 2, "cover": n_pairs // 2}
    have = {"facing": 0, "cover": 0}
    while len(pairs) < n_pairs and index < start + limit:
        kind = "facing" if index % 2 == 0 else "cover"
        if have[kind] >= want[kind]:
            index += 1
            continue
        rng = stream(cfg.seed, index, f"{recipe}/{SPLIT}/solve")
        try:
            base = base_scene(cfg, recipe, index, shapes, catalogue, vpt=int(rng.integers(2)) if kind == "facing" else 1)
        except Rejected:
            rep.no_base += 1
            index += 1
            continue
        rep.attempts[kind] += 1
        pair = (solve_facing_pair(base, cfg, labels, rng, why=rep.why) if kind == "facing"
                else solve_cover_pair(base, cfg, labels, shapes, catalogue, rng, why=rep.why))
        if pair is not None:
            rep.successes[kind] += 1
            have[kind] += 1
            pairs.append(pair)
        index += 1
    return pairs, rep


def cue_balance(pairs: Sequence[ConflictPair], cues: dict[str, tuple[np.ndarray, np.ndarray]] | None = None
                ) -> list[dict[str, Any]]:
    """AUC and SMD of the 2D facing angle and the 2D coverage (and of any extra ``cues``: name
    -> (values of the ``a`` halves, values of the ``b`` halves)) against the VPT label, over
    all pairs and per kind (``facing``: visible vs out of view; ``cover``: visible vs
    occluded)."""
    kinds = np.array([p.kind for p in pairs])
    table = {"angle_2d": (np.array([p.angle_a for p in pairs]), np.array([p.angle_b for p in pairs])),
             "coverage_2d": (np.array([p.cover_a for p in pairs]), np.array([p.cover_b for p in pairs]))}
    table.update(cues or {})
    rows = []
    for name, (va, vb) in table.items():
        for group in ("all", "facing", "cover"):
            sel = np.ones(len(pairs), bool) if group == "all" else kinds == group
            if not sel.any():
                continue
            vals = np.concatenate([np.asarray(va)[sel], np.asarray(vb)[sel]])
            y = np.r_[np.ones(sel.sum(), int), np.zeros(sel.sum(), int)]
            rows.append({"cue": name, "group": group, "n_pairs": int(sel.sum()), "auc": auc(vals, y), "smd": smd(vals, y)})
    return rows
