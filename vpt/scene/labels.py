"""Labels and image measurements of scene specs, computed analytically in batches.

Label polarity (the same everywhere in vpt: specs, JSON, index, evaluators, reports):

* ``vpt_label`` = 1 when the viewer can see the ball (the ball, enlarged by the margin, is
  entirely inside the viewer's field of view shrunk by the angular margin and nothing blocks
  it); 0 when it cannot, with ``hidden_reason`` ``occluded`` (clearly inside the field of view
  but every line of sight blocked) or ``out_of_view`` (clearly outside the field of view);
  ``None`` (``partial``) otherwise. Partial items never enter binary sets.
* ``depth_label`` = 1 when the **ball** is closer to the observer camera than the viewer,
  0 when the **viewer** is closer; ``None`` when the relative gap
  ``|d_ball - d_viewer| / max(d_ball, d_viewer)`` is below the minimum, in Euclidean distance
  or in z depth (both must agree). Distances are to the ball centre and the viewer's body
  centre.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

from vpt.scene import geometry as geo
from vpt.scene.primitives import occluder_rows, sphere_row
from vpt.scene.raster import segment_coverage
from vpt.scene.spec import SceneSpec


@dataclass(frozen=True)
class LabelConfig:
    """Thresholds that turn raw geometry into labels (recipe ``labels:`` section)."""

    ball_margin: float = 0.15  # the ball is enlarged by this fraction of its radius for labels
    fov_margin_deg: float = 6.0  # "clearly" in or out of the viewer's field of view
    min_depth_gap: float = 0.10  # minimum relative depth gap for a depth label
    min_observer_visible: float = 0.9  # ball and viewer at least this visible in the image
    min_ball_px: float = 5.0  # minimum radius of the ball in pixels
    min_viewer_px: float = 9.0  # minimum radius of the viewer's proxy sphere in pixels
    n_rays: int = geo.N_RAYS_DEFAULT


@dataclass(frozen=True)
class Depths:
    """Distances from the observer camera (m) and the relative gaps the depth label needs."""

    ball_euclidean_m: float
    viewer_euclidean_m: float
    ball_z_m: float
    viewer_z_m: float
    relative_gap_euclidean: float
    relative_gap_z: float


@dataclass(frozen=True)
class ImageMeasurements:
    """Where the ball and the viewer are in the observer's image (pixels, the image convention
    of :mod:`vpt.scene.spec`): centres, radii of equal-area discs, bounding boxes."""

    ball_center_px: tuple[float, float]
    ball_radius_px: float
    ball_bbox_px: tuple[float, float, float, float]
    viewer_center_px: tuple[float, float]
    viewer_eye_px: tuple[float, float]
    viewer_radius_px: float
    viewer_bbox_px: tuple[float, float, float, float]
    segment_length_px: float


@dataclass(frozen=True)
class SceneLabels:
    """The labels of one scene and the measurements behind them (:func:`label_scenes`).

    ``vpt_label`` / ``hidden_reason`` / ``depth_label`` follow the polarity in the module
    docstring; the fractions are shares of the ball's solid angle seen from the viewer's eye;
    ``observer_*`` are the ball's and the viewer's visible shares in the observer's image,
    ``observer_problems`` why the image is unusable (empty when ``observer_ok``). The
    counterbalancing cues: ``ball_side``, ``viewer_facing`` (left/right in the image),
    ``occluder_overlaps_segment`` with ``segment_coverage`` (share of the 2D segment viewer to
    ball an occluder covers) and ``segment_occluders``. ``viewer_visible_pixel_fraction`` is
    set on sweep steps only (:mod:`vpt.datasets.sweeps`). :meth:`to_dict` is the JSON form.
    """

    vpt_label: int | None
    hidden_reason: str | None
    depth_label: int | None
    viewer_visible_fraction: float
    viewer_in_view_fraction: float
    viewer_unoccluded_fraction: float
    floor_blocks: bool
    blocking_occluders: tuple[int, ...]
    observer_ball_visible_fraction: float
    observer_viewer_visible_fraction: float
    observer_ok: bool
    observer_problems: tuple[str, ...]
    depth: Depths
    image: ImageMeasurements
    ball_side: str
    viewer_facing: str
    viewer_facing_angle_deg: float
    viewer_turn_deg: float
    facing_ball_angle_2d_deg: float
    segment_coverage: float
    segment_occluders: tuple[int, ...]
    occluder_overlaps_segment: bool
    viewer_visible_pixel_fraction: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain dicts and lists (``viewer_visible_pixel_fraction`` only where set)."""
        d = asdict(self)
        for k in ("blocking_occluders", "observer_problems", "segment_occluders"):
            d[k] = list(d[k])
        d["image"] = {k: list(v) if isinstance(v, tuple) else v for k, v in d["image"].items()}
        if d["viewer_visible_pixel_fraction"] is None:
            del d["viewer_visible_pixel_fraction"]
        return d


