"""Steering labels of a candidate batch, computed as arrays, cheapest checks first.

The planner needs, for each candidate, only the counterbalancing stratum it lands in and its
image-cue bins (:func:`vpt.scene.sampling.cue_bins`). This module computes them with the
same geometry as :func:`vpt.scene.labels.label_scenes` (the same cone queries of
:func:`vpt.scene.geometry.cone_visibility`, the same image measurements, the same segment
rays as :func:`vpt.scene.raster.segment_coverage`), straight from the arrays of a
:class:`~vpt.scene.batch.CandidateBatch`, and drops a candidate at the first check it fails:

1. the image measurements (ball and viewer large enough, depth gap) and whether the
   stratum's (side, facing, depth) still has room;
2. the observer's view of the ball and of the viewer (cones of few rays);
3. the viewer's view of the ball (the VPT label and hidden reason), and room again;
4. the image segment's coverage (the overlap cue) and room for the full stratum.

``label_scenes`` stays the reference: the planner relabels every accepted candidate with it
(:func:`vpt.datasets.balance.fill`), and ``tests/test_fastlabels.py`` checks that both give
the same strata and bins on thousands of candidates.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from vpt.scene import geometry as geo
from vpt.scene.batch import CandidateBatch, camera_bases
from vpt.scene.labels import _RIM, _RIM_AREA, LabelConfig
from vpt.scene.aims import ANGLE_EDGES, COVER_EDGES, TURN_EDGES

# a stratum key: (side right, facing right, overlap, vpt label, occluded, depth label)
Key = tuple[int, int, int, int, int, int]
N_SEGMENT = 64  # rays along the image segment (vpt.scene.raster.segment_coverage)
ROOM = "cell already full"
UNUSED = "stratum not used by this recipe"


@dataclass
class Steered:
    """The candidates of a batch that passed every check (``rows``), with their stratum
    keys (``keys``, one tuple each) and image-cue bins (``bins``), and why the rest failed."""

    rows: np.ndarray
    keys: list[Key]
    bins: list[tuple[int, int, int]]
    rejections: Counter


def _code(keys: np.ndarray) -> np.ndarray:
    """Integer codes of (partial) keys of 0/1 entries (R, P)."""
    return keys @ (1 << np.arange(keys.shape[1]))


def _room(keys: np.ndarray, wanted: set[tuple], used: set[tuple], rej: Counter) -> np.ndarray:
    """Which rows' (partial) keys are wanted; the others are counted in ``rej`` (a full
    cell, or a stratum the recipe does not use)."""
    if not len(keys):
        return np.zeros(0, bool)
    codes = _code(keys)
    ok = np.isin(codes, _code(np.array(sorted(wanted), int).reshape(-1, keys.shape[1])))
    full = np.isin(codes[~ok], _code(np.array(sorted(used), int).reshape(-1, keys.shape[1])))
    rej[ROOM] += int(full.sum())
    rej[UNUSED] += int((~full).sum())
    return ok


def steer(b: CandidateBatch, cfg: LabelConfig, n_rays: int, open_keys: set[Key], quota_keys: set[Key]) -> Steered:
    """The checks of the module docstring on the built candidates of ``b``; ``open_keys``
    are the strata with room left, ``quota_keys`` every stratum of the recipe."""
    rej: Counter = Counter(b.rejections())
    rows = np.flatnonzero(b.built)
    # 1. image measurements
    m = _image(b, rows, cfg.min_depth_gap)
    small_b, small_v = m["ball_r"] < cfg.min_ball_px, m["view_r"] < cfg.min_viewer_px
    rej["ball too small in the image"] += int(small_b.sum())
    rej["viewer too small in the image"] += int(small_v.sum())
    no_depth = m["depth"] < 0
    rej["depth gap below the minimum"] += int((no_depth & ~small_b & ~small_v).sum())
    ok = ~(small_b | small_v | no_depth)
    sfd = np.stack([m["side"], m["facing"], m["depth"]], 1)
    ok[ok] &= _room(sfd[ok], {(k[0], k[1], k[5]) for k in open_keys}, {(k[0], k[1], k[5]) for k in quota_keys}, rej)
    rows, m = rows[ok], {k: v[ok] for k, v in m.items()}
    # 2. the observer's view of the ball and of the viewer
    if len(rows):
        n_obs = max(64, n_rays // 4)
        ball_vis = _observer_fraction(b, rows, "ball", n_obs)
        view_vis = _observer_fraction(b, rows, "viewer", n_obs)
        bad_b, bad_v = ball_vis < cfg.min_observer_visible, view_vis < cfg.min_observer_visible
        rej["ball not clearly visible in the image"] += int(bad_b.sum())
        rej["viewer not clearly visible in the image"] += int(bad_v.sum())
        ok = ~(bad_b | bad_v)
        rows, m = rows[ok], {k: v[ok] for k, v in m.items()}
    # 3. the viewer's view of the ball
    if len(rows):
        vpt, occluded = _viewer_labels(b, rows, cfg, n_rays)
        partial = vpt < 0
        rej["ball partly visible to the viewer (ambiguous)"] += int(partial.sum())
        ok = ~partial
        part = np.stack([m["side"], m["facing"], vpt, occluded, m["depth"]], 1)
        proj = (lambda ks: {(k[0], k[1], k[3], k[4], k[5]) for k in ks})
        ok[ok] &= _room(part[ok], proj(open_keys), proj(quota_keys), rej)
        rows, vpt, occluded = rows[ok], vpt[ok], occluded[ok]
        m = {k: v[ok] for k, v in m.items()}
    # 4. the image segment
    keys: list[Key] = []
    bins: list[tuple[int, int, int]] = []
    if len(rows):
        cover = _segment_coverage(b, rows, m["uv"][:, 1], m["uv"][:, 0])
        overlap = (cover > 0).astype(int)
        full = np.stack([m["side"], m["facing"], overlap, vpt, occluded, m["depth"]], 1)
        ok = _room(full, open_keys, quota_keys, rej)
        cbin = np.where(overlap == 1, np.searchsorted(COVER_EDGES, cover, side="left"), -1)
        abin = np.searchsorted(ANGLE_EDGES, m["angle"], side="left")
        tbin = np.searchsorted(TURN_EDGES, np.abs(m["turn"]), side="left")
        rows = rows[ok]
        keys = [tuple(k) for k in full[ok].tolist()]
        bins = [tuple(x) for x in np.stack([cbin[ok], abin[ok], tbin[ok]], 1).tolist()]
    return Steered(rows, keys, bins, rej)


def _w2c(b: CandidateBatch, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    f, r, u = camera_bases(b.obs_look[rows] - b.obs_pos[rows])
    rot = np.stack([r, -u, f], 1)
    return rot, -np.matmul(rot, b.obs_pos[rows][:, :, None])[..., 0], (f, r, u)


def _focal(b: CandidateBatch, rows: np.ndarray) -> np.ndarray:
    return (b.width / 2.0) / np.tan(np.radians(b.obs_hfov[rows]) / 2.0)


def _image(b: CandidateBatch, rows: np.ndarray, min_gap: float) -> dict[str, np.ndarray]:
    """The image measurements of :func:`vpt.scene.labels._image_measurements` and the cues
    that follow from them (side, facing, depth label, 2D angle, turn), for ``rows``."""
    obs, p_ball, p_view = b.obs_pos[rows], b.b_pos[rows], b.v_pos[rows]
    fwd, eye = b.forward[rows], b.eye[rows]
    proxy_c = p_view + fwd * b.geom("proxy_offset")[rows, None]
    proxy_r = b.geom("proxy_radius")[rows]
    rim_b = geo.sphere_rims(obs, p_ball, b.b_r[rows], _RIM)
    rim_v = geo.sphere_rims(obs, proxy_c, proxy_r, _RIM)
    pts = np.concatenate([p_ball[:, None], p_view[:, None], eye[:, None], (p_view + 0.5 * fwd)[:, None], rim_b, rim_v], 1)
    rot, tr, _ = _w2c(b, rows)
    cam = np.matmul(pts, rot.transpose(0, 2, 1)) + tr[:, None, :]
    foc = _focal(b, rows)
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = foc[:, None, None] * cam[..., :2] / cam[..., 2:3] + np.array([b.width / 2.0, b.height / 2.0])

    def radius(poly):
        x, y = poly[..., 0], poly[..., 1]
        area = 0.5 * np.abs(np.sum(x * np.roll(y, -1, axis=1) - y * np.roll(x, -1, axis=1), axis=1)) / _RIM_AREA
        return np.sqrt(area / math.pi)

    d_ball, d_view = np.linalg.norm(p_ball - obs, axis=1), np.linalg.norm(p_view - obs, axis=1)
    z_ball, z_view = cam[:, 0, 2], cam[:, 1, 2]
    gap_e = np.abs(d_ball - d_view) / np.maximum(d_ball, d_view)
    gap_z = np.abs(z_ball - z_view) / np.maximum(np.abs(z_ball), np.abs(z_view))
    agree = (d_ball < d_view) == (z_ball < z_view)
    depth = np.where(agree & (np.minimum(gap_e, gap_z) >= min_gap), (d_ball < d_view).astype(int), -1)
    c_ball, c_view, c_eye, tip = uv[:, 0], uv[:, 1], uv[:, 2], uv[:, 3]
    a, v = c_eye - c_view, c_ball - c_eye
    na, nv = np.hypot(a[:, 0], a[:, 1]), np.hypot(v[:, 0], v[:, 1])
    with np.errstate(divide="ignore", invalid="ignore"):
        cos = np.clip(np.sum(a * v, axis=1) / (na * nv), -1.0, 1.0)
    angle = np.where((na == 0) | (nv == 0), 90.0, np.degrees(np.arccos(cos)))
    yr = np.radians(b.yaw[rows])
    to_obs = obs[:, :2] - p_view[:, :2]
    to_obs = to_obs / np.maximum(np.linalg.norm(to_obs, axis=1), 1e-9)[:, None]
    turn = np.degrees(np.arcsin(np.clip(np.cos(yr) * to_obs[:, 0] + np.sin(yr) * to_obs[:, 1], -1.0, 1.0)))
    return {"uv": uv[:, :4], "ball_r": radius(uv[:, 4:4 + _RIM]), "view_r": radius(uv[:, 4 + _RIM:]),
            "depth": depth, "side": (c_ball[:, 0] > c_view[:, 0]).astype(int),
            "facing": (tip[:, 0] > c_view[:, 0]).astype(int), "angle": angle, "turn": turn}


def _occluder_rows(b: CandidateBatch, rows: np.ndarray) -> tuple[np.ndarray, ...]:
    """Primitive arrays (local query, kind, centre, half extents, yaw radians) of the
    occluders of ``rows``, in query then occluder order (as label_scenes builds them)."""
    valid = b.occ_valid[rows]
    q, k = np.nonzero(valid)
    r = rows[q]
    size = b.occ_size[r, k]
    kind = b.occ_kind[r, k]
    half = np.stack([size[:, 0] / 2, np.where(kind == geo.BOX, size[:, 1], size[:, 0]) / 2, size[:, 2] / 2], 1)
    return q, kind, b.occ_pos[r, k], half, np.radians(b.occ_yaw[r, k])


def _concat_prims(parts: list[tuple[np.ndarray, ...]]) -> geo.Primitives:
    q, kind, c, h, y = (np.concatenate([p[i] for p in parts]) for i in range(5))
    order = np.argsort(q, kind="stable")
    return geo.Primitives(q[order].astype(int), kind[order].astype(int), c[order], h[order], y[order])


def _sphere_prims(q: np.ndarray, centre: np.ndarray, radius: np.ndarray) -> tuple[np.ndarray, ...]:
    return q, np.full(len(q), geo.SPHERE), centre, np.repeat(radius[:, None], 3, 1), np.zeros(len(q))


def _observer_fraction(b: CandidateBatch, rows: np.ndarray, what: str, n_rays: int) -> np.ndarray:
    """Visible share of the ball (``what="ball"``) or of the viewer's proxy sphere in the
    observer's image: the observer cone queries of label_scenes."""
    n = len(rows)
    q = np.arange(n)
    proxy_c = b.v_pos[rows] + b.forward[rows] * b.geom("proxy_offset")[rows, None]
    proxy_r = b.geom("proxy_radius")[rows]
    if what == "ball":
        centre, radius, other = b.b_pos[rows], b.b_r[rows], _sphere_prims(q, proxy_c, proxy_r)
    else:
        centre, radius, other = proxy_c, proxy_r, _sphere_prims(q, b.b_pos[rows], b.b_r[rows])
    _, _, (f, r, u) = _w2c(b, rows)
    vfov = 2.0 * np.arctan((b.height / 2.0) / _focal(b, rows))
    queries = geo.ConeQueries(eye=b.obs_pos[rows], center=centre, radius=radius, dilate=np.ones(n), forward=f,
                              right=r, up=u, half_h=np.radians(b.obs_hfov[rows]) / 2, half_v=vfov / 2,
                              margin=np.zeros(n), has_frustum=np.ones(n, bool), floor=np.ones(n, bool),
                              occluders=_concat_prims([_occluder_rows(b, rows), other]))
    return geo.cone_visibility(queries, n_rays).visible_fraction


