"""The ``invariance`` sweeps (split from :mod:`vpt.datasets.sweeps`): the observer orbits a
still layout while the VPT answer stays, and the image-plane rules flip along the orbit.

The planner (:func:`variants_invariance`) places the ball where the 2D facing angle of
:mod:`vpt.scene.imageplane` crosses the 2D facing rule's threshold as the viewer is seen from
near end-on to near side-on (a visible ball near the edge of the viewer's field of view, a
hidden one just past it), or behind a thin wall whose 2D coverage of the lens-ball segment
falls below the 2D cover rule's threshold side-on (an occluded ball); it returns the whole
reachable orbit, and :func:`orbit_window` keeps a window of it where the rules' answer is
wrong on part of the steps and the observer sees ball and viewer throughout.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from vpt.scene.labels import SceneLabels
from vpt.scene.sampling import ball_at, footprint_radius, make_occluder, pick, place_occluders, sample_observer, uniform
from vpt.scene.spec import SceneSpec, ViewerSpec

# invariance: the orbit searched (degrees either side of the sampled observer), the width of
# the window kept, and the share of the window's steps on which the image-plane rules must
# answer wrongly (so a reader of the rules scores near chance along the sweep)
ORBIT_REACH = 110.0
ORBIT_GRID = 97  # values on the searched orbit (about 2.3 degrees apart)
ORBIT_WINDOW = (80.0, 110.0)
RULE_WRONG_SHARE = (0.3, 0.7)



def _flat(yaw_deg: float) -> np.ndarray:
    return np.array([math.cos(math.radians(yaw_deg)), math.sin(math.radians(yaw_deg))])


def _walls(shapes: list[str], catalogue: dict[str, Any]) -> list[str]:
    return [s for s in shapes if catalogue[s]["primitive"] == "box"] or ["wall"]


def variants_invariance(cfg, rng, shapes, catalogue, bal):
    observer = sample_observer(cfg, rng)
    lab, v = cfg.labels, cfg.viewer
    target = bal["target"]
    look = np.asarray(observer.look_at[:2], float)
    opos = np.asarray(observer.position[:2], float)
    base_az = math.degrees(math.atan2(*(look - opos)[::-1]))  # the observer's horizontal heading
    radius = uniform(rng, cfg.ball.radius)
    hfov = uniform(rng, v.hfov_deg)
    # the line from the viewer to the ball runs close to the sampled observer's line of sight,
    # so the orbit (up to ORBIT_REACH either side) sees the viewer from end-on to side-on
    if target == "out_of_view":
        away = bool(rng.random() < 0.5)
    else:
        away = target != "visible_toward"  # occluded: the observer looks over the viewer's back
    line = base_az + (0.0 if away else 180.0) + float(rng.uniform(-12.0, 12.0))
    length = float(rng.uniform(2.1, 2.6)) if target == "occluded" else float(rng.uniform(1.3, 2.2))
    alpha = math.degrees(math.asin(radius * (1 + lab.ball_margin) / length))
    # the ball sits where the 2D facing angle crosses the rule's threshold as the observer
    # orbits (vpt.scene.imageplane): a visible ball off the viewer's axis, near the edge of its
    # field of view (its 2D angle grows when the viewer is seen end-on); a ball out of view
    # just past the edge (its 2D angle shrinks when the viewer is seen side-on); an occluded
    # ball near the axis behind a thin wall (its 2D coverage shrinks side-on)
    if target == "out_of_view":
        lo = hfov / 2 + lab.fov_margin_deg + alpha + 3.0
        ang = float(rng.uniform(lo, lo + 12.0)) * (1 if rng.random() < 0.5 else -1)
    else:
        room = max(0.0, hfov / 2 - lab.fov_margin_deg - alpha - 3.0)
        ang = (float(rng.uniform(-0.3, 0.3)) * room if target == "occluded"
               else float(rng.uniform(0.6, 1.0)) * room * (1 if rng.random() < 0.5 else -1))
    mid = look + rng.uniform(-0.3, 0.3, 2)
    p = mid - 0.5 * length * _flat(line)
    viewer = ViewerSpec(model=pick(rng, v.models), position=(float(p[0]), float(p[1]), uniform(rng, v.height)),
                        yaw_deg=line - ang, pitch_deg=uniform(rng, v.pitch_deg), hfov_deg=hfov,
                        vfov_deg=uniform(rng, v.vfov_deg), scale=uniform(rng, v.scale))
    ball = ball_at(viewer, radius, length, ang)
    occluders = []
    if target == "occluded":
        eye = viewer.eye
        to_ball = np.asarray(ball.position) - eye
        reach = float(np.linalg.norm(to_ball[:2]))
        gap = viewer.proxy_radius + 0.2 + float(rng.uniform(0.0, 0.25))  # wall centre from the eye
        w = make_occluder(0, pick(rng, _walls(shapes, catalogue)), catalogue, rng, (0.0, 0.0),
                          math.degrees(math.atan2(to_ball[1], to_ball[0])))
        s = gap / reach
        c = eye[:2] + to_ball[:2] * s
        # just tall enough to hide the (enlarged) ball from the eye, so the observer sees it over the top
        top = ball.position[2] + radius * (1 + lab.ball_margin)
        need = eye[2] + (top - eye[2]) * (gap + w.size[0] / 2) / reach
        height = max(need, eye[2] + 0.02) + float(rng.uniform(0.08, 0.2))
        occluders.append(replace(w, position=(float(c[0]), float(c[1]), height / 2), size=(w.size[0], w.size[1], height)))
    extras = place_occluders(cfg, rng, viewer, ball, shapes, catalogue, None, opos)
    for o in extras:
        if all(math.dist(o.position[:2], k.position[:2]) > footprint_radius(o) + footprint_radius(k) + 0.05
               for k in occluders):
            occluders.append(replace(o, id=len(occluders)))
    rel = np.asarray(observer.position[:2]) - look

    def at(phi: float) -> SceneSpec:
        c, s_ = math.cos(math.radians(phi)), math.sin(math.radians(phi))
        xy = look + np.array([c * rel[0] - s_ * rel[1], s_ * rel[0] + c * rel[1]])
        obs = replace(observer, position=(float(xy[0]), float(xy[1]), observer.position[2]))
        return SceneSpec("", "", "", 0, 0, obs, viewer, ball, tuple(occluders))

    # the whole reachable orbit; plan_sweep keeps a window of it where the rules flip
    grid = np.linspace(-ORBIT_REACH, ORBIT_REACH, ORBIT_GRID)
    return (grid if bal["orbit"] == "counter-clockwise" else grid[::-1].copy()), at, "observer_orbit_deg", "vpt"


def image_plane_summary(specs: list[SceneSpec]) -> dict[str, list]:
    """The two image-plane rules' graded values along a sweep and the answer they give
    (:mod:`vpt.scene.imageplane`): 2D facing angle (degrees), 2D segment coverage, and the
    image-plane answer (1 = sees and not blocked)."""
    from vpt.scene.imageplane import facing_angle_2d, image_plane_answer, segment_coverage_2d

    ang = facing_angle_2d(specs)
    cov = segment_coverage_2d(specs) if any(s.occluders for s in specs) else np.zeros(len(specs))
    return {"facing_angle_2d_deg": [round(float(a), 3) for a in ang], "coverage_2d": [round(float(c), 4) for c in cov],
            "image_plane_answer": [int(a) for a in image_plane_answer(ang, cov)]}


def rule_answers(specs: list[SceneSpec]) -> np.ndarray:
    """The image-plane answer of each scene (see :func:`image_plane_summary`)."""
    return np.array(image_plane_summary(specs)["image_plane_answer"], int)


def _wrong_share(answers: np.ndarray, label: int) -> float:
    return float(np.mean(np.asarray(answers) != label)) if len(answers) else 0.0


def orbit_window(grid: np.ndarray, specs: list[SceneSpec], labels: list[SceneLabels], rng: np.random.Generator
                 ) -> np.ndarray | str:
    """A window of the orbit (``grid`` in sweep order, one scene and label per value) whose
    width is drawn from :data:`ORBIT_WINDOW`, where the observer sees ball and viewer at every
    value and the image-plane answer is wrong on a share :data:`RULE_WRONG_SHARE` of the values
    (the rules flip inside it); of those, the one whose graded values (of the rule that flips)
    have their median closest to the rule's threshold. The fine values in it, or why there is
    none."""
    from vpt.scene.imageplane import COVER_THRESHOLD, FACING_THRESHOLD_DEG, cover_rule, facing_rule

    ok = np.array([not lab.observer_problems for lab in labels])
    label = labels[0].vpt_label
    graded = image_plane_summary(specs)
    ang, cov = np.array(graded["facing_angle_2d_deg"]), np.array(graded["coverage_2d"])
    wrong = np.array(graded["image_plane_answer"]) != label
    width = float(rng.uniform(*ORBIT_WINDOW))
    lo, hi = RULE_WRONG_SHARE
    best, best_score = None, math.inf
    for i in range(len(grid)):
        inside = np.flatnonzero(np.abs(grid - grid[i]) <= width + 1e-9)
        inside = inside[inside >= i]
        if abs(grid[inside[-1]] - grid[i]) < width - 3.0:  # runs off the end of the orbit
            break
        if not (ok[inside].all() and lo <= wrong[inside].mean() <= hi):
            continue
        # centre the window's graded values on the threshold of the rule that flips in it, so
        # that visible and hidden sweeps spread alike around it (a cue model that learnt
        # another threshold is near chance too, not only the rule)
        score = math.inf
        if len(set(facing_rule(ang[inside]))) == 2:
            score = abs(float(np.median(ang[inside])) - FACING_THRESHOLD_DEG) / FACING_THRESHOLD_DEG
        if len(set(cover_rule(cov[inside]))) == 2:
            score = min(score, abs(float(np.median(cov[inside])) - COVER_THRESHOLD) / COVER_THRESHOLD)
        if score < best_score:
            best, best_score = inside, score
    if best is None:
        return "no window of the orbit where the image-plane rules flip (and ball and viewer stay in view)"
    return grid[best]


def rules_flip(specs: list[SceneSpec], labs: list[SceneLabels]) -> str | None:
    share = _wrong_share(rule_answers(specs), labs[0].vpt_label)
    lo, hi = RULE_WRONG_SHARE
    if not lo <= share <= hi:
        return f"the image-plane rules are wrong on {share:.0%} of the steps (want {lo:.0%} to {hi:.0%})"
    return None
