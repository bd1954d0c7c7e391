"""Sweeps (VPT-strategy): one thing moves step by step and the answer flips, or stays, at known steps.

Each sweep is planned analytically before anything is rendered: a base scene is sampled,
one parameter is scanned on a fine grid, the labels along the grid locate the transitions,
and the rendered steps are placed densest around them. A sweep is kept only when it shows
the intended pattern and the ball and the viewer stay clearly visible in every step.

* ``occluder_slide``: the ball slides sideways behind a fixed wall, seen from the viewer:
  visible, hidden (occluded), visible. Parameter ``ball_offset_m``, the ball's offset across
  the viewer's line of sight, positive on the side away from the observer.
* ``occluder_move``: the ball and the viewer stay still; a wall slides across the viewer's
  line of sight: visible, hidden (occluded), visible. Parameter ``occluder_offset_m``, the
  wall's offset across the line of sight, positive away from the observer.
* ``viewer_turn``: the viewer turns on the spot through a full circle starting from facing
  the ball, so the ball leaves and re-enters its field of view. Parameter
  ``viewer_turn_deg``, positive counter-clockwise seen from above.
* ``depth_pass``: the ball moves parallel to the observer's line of sight to the viewer, past
  the viewer's depth, for a psychometric curve of depth order. Parameter
  ``ball_depth_offset_m`` (ball minus viewer distance from the observer).
* ``invariance``: the layout stays still and the observer camera orbits it (azimuth about
  the vertical through its look-at point, same distance and height) while the VPT answer
  stays the same in every step: a clear 1, or a clear 0 (occluded or out of view). Along the
  orbit the **image-plane rules flip** (:mod:`vpt.scene.imageplane`): the viewer is seen
  from near end-on to near side-on, which stretches or squeezes the 2D facing angle across
  the 2D facing rule's threshold, or moves a thin wall's image on or off the lens-ball
  segment. Sweeps come in **look-alike pairs** (:mod:`vpt.datasets.sweeps_invariance`):
  sweeps ``2p`` (the viewer sees the ball) and ``2p + 1`` (it does not) are built from one
  base scene and orbit, with the same ball, viewer place, occluders and appearance; only the
  viewer's yaw (out of view: the ball just inside or just past the edge of its field of view)
  or the height of a thin wall on the line of sight (occluded: the eye sees over the low one)
  differs. The steps are evenly spaced on a window :data:`ORBIT_WINDOW` degrees wide (shared
  by an occluded pair's partners; an out-of-view pair's hidden partner's steps are solved for
  one by one, each where its 2D facing angle read off the masks matches a visible step's:
  :func:`~vpt.datasets.sweeps_invariance.matched_orbit`), on which the rules' answer
  is wrong on a share :data:`RULE_WRONG_SHARE` of each partner's steps, computed analytically
  and as the audit's cues read it off the masks (the graded values and the rules' answer per
  step are in the sweep summary, with the partner's sweep id and the orbit direction). A model
  that reads the image plane flips its answer along the sweep and scores near chance; one
  that takes the viewer's perspective does not; anything else (nuisance, depth cues) is the
  same for both answers of a pair. The depth answer may change with the observer and is
  recorded per step. Parameter ``observer_orbit_deg``, positive counter-clockwise seen from
  above.

**Balance.** Each sweep number gets its nuisance factors from :func:`balance_of`, a fixed
cycle through their combinations (no randomness): the ball's side of the viewer in the image
and the direction of the motion (``occluder_slide``, ``occluder_move``: toward or away from
the observer; ``viewer_turn``: clockwise or counter-clockwise; ``depth_pass``: approaching or
receding, and the viewer facing left or right in the image; ``invariance``: the partner
that sees or not, the pair's hidden reason (occluded or out of view) and the viewer facing
away from or toward the observer). A multiple of the cycle length (4 or 8) is exactly balanced. In
``occluder_slide``, ``occluder_move`` and ``viewer_turn`` the ball lies in front of the viewer
(at the first step), so the side the viewer faces in the image is the ball's side.

**Visible fractions.** Every step records the ball's visible fraction twice: as a share of
its solid angle seen from the viewer's eye (``viewer_visible_fraction``, the one the labels
and the render check use) and as a share of its pixels in the viewer's own rectilinear image
(``viewer_visible_pixel_fraction``, see :func:`vpt.scene.geometry.pixel_visible_fraction`).
They agree for a ball near the viewer's optical axis and differ near the edge of its field
of view. **A psychometric fit over partial steps uses the pixel share** (named in each step's
``sweep.fit_fraction``): it is what an image taken by the viewer shows, which is what a
participant imagining the viewer's picture judges.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np

from vpt.datasets.recipe import SWEEP_KINDS
from vpt.datasets.sweeps_invariance import (ORBIT_REACH, ORBIT_WINDOW, RULE_WRONG_SHARE, _flat, _walls,  # noqa: F401
                                            _cue_values, image_plane_summary, matched_orbit, orbit_window,
                                            pair_number, rule_answers, rules_flip, target_of, variants_pair)
from vpt.errors import UserError
from vpt.rng import stream
from vpt.scene import geometry as geo
from vpt.scene.labels import LabelConfig, SceneLabels, label_scenes
from vpt.scene.primitives import occluder_rows
from vpt.scene.settings import SamplingSettings
from vpt.scene.sampling import (Rejected, ball_at, make_occluder, pick, place_occluders,
                                sample_observer, uniform)
from vpt.scene.spec import BallSpec, ObserverSpec, SceneSpec, SweepStep, ViewerSpec

FINE_GRID = 97
FIT_FRACTION = "viewer_visible_pixel_fraction"  # the visible fraction a psychometric fit uses
# Nuisance factors per kind, cycled by sweep number (first factor fastest).
FACTORS: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "occluder_slide": (("ball_side", ("right", "left")), ("motion", ("away", "toward"))),
    "occluder_move": (("ball_side", ("right", "left")), ("motion", ("away", "toward"))),
    "viewer_turn": (("ball_side", ("right", "left")), ("turn", ("counter-clockwise", "clockwise"))),
    "depth_pass": (("ball_side", ("right", "left")), ("motion", ("away", "toward")),
                   ("viewer_facing", ("right", "left"))),
    # look-alike pairs (numbers 2p, 2p + 1): the partner that sees and the one that does not,
    # the pair's hidden reason, and where the viewer faces: away from or toward the observer
    "invariance": (("partner", ("visible", "hidden")), ("hidden", ("occluded", "out_of_view")),
                   ("facing", ("away", "toward"))),
}
TARGET_LABEL = {"visible": (1, None), "occluded": (0, "occluded"), "out_of_view": (0, "out_of_view")}


class SweepError(UserError):
    """No valid sweep within the attempt bound; the message lists why attempts failed."""


@dataclass
class PlannedSweep:
    sweep_id: str
    kind: str
    parameter: str
    steps: list[SceneSpec]
    labels: list[SceneLabels]
    step_labels: list[str]  # "1", "0", "partial" (VPT) or "1", "0", "ambiguous" (depth)
    transitions: list[int]  # step indices where the primary label differs from the step before
    primary: str  # "vpt" or "depth"
    attempts: int = 1
    rejections: dict[str, int] = field(default_factory=dict)
    balance: dict[str, str] = field(default_factory=dict)  # the nuisance factors of this sweep
    summary: dict[str, Any] = field(default_factory=dict)  # e.g. invariance: the image shift


def balance_of(kind: str, number: int) -> dict[str, str]:
    """The nuisance factors of sweep ``number`` of a kind: a fixed cycle through their
    combinations, so every multiple of the cycle length is exactly balanced."""
    out, k = {}, number
    for name, values in FACTORS[kind]:
        out[name] = values[k % len(values)]
        k //= len(values)
    if kind == "invariance":
        out["target"] = target_of(out)
    return out


def cycle_length(kind: str) -> int:
    return math.prod(len(v) for _, v in FACTORS[kind])


def vpt_step_label(lab: SceneLabels) -> str:
    return "partial" if lab.vpt_label is None else str(lab.vpt_label)


def depth_step_label(lab: SceneLabels) -> str:
    return "ambiguous" if lab.depth_label is None else str(lab.depth_label)


def transitions_of(labels: list[str]) -> list[int]:
    return [i for i in range(1, len(labels)) if labels[i] != labels[i - 1]]


def dense_steps(grid: np.ndarray, fine_labels: list[str], n: int, focus: float = 4.0) -> np.ndarray:
    """``n`` parameter values over ``grid`` (monotonic, both ends included, in sweep order),
    denser around the places where ``fine_labels`` change: the density is 1 plus ``focus``
    bumps at each transition, and steps sit at equal quantiles of it."""
    grid = np.asarray(grid, float)
    if grid[0] > grid[-1]:
        return dense_steps(grid[::-1], list(fine_labels)[::-1], n, focus)[::-1]
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


def viewer_pixel_fractions(specs: list[SceneSpec], cfg: LabelConfig) -> np.ndarray:
    """The visible share of the ball's pixels in each viewer's own image (see
    :func:`vpt.scene.geometry.pixel_visible_fraction`), with the label's ray count."""
    cols: dict[str, list] = {k: [] for k in ("eye", "center", "radius", "forward", "right", "up", "half_h", "half_v")}
    rows: list[tuple] = []
    for i, s in enumerate(specs):
        f, r, u = s.viewer.basis()
        for k, v in (("eye", s.viewer.eye), ("center", s.ball.position), ("radius", s.ball.radius), ("forward", f),
                     ("right", r), ("up", u), ("half_h", math.radians(s.viewer.hfov_deg) / 2),
                     ("half_v", math.radians(s.viewer.vfov_deg) / 2)):
            cols[k].append(v)
        rows.extend(occluder_rows(s, i))
    n = len(specs)
    q = geo.ConeQueries(occluders=geo.Primitives.from_rows(rows), dilate=np.ones(n), margin=np.zeros(n),
                        has_frustum=np.ones(n, bool), floor=np.ones(n, bool),
                        **{k: np.asarray(v, float) for k, v in cols.items()})
    return geo.pixel_visible_fraction(q, cfg.n_rays)


