"""Sampling scene specs from a recipe.

Each candidate comes from two streams, ``(dataset seed, candidate index, "<recipe>/<split>/layout")``
and ``(…, "…/appearance")``, so changing materials or lights never moves geometry. A candidate
is *aimed* at a counterbalancing target (VPT label, hidden reason, whether an occluder should
overlap the image segment, which side the ball and the viewer's facing should fall on); the
analytic labels then decide which cell it really lands in. Aiming changes only where the
ball and the first occluder are placed; every other draw (number of occluders, shapes,
sizes, viewer pose, appearance) has the same distribution for every target, so the number of
occluders, say, cannot give the label away.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from vpt.rng import stream
from vpt.scene.spec import (
    AppearanceSpec,
    BallSpec,
    LightSpec,
    ObserverSpec,
    OccluderSpec,
    SceneSpec,
    ViewerSpec,
)


@dataclass(frozen=True)
class Target:
    """The counterbalancing cell a candidate is aimed at (see ``vpt.datasets.balance``)."""

    vpt: int
    reason: str | None  # "occluded" | "out_of_view" for vpt 0
    overlap: bool
    side: str  # "left" | "right": ball relative to the viewer in the image
    facing: str  # "left" | "right": viewer's facing in the image
    depth: int  # 1 = ball closer to the observer


class Rejected(Exception):
    """A candidate could not be built; ``args[0]`` is the reason, counted by the sampler."""


def pick(rng: np.random.Generator, options: list[str]) -> str:
    """One of ``options`` (faster than ``Generator.choice`` for short lists)."""
    return options[int(rng.integers(len(options)))]


def uniform(rng: np.random.Generator, bounds: list[float]) -> float:
    lo, hi = bounds
    return float(lo) if lo == hi else float(rng.uniform(lo, hi))


def sample_observer(cfg: dict[str, Any], rng: np.random.Generator) -> ObserverSpec:
    o = cfg["observer"]
    dist, height = uniform(rng, o["distance"]), uniform(rng, o["height"])
    jit = o["look_jitter"]
    look = (float(rng.uniform(-jit, jit)), 0.3 + float(rng.uniform(-jit, jit)), 0.3)
    w, h = cfg["resolution"]
    return ObserverSpec(position=(look[0] * 0.5, -dist, height), look_at=look, hfov_deg=uniform(rng, o["hfov_deg"]),
                        width=int(w), height=int(h))


def viewer_x_sign(target: Target) -> int:
    """Which half of the image the viewer should stand in, or 0 for either.

    When the ball must appear on the side the viewer faces away from (in the image), only
    perspective can put it there: the ball moves along the viewer's line of sight toward or
    away from the observer, and its image shifts toward or away from the image centre. That
    works on one side of the image only, fixed by the facing and the depth order. The choice
    depends on (side, facing, depth) and never on the VPT label, so within a cell the viewer's
    position says nothing about visibility.
    """
    if target.side == target.facing:
        return 0
    return 1 if (target.facing == "right") == (target.depth == 0) else -1


def sample_viewer(cfg: dict[str, Any], rng: np.random.Generator, facing: str, x_sign: int = 0) -> ViewerSpec:
    """The viewer. With ``x_sign`` set (see :func:`viewer_x_sign`) it stands in that half of
    the scene, away from the centre, turned well toward or away from the observer."""
    v = cfg["viewer"]
    model = pick(rng, v["models"])
    lo, hi = v["facing_offset_deg"]
    if x_sign:
        lo = max(lo, hi - 0.3 * (hi - lo))
    offset = uniform(rng, [lo, hi]) * (1 if rng.random() < 0.5 else -1)
    yaw = (0.0 if facing == "right" else 180.0) + offset
    x = uniform(rng, v["area_x"])
    if x_sign:
        edge = v["area_x"][1] if x_sign > 0 else v["area_x"][0]
        x = edge * float(rng.uniform(0.4, 1.0))
        if x * x_sign <= 0:
            raise Rejected("viewer.area_x has no room on the needed side of the scene")
    return ViewerSpec(model=model, position=(x, uniform(rng, v["area_y"]), uniform(rng, v["height"])),
                      yaw_deg=yaw, pitch_deg=uniform(rng, v["pitch_deg"]), hfov_deg=uniform(rng, v["hfov_deg"]),
                      vfov_deg=uniform(rng, v["vfov_deg"]), scale=uniform(rng, v["scale"]))


def ball_at(viewer: ViewerSpec, radius: float, distance: float, angle_deg: float) -> BallSpec:
    """A ball on the floor at ``distance`` from the viewer's eye, ``angle_deg`` from its facing."""
    eye = viewer.eye
    a = math.radians(viewer.yaw_deg + angle_deg)
    return BallSpec(position=(float(eye[0] + distance * math.cos(a)), float(eye[1] + distance * math.sin(a)), radius),
                    radius=radius)


