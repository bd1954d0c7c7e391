"""Sampling scene specs from a recipe.

The planner draws candidate layouts with :mod:`vpt.scene.candidates`, in batches of arrays,
from the layout streams described there (generator version 2: one stream per block of 64
candidates); a candidate's appearance comes from its own stream ``(dataset seed, candidate
index, "<recipe>/<split>/appearance")``, so changing materials or lights never moves
geometry. The scalar functions here (:func:`sample_observer`, :func:`sample_viewer`,
:func:`sample_ball`, :func:`place_occluders`, :func:`sample_candidate`) state the same rules
one candidate at a time, each candidate from its own stream; the sweeps and the conflict
pairs build on them, the planner's batches follow them. A candidate
is *aimed* at a counterbalancing target (VPT label, hidden reason, whether an occluder should
overlap the image segment, which side the ball and the viewer's facing should fall on); the
analytic labels then decide which cell it really lands in. Aiming changes where the ball and
the first occluder are placed (and, for an occluder under the line of sight, its height)
and, when the matching of :mod:`vpt.datasets.balance` asks for an image-cue bin (a
``hint``), how far the viewer is turned; every other draw (number of occluders, shapes,
appearance) has the same distribution for every target, so the number of occluders, say,
cannot give the label away. The matching, not the aiming, is what equalises the graded cues
between the labels: aiming only makes the wanted candidates more frequent.

The ball's angle from the viewer's facing is drawn more often near the edge of the field of
view (inside it for visible and occluded targets, just outside it for out-of-view ones; the
labels' margins still hold). The angle in the image between the viewer's facing and the ball
is the 2D form of the question, and hidden and visible candidates can only be matched on it
where their image angles overlap, which is near that edge (:data:`IN_VIEW_EDGE_POWER`).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from vpt.rng import stream
from vpt.scene.aims import (ANGLE_EDGES, COVER_EDGES, IN_VIEW_EDGE_POWER, IN_VIEW_REACH, OUT_VIEW_CLEARANCE,
                            OUT_VIEW_EDGE_POWER, TURN_EDGES, Target, bin_of, viewer_x_sign)
from vpt.scene.labels import SceneLabels
from vpt.scene.settings import SamplingSettings
from vpt.scene.spec import (
    AppearanceSpec,
    BallSpec,
    LightSpec,
    ObserverSpec,
    OccluderSpec,
    SceneSpec,
    ViewerSpec,
)


def cue_bins(labels: SceneLabels) -> tuple[int, int, int]:
    """(coverage bin, angle bin, turn bin) of a labelled scene; coverage -1 without overlap
    (the no-overlap cells have no coverage to match)."""
    cover = bin_of(labels.segment_coverage, COVER_EDGES) if labels.occluder_overlaps_segment else -1
    return (cover, bin_of(labels.facing_ball_angle_2d_deg, ANGLE_EDGES),
            bin_of(abs(labels.viewer_turn_deg), TURN_EDGES))


class Rejected(Exception):
    """A candidate could not be built; ``args[0]`` is the reason, counted by the sampler."""


def pick(rng: np.random.Generator, options: list[str]) -> str:
    """One of ``options`` (faster than ``Generator.choice`` for short lists)."""
    return options[int(rng.integers(len(options)))]


def uniform(rng: np.random.Generator, bounds: list[float]) -> float:
    lo, hi = bounds
    return float(lo) if lo == hi else float(rng.uniform(lo, hi))


def sample_observer(cfg: SamplingSettings, rng: np.random.Generator) -> ObserverSpec:
    o = cfg.observer
    dist, height = uniform(rng, o.distance), uniform(rng, o.height)
    jit = o.look_jitter
    look = (float(rng.uniform(-jit, jit)), 0.3 + float(rng.uniform(-jit, jit)), 0.3)
    w, h = cfg.resolution
    return ObserverSpec(position=(look[0] * 0.5, -dist, height), look_at=look, hfov_deg=uniform(rng, o.hfov_deg),
                        width=int(w), height=int(h))


def sample_viewer(cfg: SamplingSettings, rng: np.random.Generator, facing: str, x_sign: int = 0,
                  turn_bin: int | None = None) -> ViewerSpec:
    """The viewer. With ``x_sign`` set (see :func:`viewer_x_sign`) it stands in that half of
    the scene, away from the centre, turned well toward or away from the observer;
    ``turn_bin`` (see :data:`TURN_EDGES`) narrows how far it is turned, where that leaves room."""
    v = cfg.viewer
    model = pick(rng, v.models)
    lo, hi = v.facing_offset_deg
    if x_sign:
        lo = max(lo, hi - 0.3 * (hi - lo))
    if turn_bin is not None:
        edges = (-math.inf,) + TURN_EDGES + (math.inf,)
        blo, bhi = max(lo, edges[turn_bin]), min(hi, edges[turn_bin + 1])
        if blo < bhi:
            lo, hi = blo, bhi
    offset = uniform(rng, [lo, hi]) * (1 if rng.random() < 0.5 else -1)
    yaw = (0.0 if facing == "right" else 180.0) + offset
    x = uniform(rng, v.area_x)
    if x_sign:
        edge = v.area_x[1] if x_sign > 0 else v.area_x[0]
        x = edge * float(rng.uniform(0.4, 1.0))
        if x * x_sign <= 0:
            raise Rejected("viewer.area_x has no room on the needed side of the scene")
    return ViewerSpec(model=model, position=(x, uniform(rng, v.area_y), uniform(rng, v.height)),
                      yaw_deg=yaw, pitch_deg=uniform(rng, v.pitch_deg), hfov_deg=uniform(rng, v.hfov_deg),
                      vfov_deg=uniform(rng, v.vfov_deg), scale=uniform(rng, v.scale))


def ball_at(viewer: ViewerSpec, radius: float, distance: float, angle_deg: float) -> BallSpec:
    """A ball on the floor at ``distance`` from the viewer's eye, ``angle_deg`` from its facing."""
    eye = viewer.eye
    a = math.radians(viewer.yaw_deg + angle_deg)
    return BallSpec(position=(float(eye[0] + distance * math.cos(a)), float(eye[1] + distance * math.sin(a)), radius),
                    radius=radius)