def _away_side(f: np.ndarray, eye: np.ndarray, observer: ObserverSpec) -> np.ndarray:
    """The horizontal unit vector across the direction ``f`` that points away from the observer."""
    side = np.array([-f[1], f[0]])
    return side if float(np.dot(side, eye[:2] - np.asarray(observer.position[:2]))) >= 0 else -side


def _base_viewer(cfg: SamplingSettings, rng: np.random.Generator, facing_right: bool,
                 max_offset: float = 25.0) -> ViewerSpec:
    v = cfg.viewer
    yaw = (0.0 if facing_right else 180.0) + float(rng.uniform(-max_offset, max_offset))
    x = uniform(rng, v.area_x) * 0.6
    x += (-0.5 if facing_right else 0.5)  # leave room in front of the viewer
    return ViewerSpec(model=pick(rng, v.models), position=(x, uniform(rng, v.area_y) * 0.5, uniform(rng, v.height)),
                      yaw_deg=yaw, pitch_deg=uniform(rng, v.pitch_deg), hfov_deg=uniform(rng, v.hfov_deg),
                      vfov_deg=uniform(rng, v.vfov_deg), scale=uniform(rng, v.scale))


def _ordered(lo: float, hi: float, increasing: bool) -> np.ndarray:
    g = np.linspace(lo, hi, FINE_GRID)
    return g if increasing else g[::-1].copy()


