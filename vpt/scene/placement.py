"""Occluders of a batch of candidates, placed as arrays (:mod:`vpt.scene.candidates`).

The rules of :func:`vpt.scene.sampling.place_occluders` and
:func:`vpt.scene.sampling.occluder_fits` (the first occluder aimed by
:func:`vpt.scene.sampling.occluder_mode`, up to :data:`~vpt.scene.candidates.OCC_TRIES`
placements per occluder, the same spacing), vectorised over the batch: each try proposes a
placement for every candidate still looking for room, and keeps it where it fits.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vpt.scene import geometry as geo
from vpt.scene.batch import (_OCC_COLS, _OCC_FIRST, _ON_LINE_T, _OVERLAP_OPTIONS, OCC_TRIES, REJECT_ROOM,
                                  REJECT_UNDER, CandidateBatch, _Columns, _pick, _span)
from vpt.scene.settings import SamplingSettings
from vpt.scene.spec import VIEWER_GEOMETRY

ON_LINE, ON_NEAR, ON_FAR, IN_FRONT, UNDER, NEAR_LINE = 1, 2, 3, 4, 5, 6


def first_modes(tg: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Placement mode of each candidate's first occluder (codes of
    :data:`vpt.scene.candidates.MODES`), as :func:`vpt.scene.sampling.occluder_mode`."""
    cover = tg[:, 6]
    out = np.zeros(len(tg), int)
    occluded = (tg[:, 0] == 0) & (tg[:, 1] == 1)
    for c, mode in _OCC_FIRST.items():
        sel = occluded & (cover == (-1 if c is None else c))
        out[sel] = mode
    overlap = ~occluded & (tg[:, 2] == 1)
    for c, options in _OVERLAP_OPTIONS.items():
        sel = overlap & (cover == (-1 if c is None else c))
        out[sel] = np.asarray(options)[_pick(u[sel], len(options))]
    return out


def footprint_gaps(kind: np.ndarray, pos: np.ndarray, size: np.ndarray, yaw_deg: np.ndarray,
                   xy: np.ndarray) -> np.ndarray:
    """:func:`vpt.scene.sampling.footprint_gap` of occluders (N,) to points (N, 2)."""
    dx, dy = xy[:, 0] - pos[:, 0], xy[:, 1] - pos[:, 1]
    yr = np.radians(yaw_deg)
    c, s = np.cos(yr), np.sin(yr)
    lx, ly = c * dx + s * dy, -s * dx + c * dy
    qx, qy = np.abs(lx) - size[:, 0] / 2, np.abs(ly) - size[:, 1] / 2
    box = np.hypot(np.maximum(qx, 0.0), np.maximum(qy, 0.0)) + np.minimum(np.maximum(qx, qy), 0.0)
    return np.where(kind == geo.BOX, box, np.hypot(dx, dy) - size[:, 0] / 2)


def footprint_radii(kind: np.ndarray, size: np.ndarray) -> np.ndarray:
    return np.where(kind == geo.BOX, np.hypot(size[..., 0], size[..., 1]) / 2, size[..., 0] / 2)


def place_batch(b: CandidateBatch, cfg: SamplingSettings, cols: _Columns, tg: np.ndarray,
                catalogue: dict[str, Any]) -> None:
    """Fill ``b``'s occluder arrays (rejecting candidates without room, in ``b.reason``)."""
    n, k_max = b.occ_valid.shape
    lo_n, hi_n = int(cfg.occluders.count[0]), int(cfg.occluders.count[1])
    u = cols.take(2)
    count = lo_n + _pick(u[:, 0], hi_n - lo_n + 1)
    mode0 = first_modes(tg, u[:, 1])
    count = np.where(mode0 != 0, np.maximum(count, 1), count)
    cat = [catalogue[s] for s in b.shapes]
    kinds = np.array([geo.KIND_CODES[c["primitive"]] for c in cat])
    rng_x = np.array([c["size_x"] for c in cat], float)
    rng_y = np.array([c.get("size_y", c["size_x"]) for c in cat], float)
    rng_z = np.array([c.get("size_z", c["size_x"]) for c in cat], float)
    eye, bxy = b.eye[:, :2], b.b_pos[:, :2]
    line = bxy - eye
    line_angle = np.degrees(np.arctan2(line[:, 1], line[:, 0]))
    perp = np.stack([-line[:, 1], line[:, 0]], 1) / np.maximum(np.linalg.norm(line, axis=1), 1e-9)[:, None]
    obs_xy = b.obs_pos[:, :2]
    proxy_r = np.array([VIEWER_GEOMETRY[m]["proxy_radius"] for m in b.models])[b.model] * b.v_scale
    alive = b.built.copy()
    for slot in range(k_max):
        shape = _pick(cols.take(), len(b.shapes))
        kind = kinds[shape]
        mode = mode0 if slot == 0 else np.zeros(n, int)
        want = alive & (count > slot)
        placed = np.zeros(n, bool)
        for _ in range(OCC_TRIES):
            w_all = cols.take(_OCC_COLS)
            act = np.flatnonzero(want & ~placed & alive)
            if not act.size:
                continue
            w, md, kd, sh = w_all[act], mode[act], kind[act], shape[act]
            p, yaw, height = _propose(md, w, eye[act], line[act], perp[act], line_angle[act], obs_xy[act], b, act)
            sx = rng_x[sh, 0] + (rng_x[sh, 1] - rng_x[sh, 0]) * w[:, 5]
            sy = np.where(kd == geo.BOX, rng_y[sh, 0] + (rng_y[sh, 1] - rng_y[sh, 0]) * w[:, 6], sx)
            sz = np.where(kd == geo.SPHERE, sx, rng_z[sh, 0] + (rng_z[sh, 1] - rng_z[sh, 0]) * w[:, 7])
            under = md == UNDER
            bad = under & (height < 0.05)
            b.reason[act[bad]] = REJECT_UNDER
            alive[act[bad]] = False
            ball_like = under & (kd == geo.SPHERE)
            sz = np.where(under, height, sz)
            sx, sy = np.where(ball_like, height, sx), np.where(ball_like, height, sy)
            size = np.stack([sx, sy, sz], 1)
            pos = np.stack([p[:, 0], p[:, 1], sz / 2], 1)
            fits = ~bad & _fits(kd, pos, size, yaw, b, proxy_r[act], slot, act)
            rows = act[fits]
            b.occ_valid[rows, slot] = True
            b.occ_shape[rows, slot], b.occ_kind[rows, slot] = sh[fits], kd[fits]
            b.occ_pos[rows, slot], b.occ_size[rows, slot], b.occ_yaw[rows, slot] = pos[fits], size[fits], yaw[fits]
            placed[rows] = True
        fail = want & ~placed & alive
        b.reason[fail] = REJECT_ROOM
        alive &= ~fail
    b.occ_valid &= alive[:, None]


