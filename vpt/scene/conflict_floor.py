"""Facing pairs with the ball on the floor (the first construction of :mod:`vpt.scene.conflict`,
kept for :mod:`tests.test_imageplane` and for comparison; :func:`vpt.scene.conflict.build_pairs`
now builds facing pairs with raised balls, :mod:`vpt.scene.conflict_raised`).

The observer, the viewer's position, model, pitch and field of view, and the ball's size stay;
the viewer's yaw and the ball's position change. For a yaw, the floor points whose image lies
on the ray from the projected lens at a signed 2D angle from the projected facing form a line,
so a ball anywhere on it has exactly that 2D angle. On a floor a ball's image position fixes
its 3D position, so in these pairs the visible ball tends to be larger and lower in the image
(docs/conflict.md).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import replace

import numpy as np

from vpt.scene.conflict_parts import (ANGLE_TOL_DEG, CLEAR_BUFFER_DEG, COVER_TOL, ConflictPair, clear_of,
                                      floor_points_on_image_ray, frustum_margins, renumber, usable, why_not)
from vpt.scene.imageplane import facing_geometry, segment_cover
from vpt.scene.labels import LabelConfig, label_scenes
from vpt.scene.settings import SamplingSettings
from vpt.scene.spec import BallSpec, SceneSpec, direction_from_angles

YAW_STEP_DEG = 3.0
N_LAMBDA = 160  # image distances tried along the iso-angle ray, per yaw

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


def solve_floor_facing_pair(base: SceneSpec, cfg: SamplingSettings, labels: LabelConfig, rng: np.random.Generator,
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