def _viewer_labels(b: CandidateBatch, rows: np.ndarray, cfg: LabelConfig, n_rays: int) -> tuple[np.ndarray, np.ndarray]:
    """VPT label (-1 partial) and whether a hidden ball is occluded (else out of view)."""
    n = len(rows)
    f, r, u = camera_bases(b.forward[rows])
    queries = geo.ConeQueries(eye=b.eye[rows], center=b.b_pos[rows], radius=b.b_r[rows],
                              dilate=np.full(n, 1.0 + cfg.ball_margin), forward=f, right=r, up=u,
                              half_h=np.radians(b.v_hfov[rows]) / 2, half_v=np.radians(b.v_vfov[rows]) / 2,
                              margin=np.full(n, math.radians(cfg.fov_margin_deg)), has_frustum=np.ones(n, bool),
                              floor=np.ones(n, bool), occluders=_concat_prims([_occluder_rows(b, rows)]))
    res = geo.cone_visibility(queries, n_rays)
    occluded = ~res.clear_visible & ~res.clear_out_of_view & res.clear_in_view & res.clear_occluded
    vpt = np.where(res.clear_visible, 1, np.where(res.clear_out_of_view | occluded, 0, -1))
    return vpt, occluded.astype(int)


def _viewer_prims(b: CandidateBatch, rows: np.ndarray) -> tuple[np.ndarray, ...]:
    """The viewer stand-in of :func:`vpt.scene.primitives.viewer_rows` per row: (R, 3)
    slots (body, lens, pole) with a validity mask."""
    n = len(rows)
    s = b.v_scale[rows]
    d, w, h, eye = (b.geom(k)[rows] for k in ("depth", "width", "height", "eye"))
    yaw = np.radians(b.yaw[rows])
    f = np.stack([np.cos(yaw), np.sin(yaw), np.zeros(n)], 1)
    pos = b.v_pos[rows]
    lens_r = 0.068 * s
    lens_len = np.maximum(eye - d / 2.0, 1e-3)
    bottom = pos[:, 2] - h / 2
    models = np.array(b.models)[b.model[rows]]
    centre = np.stack([pos, pos + f * (d / 2 + lens_len / 2)[:, None],
                       np.stack([pos[:, 0], pos[:, 1], bottom / 2], 1)], 1)
    half = np.stack([np.stack([d / 2, w / 2, h / 2], 1), np.stack([lens_len / 2, lens_r, lens_r], 1),
                     np.stack([0.012 * s, 0.012 * s, bottom / 2], 1)], 1)
    kind = np.tile([geo.BOX, geo.BOX, geo.CYLINDER], (n, 1))
    yaws = np.stack([yaw, yaw, np.zeros(n)], 1)
    valid = np.ones((n, 3), bool)
    valid[:, 2] = (models != "figure") & (bottom > 0.02)
    return kind, centre, half, yaws, valid