def sample_ball(cfg: SamplingSettings, rng: np.random.Generator, viewer: ViewerSpec, observer: ObserverSpec,
                target: Target, tries: int = 32) -> BallSpec:
    """A ball aimed at the target: inside the viewer's field of view (visible or occluded
    targets) or clearly outside it, on the wanted side of the viewer in the image and at the
    wanted depth order, and (with an angle hint) at the wanted angle in the image from the
    viewer's facing; angles near the edge of the field of view are drawn more often (see
    :data:`IN_VIEW_EDGE_POWER`). ``tries`` proposals are drawn at once; the first that fits
    is kept (the first that fits all but the angle, or the last one otherwise, and the
    labels decide)."""
    b, lab = cfg.ball, cfg.labels
    half = viewer.hfov_deg / 2
    hinted = target.hint is not None and target.hint[1] is not None
    if hinted:
        tries *= 3
    radius = rng.uniform(b.radius[0], b.radius[1], tries)
    dist = rng.uniform(b.distance[0], b.distance[1], tries)
    ang = np.degrees(np.arcsin(np.minimum(1.0, radius * (1 + lab.ball_margin) / dist)))
    u = rng.uniform(0.0, 1.0, tries)
    sign = np.where(rng.uniform(0.0, 1.0, tries) < 0.5, 1.0, -1.0)
    if target.vpt == 1 or target.reason == "occluded":
        limit = np.maximum(0.0, half - lab.fov_margin_deg - ang) * IN_VIEW_REACH
        angle = sign * limit * u ** IN_VIEW_EDGE_POWER
    else:
        lo = half + lab.fov_margin_deg + ang + OUT_VIEW_CLEARANCE
        span = 180.0 - lo
        if hinted and target.hint[1] < len(ANGLE_EDGES) - 1:
            # small angles in the image come from balls just outside the field of view,
            # displaced in depth (the observer's elevation foreshortens the floor)
            span = np.minimum(span, 12.0 + 12.0 * target.hint[1])
        angle = sign * (lo + span * u ** OUT_VIEW_EDGE_POWER)
    eye = viewer.eye
    a = np.radians(viewer.yaw_deg + angle)
    pos = np.stack([eye[0] + dist * np.cos(a), eye[1] + dist * np.sin(a), radius], axis=1)
    uv, _ = observer.project(np.vstack([pos, np.asarray(viewer.position)[None], viewer.eye[None]]))
    ub, uview, ueye = uv[:-2], uv[-2], uv[-1]
    d_ball = np.linalg.norm(pos - np.asarray(observer.position), axis=1)
    d_view = math.dist(viewer.position, observer.position)
    ok = ((ub[:, 0] > uview[0]) == (target.side == "right"))
    ok &= (d_ball < d_view) == bool(target.depth)
    ok &= np.abs(d_ball - d_view) / np.maximum(d_ball, d_view) >= lab.min_depth_gap * 1.1
    ok &= (ub[:, 0] > 0) & (ub[:, 0] < observer.width) & (ub[:, 1] > 0) & (ub[:, 1] < observer.height)
    if hinted:
        facing, to_ball = ueye - uview, ub - ueye
        cos = (to_ball @ facing) / np.maximum(np.linalg.norm(to_ball, axis=1) * np.linalg.norm(facing), 1e-9)
        angle = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
        in_bin = np.searchsorted(ANGLE_EDGES, angle, side="left") == target.hint[1]  # bin_of, vectorised
        if (ok & in_bin).any():
            ok &= in_bin
    k = int(np.argmax(ok)) if ok.any() else tries - 1
    return BallSpec(position=(float(pos[k, 0]), float(pos[k, 1]), float(pos[k, 2])), radius=float(radius[k]))


