"""The ball's angle from the viewer's facing is drawn more often near the edge of the
viewer's field of view (inside it for visible targets, outside it for out-of-view ones),
where hidden and visible candidates can look alike in the image; labels keep their margins."""

import math

import numpy as np
import pytest

from vpt.datasets.recipe import load_recipe
from vpt.rng import stream
from vpt.scene import sampling
from vpt.scene.sampling import Target, sample_ball, sample_observer, sample_viewer

VISIBLE = Target(1, None, False, "right", "right", 1)
OUT_OF_VIEW = Target(0, "out_of_view", False, "right", "right", 1)


def _proposals(target: Target, n: int = 300) -> np.ndarray:
    """Per drawn ball: (|angle from the facing|, the labels' in-view limit, their out-of-view
    limit), in degrees, measured from the viewer's eye on the floor plane."""
    cfg = load_recipe("depth-vpt").sampling
    lab = cfg.labels
    rows = []
    for i in range(n):
        rng = stream(cfg.seed, i, "test/ball-proposals")
        observer = sample_observer(cfg, rng)
        viewer = sample_viewer(cfg, rng, target.facing)
        ball = sample_ball(cfg, rng, viewer, observer, target)
        to = np.asarray(ball.position[:2]) - viewer.eye[:2]
        angle = abs((math.degrees(math.atan2(to[1], to[0])) - viewer.yaw_deg + 180.0) % 360.0 - 180.0)
        size = math.degrees(math.asin(min(1.0, ball.radius * (1 + lab.ball_margin) / float(np.hypot(*to)))))
        half = viewer.hfov_deg / 2
        rows.append((angle, half - lab.fov_margin_deg - size, half + lab.fov_margin_deg + size))
    return np.array(rows)


def test_visible_balls_lean_toward_the_edge_of_the_field_of_view(monkeypatch):
    edge = _proposals(VISIBLE)
    assert (edge[:, 0] <= edge[:, 1] + 1e-9).all(), "a visible target's ball must stay inside the labelled limit"
    monkeypatch.setattr(sampling, "IN_VIEW_EDGE_POWER", 1.0)  # uniform angles, for comparison
    flat = _proposals(VISIBLE)
    share_edge, share_flat = np.median(edge[:, 0] / edge[:, 1]), np.median(flat[:, 0] / flat[:, 1])
    assert share_edge > 0.6 and share_edge > share_flat + 0.12, (share_edge, share_flat)


def test_out_of_view_balls_lean_toward_the_edge_of_the_field_of_view(monkeypatch):
    edge = _proposals(OUT_OF_VIEW)
    assert (edge[:, 0] >= edge[:, 2] - 1e-9).all(), "an out-of-view target's ball must clear the labelled limit"
    monkeypatch.setattr(sampling, "OUT_VIEW_EDGE_POWER", 1.0)
    flat = _proposals(OUT_OF_VIEW)
    beyond_edge, beyond_flat = np.median(edge[:, 0] - edge[:, 2]), np.median(flat[:, 0] - flat[:, 2])
    assert beyond_edge < 0.7 * beyond_flat, (beyond_edge, beyond_flat)


@pytest.mark.parametrize("target", [VISIBLE, OUT_OF_VIEW])
def test_proposals_are_reproducible(target):
    assert np.array_equal(_proposals(target, 20), _proposals(target, 20))