def sample_ball(cfg: dict[str, Any], rng: np.random.Generator, viewer: ViewerSpec, observer: ObserverSpec,
                target: Target, tries: int = 32) -> BallSpec:
    """A ball aimed at the target: inside the viewer's field of view (visible or occluded
    targets) or clearly outside it, on the wanted side of the viewer in the image and at the
    wanted depth order. ``tries`` proposals are drawn at once; the first that fits is kept
    (the last one otherwise, and the labels decide)."""
    b, lab = cfg["ball"], cfg["labels"]
    half = viewer.hfov_deg / 2
    radius = rng.uniform(b["radius"][0], b["radius"][1], tries)
    dist = rng.uniform(b["distance"][0], b["distance"][1], tries)
    ang = np.degrees(np.arcsin(np.minimum(1.0, radius * (1 + lab["ball_margin"]) / dist)))
    u = rng.uniform(0.0, 1.0, tries)
    if target.vpt == 1 or target.reason == "occluded":
        angle = (2 * u - 1) * np.maximum(0.0, half - lab["fov_margin_deg"] - ang) * 0.92
    else:
        lo = half + lab["fov_margin_deg"] + ang + 3.0
        angle = (lo + u * (180.0 - lo)) * np.where(rng.uniform(0.0, 1.0, tries) < 0.5, 1.0, -1.0)
    eye = viewer.eye
    a = np.radians(viewer.yaw_deg + angle)
    pos = np.stack([eye[0] + dist * np.cos(a), eye[1] + dist * np.sin(a), radius], axis=1)
    uv, _ = observer.project(np.vstack([pos, np.asarray(viewer.position)[None]]))
    d_ball = np.linalg.norm(pos - np.asarray(observer.position), axis=1)
    d_view = math.dist(viewer.position, observer.position)
    ok = ((uv[:-1, 0] > uv[-1, 0]) == (target.side == "right"))
    ok &= (d_ball < d_view) == bool(target.depth)
    ok &= np.abs(d_ball - d_view) / np.maximum(d_ball, d_view) >= lab["min_depth_gap"] * 1.1
    ok &= (uv[:-1, 0] > 0) & (uv[:-1, 0] < observer.width) & (uv[:-1, 1] > 0) & (uv[:-1, 1] < observer.height)
    k = int(np.argmax(ok)) if ok.any() else tries - 1
    return BallSpec(position=(float(pos[k, 0]), float(pos[k, 1]), float(pos[k, 2])), radius=float(radius[k]))


def _footprint_gap(occ: OccluderSpec, xy: np.ndarray) -> float:
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


def place_occluders(cfg: dict[str, Any], rng: np.random.Generator, viewer: ViewerSpec, ball: BallSpec, shapes: list[str],
                    catalogue: dict[str, Any], first: str | None, observer_xy: tuple[float, float]) -> list[OccluderSpec]:
    """Occluders for a scene. ``first`` aims the first one: ``"on_line"`` (between the viewer's
    eye and the ball, facing the viewer), ``"near_line"`` (beside the line of sight, so it
    may cover the image segment without blocking), or None (anywhere)."""
    lo, hi = cfg["occluders"]["count"]
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
            if mode == "on_line":
                p = eye + float(rng.uniform(0.2, 0.65)) * line + perp * float(rng.uniform(-0.05, 0.05))
                yaw = line_angle + float(rng.uniform(-20, 20))
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
            if _fits(occ, viewer, ball, out):
                out.append(occ)
                break
        else:
            raise Rejected("no room for the occluders")
    return out


def _fits(occ: OccluderSpec, viewer: ViewerSpec, ball: BallSpec, others: list[OccluderSpec]) -> bool:
    if _footprint_gap(occ, np.asarray(ball.position[:2])) < ball.radius * 1.4 + 0.08:
        return False
    for p in (np.asarray(viewer.position[:2]), viewer.eye[:2]):
        if _footprint_gap(occ, p) < viewer.proxy_radius + 0.1:
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


def sample_candidate(recipe_name: str, cfg: dict[str, Any], split: str, index: int, target: Target,
                     shapes: list[str], catalogue: dict[str, Any]) -> SceneSpec:
    """The layout of candidate ``index`` aimed at ``target`` (no appearance yet: see
    :func:`dress`); raises :class:`Rejected` if it cannot be built."""
    layout = stream(cfg["seed"], index, f"{recipe_name}/{split}/layout")
    observer = sample_observer(cfg, layout)
    viewer = sample_viewer(cfg, layout, target.facing, viewer_x_sign(target))
    ball = sample_ball(cfg, layout, viewer, observer, target)
    if target.vpt == 0 and target.reason == "occluded":
        first = "on_line"
    elif target.overlap:
        first = "near_line"
    else:
        first = None
    occluders = place_occluders(cfg, layout, viewer, ball, shapes, catalogue, first, observer.position[:2])
    return SceneSpec(scene_id=f"{recipe_name}-{split}-{index:06d}", recipe=recipe_name, split=split, seed=cfg["seed"],
                     index=index, observer=observer, viewer=viewer, ball=ball, occluders=tuple(occluders))


def dress(spec: SceneSpec, styles: list[str], style_catalogue: dict[str, Any]) -> SceneSpec:
    """Add style, materials and lights from the scene's own appearance stream."""
    look = stream(spec.seed, spec.index, f"{spec.recipe}/{spec.split}/appearance")
    appearance, lights, occluders = sample_appearance(look, styles, style_catalogue, list(spec.occluders))
    return replace(spec, appearance=appearance, lights=lights, occluders=tuple(occluders))
