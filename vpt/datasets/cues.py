"""Image cues: what a lazy learner could read off a stimulus without taking a perspective.

Every cue is computed from an object-index mask (0 nothing, 1 ball, 2 viewer, 10 + k
occluder k) and, where it exists, the RGB image; the only number taken from the scene
metadata is the projected eye (the lens front) of the viewer, a point the image shows. A
rendered mask and the analytic one of :mod:`vpt.scene.raster` go through the same code, so
the plan-time audit and the audit of a rendered dataset measure the same cues.

Cues (pixel units of the stimulus image):

* positions and sizes: ball and viewer centroids, areas, the vector between them;
* the viewer's silhouette: bounding-box width, height and aspect, principal-axis angle and
  elongation of its pixels, and the 2D facing (eye minus body centre) relative to the ball;
* occluders and the viewer-to-ball segment: the share of the segment that occluder pixels
  cover, along the line and in bands 5 and 11 px wide, from the viewer's body centre and from
  its lens; the distance from the segment to the nearest occluder pixel; occluder pixels
  near the ball and near the viewer; occluder area and count;
* appearance (RGB only): mean brightness and colour, the ball's brightness (shadowed or
  lit), the background brightness;
* derived (:data:`DERIVED_CUES`): the 2D facing rule and the 2D cover rule of
  :mod:`vpt.scene.imageplane` as answers, and the ball's and the viewer's ground contact in
  the image (lowest pixel), their difference and ratio;
* ``thumbnail``: an 8 x 8 grey image (RGB) or occluder-mask image (analytic), a cue *group*
  reported beside the scalar cues.

Every scalar cue belongs to one **family** (:data:`CUE_FAMILY`, issue 26): ``nuisance``
(positions, sizes, brightness, colour, occluder pixels away from the line of sight),
``image-plane`` (the two rules, their graded values and parts) and ``depth`` (the ball's and
the viewer's image size and height, their ratios). The audit reports each family apart.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

BALL_ID, VIEWER_ID, OCCLUDER_BASE = 1, 2, 10
BANDS = (1, 5, 11)  # band widths in pixels around the viewer-ball segment
THUMB = 8

# cue name -> description; the single-cue criterion runs over all of them
GEOMETRY_CUES: dict[str, str] = {
    "ball_x": "ball x in the image",
    "ball_y": "ball y in the image",
    "ball_area": "ball area (px)",
    "viewer_x": "viewer x in the image",
    "viewer_y": "viewer y in the image",
    "viewer_area": "viewer area (px)",
    "viewer_width": "viewer bounding-box width",
    "viewer_height": "viewer bounding-box height",
    "viewer_aspect": "viewer width / height",
    "viewer_axis_angle": "viewer principal-axis angle",
    "viewer_elongation": "viewer elongation (axis ratio)",
    "size_ratio": "ball size / viewer size",
    "dx": "ball x minus viewer x",
    "dy": "ball y minus viewer y",
    "abs_dx": "horizontal distance ball to viewer",
    "segment_length": "2D distance viewer to ball",
    "segment_angle": "direction viewer to ball (deg)",
    "facing_dx": "viewer's 2D facing, x (eye minus body)",
    "facing_dy": "viewer's 2D facing, y",
    "facing_ball_angle": "angle between 2D facing and direction to ball",
    "facing_ball_cos": "cosine of that angle",
    "occluder_area": "occluder pixels in the image",
    "n_occluders_visible": "occluders visible in the image",
    "segment_gap": "distance from segment to nearest occluder pixel",
    "near_ball_occ": "occluder pixels near the ball",
    "near_viewer_occ": "occluder pixels near the viewer",
    "near_ball_occ_wide": "occluder pixels in a wide ring around the ball",
}
for _w in BANDS:
    GEOMETRY_CUES[f"cover_body_{_w}"] = f"occluder share of the body-ball segment, {_w} px band"
    GEOMETRY_CUES[f"cover_lens_{_w}"] = f"occluder share of the lens-ball segment, {_w} px band"
# cues derived from the ones above, kept apart from GEOMETRY_CUES (the matched sampler's
# propensity model reads exactly those, so a planned recipe stays byte-identical): the two
# image-plane rules as answers (vpt.scene.imageplane, default thresholds), and the ground
# contacts of ball and viewer in the image (the lowest pixel of each silhouette) with their
# difference and ratio
DERIVED_CUES: dict[str, str] = {
    "facing_rule_2d": "2D facing rule: sees (angle below the threshold)",
    "cover_rule_2d": "2D cover rule: blocked (lens-ball segment covered)",
    "image_plane_rule": "image-plane answer (sees and not blocked)",
    "ball_bottom_y": "ball's lowest pixel (image height of its contact)",
    "viewer_bottom_y": "viewer's lowest pixel (image height of its stand)",
    "bottom_dy": "ball bottom minus viewer bottom",
    "height_ratio": "ball bottom / viewer bottom (image height ratio)",
}
RGB_CUES: dict[str, str] = {
    "brightness": "mean image brightness",
    "mean_r": "mean red",
    "mean_g": "mean green",
    "mean_b": "mean blue",
    "ball_brightness": "ball brightness (lit or shadowed)",
    "background_brightness": "background brightness",
    "viewer_brightness": "viewer brightness",
}


# cue -> family (issue 26): what a 2D reader could use, in three kinds. ``nuisance``: where
# things are, how big and bright, occluder pixels away from the line of sight; ``image-plane``:
# the 2D facing rule and the 2D cover rule, their graded values and their parts (the projected
# facing, the occluder coverage of the viewer-ball segment and its gap); ``depth``: the
# ball's and the viewer's image size and height, and their ratios.
FAMILY_NAMES = ("nuisance", "image-plane", "depth")
FAMILY_TITLES = {"nuisance": "nuisance", "image-plane": "image-plane line of sight", "depth": "depth cues"}
_IMAGE_PLANE = ("facing_dx", "facing_dy", "facing_ball_angle", "facing_ball_cos", "segment_gap", "facing_rule_2d",
                "cover_rule_2d", "image_plane_rule", *(f"cover_{s}_{w}" for s in ("body", "lens") for w in BANDS))
# (segment_angle, the image direction from viewer to ball, carries their height difference: it
# reads the depth label at 95 % on the default benchmark, so it counts as a depth cue)
_DEPTH = ("ball_y", "viewer_y", "ball_area", "viewer_area", "size_ratio", "dy", "segment_angle", "ball_bottom_y",
          "viewer_bottom_y", "bottom_dy", "height_ratio")
CUE_FAMILY: dict[str, str] = {c: ("image-plane" if c in _IMAGE_PLANE else "depth" if c in _DEPTH else "nuisance")
                              for c in (*GEOMETRY_CUES, *DERIVED_CUES, *RGB_CUES)}
# the graded values of each rule (the conflict set's criteria judge their AUC) and the depth
# label's two monocular cues (image height, image size)
GRADED_IMAGE_PLANE = ("facing_ball_angle", "facing_ball_cos", "segment_gap",
                      *(f"cover_{s}_{w}" for s in ("body", "lens") for w in BANDS))
DEPTH_HEIGHT_SIZE = {"image height": "dy", "image size": "size_ratio"}


def all_cues() -> dict[str, str]:
    """Every scalar cue the audit reads (name -> description)."""
    return {**GEOMETRY_CUES, **DERIVED_CUES, **RGB_CUES}


def family_cues(family: str, names=None) -> list[str]:
    """The cues of one family (of ``names`` when given, in their order)."""
    if family not in FAMILY_NAMES:
        raise ValueError(f"unknown cue family {family!r}; choose from {', '.join(FAMILY_NAMES)}")
    return [c for c in (names if names is not None else all_cues()) if CUE_FAMILY.get(c) == family]


def _centroid(m: np.ndarray) -> tuple[float, float, float]:
    ys, xs = np.nonzero(m)
    if len(xs) == 0:
        return math.nan, math.nan, 0.0
    return float(xs.mean() + 0.5), float(ys.mean() + 0.5), float(len(xs))


def _segment_points(p0: np.ndarray, p1: np.ndarray, width: int) -> np.ndarray:
    """Sample points (N, 2) along the segment p0 -> p1 and across a band ``width`` px wide."""
    length = float(np.hypot(*(p1 - p0)))
    n = max(2, int(math.ceil(length * 2)))
    t = np.linspace(0.0, 1.0, n)
    pts = p0[None] + t[:, None] * (p1 - p0)[None]
    if width <= 1 or length == 0:
        return pts
    normal = np.array([-(p1 - p0)[1], (p1 - p0)[0]]) / length
    offs = np.linspace(-(width - 1) / 2.0, (width - 1) / 2.0, width)
    return (pts[:, None, :] + offs[None, :, None] * normal[None, None, :]).reshape(-1, 2)


def _coverage(mask: np.ndarray, p0: np.ndarray, p1: np.ndarray, width: int) -> float:
    """Share of the band's sample points, ball and viewer pixels excluded, on occluders."""
    if not (np.all(np.isfinite(p0)) and np.all(np.isfinite(p1))):
        return math.nan
    h, w = mask.shape
    pts = _segment_points(p0, p1, width)
    xi = np.clip(np.floor(pts[:, 0]).astype(int), 0, w - 1)
    yi = np.clip(np.floor(pts[:, 1]).astype(int), 0, h - 1)
    vals = mask[yi, xi]
    free = (vals != BALL_ID) & (vals != VIEWER_ID)
    if not free.any():
        return 0.0
    return float(np.mean(vals[free] >= OCCLUDER_BASE))


