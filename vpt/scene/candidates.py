"""Candidate layouts drawn in batches, as arrays (the planner's fast path).

The same aiming as the scalar functions of :mod:`vpt.scene.sampling` (observer, viewer,
ball, occluders placed by :func:`~vpt.scene.sampling.occluder_mode`; see that module's
docstring), vectorised over thousands of candidates at once: every candidate gets a fixed
row of uniform draws, and each choice reads its own columns of that row, so a candidate's
layout depends only on its index and target, never on the batch it was drawn in.

Random streams (generator version :data:`GENERATOR_VERSION`): candidates come in blocks of
:data:`BLOCK` consecutive indices; block ``b`` of a split draws its rows from the stream
``(dataset seed, b, "<recipe>/<split>/layout-v2")``. A seed therefore gives the same
candidates however the indices are batched and whatever the number of processes.
Version 1 (vpt up to 0.x of 2026-12-07) drew each candidate from its own stream with scalar
draws; plans made by the two versions differ.

Only the candidates that survive the steering labels (:mod:`vpt.scene.fastlabels`) become
:class:`~vpt.scene.spec.SceneSpec` objects (:meth:`CandidateBatch.spec`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from vpt.scene.batch import (BALL_TRIES, GENERATOR_VERSION, REJECT_AREA, CandidateBatch, _Columns, _pick, _span, camera_bases,
                             n_columns, uniforms)
from vpt.scene.placement import place_batch
from vpt.scene.aims import (ANGLE_EDGES, IN_VIEW_EDGE_POWER, IN_VIEW_REACH, OUT_VIEW_CLEARANCE,
                            OUT_VIEW_EDGE_POWER, TURN_EDGES, Target, viewer_x_sign)
from vpt.scene.settings import SamplingSettings
from vpt.scene.spec import VIEWER_GEOMETRY

def _target_rows(targets: Sequence[Target]) -> np.ndarray:
    """(N, 10) integer codes: vpt, hidden-in-view (occluded), overlap, side right, facing right,
    depth, hint cover, hint angle, hint turn (-1: none), viewer x sign."""
    slot: dict[int, int] = {}  # by object: the planner passes few distinct target objects
    distinct: list[Target] = []
    at = []
    for t in targets:
        k = slot.get(id(t))
        if k is None:
            k = slot[id(t)] = len(distinct)
            distinct.append(t)
        at.append(k)
    rows = []
    for t in distinct:
        h = t.hint or (None, None, None)
        rows.append((t.vpt, int(t.reason == "occluded"), int(t.overlap), int(t.side == "right"),
                     int(t.facing == "right"), t.depth, *(-1 if x is None else x for x in h), viewer_x_sign(t)))
    return np.array(rows, dtype=int).reshape(len(rows), 10)[np.array(at, dtype=int)]


def sample_batch(recipe_name: str, cfg: SamplingSettings, split: str, indices: Sequence[int],
                 targets: Sequence[Target], shapes: Sequence[str], catalogue: dict[str, Any]) -> CandidateBatch:
    """Candidate layouts ``indices`` aimed at ``targets`` (one each), as a :class:`CandidateBatch`."""
    idx = np.asarray(indices, dtype=np.int64)
    n = len(idx)
    tg = _target_rows(targets)
    cols = _Columns(uniforms(cfg.seed, f"{recipe_name}/{split}/layout-v{GENERATOR_VERSION}", idx, n_columns(int(cfg.occluders.count[1]))))
    reason = np.full(n, "", dtype=object)
    # --- observer (vpt.scene.sampling.sample_observer)
    o = cfg.observer
    u = cols.take(5)
    dist, height = _span(u[:, 0], o.distance), _span(u[:, 1], o.height)
    jit = float(o.look_jitter)
    lx, ly = -jit + 2 * jit * u[:, 2], 0.3 + (-jit + 2 * jit * u[:, 3])
    look = np.stack([lx, ly, np.full(n, 0.3)], 1)
    obs_pos = np.stack([lx * 0.5, -dist, height], 1)
    obs_hfov = _span(u[:, 4], o.hfov_deg)
    w, h = (int(x) for x in cfg.resolution)
    # --- viewer (sample_viewer)
    v = cfg.viewer
    u = cols.take(10)
    model = _pick(u[:, 0], len(v.models))
    x_sign, turn_bin = tg[:, 9], tg[:, 8]
    lo = np.full(n, float(v.facing_offset_deg[0]))
    hi = np.full(n, float(v.facing_offset_deg[1]))
    lo = np.where(x_sign != 0, np.maximum(lo, hi - 0.3 * (hi - lo)), lo)
    edges = np.array((-math.inf,) + TURN_EDGES + (math.inf,))
    tb = np.clip(turn_bin, 0, len(TURN_EDGES))
    blo, bhi = np.maximum(lo, edges[tb]), np.minimum(hi, edges[tb + 1])
    narrow = (turn_bin >= 0) & (blo < bhi)
    lo, hi = np.where(narrow, blo, lo), np.where(narrow, bhi, hi)
    offset = np.where(lo == hi, lo, lo + (hi - lo) * u[:, 1]) * np.where(u[:, 2] < 0.5, 1.0, -1.0)
    yaw = np.where(tg[:, 4] == 1, 0.0, 180.0) + offset
    x = _span(u[:, 3], v.area_x)
    edge = np.where(x_sign > 0, float(v.area_x[1]), float(v.area_x[0]))
    x = np.where(x_sign != 0, edge * (0.4 + 0.6 * u[:, 3]), x)
    reason[(x_sign != 0) & (x * x_sign <= 0)] = REJECT_AREA
    v_pos = np.stack([x, _span(u[:, 4], v.area_y), _span(u[:, 5], v.height)], 1)
    pitch, v_hfov = _span(u[:, 6], v.pitch_deg), _span(u[:, 7], v.hfov_deg)
    v_vfov, v_scale = _span(u[:, 8], v.vfov_deg), _span(u[:, 9], v.scale)
    yr, pr = np.radians(yaw), np.radians(pitch)
    forward = np.stack([np.cos(pr) * np.cos(yr), np.cos(pr) * np.sin(yr), np.sin(pr)], 1)
    eye_off = np.array([VIEWER_GEOMETRY[m]["eye"] for m in v.models])[model] * v_scale
    eye = v_pos + forward * eye_off[:, None]
    # --- ball (sample_ball)
    b_pos, b_r = _balls(cfg, cols.take(4 * 3 * BALL_TRIES), tg, obs_pos, look, obs_hfov, w, h, v_pos, eye, yaw, v_hfov)
    batch = CandidateBatch(recipe_name, split, cfg.seed, idx, reason, obs_pos, look, obs_hfov, w, h, model,
                           tuple(v.models), v_pos, yaw, pitch, v_hfov, v_vfov, v_scale, forward, eye, b_pos, b_r,
                           tuple(shapes), *_empty_occluders(n, max(1, int(cfg.occluders.count[1]))))
    place_batch(batch, cfg, cols, tg, catalogue)
    return batch


def _empty_occluders(n: int, k: int) -> tuple[np.ndarray, ...]:
    return (np.zeros((n, k), bool), np.zeros((n, k), int), np.zeros((n, k), int), np.zeros((n, k, 3)),
            np.zeros((n, k, 3)), np.zeros((n, k)))


def world_to_cv(obs_pos: np.ndarray, look: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotation (N, 3, 3) and translation (N, 3) of the observers' OpenCV frames."""
    f, r, up = camera_bases(look - obs_pos)
    rot = np.stack([r, -up, f], 1)
    return rot, -np.matmul(rot, obs_pos[:, :, None])[..., 0]