def _variants_slide(cfg, rng, shapes, catalogue, bal):
    observer = sample_observer(cfg, rng)
    viewer = _base_viewer(cfg, rng, bal["ball_side"] == "right")
    radius = uniform(rng, cfg.ball.radius)
    dist = float(rng.uniform(1.7, 2.6))
    shape = pick(rng, _walls(shapes, catalogue))
    eye = viewer.eye
    yaw = viewer.yaw_deg
    t = float(rng.uniform(0.55, 0.75))
    f = _flat(yaw)
    wall = make_occluder(0, shape, catalogue, rng, (float(eye[0] + f[0] * t * dist), float(eye[1] + f[1] * t * dist)), yaw)
    # narrow enough that the ball can pass on both sides inside the viewer's field of view
    wall = replace(wall, size=(wall.size[0], float(rng.uniform(0.4, 0.7)), wall.size[2]))
    # slide the ball perpendicular to the line of sight, far enough to clear the wall's
    # shadow (as seen from the eye) on both sides
    clear = (wall.size[1] / 2) / t + 2 * radius * (1 + cfg.labels.ball_margin) + 0.1
    lab = cfg.labels
    alpha = math.degrees(math.asin(radius * (1 + lab.ball_margin) / dist))
    inside = dist * math.tan(math.radians(viewer.hfov_deg / 2 - lab.fov_margin_deg - alpha - 2.0))
    if inside <= clear:
        raise Rejected("the wall is too wide for the viewer's field of view")
    clear += 0.3 * (inside - clear)  # both ends clear of the wall and inside the field of view
    side = _away_side(f, eye, observer)

    def at(s: float) -> SceneSpec:
        c = eye[:2] + f * dist + side * s
        return SceneSpec("", "", "", 0, 0, observer, viewer, BallSpec((float(c[0]), float(c[1]), radius), radius), (wall,))

    return _ordered(-clear, clear, bal["motion"] == "away"), at, "ball_offset_m", "vpt"


