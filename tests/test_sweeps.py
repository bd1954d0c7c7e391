import copy
import math
from collections import Counter

import numpy as np
import pytest

from vpt.datasets.build import plan_recipe
from vpt.datasets.recipe import SWEEP_KINDS, load_catalogue, parse_recipe
from vpt.datasets.sweeps import (FACTORS, FIT_FRACTION, RULE_WRONG_SHARE, balance_of, cycle_length, dense_steps,
                                 plan_sweep, transitions_of)
from vpt.datasets.sweeps_invariance import FACING_MATCH_DEG, ORBIT_REACH, _cue_values, matched_orbit
from vpt.scene.imageplane import facing_angle_2d, image_plane_answer, segment_coverage_2d
from vpt.scene import geometry as geo
from vpt.scene.spec import camera_basis, to_json

SMALL = {"occluder_slide": {"count": 2, "steps": 11}, "occluder_move": {"count": 2, "steps": 11},
         "viewer_turn": {"count": 2, "steps": 11}, "depth_pass": {"count": 2, "steps": 9},
         "invariance": {"count": 4, "steps": 7}, "max_attempts": 300}


@pytest.fixture(scope="module")
def sweeps():
    from tests.conftest import recipe_dict

    d = recipe_dict("vpt-strategy")
    d["sweeps"] = copy.deepcopy(SMALL)
    plan = plan_recipe(parse_recipe(d), progress=False)
    out = {}
    for it in plan.items:
        out.setdefault(it.sweep["sweep_id"], []).append(it)
    for steps in out.values():
        steps.sort(key=lambda it: it.sweep["step"])
    return out


def _clear(labels):
    out = []
    for x in labels:
        if x in ("partial", "ambiguous"):
            continue
        if not out or out[-1] != x:
            out.append(x)
    return out


def test_every_kind_is_planned(sweeps):
    kinds = Counter(steps[0].sweep["kind"] for steps in sweeps.values())
    assert kinds == {k: SMALL[k]["count"] for k in SWEEP_KINDS}
    for sid, steps in sweeps.items():
        assert sid.rsplit("-", 1)[0] == steps[0].sweep["kind"]
        assert len(steps) == SMALL[steps[0].sweep["kind"]]["steps"]


def test_sweeps_follow_their_patterns(sweeps):
    for sid, steps in sweeps.items():
        labels = [it.sweep["step_label"] for it in steps]
        kind = steps[0].sweep["kind"]
        bal = steps[0].sweep["balance"]
        values = [it.sweep["value"] for it in steps]
        if kind == "depth_pass":
            gaps = [it.labels.depth.ball_euclidean_m - it.labels.depth.viewer_euclidean_m for it in steps]
            if bal["motion"] == "away":
                assert _clear(labels) == ["1", "0"], (sid, labels)
                assert np.all(np.diff(gaps) > 0), "the ball must move steadily away, past the viewer's depth"
            else:
                assert _clear(labels) == ["0", "1"], (sid, labels)
                assert np.all(np.diff(gaps) < 0), "the ball must move steadily closer, past the viewer's depth"
        elif kind == "invariance":
            assert labels == [labels[0]] * len(labels) and labels[0] in ("0", "1") and steps[0].sweep["transitions"] == []
        else:
            assert _clear(labels) == ["1", "0", "1"], (sid, labels)
            assert labels[0] == labels[-1] == "1"
            if kind in ("occluder_slide", "occluder_move"):
                assert {it.labels.hidden_reason for it in steps if it.labels.vpt_label == 0} == {"occluded"}
            if kind == "viewer_turn":
                assert abs(values[-1]) == 360 and (values[-1] > 0) == (bal["turn"] == "counter-clockwise")
        for it in steps:
            frac, pix = it.labels.viewer_visible_fraction, getattr(it.labels, FIT_FRACTION)
            assert it.sweep[FIT_FRACTION] == pix and it.sweep["fit_fraction"] == FIT_FRACTION
            if it.labels.vpt_label is None:
                assert it.sweep["step_label"] == "partial" or kind == "depth_pass"
            elif it.labels.vpt_label == 1:
                assert frac == 1.0 and pix == 1.0
            else:
                assert frac == 0.0 and pix == 0.0
        assert steps[0].sweep["transitions"] == transitions_of(labels)
        assert all(it.labels.observer_ok for it in steps)
        assert all(it.split == "strategy" for it in steps)
        assert np.all(np.diff(values) > 0) or np.all(np.diff(values) < 0)
        # one layout: only the swept thing changes
        first = steps[0].spec
        for it in steps[1:]:
            assert it.spec.appearance == first.appearance
            if kind == "invariance":
                assert (it.spec.viewer, it.spec.ball, it.spec.occluders) == (first.viewer, first.ball, first.occluders)
            else:
                assert it.spec.observer == first.observer
            if kind == "viewer_turn":
                assert it.spec.ball == first.ball and it.spec.viewer.position == first.viewer.position
            elif kind == "occluder_move":
                assert it.spec.ball == first.ball and it.spec.viewer == first.viewer
                assert it.spec.occluders[0].position != first.occluders[0].position
            elif kind in ("occluder_slide", "depth_pass"):
                assert it.spec.viewer == first.viewer and it.spec.occluders == first.occluders


