"""The image-plane geometry of a ball on the floor, kept for :mod:`tests.test_imageplane`: for
a viewer yaw, the floor points whose image lies on the ray from the projected lens at a signed
2D angle from the projected facing form a line, so a ball anywhere on it has exactly that 2D
angle (:func:`facing_candidates`). The first facing pairs were built on it; on a floor a ball's
image position fixes its 3D position, so their visible ball tended to be larger and lower in
the image (docs/conflict.md). :func:`vpt.scene.conflict.build_pairs` now builds facing pairs
with raised balls (:mod:`vpt.scene.conflict_raised`).
"""

from __future__ import annotations

import math

import numpy as np

from vpt.scene.conflict_parts import CLEAR_BUFFER_DEG, floor_points_on_image_ray, frustum_margins
from vpt.scene.imageplane import facing_geometry
from vpt.scene.labels import LabelConfig
from vpt.scene.settings import SamplingSettings
from vpt.scene.spec import SceneSpec, direction_from_angles

YAW_STEP_DEG = 3.0
N_LAMBDA = 160  # image distances tried along the iso-angle ray, per yaw


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