def _ring_share(occ: np.ndarray, dist2: np.ndarray, radius: float, exclude: np.ndarray) -> float:
    sel = (dist2 <= radius * radius) & ~exclude
    return float(occ[sel].mean()) if sel.any() else 0.0


def image_cues(mask: np.ndarray, rgb: np.ndarray | None = None, eye_px: tuple[float, float] | None = None) -> dict[str, Any]:
    """Every cue of one stimulus (see the module docstring). ``rgb`` (H, W, 3) uint8 or
    None; ``eye_px`` the projected lens front, or None to use the viewer centroid."""
    mask = np.asarray(mask)
    h, w = mask.shape
    ball, viewer, occ = mask == BALL_ID, mask == VIEWER_ID, mask >= OCCLUDER_BASE
    bx, by, b_area = _centroid(ball)
    vx, vy, v_area = _centroid(viewer)
    out: dict[str, Any] = {"ball_x": bx, "ball_y": by, "ball_area": b_area, "viewer_x": vx, "viewer_y": vy,
                           "viewer_area": v_area}
    ys, xs = np.nonzero(viewer)
    if len(xs):
        vw, vh = float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)
        cov = np.cov(np.stack([xs, ys]).astype(float)) if len(xs) > 2 else np.eye(2)
        evals, evecs = np.linalg.eigh(cov)
        major = evecs[:, 1]
        out.update(viewer_width=vw, viewer_height=vh, viewer_aspect=vw / vh,
                   viewer_axis_angle=float(math.degrees(math.atan2(abs(major[1]), abs(major[0])))),
                   viewer_elongation=float(math.sqrt(max(evals[1], 1e-9) / max(evals[0], 1e-9))))
    else:
        out.update(viewer_width=0.0, viewer_height=0.0, viewer_aspect=math.nan, viewer_axis_angle=math.nan,
                   viewer_elongation=math.nan)
    out["size_ratio"] = math.sqrt(b_area / v_area) if v_area else math.nan
    out["dx"], out["dy"] = bx - vx, by - vy
    out["abs_dx"] = abs(bx - vx)
    out["segment_length"] = float(math.hypot(bx - vx, by - vy))
    out["segment_angle"] = float(math.degrees(math.atan2(by - vy, bx - vx)))
    body = np.array([vx, vy])
    lens = np.array(eye_px, float) if eye_px is not None else body
    fx, fy = float(lens[0] - vx), float(lens[1] - vy)
    out["facing_dx"], out["facing_dy"] = fx, fy
    to_ball = np.array([bx - lens[0], by - lens[1]])
    nf, nb = math.hypot(fx, fy), float(np.hypot(*to_ball))
    cosang = (fx * to_ball[0] + fy * to_ball[1]) / (nf * nb) if nf > 0 and nb > 0 else math.nan
    out["facing_ball_cos"] = float(cosang)
    out["facing_ball_angle"] = float(math.degrees(math.acos(max(-1.0, min(1.0, cosang))))) if cosang == cosang else math.nan
    ball_c = np.array([bx, by])
    for width in BANDS:
        out[f"cover_body_{width}"] = _coverage(mask, body, ball_c, width)
        out[f"cover_lens_{width}"] = _coverage(mask, lens, ball_c, width)
    out["occluder_area"] = float(occ.sum())
    out["n_occluders_visible"] = float(len(np.unique(mask[occ])))
    gy, gx = np.mgrid[0:h, 0:w]
    px, py = gx + 0.5, gy + 0.5
    if occ.any() and np.isfinite(bx) and np.isfinite(vx):
        seg = ball_c - body
        l2 = float(seg @ seg) or 1.0
        oxs, oys = px[occ], py[occ]
        t = np.clip(((oxs - vx) * seg[0] + (oys - vy) * seg[1]) / l2, 0.0, 1.0)
        out["segment_gap"] = float(np.min(np.hypot(oxs - (vx + t * seg[0]), oys - (vy + t * seg[1]))))
    else:
        out["segment_gap"] = float(math.hypot(h, w))
    r_ball = math.sqrt(b_area / math.pi) if b_area else 1.0
    r_view = math.sqrt(v_area / math.pi) if v_area else 1.0
    d_ball = (px - bx) ** 2 + (py - by) ** 2
    d_view = (px - vx) ** 2 + (py - vy) ** 2
    out["near_ball_occ"] = _ring_share(occ, d_ball, 2.5 * r_ball, ball)
    out["near_ball_occ_wide"] = _ring_share(occ, d_ball, 5.0 * r_ball, ball)
    out["near_viewer_occ"] = _ring_share(occ, d_view, 2.0 * r_view, viewer)
    out.update(_derived(out, ball, viewer))
    if rgb is not None:
        img = np.asarray(rgb, float)[..., :3] / 255.0
        grey = img.mean(axis=2)
        out["brightness"] = float(grey.mean())
        out["mean_r"], out["mean_g"], out["mean_b"] = (float(img[..., k].mean()) for k in range(3))
        out["ball_brightness"] = float(grey[ball].mean()) if ball.any() else math.nan
        bg = mask == 0
        out["background_brightness"] = float(grey[bg].mean()) if bg.any() else math.nan
        out["viewer_brightness"] = float(grey[viewer].mean()) if viewer.any() else math.nan
        out["thumbnail"] = _thumbnail(grey)
    else:
        out["thumbnail"] = _thumbnail(occ.astype(float))
    return out