class _QueryBuilder:
    def __init__(self) -> None:
        self.cols: dict[str, list] = {k: [] for k in ("eye", "center", "radius", "dilate", "forward", "right", "up",
                                                       "half_h", "half_v", "margin", "has_frustum", "floor")}
        self.rows: list[tuple] = []
        self.row_ids: list[int] = []  # occluder id per row (-1 viewer proxy, -2 ball)

    def add(self, eye, center, radius, dilate, basis, half_h, half_v, margin, occ_rows, occ_ids) -> int:
        q = len(self.cols["eye"])
        f, r, u = basis
        for k, v in (("eye", eye), ("center", center), ("radius", radius), ("dilate", dilate), ("forward", f),
                     ("right", r), ("up", u), ("half_h", half_h), ("half_v", half_v), ("margin", margin),
                     ("has_frustum", True), ("floor", True)):
            self.cols[k].append(v)
        self.rows.extend((q,) + row[1:] for row in occ_rows)
        self.row_ids.extend(occ_ids)
        return q

    def run(self, n_rays: int) -> tuple[geo.ConeVisibility, np.ndarray, np.ndarray]:
        c = {k: np.asarray(v, dtype=bool if k in ("has_frustum", "floor") else float) for k, v in self.cols.items()}
        prims = geo.Primitives.from_rows(self.rows)
        q = geo.ConeQueries(occluders=prims, **c)
        return geo.cone_visibility(q, n_rays), prims.query, np.asarray(self.row_ids, int)


