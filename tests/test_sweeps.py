import numpy as np
import pytest

from vpt.datasets.build import plan_recipe
from vpt.datasets.recipe import parse_recipe
from vpt.datasets.sweeps import dense_steps, transitions_of


@pytest.fixture(scope="module")
def sweeps():
    from tests.conftest import recipe_dict

    d = recipe_dict("vpt-strategy")
    d["sweeps"] = {"occluder_slide": {"count": 2, "steps": 11}, "viewer_turn": {"count": 1, "steps": 11},
                   "depth_pass": {"count": 1, "steps": 9}, "max_attempts": 300}
    plan = plan_recipe(parse_recipe(d), progress=False)
    out = {}
    for it in plan.items:
        out.setdefault(it.sweep["sweep_id"], []).append(it)
    return out


def _clear(labels):
    out = []
    for x in labels:
        if x in ("partial", "ambiguous"):
            continue
        if not out or out[-1] != x:
            out.append(x)
    return out


def test_sweeps_follow_their_patterns(sweeps):
    kinds = {sid.rsplit("-", 1)[0] for sid in sweeps}
    assert kinds == {"occluder_slide", "viewer_turn", "depth_pass"}
    for sid, steps in sweeps.items():
        steps.sort(key=lambda it: it.sweep["step"])
        labels = [it.sweep["step_label"] for it in steps]
        kind = steps[0].sweep["kind"]
        if kind == "depth_pass":
            assert [it.labels["depth_label"] for it in steps][0] is not None
            assert sorted(_clear(labels)) == ["0", "1"]
            gaps = [it.labels["depth"]["ball_euclidean_m"] - it.labels["depth"]["viewer_euclidean_m"] for it in steps]
            assert np.all(np.diff(gaps) > 0), "the ball must move steadily past the viewer's depth"
        else:
            assert _clear(labels) == ["1", "0", "1"], (sid, labels)
            assert labels[0] == labels[-1] == "1"
            for it in steps:
                frac = it.labels["viewer_visible_fraction"]
                if it.sweep["step_label"] == "partial":
                    assert it.labels["vpt_label"] is None
                elif it.sweep["step_label"] == "1":
                    assert frac == 1.0
                else:
                    assert frac == 0.0
        assert steps[0].sweep["transitions"] == transitions_of(labels)
        assert all(it.labels["observer_ok"] for it in steps)
        assert all(it.split == "strategy" for it in steps)
        # one fixed view: only the swept thing changes
        first = steps[0].spec
        for it in steps[1:]:
            assert it.spec.observer == first.observer and it.spec.appearance == first.appearance
            if kind == "viewer_turn":
                assert it.spec.ball == first.ball and it.spec.viewer.position == first.viewer.position
            else:
                assert it.spec.viewer == first.viewer and it.spec.occluders == first.occluders


def test_steps_are_denser_around_transitions():
    grid = np.linspace(0, 10, 101)
    labels = ["1" if x < 5 else "0" for x in grid]
    v = dense_steps(grid, labels, 15)
    assert v[0] == 0 and v[-1] == 10 and np.all(np.diff(v) > 0)
    near = np.diff(v)[np.abs(0.5 * (v[1:] + v[:-1]) - 5) < 1.5]
    far = np.diff(v)[np.abs(0.5 * (v[1:] + v[:-1]) - 5) > 3]
    assert near.mean() < 0.5 * far.mean()