def _derived(cues: dict[str, Any], ball: np.ndarray, viewer: np.ndarray) -> dict[str, float]:
    """The :data:`DERIVED_CUES` of one stimulus from its other cues and masks."""
    from vpt.scene.imageplane import cover_rule, facing_rule

    ang, cov = cues["facing_ball_angle"], cues["cover_lens_1"]
    sees = float(facing_rule(np.array([ang]))[0]) if ang == ang else math.nan
    blocked = float(cover_rule(np.array([cov]))[0]) if cov == cov else math.nan
    by = float(np.nonzero(ball)[0].max() + 1) if ball.any() else math.nan
    vy = float(np.nonzero(viewer)[0].max() + 1) if viewer.any() else math.nan
    return {"facing_rule_2d": sees, "cover_rule_2d": blocked, "image_plane_rule": sees * (1.0 - blocked),
            "ball_bottom_y": by, "viewer_bottom_y": vy, "bottom_dy": by - vy,
            "height_ratio": by / vy if vy == vy and vy > 0 else math.nan}


def _thumbnail(a: np.ndarray) -> np.ndarray:
    """Block means down to THUMB x THUMB (the image sides are multiples of THUMB in vpt)."""
    h, w = a.shape
    a = a[: h - h % THUMB, : w - w % THUMB]
    return a.reshape(THUMB, a.shape[0] // THUMB, THUMB, a.shape[1] // THUMB).mean(axis=(1, 3)).ravel()


META_COLUMNS = ("scene_id", "split", "vpt_label", "depth_label", "hidden_reason", "cell", "tasks", "style", "sweep_id",
                "sweep_kind", "sweep_step", "sweep_step_label")


def _meta(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: row.get(k) for k in META_COLUMNS}
    out["tasks"] = out["tasks"] or "vpt,depth"  # an index without the column: every item serves both
    return out


def dataset_cue_table(root, index) -> "tuple[Any, np.ndarray]":
    """Cues of every stimulus of a dataset folder, from its images and masks (from the
    analytic projection of its spec where it was only planned; column ``rendered``).
    Returns (table with the index's meta columns and one column per cue, thumbnails)."""
    import json
    from pathlib import Path

    import pandas as pd
    from PIL import Image

    from vpt.errors import UserError

    from vpt.scene.raster import analytic_mask
    from vpt.scene.spec import scene_from_dict

    root = Path(root)
    rows, thumbs = [], []
    for rec in index.to_dict("records"):
        rendered = bool(rec.get("image")) and bool(rec.get("mask"))
        try:
            scene = json.loads((root / rec["scene_json"]).read_text())
            if rendered:
                mask = np.asarray(Image.open(root / rec["mask"]))
                rgb = np.asarray(Image.open(root / rec["image"]).convert("RGB"))
            else:  # planned only (--plan-only): the analytic projection of the same spec
                mask, rgb = analytic_mask(scene_from_dict(scene["spec"])), None
        except (OSError, ValueError, KeyError) as err:
            raise UserError(f"{root}: cannot read the files of {rec['scene_id']} ({err}); "
                            f"run `vpt verify {root}` or re-run `vpt scenes`") from None
        cues = image_cues(mask, rgb, tuple(scene["image"]["viewer_eye_px"]))
        cues["rendered"] = rendered
        thumbs.append(cues.pop("thumbnail"))
        rows.append({**_meta(rec), **cues})
    if not rows:
        raise UserError(f"{root}: the index lists no stimuli to audit")
    return pd.DataFrame(rows), np.stack(thumbs)


def plan_cue_table(items, progress: bool = False) -> "tuple[Any, np.ndarray]":
    """The same cues computed from the analytic projection of planned items (no render)."""
    import pandas as pd
    from tqdm import tqdm

    from vpt.scene.raster import analytic_mask

    rows, thumbs = [], []
    for it in tqdm(items, desc="analytic cues", unit="scene", disable=not progress, leave=False):
        lab, sw = it.labels, it.sweep or {}
        meta = {"scene_id": it.spec.scene_id, "split": it.split, "vpt_label": lab.vpt_label,
                "depth_label": lab.depth_label, "hidden_reason": lab.hidden_reason or "", "cell": it.cell or "",
                "tasks": getattr(it, "tasks", "vpt,depth"), "style": it.spec.appearance.style if it.spec.appearance else "", "sweep_id": sw.get("sweep_id", ""),
                "sweep_kind": sw.get("kind", ""), "sweep_step": sw.get("step", -1),
                "sweep_step_label": sw.get("step_label", "")}
        cues = image_cues(analytic_mask(it.spec), None, tuple(lab.image.viewer_eye_px))
        thumbs.append(cues.pop("thumbnail"))
        rows.append({**meta, **cues})
    return pd.DataFrame(rows), np.stack(thumbs) if thumbs else np.zeros((0, THUMB * THUMB))


def analytic_cue_matrix(pairs, scale: float = 1.0, progress: bool = False) -> "tuple[np.ndarray, list[str]]":
    """The geometry cues of ``(spec, labels)`` pairs from their analytic projection at
    ``scale`` times the stimulus resolution, as a matrix (one row per pair, columns
    :data:`GEOMETRY_CUES`) and the column names."""
    from tqdm import tqdm

    from vpt.scene.raster import analytic_mask

    names = list(GEOMETRY_CUES)
    rows = []
    for spec, lab in tqdm(pairs, desc="analytic cues", unit="scene", disable=not progress, leave=False):
        eye = tuple(float(c) * scale for c in lab.image.viewer_eye_px)
        cues = image_cues(analytic_mask(spec, scale), None, eye)
        rows.append([float(cues.get(n, math.nan)) for n in names])
    return np.array(rows, dtype=float).reshape(len(rows), len(names)), names