def _variants_move(cfg, rng, shapes, catalogue, bal):
    observer = sample_observer(cfg, rng)
    viewer = _base_viewer(cfg, rng, bal["ball_side"] == "right")
    lab = cfg.labels
    radius = uniform(rng, cfg.ball.radius)
    dist = float(rng.uniform(1.7, 2.6))
    alpha = math.degrees(math.asin(radius * (1 + lab.ball_margin) / dist))
    room = max(0.0, viewer.hfov_deg / 2 - lab.fov_margin_deg - alpha - 3.0)
    ball = ball_at(viewer, radius, dist, float(rng.uniform(-0.5, 0.5)) * room)
    eye = viewer.eye
    line = np.asarray(ball.position[:2]) - eye[:2]
    length = float(np.linalg.norm(line))
    f = line / length
    t = float(rng.uniform(0.45, 0.7))
    shape = pick(rng, _walls(shapes, catalogue))
    wall = make_occluder(0, shape, catalogue, rng, (0.0, 0.0), math.degrees(math.atan2(f[1], f[0])))
    wall = replace(wall, size=(wall.size[0], float(rng.uniform(0.4, 0.7)), wall.size[2]))
    # far enough to either side that the wall leaves the ball's (dilated) cone with room to spare
    shadow = t * length * math.tan(math.radians(alpha))
    clear = 1.3 * (wall.size[1] / 2 + shadow) + 0.1
    side = _away_side(f, eye, observer)
    centre = eye[:2] + f * t * length

    def at(s: float) -> SceneSpec:
        c = centre + side * s
        occ = replace(wall, position=(float(c[0]), float(c[1]), wall.position[2]))
        return SceneSpec("", "", "", 0, 0, observer, viewer, ball, (occ,))

    return _ordered(-clear, clear, bal["motion"] == "away"), at, "occluder_offset_m", "vpt"