def footprint_gap(occ: OccluderSpec, xy: np.ndarray) -> float:
    """Horizontal distance from a point to an occluder's footprint (negative inside)."""
    dx, dy = xy[0] - occ.position[0], xy[1] - occ.position[1]
    if occ.primitive != "box":
        return math.hypot(dx, dy) - occ.size[0] / 2
    c, s = math.cos(math.radians(occ.yaw_deg)), math.sin(math.radians(occ.yaw_deg))
    lx, ly = c * dx + s * dy, -s * dx + c * dy
    qx, qy = abs(lx) - occ.size[0] / 2, abs(ly) - occ.size[1] / 2
    outside = math.hypot(max(qx, 0.0), max(qy, 0.0))
    return outside + min(max(qx, qy), 0.0)


def footprint_radius(occ: OccluderSpec) -> float:
    return math.hypot(occ.size[0], occ.size[1]) / 2 if occ.primitive == "box" else occ.size[0] / 2


def make_occluder(oid: int, shape: str, catalogue: dict[str, Any], rng: np.random.Generator, xy: tuple[float, float],
                  yaw: float) -> OccluderSpec:
    c = catalogue[shape]
    sx = uniform(rng, c["size_x"])
    if c["primitive"] == "box":
        size = (sx, uniform(rng, c["size_y"]), uniform(rng, c["size_z"]))
    elif c["primitive"] == "cylinder":
        size = (sx, sx, uniform(rng, c["size_z"]))
    else:
        size = (sx, sx, sx)
    return OccluderSpec(id=oid, shape=shape, primitive=c["primitive"], position=(xy[0], xy[1], size[2] / 2),
                        size=size, yaw_deg=yaw, material="")