def _segment_coverage(b: CandidateBatch, rows: np.ndarray, p_view: np.ndarray, p_ball: np.ndarray) -> np.ndarray:
    """:func:`vpt.scene.raster.segment_coverage` of ``rows`` (coverage only), vectorised:
    the first solid hit by each of N_SEGMENT rays along the image segment viewer -> ball."""
    n, k = len(rows), b.occ_valid.shape[1]
    vk, vc, vh, vy, vv = _viewer_prims(b, rows)
    occ_half = np.stack([b.occ_size[rows, :, 0] / 2,
                         np.where(b.occ_kind[rows] == geo.BOX, b.occ_size[rows, :, 1], b.occ_size[rows, :, 0]) / 2,
                         b.occ_size[rows, :, 2] / 2], 2)
    br = b.b_r[rows]
    kind = np.concatenate([np.full((n, 1), geo.SPHERE), vk, b.occ_kind[rows]], 1)
    centre = np.concatenate([b.b_pos[rows][:, None], vc, b.occ_pos[rows]], 1)
    half = np.concatenate([np.repeat(br[:, None, None], 3, 2), vh, occ_half], 1)
    yaw = np.concatenate([np.zeros((n, 1)), vy, np.radians(b.occ_yaw[rows])], 1)
    valid = np.concatenate([np.ones((n, 1), bool), vv, b.occ_valid[rows]], 1)
    ids = np.concatenate([np.full((n, 1), 1), np.full((n, 3), 2), 10 + np.tile(np.arange(k), (n, 1))], 1)
    # ray directions through the samples
    t = np.linspace(0.0, 1.0, N_SEGMENT)
    uv = p_view[:, None] + t[None, :, None] * (p_ball - p_view)[:, None]
    _, _, (f, r, u) = _w2c(b, rows)
    foc = _focal(b, rows)
    x = (uv[..., 0] - b.width / 2.0) / foc[:, None]
    y = (uv[..., 1] - b.height / 2.0) / foc[:, None]
    d = f[:, None] + x[..., None] * r[:, None] - y[..., None] * u[:, None]
    d = d / np.linalg.norm(d, axis=2, keepdims=True)
    # a ray can only hit a solid whose screen box (projected bounding-box corners, all in
    # front of the camera, one pixel wider) holds its sample; the rest are cast in full
    c, s_ = np.cos(yaw), np.sin(yaw)
    ext = np.stack([np.abs(c) * half[..., 0] + np.abs(s_) * half[..., 1],
                    np.abs(s_) * half[..., 0] + np.abs(c) * half[..., 1], half[..., 2]], 2)
    ext = np.where((kind == geo.BOX)[..., None], ext, half)
    signs = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float)
    corners = centre[:, :, None, :] + signs[None, None] * ext[:, :, None, :]  # (n, P, 8, 3)
    rot, tr, _ = _w2c(b, rows)
    cam = np.matmul(corners.reshape(n, -1, 3), rot.transpose(0, 2, 1)).reshape(corners.shape) + tr[:, None, None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        cu = foc[:, None, None] * cam[..., 0] / cam[..., 2] + b.width / 2.0
        cv = foc[:, None, None] * cam[..., 1] / cam[..., 2] + b.height / 2.0
    front = np.all(cam[..., 2] > 1e-6, axis=2)
    lo_u, hi_u = np.where(front, cu.min(2) - 1, -np.inf), np.where(front, cu.max(2) + 1, np.inf)
    lo_v, hi_v = np.where(front, cv.min(2) - 1, -np.inf), np.where(front, cv.max(2) + 1, np.inf)
    su, sv = uv[..., 0][:, None, :], uv[..., 1][:, None, :]  # (n, 1, S)
    near = (valid[..., None] & (su >= lo_u[..., None]) & (su <= hi_u[..., None])
            & (sv >= lo_v[..., None]) & (sv <= hi_v[..., None]))
    qi, pi, si = np.nonzero(near)
    hit_t = np.full((n, valid.shape[1], N_SEGMENT), np.inf)
    hit_t[qi, pi, si] = geo.ray_entry(b.obs_pos[rows][qi][:, None, :], d[qi, si][:, None, :], kind[qi, pi],
                                      centre[qi, pi], half[qi, pi], yaw[qi, pi])[:, 0]
    first = np.argmin(hit_t, axis=1)  # (n, S)
    hit = np.isfinite(np.take_along_axis(hit_t, first[:, None], 1)[:, 0])
    first_id = np.where(hit, np.take_along_axis(ids, first, 1), 0)
    free = (first_id != 1) & (first_id != 2)
    occ = (first_id >= 10) & free
    n_free = free.sum(axis=1)
    return np.where(n_free > 0, occ.sum(axis=1) / np.maximum(n_free, 1), 0.0)