def _variants_turn(cfg, rng, shapes, catalogue, bal):
    observer = sample_observer(cfg, rng)
    viewer = _base_viewer(cfg, rng, bal["ball_side"] == "right")
    radius = uniform(rng, cfg.ball.radius)
    ball = ball_at(viewer, radius, float(rng.uniform(1.4, 2.4)), float(rng.uniform(-8, 8)))
    occluders = place_occluders(cfg, rng, viewer, ball, shapes, catalogue, None, observer.position[:2])
    eye = viewer.eye
    to_ball = math.degrees(math.atan2(ball.position[1] - eye[1], ball.position[0] - eye[0]))

    def at(turn: float) -> SceneSpec:
        v = replace(viewer, yaw_deg=to_ball + turn)
        return SceneSpec("", "", "", 0, 0, observer, v, ball, tuple(occluders))

    ccw = bal["turn"] == "counter-clockwise"
    return np.linspace(0.0, 360.0 if ccw else -360.0, FINE_GRID), at, "viewer_turn_deg", "vpt"


def _variants_depth(cfg, rng, shapes, catalogue, bal):
    observer = sample_observer(cfg, rng)
    viewer = _base_viewer(cfg, rng, bal["viewer_facing"] == "right")
    radius = uniform(rng, cfg.ball.radius)
    o = np.asarray(observer.position[:2])
    p = np.asarray(viewer.position[:2])
    along = (p - o) / np.linalg.norm(p - o)
    lateral = np.array([-along[1], along[0]])
    right = observer.basis()[1][:2]
    sign = 1.0 if (float(np.dot(lateral, right)) > 0) == (bal["ball_side"] == "right") else -1.0
    offset = sign * float(rng.uniform(0.7, 1.2))
    base = p + lateral * offset
    d_view = math.dist(viewer.position, observer.position)
    span = 0.35 * d_view

    def at(delta: float) -> SceneSpec:
        # move parallel to the observer's line of sight to the viewer; delta ~ ball minus viewer distance
        c = base + along * delta
        return SceneSpec("", "", "", 0, 0, observer, viewer, BallSpec((float(c[0]), float(c[1]), radius), radius), ())

    return _ordered(-span, span, bal["motion"] == "away"), at, "ball_depth_offset_m", "depth"


PLANNERS: dict[str, Callable] = {"occluder_slide": _variants_slide, "occluder_move": _variants_move,
                                 "viewer_turn": _variants_turn, "depth_pass": _variants_depth}


def _pattern(labels: list[str]) -> list[str]:
    """The run of clear labels with partial/ambiguous steps dropped and repeats merged."""
    out: list[str] = []
    for lab in labels:
        if lab in ("partial", "ambiguous"):
            continue
        if not out or out[-1] != lab:
            out.append(lab)
    return out


def _expected(kind: str, bal: dict[str, str]) -> list[str]:
    """The clear labels a sweep must show, in order, starting and ending with a clear step."""
    if kind == "depth_pass":  # ball closer first when it recedes
        return ["1", "0"] if bal["motion"] == "away" else ["0", "1"]
    if kind == "invariance":
        return [str(TARGET_LABEL[bal["target"]][0])]
    return ["1", "0", "1"]


def _check_fine(kind: str, bal: dict[str, str], fine: list[SceneLabels], fine_labels: list[str]) -> str | None:
    want = _expected(kind, bal)
    if kind == "invariance":
        label, reason = TARGET_LABEL[bal["target"]]
        if any(lab.vpt_label != label or lab.hidden_reason != reason for lab in fine):
            return "the VPT answer changes along the orbit"
        return None
    if _pattern(fine_labels) != want or fine_labels[0] != want[0] or fine_labels[-1] != want[-1]:
        return "labels along the sweep do not follow the intended pattern"
    return None


def _check_steps(kind: str, bal: dict[str, str], labs: list[SceneLabels]) -> str | None:
    bad = [p for lab in labs for p in lab.observer_problems]
    if bad:
        return bad[0]
    sides = {lab.ball_side for lab in labs}
    if kind == "invariance":  # the rules must flip instead (_rules_flip)
        return None
    if sides != {bal["ball_side"]}:
        return "the ball is not on its assigned side of the viewer in the image"
    if kind == "depth_pass" and {lab.viewer_facing for lab in labs} != {bal["viewer_facing"]}:
        return "the viewer does not face its assigned side in the image"
    if kind in ("occluder_slide", "occluder_move") and any(
            lab.vpt_label == 0 and lab.hidden_reason != "occluded" for lab in labs):
        return "the ball leaves the viewer's field of view"
    return None