def place_occluders(cfg: SamplingSettings, rng: np.random.Generator, viewer: ViewerSpec, ball: BallSpec, shapes: list[str],
                    catalogue: dict[str, Any], first: str | None, observer_xy: tuple[float, float]) -> list[OccluderSpec]:
    """Occluders for a scene. ``first`` aims the first one: ``"on_line"`` (between the viewer's
    eye and the ball, facing the viewer; ``"on_line_near"`` / ``"on_line_far"`` nearer the
    eye or the ball), ``"near_line"`` (beside the line of sight or behind it, seen from the
    observer), ``"in_front"`` (between the observer and the line of sight, so that it covers
    the image segment without blocking the view), ``"under"`` (on the line of sight but lower
    than it: the line passes over it), or None (anywhere)."""
    lo, hi = cfg.occluders.count
    n = int(rng.integers(int(lo), int(hi) + 1))
    if first is not None:
        n = max(n, 1)
    eye = viewer.eye[:2]
    bxy = np.asarray(ball.position[:2])
    line = bxy - eye
    line_angle = math.degrees(math.atan2(line[1], line[0]))
    perp = np.array([-line[1], line[0]]) / max(np.linalg.norm(line), 1e-9)
    out: list[OccluderSpec] = []
    for i in range(n):
        shape = pick(rng, shapes)
        mode = first if i == 0 else None
        for _ in range(8):
            height = None
            if mode is not None and mode.startswith("on_line"):
                lo_t, hi_t = {"on_line": (0.2, 0.65), "on_line_near": (0.2, 0.42), "on_line_far": (0.42, 0.7)}[mode]
                p = eye + float(rng.uniform(lo_t, hi_t)) * line + perp * float(rng.uniform(-0.05, 0.05))
                yaw = line_angle + float(rng.uniform(-20, 20))
            elif mode == "in_front":
                p = eye + float(rng.uniform(0.3, 0.65)) * line
                toward = np.asarray(observer_xy) - p
                p = p + toward / np.linalg.norm(toward) * float(rng.uniform(0.3, 0.8))
                yaw = float(rng.uniform(0, 180))
            elif mode == "under":
                t = float(rng.uniform(0.3, 0.7))
                p = eye + t * line + perp * float(rng.uniform(-0.1, 0.1))
                yaw = line_angle + 90.0 + float(rng.uniform(-30, 30))
                z_line = viewer.eye[2] + t * (ball.position[2] - viewer.eye[2])
                height = (z_line - t * ball.radius * 1.4 - 0.03) * float(rng.uniform(0.45, 0.9))
                if height < 0.05:
                    raise Rejected("the line of sight is too low for an occluder under it")
            elif mode == "near_line":
                p = eye + float(rng.uniform(0.2, 0.8)) * line
                if rng.random() < 0.5:  # beside the line of sight
                    p = p + perp * float(rng.uniform(0.5, 1.2)) * (1 if rng.random() < 0.5 else -1)
                else:  # behind it, seen from the observer
                    away = p - np.asarray(observer_xy)
                    p = p + away / np.linalg.norm(away) * float(rng.uniform(0.5, 1.5))
                yaw = float(rng.uniform(0, 180))
            else:
                p = np.array([rng.uniform(-2.2, 2.2), rng.uniform(-1.0, 2.3)])
                yaw = float(rng.uniform(0, 180))
            occ = make_occluder(i, shape, catalogue, rng, (float(p[0]), float(p[1])), yaw)
            if height is not None:
                occ = replace(occ, position=(occ.position[0], occ.position[1], height / 2),
                              size=(occ.size[0], occ.size[1], height) if occ.primitive != "sphere" else (height,) * 3)
            if occluder_fits(occ, viewer, ball, out):
                out.append(occ)
                break
        else:
            raise Rejected("no room for the occluders")
    return out


def occluder_fits(occ: OccluderSpec, viewer: ViewerSpec, ball: BallSpec, others: list[OccluderSpec]) -> bool:
    """The spacing rules: an occluder keeps clear of the ball, the viewer and the ``others``."""
    if footprint_gap(occ, np.asarray(ball.position[:2])) < ball.radius * 1.4 + 0.08:
        return False
    for p in (np.asarray(viewer.position[:2]), viewer.eye[:2]):
        if footprint_gap(occ, p) < viewer.proxy_radius + 0.1:
            return False
    r = footprint_radius(occ)
    return all(math.dist(occ.position[:2], o.position[:2]) > r + footprint_radius(o) + 0.05 for o in others)


def sample_appearance(rng: np.random.Generator, styles: list[str], style_catalogue: dict[str, Any],
                      occluders: list[OccluderSpec]) -> tuple[AppearanceSpec, tuple[LightSpec, ...], list[OccluderSpec]]:
    style = pick(rng, styles)
    st = style_catalogue[style]
    grey = float(rng.uniform(0.55, 0.9))
    app = AppearanceSpec(style=style, floor_material=pick(rng, st["floor_materials"]),
                         wall_material=pick(rng, st["wall_materials"]), background=(grey, grey, grey),
                         sun_elevation_deg=float(rng.uniform(30, 70)), sun_azimuth_deg=float(rng.uniform(0, 360)))
    mats = [pick(rng, st["occluder_materials"]) for _ in occluders]
    occ = [OccluderSpec(o.id, o.shape, o.primitive, o.position, o.size, o.yaw_deg, m) for o, m in zip(occluders, mats)]
    return app, _lights(rng, st["lighting"], app), occ