def focal_px(width: int, hfov_deg: np.ndarray) -> np.ndarray:
    return (width / 2.0) / np.tan(np.radians(hfov_deg) / 2.0)


def _power(u: np.ndarray, p: float) -> np.ndarray:
    return np.sqrt(u) if p == 0.5 else u * u if p == 2.0 else u ** p


BALL_CHUNK = 8  # proposals evaluated at a time, for the candidates that have not found one yet


def _balls(cfg, u, tg, obs_pos, look, obs_hfov, w, h, v_pos, eye, yaw, v_hfov):
    """The ball of each candidate, as :func:`vpt.scene.sampling.sample_ball` chooses it:
    among its proposals (``BALL_TRIES``, three times as many with an angle hint), the first
    that fits the target and the hinted angle bin, else the first that fits the target, else
    the last. Proposals are evaluated in chunks, only for candidates still undecided."""
    b, lab = cfg.ball, cfg.labels
    n, t = len(tg), 3 * BALL_TRIES
    u = u.reshape(n, 4, t)
    hinted = tg[:, 7] >= 0
    tries = np.where(hinted, t, BALL_TRIES)
    half = v_hfov / 2
    in_view = (tg[:, 0] == 1) | (tg[:, 1] == 1)
    narrow = hinted & (tg[:, 7] < len(ANGLE_EDGES) - 1)
    rot, tr = world_to_cv(obs_pos, look)
    rot_t = rot.transpose(0, 2, 1)
    foc = focal_px(w, obs_hfov)
    centre = np.array([w / 2.0, h / 2.0])

    def project(rows, p):  # points (R, C, 3) of candidates rows -> pixels (R, C, 2)
        cam = np.matmul(p, rot_t[rows]) + tr[rows, None, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            return foc[rows, None, None] * cam[..., :2] / cam[..., 2:3] + centre

    def proposal(rows, uc):  # ball centres (R, C, 3) from the draws uc (R, 4, C) of candidates rows
        radius, dist = _span(uc[:, 0], b.radius), _span(uc[:, 1], b.distance)
        uu, sign = uc[:, 2], np.where(uc[:, 3] < 0.5, 1.0, -1.0)
        ang = np.degrees(np.arcsin(np.minimum(1.0, radius * (1 + lab.ball_margin) / dist)))
        hv = half[rows, None]
        angle = np.empty_like(uu)
        iv = in_view[rows]  # each row draws in view or out of view: only its own branch is computed
        ov = ~iv
        if iv.any():
            limit = np.maximum(0.0, hv[iv] - lab.fov_margin_deg - ang[iv]) * IN_VIEW_REACH
            angle[iv] = limit * _power(uu[iv], IN_VIEW_EDGE_POWER)
        if ov.any():
            lo = hv[ov] + lab.fov_margin_deg + ang[ov] + OUT_VIEW_CLEARANCE
            span = np.where(narrow[rows[ov], None], np.minimum(180.0 - lo, 12.0 + 12.0 * tg[rows[ov], 7:8]), 180.0 - lo)
            angle[ov] = lo + span * _power(uu[ov], OUT_VIEW_EDGE_POWER)
        angle *= sign
        a = np.radians(yaw[rows, None] + angle)
        return np.stack([eye[rows, 0:1] + dist * np.cos(a), eye[rows, 1:2] + dist * np.sin(a), radius], 2)

    all_rows = np.arange(n)
    uview, ueye = project(all_rows, v_pos[:, None])[:, 0], project(all_rows, eye[:, None])[:, 0]
    facing = ueye - uview
    facing_n = np.linalg.norm(facing, axis=1)
    d_view = np.linalg.norm(v_pos - obs_pos, axis=1)
    want_right, want_near = tg[:, 3] == 1, tg[:, 5] == 1
    first_ok = np.full(n, -1)
    chosen = np.full(n, -1)
    # chunks of proposals: the first few for every row, then the undecided rows' others up to
    # where their tries end (BALL_TRIES without an angle hint, t with one)
    ends = sorted({min(BALL_CHUNK, t), min(BALL_TRIES, t), t})
    for lo_k, hi_k in zip([0] + ends[:-1], ends):
        rows = np.flatnonzero((chosen < 0) & (tries > lo_k))
        if not rows.size:
            break
        pos = proposal(rows, u[rows, :, lo_k:hi_k])
        ub = project(rows, pos)
        rel = pos - obs_pos[rows, None]
        d_ball = np.sqrt(np.add.reduce(rel * rel, axis=2))  # np.linalg.norm's own sum, without its copy
        dv = d_view[rows, None]
        ok = (ub[..., 0] > uview[rows, 0:1]) == want_right[rows, None]
        ok &= (d_ball < dv) == want_near[rows, None]
        ok &= np.abs(d_ball - dv) / np.maximum(d_ball, dv) >= lab.min_depth_gap * 1.1
        ok &= (ub[..., 0] > 0) & (ub[..., 0] < w) & (ub[..., 1] > 0) & (ub[..., 1] < h)
        ok &= (lo_k + np.arange(ok.shape[1]))[None, :] < tries[rows, None]
        good = ok.copy()
        hr = hinted[rows]
        if hr.any():
            to_ball = ub - ueye[rows, None]
            with np.errstate(divide="ignore", invalid="ignore"):
                cos = np.sum(to_ball * facing[rows, None], axis=2) / np.maximum(
                    np.linalg.norm(to_ball, axis=2) * facing_n[rows, None], 1e-9)
            ang2 = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
            good &= ~hr[:, None] | (np.searchsorted(ANGLE_EDGES, ang2, side="left") == tg[rows, 7:8])
        fresh = (first_ok[rows] < 0) & ok.any(axis=1)
        first_ok[rows[fresh]] = lo_k + np.argmax(ok[fresh], axis=1)
        hit = good.any(axis=1)
        chosen[rows[hit]] = lo_k + np.argmax(good[hit], axis=1)
    k = np.where(chosen >= 0, chosen, np.where(first_ok >= 0, first_ok, tries - 1))
    pos = proposal(all_rows, u[all_rows, :, k][:, :, None])[:, 0]
    return pos, pos[:, 2].copy()


@dataclass(frozen=True)
class BatchSampler:
    """The candidates of one split of a recipe: :meth:`batch` draws many at once (what
    :func:`vpt.datasets.balance.fill` uses), calling it draws one (a
    :class:`~vpt.scene.spec.SceneSpec`, or :class:`~vpt.scene.sampling.Rejected`)."""

    recipe: str
    cfg: SamplingSettings
    split: str
    shapes: tuple[str, ...]
    catalogue: dict[str, Any]

    def batch(self, indices: Sequence[int], targets: Sequence[Target]) -> CandidateBatch:
        return sample_batch(self.recipe, self.cfg, self.split, indices, targets, self.shapes, self.catalogue)