def _dx(lab: SceneLabels) -> float:
    return float(lab.image.ball_center_px[0] - lab.image.viewer_center_px[0])


def _count(rejections: dict[str, int], reason: str) -> None:
    rejections[reason] = rejections.get(reason, 0) + 1


def plan_sweep(recipe_name: str, cfg: SamplingSettings, kind: str, number: int, n_steps: int, labels_cfg: LabelConfig,
               shapes: list[str], catalogue: dict[str, Any], max_attempts: int) -> PlannedSweep:
    """Plan one sweep: sample bases until one shows the intended pattern (bounded)."""
    if kind == "invariance":
        return _plan_invariance(recipe_name, cfg, number, n_steps, labels_cfg, shapes, catalogue, max_attempts)
    rejections: dict[str, int] = {}
    bal = balance_of(kind, number)
    # the fine grid only locates the transitions: the steering ray count is enough there; the
    # steps are labelled with the recorded ray count and checked again
    fine_cfg = replace(labels_cfg, n_rays=min(labels_cfg.n_rays, int(cfg.labels.steer_rays)))
    for attempt in range(max_attempts):
        rng = stream(cfg.seed, number * max_attempts + attempt, f"{recipe_name}/sweep/{kind}")
        try:
            grid, at, parameter, primary = PLANNERS[kind](cfg, rng, shapes, catalogue, bal)
        except Rejected as err:
            _count(rejections, str(err))
            continue
        fine_specs = [at(float(x)) for x in grid]
        try:
            fine = label_scenes(fine_specs, fine_cfg)
        except ValueError as err:  # the eye ended up inside the ball
            _count(rejections, str(err))
            continue
        step_of = vpt_step_label if primary == "vpt" else depth_step_label
        fine_labels = [step_of(lab) for lab in fine]
        reason = _check_fine(kind, bal, fine, fine_labels)
        if reason:
            _count(rejections, reason)
            continue
        values = dense_steps(grid, fine_labels, n_steps)
        specs = [at(float(x)) for x in values]
        labs = label_scenes(specs, labels_cfg)
        step_labels = [step_of(lab) for lab in labs]
        reason = _check_fine(kind, bal, labs, step_labels) or _check_steps(kind, bal, labs)
        if reason:
            _count(rejections, reason)
            continue
        return _package(recipe_name, cfg, kind, number, values, specs, labs, step_of, parameter, primary,
                        attempt, rejections, bal, labels_cfg, {})
    raise SweepError(f"{kind} sweep {number}: no valid sweep in {max_attempts} attempts "
                     f"(sweeps.max_attempts); reasons: {rejections}")