def _lights(rng: np.random.Generator, kind: str, app: AppearanceSpec) -> tuple[LightSpec, ...]:
    centre = (0.0, 0.4, 0.3)
    if kind == "sun":
        el, az = math.radians(app.sun_elevation_deg), math.radians(app.sun_azimuth_deg)
        pos = (10 * math.cos(el) * math.cos(az), 10 * math.cos(el) * math.sin(az), 10 * math.sin(el))
        return (LightSpec("sun", pos, centre, float(rng.uniform(3.0, 4.5)), (1.0, 0.97, 0.92), 0.02),)
    if kind == "indoor":
        warm = (1.0, float(rng.uniform(0.85, 0.95)), float(rng.uniform(0.7, 0.85)))
        p = (float(rng.uniform(-2.5, 2.5)), float(rng.uniform(-2.0, 1.0)), float(rng.uniform(2.0, 2.8)))
        return (LightSpec("area", (0.0, 0.5, 3.4), centre, float(rng.uniform(500, 900)), (1.0, 1.0, 1.0), 3.0),
                LightSpec("point", p, centre, float(rng.uniform(150, 300)), warm, 0.2))
    az = math.radians(float(rng.uniform(-150, -30)))
    el = math.radians(float(rng.uniform(40, 65)))
    key = (5 * math.cos(el) * math.cos(az), 5 * math.cos(el) * math.sin(az), 5 * math.sin(el))
    fill = (-key[0], key[1], key[2] * 0.6)
    energy = float(rng.uniform(500, 900))
    return (LightSpec("area", key, centre, energy, (1.0, 1.0, 1.0), 2.0),
            LightSpec("area", fill, centre, energy * float(rng.uniform(0.25, 0.45)), (1.0, 1.0, 1.0), 3.0))


def occluder_mode(target: Target, rng: np.random.Generator) -> str | None:
    """How the first occluder is aimed (see :func:`place_occluders`). Visible items in
    "overlap" cells need occluders that cover the image segment as much as those of occluded
    items do, so they get occluders in front of or under the line of sight as well as beside
    it; a coverage hint picks the placement that tends to give that coverage."""
    cover = target.hint[0] if target.hint else None
    if target.vpt == 0 and target.reason == "occluded":
        return {None: "on_line", 0: "on_line_far", 1: "on_line_far", 2: "on_line", 3: "on_line_near"}.get(cover, "on_line")
    if not target.overlap:
        return None
    options = {None: ["near_line", "in_front", "under"], 0: ["near_line", "near_line", "under"],
               1: ["under", "in_front", "in_front"], 2: ["in_front", "in_front", "under"],
               3: ["in_front"]}.get(cover)
    return pick(rng, options or ["near_line", "in_front", "under"])


def sample_candidate(recipe_name: str, cfg: SamplingSettings, split: str, index: int, target: Target,
                     shapes: list[str], catalogue: dict[str, Any]) -> SceneSpec:
    """The layout of one candidate aimed at ``target``, drawn with the scalar functions of
    this module from its own stream ``(seed, index, "<recipe>/<split>/layout")`` (the
    conflict pairs' base scenes; no appearance yet: see :func:`dress`); raises
    :class:`Rejected` if it cannot be built. The planner draws its candidates in batches
    instead (:func:`vpt.scene.candidates.sample_batch`, the same rules, other streams)."""
    layout = stream(cfg.seed, index, f"{recipe_name}/{split}/layout")
    observer = sample_observer(cfg, layout)
    viewer = sample_viewer(cfg, layout, target.facing, viewer_x_sign(target), target.hint[2] if target.hint else None)
    ball = sample_ball(cfg, layout, viewer, observer, target)
    first = occluder_mode(target, layout)
    occluders = place_occluders(cfg, layout, viewer, ball, shapes, catalogue, first, observer.position[:2])
    return SceneSpec(scene_id=f"{recipe_name}-{split}-{index:06d}", recipe=recipe_name, split=split, seed=cfg.seed,
                     index=index, observer=observer, viewer=viewer, ball=ball, occluders=tuple(occluders))


def dress(spec: SceneSpec, styles: list[str], style_catalogue: dict[str, Any]) -> SceneSpec:
    """Add style, materials and lights from the scene's own appearance stream."""
    look = stream(spec.seed, spec.index, f"{spec.recipe}/{spec.split}/appearance")
    appearance, lights, occluders = sample_appearance(look, styles, style_catalogue, list(spec.occluders))
    return replace(spec, appearance=appearance, lights=lights, occluders=tuple(occluders))
