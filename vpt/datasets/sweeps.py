"""Sweeps (VPT-strategy): a fixed view in which one thing moves step by step.

Each sweep is planned analytically before anything is rendered: a base scene is sampled,
one parameter is scanned on a fine grid, the labels along the grid locate the transitions,
and the rendered steps are placed densest around them. A sweep is kept only when it shows
the intended pattern and the ball and the viewer stay clearly visible in every step.

* ``occluder_slide``: the ball slides sideways behind a wall or slab, seen from the viewer:
  visible, hidden, visible. Parameter ``ball_offset_m``.
* ``viewer_turn``: the viewer turns on the spot through a full circle starting from facing
  the ball, so the ball leaves and re-enters its field of view. Parameter
  ``viewer_turn_deg``.
* ``depth_pass``: the ball moves along the observer's line of sight past the viewer's depth,
  for a psychometric curve of depth order. Parameter ``ball_depth_offset_m`` (ball minus
  viewer distance from the observer).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np

from vpt.errors import UserError
from vpt.rng import stream
from vpt.scene.labels import LabelConfig, label_scenes
from vpt.scene.sampling import Rejected, ball_at, make_occluder, pick, place_occluders, sample_observer, uniform
from vpt.scene.spec import BallSpec, SceneSpec, SweepStep, ViewerSpec

FINE_GRID = 97


class SweepError(UserError):
    """No valid sweep within the attempt bound; the message lists why attempts failed."""


@dataclass
class PlannedSweep:
    sweep_id: str
    kind: str
    parameter: str
    steps: list[SceneSpec]
    labels: list[dict[str, Any]]
    step_labels: list[str]  # "1", "0", "partial" (VPT) or "1", "0", "ambiguous" (depth)
    transitions: list[int]  # step indices where the primary label differs from the step before
    primary: str  # "vpt" or "depth"
    attempts: int = 1
    rejections: dict[str, int] = field(default_factory=dict)


def vpt_step_label(lab: dict[str, Any]) -> str:
    return "partial" if lab["vpt_label"] is None else str(lab["vpt_label"])


def depth_step_label(lab: dict[str, Any]) -> str:
    return "ambiguous" if lab["depth_label"] is None else str(lab["depth_label"])


def transitions_of(labels: list[str]) -> list[int]:
    return [i for i in range(1, len(labels)) if labels[i] != labels[i - 1]]


def dense_steps(grid: np.ndarray, fine_labels: list[str], n: int, focus: float = 4.0) -> np.ndarray:
    """``n`` parameter values over ``grid`` (sorted, both ends included), denser around the
    places where ``fine_labels`` change: the density is 1 plus ``focus`` bumps at each
    transition, and steps sit at equal quantiles of it."""
    edges = [0.5 * (grid[i - 1] + grid[i]) for i in transitions_of(fine_labels)]
    span = float(grid[-1] - grid[0])
    sigma = span / 25.0
    x = np.linspace(grid[0], grid[-1], 2001)
    dens = np.ones_like(x)
    for e in edges:
        dens += focus * np.exp(-0.5 * ((x - e) / sigma) ** 2)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (dens[1:] + dens[:-1]) * np.diff(x))])
    cdf /= cdf[-1]
    return np.interp(np.linspace(0.0, 1.0, n), cdf, x)


def _base_viewer(cfg: dict[str, Any], rng: np.random.Generator, max_offset: float = 25.0) -> ViewerSpec:
    v = cfg["viewer"]
    facing_right = rng.random() < 0.5
    yaw = (0.0 if facing_right else 180.0) + float(rng.uniform(-max_offset, max_offset))
    x = uniform(rng, v["area_x"]) * 0.6
    x += (-0.5 if facing_right else 0.5)  # leave room in front of the viewer
    return ViewerSpec(model=pick(rng, v["models"]), position=(x, uniform(rng, v["area_y"]) * 0.5, uniform(rng, v["height"])),
                      yaw_deg=yaw, pitch_deg=uniform(rng, v["pitch_deg"]), hfov_deg=uniform(rng, v["hfov_deg"]),
                      vfov_deg=uniform(rng, v["vfov_deg"]), scale=uniform(rng, v["scale"]))


def _variants_slide(cfg, rng, shapes, catalogue):
    observer = sample_observer(cfg, rng)
    viewer = _base_viewer(cfg, rng)
    radius = uniform(rng, cfg["ball"]["radius"])
    dist = float(rng.uniform(1.7, 2.6))
    walls = [s for s in shapes if catalogue[s]["primitive"] == "box"] or ["wall"]
    shape = pick(rng, walls)
    eye = viewer.eye
    yaw = viewer.yaw_deg
    t = float(rng.uniform(0.55, 0.75))
    f = np.array([math.cos(math.radians(yaw)), math.sin(math.radians(yaw))])
    wall = make_occluder(0, shape, catalogue, rng, (float(eye[0] + f[0] * t * dist), float(eye[1] + f[1] * t * dist)), yaw)
    # narrow enough that the ball can pass on both sides inside the viewer's field of view
    wall = replace(wall, size=(wall.size[0], float(rng.uniform(0.4, 0.7)), wall.size[2]))
    # slide the ball perpendicular to the line of sight, far enough to clear the wall's
    # shadow (as seen from the eye) on both sides
    clear = (wall.size[1] / 2) / t + 2 * radius * (1 + cfg["labels"]["ball_margin"]) + 0.1
    lab = cfg["labels"]
    alpha = math.degrees(math.asin(radius * (1 + lab["ball_margin"]) / dist))
    inside = dist * math.tan(math.radians(viewer.hfov_deg / 2 - lab["fov_margin_deg"] - alpha - 2.0))
    if inside <= clear:
        raise Rejected("the wall is too wide for the viewer's field of view")
    clear += 0.3 * (inside - clear)  # both ends clear of the wall and inside the field of view
    side = np.array([-f[1], f[0]])

    def at(s: float) -> SceneSpec:
        c = eye[:2] + f * dist + side * s
        return SceneSpec("", "", "", 0, 0, observer, viewer, BallSpec((float(c[0]), float(c[1]), radius), radius), (wall,))

    return np.linspace(-clear, clear, FINE_GRID), at, "ball_offset_m", "vpt"


def _variants_turn(cfg, rng, shapes, catalogue):
    observer = sample_observer(cfg, rng)
    viewer = _base_viewer(cfg, rng)
    radius = uniform(rng, cfg["ball"]["radius"])
    ball = ball_at(viewer, radius, float(rng.uniform(1.4, 2.4)), float(rng.uniform(-8, 8)))
    occluders = place_occluders(cfg, rng, viewer, ball, shapes, catalogue, None, observer.position[:2])
    eye = viewer.eye
    to_ball = math.degrees(math.atan2(ball.position[1] - eye[1], ball.position[0] - eye[0]))

    def at(turn: float) -> SceneSpec:
        v = replace(viewer, yaw_deg=to_ball + turn)
        return SceneSpec("", "", "", 0, 0, observer, v, ball, tuple(occluders))

    return np.linspace(0.0, 360.0, FINE_GRID), at, "viewer_turn_deg", "vpt"


def _variants_depth(cfg, rng, shapes, catalogue):
    observer = sample_observer(cfg, rng)
    viewer = _base_viewer(cfg, rng)
    radius = uniform(rng, cfg["ball"]["radius"])
    o = np.asarray(observer.position[:2])
    p = np.asarray(viewer.position[:2])
    along = (p - o) / np.linalg.norm(p - o)
    lateral = np.array([-along[1], along[0]])
    f = np.array([math.cos(math.radians(viewer.yaw_deg)), math.sin(math.radians(viewer.yaw_deg))])
    sign = 1.0 if float(np.dot(lateral, f)) > 0 else -1.0  # on the side the viewer faces
    offset = sign * float(rng.uniform(0.7, 1.2))
    base = p + lateral * offset
    d_view = math.dist(viewer.position, observer.position)
    span = 0.35 * d_view

    def at(delta: float) -> SceneSpec:
        # move along the observer's ray until the ball's distance is d_view + delta
        c = base + along * delta
        return SceneSpec("", "", "", 0, 0, observer, viewer, BallSpec((float(c[0]), float(c[1]), radius), radius), ())

    return np.linspace(-span, span, FINE_GRID), at, "ball_depth_offset_m", "depth"


PLANNERS: dict[str, Callable] = {"occluder_slide": _variants_slide, "viewer_turn": _variants_turn,
                                 "depth_pass": _variants_depth}
# the clear labels a sweep must show, in order, starting and ending with a clear step
# (depth_pass: one flip, either way)
EXPECTED = {"occluder_slide": ["1", "0", "1"], "viewer_turn": ["1", "0", "1"], "depth_pass": None}


def _pattern(labels: list[str]) -> list[str]:
    """The run of clear labels with partial/ambiguous steps dropped and repeats merged."""
    out: list[str] = []
    for lab in labels:
        if lab in ("partial", "ambiguous"):
            continue
        if not out or out[-1] != lab:
            out.append(lab)
    return out


def plan_sweep(recipe_name: str, cfg: dict[str, Any], kind: str, number: int, n_steps: int, labels_cfg: LabelConfig,
               shapes: list[str], catalogue: dict[str, Any], max_attempts: int) -> PlannedSweep:
    """Plan one sweep: sample bases until one shows the intended pattern (bounded)."""
    rejections: dict[str, int] = {}
    for attempt in range(max_attempts):
        rng = stream(cfg["seed"], number * max_attempts + attempt, f"{recipe_name}/sweep/{kind}")
        try:
            grid, at, parameter, primary = PLANNERS[kind](cfg, rng, shapes, catalogue)
        except Rejected as err:
            rejections[str(err)] = rejections.get(str(err), 0) + 1
            continue
        try:
            fine = label_scenes([at(float(x)) for x in grid], labels_cfg)
        except ValueError as err:  # the eye ended up inside the ball
            rejections[str(err)] = rejections.get(str(err), 0) + 1
            continue
        step_of = vpt_step_label if primary == "vpt" else depth_step_label
        fine_labels = [step_of(lab) for lab in fine]
        pattern = _pattern(fine_labels)
        want = EXPECTED[kind] or [fine_labels[0], fine_labels[-1]]
        if pattern != want or fine_labels[0] != want[0] or fine_labels[-1] != want[-1] or sorted(set(pattern)) != ["0", "1"]:
            rejections["labels along the sweep do not follow the intended pattern"] = rejections.get(
                "labels along the sweep do not follow the intended pattern", 0) + 1
            continue
        values = dense_steps(grid, fine_labels, n_steps)
        sweep_id = f"{kind}-{number:03d}"
        specs = [at(float(x)) for x in values]
        labs = label_scenes(specs, labels_cfg)
        bad = [p for lab in labs for p in lab["observer_problems"]]
        if bad:
            rejections[bad[0]] = rejections.get(bad[0], 0) + 1
            continue
        steps = [replace(s, scene_id=f"{recipe_name}-{sweep_id}-step{k:02d}", recipe=recipe_name, split="strategy",
                         seed=cfg["seed"], index=number * 1000 + k,
                         sweep=SweepStep(sweep_id, kind, k, n_steps, parameter, float(values[k])))
                 for k, s in enumerate(specs)]
        step_labels = [step_of(lab) for lab in labs]
        return PlannedSweep(sweep_id, kind, parameter, steps, labs, step_labels, transitions_of(step_labels), primary,
                            attempt + 1, rejections)
    raise SweepError(f"{kind} sweep {number}: no valid sweep in {max_attempts} attempts "
                     f"(sweeps.max_attempts); reasons: {rejections}")