def _plan_invariance(recipe_name: str, cfg: SamplingSettings, number: int, n_steps: int, labels_cfg: LabelConfig,
                     shapes: list[str], catalogue: dict[str, Any], max_attempts: int) -> PlannedSweep:
    """Plan invariance sweep ``number``: both partners of its pair are planned from the same
    stream and checked alike (see :mod:`vpt.datasets.sweeps_invariance`), so the two calls
    of a pair agree on the base scene and the orbit values; this one keeps its own role."""
    kind, (pair, role) = "invariance", pair_number(number)
    rejections: dict[str, int] = {}
    bal = balance_of(kind, number)
    bals = {r: {**bal, "partner": r, "target": target_of({**bal, "partner": r})} for r in ("visible", "hidden")}
    fine_cfg = replace(labels_cfg, n_rays=min(labels_cfg.n_rays, int(cfg.labels.steer_rays)))
    for attempt in range(max_attempts):
        rng = stream(cfg.seed, pair * max_attempts + attempt, f"{recipe_name}/sweep/{kind}-pair")
        try:
            grid, at, orbit = variants_pair(cfg, rng, shapes, catalogue, bal)
            fine = {r: [at(float(x), r) for x in grid] for r in bals}
            fine_labs = {r: label_scenes(fine[r], fine_cfg) for r in bals}
        except (Rejected, ValueError) as err:  # ValueError: the eye ended up inside the ball
            _count(rejections, str(err))
            continue
        reason = next((x for r in bals if (x := _check_fine(kind, bals[r], fine_labs[r], []))), None)
        # evenly spaced steps on the orbit: the same for both partners of an occluded pair; for
        # an out-of-view pair the visible partner's, and the hidden partner's orbit values are
        # solved for step by step, so that its 2D facing angles match the visible ones (at the
        # same observer position the hidden partner's is larger: its viewer is turned further)
        occluded = bal["hidden"] == "occluded"
        values: dict[str, Any] = {}
        if not reason:
            g = tuple(bals) if occluded else ("visible",)
            v = orbit_window(grid, {r: (fine[r], fine_labs[r]) for r in g}, n_steps, rng)
            reason = v if isinstance(v, str) else None
            values.update({r: v for r in g})
        if not reason and not occluded:
            vis = [at(float(x), "visible") for x in values["visible"]]
            v = matched_orbit(grid, fine["hidden"], fine_labs["hidden"], _cue_values(vis, label_scenes(vis, fine_cfg))[1])
            reason = v if isinstance(v, str) else None
            values["hidden"] = v
        if reason:
            _count(rejections, reason)
            continue
        specs = {r: [at(float(x), r) for x in values[r]] for r in bals}
        labs = {r: label_scenes(specs[r], labels_cfg) for r in bals}
        reason = next((x for r in bals if (x := _check_fine(kind, bals[r], labs[r], []) or _check_steps(
            kind, bals[r], labs[r]) or rules_flip(specs[r], labs[r]))), None)
        if reason:
            _count(rejections, reason)
            continue
        extra = {"orbit": orbit, "partner": f"{kind}-{number ^ 1:03d}", **image_plane_summary(specs[role])}
        return _package(recipe_name, cfg, kind, number, values[role], specs[role], labs[role], vpt_step_label,
                        "observer_orbit_deg", "vpt", attempt, rejections, bal, labels_cfg, extra)
    raise SweepError(f"{kind} sweep {number}: no valid pair in {max_attempts} attempts "
                     f"(sweeps.max_attempts); reasons: {rejections}")


def _package(recipe_name: str, cfg: SamplingSettings, kind: str, number: int, values: np.ndarray,
             specs: list[SceneSpec], labs: list[SceneLabels], step_of: Callable, parameter: str, primary: str,
             attempt: int, rejections: dict[str, int], bal: dict[str, str], labels_cfg: LabelConfig,
             extra: dict[str, Any]) -> PlannedSweep:
    step_labels = [step_of(lab) for lab in labs]
    labs = [replace(lab, viewer_visible_pixel_fraction=float(frac))  # FIT_FRACTION
            for lab, frac in zip(labs, viewer_pixel_fractions(specs, labels_cfg))]
    sweep_id = f"{kind}-{number:03d}"
    # both partners of an invariance pair share the index, hence the appearance stream (style,
    # materials, lights: vpt.scene.sampling.dress) and the render seed
    base = SWEEP_KINDS.index(kind) * 1_000_000 + (number - number % 2 if kind == "invariance" else number) * 1000
    steps = [replace(s, scene_id=f"{recipe_name}-{sweep_id}-step{k:02d}", recipe=recipe_name, split="strategy",
                     seed=cfg.seed, index=base + k,
                     sweep=SweepStep(sweep_id, kind, k, len(values), parameter, float(values[k])))
             for k, s in enumerate(specs)]
    summary = {"ball_minus_viewer_x_px": [_dx(labs[0]), _dx(labs[-1])],
               "ball_side": [labs[0].ball_side, labs[-1].ball_side],
               "viewer_facing": [labs[0].viewer_facing, labs[-1].viewer_facing], **extra}
    return PlannedSweep(sweep_id, kind, parameter, steps, labs, step_labels, transitions_of(step_labels), primary,
                        attempt + 1, rejections, bal, summary)