def test_motion_directions(sweeps):
    for steps in sweeps.values():
        kind, bal = steps[0].sweep["kind"], steps[0].sweep["balance"]
        obs = np.asarray(steps[0].spec.observer.position[:2])
        if kind == "occluder_slide":
            d = [math.dist(it.spec.ball.position[:2], obs) for it in steps]
        elif kind == "occluder_move":
            d = [math.dist(it.spec.occluders[0].position[:2], obs) for it in steps]
        else:
            continue
        assert (d[-1] > d[0]) == (bal["motion"] == "away")


def test_balance_cycles_are_even():
    for kind in SWEEP_KINDS:
        n = 8
        assert n % cycle_length(kind) == 0
        combos = Counter(tuple(sorted(balance_of(kind, k).items())) for k in range(n))
        assert len(combos) == cycle_length(kind) and len(set(combos.values())) == 1, kind
        for name, values in FACTORS[kind]:
            c = Counter(balance_of(kind, k)[name] for k in range(n))
            assert set(c.values()) == {n // len(values)}, (kind, name, c)
    # invariance: look-alike pairs (2p, 2p + 1), half the sweeps visible, the hidden ones half
    # occluded and half out of view; both partners of a pair share the hidden reason and facing
    targets = Counter(balance_of("invariance", k)["target"] for k in range(8))
    assert targets == {"visible": 4, "occluded": 2, "out_of_view": 2}
    for p in range(4):
        a, b = balance_of("invariance", 2 * p), balance_of("invariance", 2 * p + 1)
        assert (a["target"], b["target"]) == ("visible", a["hidden"])
        assert (a["hidden"], a["facing"]) == (b["hidden"], b["facing"])
    # turns: ball side crossed with turning direction
    turns = Counter((balance_of("viewer_turn", k)["ball_side"], balance_of("viewer_turn", k)["turn"]) for k in range(8))
    assert set(turns.values()) == {2} and len(turns) == 4


def test_default_recipe_has_eight_sweeps_of_each_kind():
    from tests.conftest import recipe_dict

    sw = parse_recipe(recipe_dict("vpt-strategy")).config["sweeps"]
    assert all(sw[k]["count"] >= 8 and sw[k]["count"] % cycle_length(k) == 0 for k in SWEEP_KINDS)


def test_planned_sweeps_show_their_assigned_factors(sweeps):
    sides = Counter()
    for sid, steps in sweeps.items():
        kind, bal = steps[0].sweep["kind"], steps[0].sweep["balance"]
        if kind != "invariance":
            assert {it.labels.ball_side for it in steps} == {bal["ball_side"]}, sid
            sides[(kind, bal["ball_side"])] += 1
        if kind == "viewer_turn":
            # the turn starts facing the ball, so the viewer first faces the ball's side
            assert steps[0].labels.viewer_facing == bal["ball_side"]
        if kind == "depth_pass":
            assert {it.labels.viewer_facing for it in steps} == {bal["viewer_facing"]}
    for kind in ("occluder_slide", "occluder_move", "viewer_turn", "depth_pass"):
        assert sides[(kind, "left")] == sides[(kind, "right")] == 1


def test_invariance_keeps_the_answer_while_the_image_plane_rules_flip(sweeps):
    targets = Counter()
    for sid, steps in sweeps.items():
        if steps[0].sweep["kind"] != "invariance":
            continue
        bal = steps[0].sweep["balance"]
        targets[bal["target"]] += 1
        vpt = {it.labels.vpt_label for it in steps}
        reasons = {it.labels.hidden_reason for it in steps}
        if bal["target"].startswith("visible"):
            assert vpt == {1} and reasons == {None}
        else:
            assert vpt == {0} and reasons == {bal["target"]}
        assert all(not it.labels.observer_problems for it in steps)
        # the image-plane rules flip along the orbit while the answer stays: recomputed from
        # the specs, the 2D facing rule and the 2D cover rule answer wrongly on 30-70 % of steps
        specs = [it.spec for it in steps]
        ang, cov = facing_angle_2d(specs), segment_coverage_2d(specs)
        rule = image_plane_answer(ang, cov)
        wrong = np.mean(rule != steps[0].labels.vpt_label)
        assert RULE_WRONG_SHARE[0] <= wrong <= RULE_WRONG_SHARE[1] and len(set(rule)) == 2, (sid, ang, cov)
        summary = steps[0].sweep["summary"]
        assert summary["image_plane_answer"] == rule.tolist()
        assert np.allclose(summary["facing_angle_2d_deg"], ang, atol=1e-3)
        dx = [it.sweep["ball_minus_viewer_x_px"] for it in steps]
        assert summary["ball_minus_viewer_x_px"] == [dx[0], dx[-1]]
        # the observer orbits: same height, same horizontal distance to its look-at point
        look = np.asarray(steps[0].spec.observer.look_at)
        radii = [math.dist(it.spec.observer.position[:2], look[:2]) for it in steps]
        assert np.allclose(radii, radii[0]) and len({it.spec.observer.position[2] for it in steps}) == 1
        assert all(it.spec.observer.look_at == steps[0].spec.observer.look_at for it in steps)
        orbit = [it.sweep["value"] for it in steps]
        if bal["target"] != "out_of_view":  # the window's width, to the grid value inside it
            assert 77 <= abs(orbit[-1] - orbit[0]) <= 110
        else:  # solved for step by step (matched_orbit): within the searched orbit
            assert abs(orbit[-1] - orbit[0]) <= 2 * ORBIT_REACH
        assert (orbit[-1] > orbit[0]) == (summary["orbit"] == "counter-clockwise")
        assert np.all(np.diff(orbit) > 0) or np.all(np.diff(orbit) < 0)
        # the depth answer is recorded per step
        assert [it.sweep["depth_label"] for it in steps] == [it.labels.depth_label for it in steps]
    assert targets == {"visible": 2, "occluded": 1, "out_of_view": 1}


def test_invariance_partners_look_alike(sweeps):
    """The two sweeps of a pair: the same ball, viewer place and height, number of occluders,
    appearance and orbit (the same observer positions in an occluded pair, a window of their
    own in an out-of-view one); opposite answers, and only the viewer's yaw (out of view) or
    the first wall's height (occluded) differs."""
    pairs = 0
    for sid, steps in sweeps.items():
        if steps[0].sweep["kind"] != "invariance" or steps[0].sweep["balance"]["partner"] != "visible":
            continue
        other = sweeps[steps[0].sweep["summary"]["partner"]]
        bal = other[0].sweep["balance"]
        assert bal["partner"] == "hidden" and bal["hidden"] == steps[0].sweep["balance"]["hidden"]
        pairs += 1
        for a, b in zip(steps, other):
            sa, sb = a.spec, b.spec
            assert sa.ball == sb.ball and sa.appearance == sb.appearance
            assert sa.observer.look_at == sb.observer.look_at and sa.observer.position[2] == sb.observer.position[2]
            assert math.isclose(math.dist(sa.observer.position[:2], sa.observer.look_at[:2]),
                                math.dist(sb.observer.position[:2], sb.observer.look_at[:2]))
            assert sa.viewer.position == sb.viewer.position and len(sa.occluders) == len(sb.occluders)
            assert (a.labels.vpt_label, b.labels.vpt_label) == (1, 0)
            assert b.labels.hidden_reason == bal["hidden"]
            if bal["hidden"] == "out_of_view":
                assert sa.occluders == sb.occluders and sa.viewer.yaw_deg != sb.viewer.yaw_deg
                # the two yaws the same turn either side of the field of view's edge (the ball's
                # direction taken from the visible partner's eye): inside it, and past it
                to_ball = math.degrees(math.atan2(*(np.asarray(sa.ball.position[:2]) - sa.viewer.eye[:2])[::-1]))
                rel = [abs((to_ball - s.viewer.yaw_deg + 180) % 360 - 180) for s in (sa, sb)]
                assert rel[0] < sa.viewer.hfov_deg / 2 < rel[1] and abs(sum(rel) - sa.viewer.hfov_deg) < 1e-6, rel
            else:
                assert sa.observer == sb.observer
                assert sa.viewer == sb.viewer and sa.occluders[1:] == sb.occluders[1:]
                wa, wb = sa.occluders[0], sb.occluders[0]
                assert wa.position[:2] == wb.position[:2] and wa.size[:2] == wb.size[:2]
                assert wa.size[2] < wb.size[2]  # the visible partner's wall is lower
        if bal["hidden"] == "out_of_view":
            # the 2D facing angles read off the masks match step for step (as sorted lists)
            angles = [_cue_values([it.spec for it in sw], [it.labels for it in sw])[1] for sw in (steps, other)]
            assert np.abs(np.sort(angles[0]) - np.sort(angles[1])).max() <= FACING_MATCH_DEG + 1e-6, angles
            # the solver: the hidden steps themselves are found for their own angles, and angles
            # out of reach give a reason instead of values
            hs, hl = [it.spec for it in other], [it.labels for it in other]
            grid = np.arange(len(hs), dtype=float)
            assert np.array_equal(matched_orbit(grid, hs, hl, angles[1]), grid)
            assert "does not reach" in matched_orbit(grid, hs, hl, angles[1] + 5 * FACING_MATCH_DEG)
            assert "too few" in matched_orbit(grid[:3], hs[:3], hl[:3], angles[1])
    assert pairs == 2


def test_sweeps_are_deterministic():
    from tests.conftest import recipe_dict

    r = parse_recipe(recipe_dict("vpt-strategy"))
    cfg, cat = r.config, load_catalogue("occluders")
    for kind, number in (("invariance", 1), ("occluder_move", 3)):
        a, b = (plan_sweep(r.name, r.sampling, kind, number, 7, r.labels, cfg["occluders"]["shapes"], cat, 300)
                for _ in range(2))
        assert [to_json(s) for s in a.steps] == [to_json(s) for s in b.steps]
        assert a.labels == b.labels and a.balance == b.balance


def test_attempts_are_bounded_and_the_error_gives_reasons():
    from tests.conftest import recipe_dict
    from vpt.datasets.sweeps import SweepError

    d = recipe_dict("vpt-strategy")
    d["viewer"]["hfov_deg"] = 20  # too narrow for a wall and a ball passing it on both sides
    r = parse_recipe(d)
    cfg = r.config
    with pytest.raises(SweepError, match="no valid sweep in 5 attempts.*too wide"):
        plan_sweep(r.name, r.sampling, "occluder_slide", 0, 9, r.labels, cfg["occluders"]["shapes"],
                   load_catalogue("occluders"), 5)


def test_steps_are_denser_around_transitions():
    grid = np.linspace(0, 10, 101)
    labels = ["1" if x < 5 else "0" for x in grid]
    v = dense_steps(grid, labels, 15)
    assert v[0] == 0 and v[-1] == 10 and np.all(np.diff(v) > 0)
    near = np.diff(v)[np.abs(0.5 * (v[1:] + v[:-1]) - 5) < 1.5]
    far = np.diff(v)[np.abs(0.5 * (v[1:] + v[:-1]) - 5) > 3]
    assert near.mean() < 0.5 * far.mean()
    back = dense_steps(grid[::-1], labels[::-1], 15)  # a sweep run the other way
    assert np.allclose(back, v[::-1])


# --- the pixel share of the ball in the viewer's own image -----------------------------------

HH, HV = 35.0, 30.0  # half fields of view of the test viewer, degrees


def _query(center, radius, occ_rows=()):
    f, r, u = camera_basis(np.array([1.0, 0.0, 0.0]))
    return geo.ConeQueries(
        eye=np.zeros((1, 3)), center=np.array([center], float), radius=np.array([radius]), dilate=np.ones(1),
        forward=f[None], right=r[None], up=u[None], half_h=np.radians([HH]), half_v=np.radians([HV]),
        margin=np.zeros(1), has_frustum=np.ones(1, bool), floor=np.zeros(1, bool),
        occluders=geo.Primitives.from_rows(list(occ_rows)))


def _pixel_reference(center, radius, n=1200):
    """Brute force: a fine grid of points on the viewer's (unbounded) image plane, one ray each;
    the share of the ball's grid points that fall inside the frame."""
    center = np.asarray(center, float)
    f, r, u = camera_basis(np.array([1.0, 0.0, 0.0]))
    d = float(np.linalg.norm(center))
    # the ball's image lies inside a box around its centre's image
    cx, cy = center @ r / (center @ f), center @ u / (center @ f)
    reach = 2.5 * radius / math.sqrt(d * d - radius * radius) * (1 + cx * cx + cy * cy)
    X, Y = np.meshgrid(np.linspace(cx - reach, cx + reach, n), np.linspace(cy - reach, cy + reach, n))
    rays = f + X[..., None] * r + Y[..., None] * u
    rays /= np.linalg.norm(rays, axis=-1, keepdims=True)
    b = rays @ center
    hit = (b > 0) & (b * b - (d * d - radius * radius) >= 0)
    assert not hit[0].any() and not hit[-1].any() and not hit[:, 0].any() and not hit[:, -1].any()
    inside = (np.abs(X) <= math.tan(math.radians(HH))) & (np.abs(Y) <= math.tan(math.radians(HV)))
    return (hit & inside).sum() / hit.sum()


def _ball_at(angle_deg, dist=2.0):
    a = math.radians(angle_deg)  # to the viewer's right (-Y for a viewer facing +X)
    return (dist * math.cos(a), -dist * math.sin(a), 0.0)


def test_pixel_share_equals_solid_angle_share_on_the_axis():
    c, radius = _ball_at(0.0), 0.2
    assert geo.pixel_visible_fraction(_query(c, radius))[0] == 1.0
    # a thin wall hiding exactly the right half of an on-axis ball: both shares are one half
    wall = (0, geo.BOX, (1.0, -0.5, 0.0), (0.01, 0.5, 1.0), 0.0)
    q = _query(c, radius, [wall])
    solid = geo.cone_visibility(q, 2048).visible_fraction[0]
    pixel = geo.pixel_visible_fraction(q)[0]
    assert solid == pytest.approx(0.5, abs=0.01) and pixel == pytest.approx(0.5, abs=0.01)
    assert pixel == pytest.approx(solid, abs=0.005)


@pytest.mark.parametrize("angle", [33.0, 35.0, 37.0])
def test_pixel_share_near_the_frame_edge_matches_a_pixel_grid(angle):
    c, radius = _ball_at(angle), 0.2
    q = _query(c, radius)
    solid = geo.cone_visibility(q, 2048).visible_fraction[0]
    pixel = geo.pixel_visible_fraction(q)[0]
    assert 0.05 < solid < 0.95
    assert pixel == pytest.approx(_pixel_reference(c, radius), abs=0.01)
    # the part outside the frame is farther from the axis, so it weighs more in pixels
    assert pixel < solid - 0.02


def test_pixel_share_of_a_ball_off_the_axis_but_inside_the_frame_is_whole():
    q = _query(_ball_at(20.0), 0.2)
    assert geo.pixel_visible_fraction(q)[0] == 1.0 == geo.cone_visibility(q, 2048).visible_fraction[0]