def _propose(mode, w, eye, line, perp, line_angle, obs_xy, b, rows):
    """One placement per candidate for its mode: xy (N, 2), yaw (N,) degrees, and the height
    of an occluder under the line of sight (N,; NaN for the other modes)."""
    n = len(mode)
    p = np.stack([-2.2 + 4.4 * w[:, 0], -1.0 + 3.3 * w[:, 1]], 1)  # anywhere
    yaw = 180.0 * w[:, 2]
    height = np.full(n, np.nan)
    for m, (lo, hi) in _ON_LINE_T.items():
        sel = mode == m
        if sel.any():
            t = lo + (hi - lo) * w[sel, 0]
            p[sel] = eye[sel] + t[:, None] * line[sel] + perp[sel] * (-0.05 + 0.1 * w[sel, 1])[:, None]
            yaw[sel] = line_angle[sel] + (-20.0 + 40.0 * w[sel, 2])
    sel = mode == IN_FRONT
    if sel.any():
        q = eye[sel] + (0.3 + 0.35 * w[sel, 0])[:, None] * line[sel]
        toward = obs_xy[sel] - q
        p[sel] = q + toward / np.linalg.norm(toward, axis=1)[:, None] * (0.3 + 0.5 * w[sel, 1])[:, None]
    sel = mode == UNDER
    if sel.any():
        t = 0.3 + 0.4 * w[sel, 0]
        p[sel] = eye[sel] + t[:, None] * line[sel] + perp[sel] * (-0.1 + 0.2 * w[sel, 1])[:, None]
        yaw[sel] = line_angle[sel] + 90.0 + (-30.0 + 60.0 * w[sel, 2])
        r = rows[sel]
        z_line = b.eye[r, 2] + t * (b.b_pos[r, 2] - b.eye[r, 2])
        height[sel] = (z_line - t * b.b_r[r] * 1.4 - 0.03) * (0.45 + 0.45 * w[sel, 3])
    sel = mode == NEAR_LINE
    if sel.any():
        q = eye[sel] + (0.2 + 0.6 * w[sel, 0])[:, None] * line[sel]
        beside = w[sel, 1] < 0.5
        side = np.where(w[sel, 3] < 0.5, 1.0, -1.0)
        away = q - obs_xy[sel]
        away = away / np.linalg.norm(away, axis=1)[:, None]
        step = np.where(beside[:, None], perp[sel] * ((0.5 + 0.7 * w[sel, 2]) * side)[:, None],
                        away * (0.5 + 1.0 * w[sel, 2])[:, None])
        p[sel] = q + step
        yaw[sel] = 180.0 * w[sel, 4]
    return p, yaw, height


def _fits(kind, pos, size, yaw, b: CandidateBatch, proxy_r, slot: int, rows: np.ndarray) -> np.ndarray:
    """:func:`vpt.scene.sampling.occluder_fits` of one proposal per candidate ``rows``."""
    ok = footprint_gaps(kind, pos, size, yaw, b.b_pos[rows, :2]) >= b.b_r[rows] * 1.4 + 0.08
    for xy in (b.v_pos[rows, :2], b.eye[rows, :2]):
        ok &= footprint_gaps(kind, pos, size, yaw, xy) >= proxy_r + 0.1
    r = footprint_radii(kind, size)
    for other in range(slot):
        valid = b.occ_valid[rows, other]
        d = np.hypot(pos[:, 0] - b.occ_pos[rows, other, 0], pos[:, 1] - b.occ_pos[rows, other, 1])
        clear = d > r + footprint_radii(b.occ_kind[rows, other], b.occ_size[rows, other]) + 0.05
        ok &= ~valid | clear
    return ok
