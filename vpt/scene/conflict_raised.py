"""Pairs with raised balls (:mod:`vpt.scene.conflict`): facing pairs and depth pairs.

On a floor, a ball's image position fixes its 3D position. A ball on a stand (a thin
cylinder from the floor to the ball's bottom, :func:`vpt.scene.conflict_parts.raised_ball`)
can sit anywhere along the observer's view ray through a pixel, so two scenes can show the
ball at the same pixel with the same image size (its radius scaled with its depth from the
observer) while its 3D position differs. Both kinds solve on one grid
(:func:`ray_grid`): image points ``q`` over the picture, and along each view ray the ball
radii of the recipe's range, each giving the depth ``z = f r / rho`` at which a ball of
radius ``r`` has the image radius ``rho`` (the base ball's). Every point is checked
analytically: the stand between :data:`~vpt.scene.conflict_parts.STAND_MIN_M` and
:data:`~vpt.scene.conflict_parts.STAND_MAX_M` tall, the ball at the recipe's distance from
the viewer's eye, clear of the viewer's body on the floor and in the image, a depth gap
above the label's minimum, and clearly in or clearly out of the viewer's field of view (the
frustum test of the labels with their margins plus
:data:`~vpt.scene.conflict_parts.CLEAR_BUFFER_DEG`).

* **facing pairs** (:func:`solve_facing_pair`): the viewer is the same in both halves (its
  yaw drawn from a grid inside the recipe's turn range); the balls lie on one view ray, one
  clearly in view (``a``) and one clearly out of view (``b``). Image position, image size,
  2D facing angle and segment are the same; only the stands differ. Which half is nearer
  the observer (the one on the taller stand) is drawn at random, half and half.
* **depth pairs** (:func:`solve_depth_pair`): facing pairs whose two balls also lie on
  opposite sides of the viewer's depth (each with the depth margin), so that the VPT label
  and the depth label both flip within the pair: ``a`` visible, ``b`` out of view, and the
  visible ball closer to the observer than the viewer (depth label 1) in half of the pairs
  (:func:`vpt.scene.conflict.build_pairs` asks for the order it has fewer of). The image
  height and image size of ball and viewer, the 2D facing angle and the segment are the same
  in both halves; the stand's foot on the floor (and its length) is what tells the depth
  order, as in the world. Observer and viewer heights are drawn per pair
  (:func:`vary_heights`; the viewer on its pole), wider for depth pairs.

Every half is then labelled by :func:`vpt.scene.labels.label_scenes` (the stand is an
occluder row: where it blocks the viewer's line of sight the label says so).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Any

import numpy as np

from vpt.scene.conflict_parts import (ANGLE_TOL_DEG, CLEAR_BUFFER_DEG, COVER_TOL, STAND_MAX_M, STAND_MIN_M,
                                      ConflictPair, clear_of, frustum_margins, points_on_image_ray, raised_ball,
                                      renumber, usable, why_not)
from vpt.scene.imageplane import facing_geometry, segment_cover
from vpt.scene.labels import LabelConfig, label_scenes
from vpt.scene.settings import SamplingSettings
from vpt.scene.spec import ObserverSpec, SceneSpec, direction_from_angles

N_GRID = 24  # image points per side of the grid
N_RADII = 20  # ball radii (depths) per view ray
YAW_STEP_DEG = 6.0
STAND_MIN_RADII = 4.3  # a stand's image length at least this many ball radii (pixels): past the audit's
# widest ring around the ball (5 radii from its centre, 4 from its bottom) with a margin
EYE_SLACK = 0.0  # a raised ball in view has its centre at most this many radii above the viewer's eye
DEPTH_GAP_FACTOR = 1.2  # every raised ball keeps this many times the labels' depth margin from the viewer
OBSERVER_HEIGHT_M = (1.8, 4.2)  # the observer's height in raised pairs (the recipe's range is narrower)
VIEWER_HEIGHT_M = (0.7, 1.8)  # the viewer's height on its pole in raised pairs (tall enough for balls on stands past
# the audit's rings to be in view)
# depth pairs: the visible ball and the hidden one on one view ray, on both sides of the viewer's
# depth, need a tall viewer (the nearer ball stays below its eye) and a flatter view ray
DEPTH_OBSERVER_HEIGHT_M = (1.4, 3.4)
DEPTH_VIEWER_HEIGHT_M = (0.5, 1.8)


def ray_grid(base: SceneSpec, cfg: SamplingSettings, labels: LabelConfig, yaws: np.ndarray,
             rho: float | None = None, stand_radii: float | None = None) -> dict[str, Any]:
    """The raised-ball grid of ``base`` for each viewer yaw in ``yaws`` (see the module
    docstring), for a ball of image radius ``rho`` (pixels; by default the base ball's). Arrays: ``q`` (Q, 2) image points, ``r`` (R,) radii, ``ball`` (Q, R, 3)
    centres, ``ok`` (Q, R) the yaw-free checks, ``depth1`` (Q, R) ball closer than the viewer,
    and per yaw ``dist_ok``, ``clear_in``, ``clear_out`` (Y, Q, R)."""
    obs, v = base.observer, base.viewer
    f = obs.focal_px
    r_lo, r_hi = cfg.ball.radius
    if rho is None:
        rho = f * base.ball.radius / float(obs.project(np.asarray(base.ball.position, float))[1])
    m = 2.5 * rho
    us = np.linspace(m, obs.width - m, N_GRID)
    vs = np.linspace(m, obs.height - m, N_GRID)
    q = np.stack(np.meshgrid(us, vs), -1).reshape(-1, 2)
    r = np.linspace(r_lo, r_hi, N_RADII)
    zc = f * r / rho
    ball = points_on_image_ray(base, q[:, None, :], np.broadcast_to(zc, (len(q), len(r))))
    rr = np.broadcast_to(r, (len(q), len(r)))
    h = ball[..., 2] - rr
    ok = (h >= STAND_MIN_M) & (h <= STAND_MAX_M)
    # the stand's image reaches past the rings of occluder pixels the audit counts around the ball
    # (``near_ball_occ``, ``near_ball_occ_wide``: 2.5 and 5 ball radii from its centre), so that
    # both halves' stands (same image width: radius in proportion to the ball's) fill the rings alike
    foot = ball.copy()
    foot[..., 2] = 0.0
    top = ball.copy()
    top[..., 2] -= rr
    stand_px = np.linalg.norm(obs.project(foot)[0] - obs.project(top)[0], axis=-1)
    ok &= stand_px >= (STAND_MIN_RADII if stand_radii is None else stand_radii) * rho
    pos = np.asarray(v.position, float)
    o = np.asarray(obs.position, float)
    d_ball = np.linalg.norm(ball - o, axis=-1)
    d_view = float(np.linalg.norm(pos - o))
    z_view = float(obs.project(pos)[1])
    zcb = np.broadcast_to(zc, d_ball.shape)
    gap = labels.min_depth_gap * DEPTH_GAP_FACTOR
    ok &= np.abs(d_ball - d_view) / np.maximum(d_ball, d_view) >= gap
    ok &= np.abs(zcb - z_view) / np.maximum(zcb, abs(z_view)) >= gap
    ok &= (d_ball < d_view) == (zcb < z_view)
    # the stand keeps clear of the viewer on the floor, the ball of its body in the image
    ok &= np.linalg.norm(ball[..., :2] - pos[:2], axis=-1) >= v.proxy_radius + 0.1 + 1.4 * rr
    body_px = obs.project(pos)[0]
    view_px = f * v.proxy_radius / max(z_view, 1e-6)
    ok &= (np.linalg.norm(q - body_px, axis=-1) > rho + 1.5 * view_px)[:, None]
    fwd = np.stack([direction_from_angles(float(y), v.pitch_deg) for y in yaws])  # (Y, 3)
    eyes = pos + fwd * v.geometry["eye"]
    # the yaw-dependent checks only where the yaw-free ones pass (most grid points fail those)
    sel = np.nonzero(ok)
    bsel, rsel = ball[sel], rr[sel]  # (P, 3), (P,)
    shape = (len(yaws),) + bsel.shape
    # the stand touches the ball's bottom: seen from below, the margin ring of the labels'
    # dilated ball meets the stand before the ball (the label is then partial), so a ball in
    # view stays below the eye (its cone's lowest rays slope down)
    below_eye = bsel[None, :, 2] <= eyes[:, None, 2] + EYE_SLACK * rsel[None]
    eye_b = np.broadcast_to(eyes[:, None, :], shape)
    ball_b = np.broadcast_to(bsel[None], shape)
    dist = np.linalg.norm(ball_b - eye_b, axis=-1)
    d_lo, d_hi = cfg.ball.distance
    cin, cout = frustum_margins(eye_b, ball_b, np.broadcast_to(rsel, dist.shape), np.broadcast_to(fwd[:, None, :], shape),
                                v.hfov_deg, v.vfov_deg, 1.0 + labels.ball_margin, labels.fov_margin_deg + CLEAR_BUFFER_DEG)
    full = (len(yaws),) + ok.shape

    def scatter(x: np.ndarray) -> np.ndarray:
        out = np.zeros(full, bool)
        out[(slice(None),) + sel] = x
        return out

    return {"q": q, "r": r, "rho": rho, "ball": ball, "ok": ok, "depth1": d_ball < d_view,
            "dist_ok": scatter((dist >= d_lo) & (dist <= d_hi)), "clear_in": scatter((cin > 0) & below_eye),
            "clear_out": scatter(cout > 0)}


def _half(base: SceneSpec, ball_c: np.ndarray, radius: float, tag: str, kind: str, **changes) -> SceneSpec:
    """``base`` with the ball raised to ``ball_c`` on a stand (the stand takes the next free
    occluder id) and any ``changes`` to the spec."""
    oid = len(base.occluders)
    ball, stand = raised_ball(ball_c, radius, oid)
    return replace(base, ball=ball, occluders=base.occluders + (stand,), scene_id=f"{base.scene_id}-{kind}-{tag}",
                   **changes)


def _keep_clear(base: SceneSpec, balls: list[tuple[np.ndarray, float]], segments: bool) -> SceneSpec:
    """``base`` without the occluders that crowd any of ``balls`` (and, with ``segments``,
    that cover the image segment to one of them), renumbered."""
    keep = []
    for o in base.occluders:
        fine = True
        for c, r in balls:
            probe = replace(base, ball=replace(base.ball, position=tuple(float(x) for x in c), radius=float(r)))
            if not clear_of(o, probe) or (segments and o.id in segment_cover(probe).occluders):
                fine = False
                break
        if fine:
            keep.append(o)
    return replace(base, occluders=renumber(keep))


def solve_facing_pair(base: SceneSpec, cfg: SamplingSettings, labels: LabelConfig, rng: np.random.Generator,
                      tries: int = 6, why: Counter | None = None, visible_nearer: bool | None = None
                      ) -> ConflictPair | None:
    """A facing pair with raised balls from ``base`` (see the module docstring), or None.
    ``visible_nearer``: whether the visible half's ball is the one nearer the observer (on
    the taller stand); None draws it (:func:`vpt.scene.conflict.build_pairs` asks for the
    order it has fewer of, so that the stands' image length says nothing about the label)."""
    return _solve_on_ray("facing", base, cfg, labels, rng, tries, why, visible_nearer)


def solve_depth_pair(base: SceneSpec, cfg: SamplingSettings, labels: LabelConfig, rng: np.random.Generator,
                     tries: int = 6, why: Counter | None = None, visible_nearer: bool | None = None
                     ) -> ConflictPair | None:
    """A depth pair from ``base`` (see the module docstring), or None: a facing pair whose two
    balls also lie on opposite sides of the viewer's depth, so that both labels flip within
    the pair. ``visible_nearer``: whether the visible half is the one with the ball closer to
    the observer than the viewer (depth label 1); None draws it."""
    return _solve_on_ray("depth", base, cfg, labels, rng, tries, why, visible_nearer)


def _solve_on_ray(kind: str, base: SceneSpec, cfg: SamplingSettings, labels: LabelConfig, rng: np.random.Generator,
                  tries: int, why: Counter | None, visible_nearer: bool | None) -> ConflictPair | None:
    why = why if why is not None else Counter()
    base = vary_heights(base, rng, kind)
    v = base.viewer
    centre = 0.0 if np.cos(np.radians(v.yaw_deg)) > 0 else 180.0
    lo, hi = cfg.viewer.facing_offset_deg
    offsets = np.arange(-hi, hi + 1e-9, YAW_STEP_DEG)
    yaws = centre + offsets[np.abs(offsets) >= lo]
    g = ray_grid(base, cfg, labels, yaws, _rho_near_viewer(base, cfg, rng))
    ok = g["ok"][None] & g["dist_ok"]
    ins, outs = ok & g["clear_in"], ok & g["clear_out"]  # (Y, Q, R); radius index = depth order
    coin = bool(rng.random() < 0.5)
    visible_nearer = coin if visible_nearer is None else bool(visible_nearer)
    if kind == "depth":  # the visible ball on one side of the viewer's depth, the hidden one on the other
        near = g["depth1"][None]
        ins = ins & (near if visible_nearer else ~near)
        outs = outs & (~near if visible_nearer else near)
    R = len(g["r"])
    idx = np.arange(R)
    first_in = np.where(ins.any(-1), np.argmax(ins, -1), R)
    last_in = np.where(ins.any(-1), R - 1 - np.argmax(ins[..., ::-1], -1), -1)
    first_out = np.where(outs.any(-1), np.argmax(outs, -1), R)
    last_out = np.where(outs.any(-1), R - 1 - np.argmax(outs[..., ::-1], -1), -1)
    possible = first_in < last_out if visible_nearer else first_out < last_in
    order = "nearer" if visible_nearer else "farther"
    if not possible.any():
        why[f"{kind}: no view ray with both labels reachable (visible ball {order})"] += 1
        return None
    rays = np.argwhere(possible)
    specs, picks = [], []
    for _ in range(tries):
        yi, qi = rays[rng.integers(len(rays))]
        iv, ov = idx[ins[yi, qi]], idx[outs[yi, qi]]
        iv = iv[iv < ov.max()] if visible_nearer else iv[iv > ov.min()]
        i_in = int(iv[rng.integers(len(iv))])
        ov = ov[ov > i_in] if visible_nearer else ov[ov < i_in]
        i_out = int(ov[rng.integers(len(ov))])
        (ca, ra), (cb, rb) = (g["ball"][qi, i_in], g["r"][i_in]), (g["ball"][qi, i_out], g["r"][i_out])
        view = replace(v, yaw_deg=float(yaws[yi]))
        clean = _keep_clear(replace(base, viewer=view), [(ca, ra), (cb, rb)], segments=True)
        specs += [_half(clean, ca, ra, "a", kind), _half(clean, cb, rb, "b", kind)]
        picks.append((float(yaws[yi]), g["q"][qi]))
    labs = label_scenes(specs, labels)
    for k in range(0, len(specs), 2):
        (sa, sb), (la, lb) = specs[k:k + 2], labs[k:k + 2]
        good_a, good_b = usable(la, 1, None), usable(lb, 0, "out_of_view")
        if kind == "depth" and good_a and good_b and (la.depth_label, lb.depth_label) != (
                int(visible_nearer), int(not visible_nearer)):
            why["depth: the depth labels do not flip within the pair"] += 1
            continue
        if not good_a:
            why[f"{kind} a: {why_not(la)}"] += 1
        if not good_b:
            why[f"{kind} b: {why_not(lb)}"] += 1
        if good_a and good_b:
            ang = facing_geometry([sa, sb])["angle_deg"]
            cva, cvb = segment_cover(sa).coverage, segment_cover(sb).coverage
            if abs(ang[0] - ang[1]) > ANGLE_TOL_DEG or abs(cva - cvb) > COVER_TOL:
                why[f"{kind}: image-plane values apart"] += 1
                continue
            return ConflictPair(kind, base.index, sa, sb, la, lb, float(ang[0]), float(ang[1]), cva, cvb,
                                {"visible_nearer": visible_nearer, "yaw": picks[k // 2][0],
                                 "stand_a": sa.occluders[-1].size[2], "stand_b": sb.occluders[-1].size[2],
                                 "turn_a": la.viewer_turn_deg, "turn_b": lb.viewer_turn_deg,
                                 "observer_height": base.observer.position[2],
                                 "viewer_height": base.viewer.position[2]})
    return None


def _rho_near_viewer(base: SceneSpec, cfg: SamplingSettings, rng: np.random.Generator) -> float:
    """The ball's image radius for a raised pair: that of a ball of the middle radius at the
    viewer's depth, times a random factor in 0.85..1.15, so that the depths a view ray offers
    (the recipe's radii at that image size) lie around the viewer, where its field of view
    and its depth order change."""
    r_lo, r_hi = cfg.ball.radius
    z_view = float(base.observer.project(np.asarray(base.viewer.position, float))[1])
    return base.observer.focal_px * float(np.sqrt(r_lo * r_hi)) / z_view * float(rng.uniform(0.85, 1.15))


def vary_heights(base: SceneSpec, rng: np.random.Generator, kind: str = "facing") -> SceneSpec:
    """``base`` with the observer's height and the viewer's height (on its pole) drawn from
    :data:`OBSERVER_HEIGHT_M` and :data:`VIEWER_HEIGHT_M` (depth pairs:
    :data:`DEPTH_OBSERVER_HEIGHT_M`, :data:`DEPTH_VIEWER_HEIGHT_M`). Both halves of a pair
    share them, so they say nothing about either label."""
    obs = base.observer
    o_range, v_range = ((DEPTH_OBSERVER_HEIGHT_M, DEPTH_VIEWER_HEIGHT_M) if kind == "depth"
                        else (OBSERVER_HEIGHT_M, VIEWER_HEIGHT_M))
    h = float(rng.uniform(*o_range))
    observer = ObserverSpec(position=(obs.position[0], obs.position[1], h), look_at=obs.look_at, hfov_deg=obs.hfov_deg,
                            width=obs.width, height=obs.height)
    p = base.viewer.position
    viewer = replace(base.viewer, position=(p[0], p[1], float(rng.uniform(*v_range))))
    return replace(base, observer=observer, viewer=viewer)