def label_scenes(specs: Sequence[SceneSpec], cfg: LabelConfig) -> list[SceneLabels]:
    """Labels, raw fractions, depths and image measurements for each spec (one each)."""
    if not specs:
        return []
    vb, ob, ov = _QueryBuilder(), _QueryBuilder(), _QueryBuilder()
    fov_m = math.radians(cfg.fov_margin_deg)
    for s in specs:
        v, b, obs = s.viewer, s.ball, s.observer
        occ = occluder_rows(s, 0)
        ids = [o.id for o in s.occluders]
        vb.add(v.eye, b.position, b.radius, 1.0 + cfg.ball_margin, v.basis(), math.radians(v.hfov_deg) / 2,
               math.radians(v.vfov_deg) / 2, fov_m, occ, ids)
        obasis = obs.basis()
        oh, ovh = math.radians(obs.hfov_deg) / 2, math.radians(obs.vfov_deg) / 2
        ob.add(obs.position, b.position, b.radius, 1.0, obasis, oh, ovh, 0.0,
               occ + [sphere_row(0, v.proxy_center, v.proxy_radius)], ids + [-1])
        ov.add(obs.position, v.proxy_center, v.proxy_radius, 1.0, obasis, oh, ovh, 0.0,
               occ + [sphere_row(0, b.position, b.radius)], ids + [-2])
    res_vb, q_vb, id_vb = vb.run(cfg.n_rays)
    res_ob, q_ob, id_ob = ob.run(max(64, cfg.n_rays // 4))
    res_ov, q_ov, id_ov = ov.run(max(64, cfg.n_rays // 4))

    obs_pos = np.array([s.observer.position for s in specs], float)
    p_viewer = np.array([s.viewer.position for s in specs], float)
    p_ball = np.array([s.ball.position for s in specs], float)
    img = _image_measurements(specs, obs_pos, p_viewer, p_ball)
    # image-segment cue, as the image shows it: occluder pixels on the 2D segment viewer -> ball
    coverage, seen = segment_coverage(specs, img["uv"][:, 1], img["uv"][:, 0])

    out = []
    for i, s in enumerate(specs):
        out.append(_scene_record(s, cfg, i, res_vb, q_vb, id_vb, res_ob, res_ov, img, float(coverage[i]), seen[i]))
    return out


_RIM = 24
_RIM_AREA = 0.5 * _RIM * math.sin(2 * math.pi / _RIM) / math.pi  # inscribed polygon / circle


def _image_measurements(specs, obs_pos, p_viewer, p_ball) -> dict[str, np.ndarray]:
    """Pixel positions, sizes and depths of ball and viewer, batched over scenes."""
    fwd = np.array([s.viewer.forward for s in specs])
    eye = np.array([s.viewer.eye for s in specs])
    proxy_c = np.array([s.viewer.proxy_center for s in specs])
    proxy_r = np.array([s.viewer.proxy_radius for s in specs])
    ball_r = np.array([s.ball.radius for s in specs])
    rim_b = geo.sphere_rims(obs_pos, p_ball, ball_r, _RIM)
    rim_v = geo.sphere_rims(obs_pos, proxy_c, proxy_r, _RIM)
    pts = np.concatenate([p_ball[:, None], p_viewer[:, None], eye[:, None], (p_viewer + 0.5 * fwd)[:, None],
                          rim_b, rim_v], axis=1)
    w2c = np.stack([s.observer._world_to_cv for s in specs])
    cam = np.matmul(pts, w2c[:, :3, :3].transpose(0, 2, 1)) + w2c[:, None, :3, 3]
    foc = np.array([s.observer.focal_px for s in specs])
    cxy = np.array([[s.observer.width / 2.0, s.observer.height / 2.0] for s in specs])
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = foc[:, None, None] * cam[..., :2] / cam[..., 2:3] + cxy[:, None, :]

    def area(poly):
        x, y = poly[..., 0], poly[..., 1]
        return 0.5 * np.abs(np.sum(x * np.roll(y, -1, axis=1) - y * np.roll(x, -1, axis=1), axis=1)) / _RIM_AREA

    ub, uvv = uv[:, 4:4 + _RIM], uv[:, 4 + _RIM:]
    return {
        "uv": uv[:, :4], "z": cam[:, :2, 2],
        "dist": np.linalg.norm(np.stack([p_ball, p_viewer], 1) - obs_pos[:, None], axis=2),
        "ball_r": np.sqrt(area(ub) / math.pi), "view_r": np.sqrt(area(uvv) / math.pi),
        "ball_bbox": np.concatenate([ub.min(1), ub.max(1)], 1), "view_bbox": np.concatenate([uvv.min(1), uvv.max(1)], 1),
    }


def _scene_record(s: SceneSpec, cfg: LabelConfig, i: int, res_vb, q_vb, id_vb, res_ob, res_ov, img,
                  coverage: float, seen) -> SceneLabels:
    # --- VPT
    if res_vb.clear_visible[i]:
        vpt_label, reason = 1, None
    elif res_vb.clear_out_of_view[i]:
        vpt_label, reason = 0, "out_of_view"
    elif res_vb.clear_in_view[i] and res_vb.clear_occluded[i]:
        vpt_label, reason = 0, "occluded"
    else:
        vpt_label, reason = None, "partial"
    blockers = [int(x) for x in id_vb[(q_vb == i) & res_vb.occluder_blocks]]

    # --- depth order
    d_ball, d_view = (float(x) for x in img["dist"][i])
    z_ball, z_view = (float(x) for x in img["z"][i])
    gap_e = abs(d_ball - d_view) / max(d_ball, d_view)
    gap_z = abs(z_ball - z_view) / max(abs(z_ball), abs(z_view))
    agree = (d_ball < d_view) == (z_ball < z_view)
    depth_label = int(d_ball < d_view) if (agree and min(gap_e, gap_z) >= cfg.min_depth_gap) else None

    # --- image measurements
    c_ball, c_view, c_eye, fwd_tip = img["uv"][i]
    ball_r_px, view_r_px = float(img["ball_r"][i]), float(img["view_r"][i])
    ball_vis, view_vis = float(res_ob.visible_fraction[i]), float(res_ov.visible_fraction[i])
    problems = []
    if ball_vis < cfg.min_observer_visible:
        problems.append("ball not clearly visible in the image")
    if view_vis < cfg.min_observer_visible:
        problems.append("viewer not clearly visible in the image")
    if ball_r_px < cfg.min_ball_px:
        problems.append("ball too small in the image")
    if view_r_px < cfg.min_viewer_px:
        problems.append("viewer too small in the image")
    right = s.observer.basis()[1]

    return SceneLabels(
        vpt_label=vpt_label,
        hidden_reason=reason,
        depth_label=depth_label,
        viewer_visible_fraction=float(res_vb.visible_fraction[i]),
        viewer_in_view_fraction=float(res_vb.in_view_fraction[i]),
        viewer_unoccluded_fraction=float(res_vb.unoccluded_fraction[i]),
        floor_blocks=bool(res_vb.floor_blocks[i]),
        blocking_occluders=tuple(blockers),
        observer_ball_visible_fraction=ball_vis,
        observer_viewer_visible_fraction=view_vis,
        observer_ok=not problems,
        observer_problems=tuple(problems),
        depth=Depths(ball_euclidean_m=d_ball, viewer_euclidean_m=d_view, ball_z_m=z_ball, viewer_z_m=z_view,
                     relative_gap_euclidean=gap_e, relative_gap_z=gap_z),
        image=ImageMeasurements(
            ball_center_px=(float(c_ball[0]), float(c_ball[1])),
            ball_radius_px=ball_r_px,
            ball_bbox_px=tuple(float(x) for x in img["ball_bbox"][i]),
            viewer_center_px=(float(c_view[0]), float(c_view[1])),
            viewer_eye_px=(float(c_eye[0]), float(c_eye[1])),
            viewer_radius_px=view_r_px,
            viewer_bbox_px=tuple(float(x) for x in img["view_bbox"][i]),
            segment_length_px=float(np.hypot(*(c_ball - c_view))),
        ),
        ball_side="right" if c_ball[0] > c_view[0] else "left",
        viewer_facing="right" if fwd_tip[0] > c_view[0] else "left",
        viewer_facing_angle_deg=float(math.degrees(math.asin(float(np.clip(np.dot(s.viewer.forward, right), -1, 1))))),
        viewer_turn_deg=_turn_deg(s),
        facing_ball_angle_2d_deg=_angle_2d(c_eye - c_view, c_ball - c_eye),
        segment_coverage=coverage,
        segment_occluders=tuple(seen),
        occluder_overlaps_segment=coverage > 0,
    )


def _turn_deg(s: SceneSpec) -> float:
    """How far the viewer is turned from side-on toward (+) or away from (-) the observer,
    in degrees of its horizontal facing (0 = side-on, 90 = facing the observer)."""
    yaw = math.radians(s.viewer.yaw_deg)
    f = np.array([math.cos(yaw), math.sin(yaw)])
    to_obs = np.asarray(s.observer.position[:2], float) - np.asarray(s.viewer.position[:2], float)
    to_obs /= max(float(np.linalg.norm(to_obs)), 1e-9)
    return float(math.degrees(math.asin(float(np.clip(f @ to_obs, -1.0, 1.0)))))


def _angle_2d(a: np.ndarray, b: np.ndarray) -> float:
    """Angle in degrees between two image vectors (the viewer's 2D facing, eye to ball)."""
    na, nb = float(np.hypot(*a)), float(np.hypot(*b))
    if na == 0 or nb == 0:
        return 90.0
    return float(math.degrees(math.acos(float(np.clip((a @ b) / (na * nb), -1.0, 1.0)))))
