"""Look-alike pairs (vpt.scene.conflict): solved from random base scenes of the default recipe,
relabelled by the label code, and the image-plane cues at chance across them."""

import copy

import numpy as np
import pytest

from tests.conftest import recipe_dict
from vpt.datasets.conflict import PIXEL_CUES, criteria_met, pixel_cue_values
from vpt.datasets.recipe import load_catalogue, parse_recipe
from vpt.scene import conflict as cf
from vpt.scene.imageplane import facing_angle_2d, segment_coverage_2d
from vpt.scene.labels import label_scenes
from vpt.scene.spec import to_json

N_PAIRS = 6


@pytest.fixture(scope="module")
def recipe():
    return parse_recipe(copy.deepcopy(recipe_dict("depth-vpt")), "test")


@pytest.fixture(scope="module")
def built(recipe):
    return cf.build_pairs(recipe.sampling, recipe.labels, recipe.name, recipe.config["occluders"]["shapes"],
                          load_catalogue("occluders"), N_PAIRS)


def test_pairs_flip_the_label_and_keep_the_image_plane_evidence(recipe, built):
    pairs, rep = built
    assert len(pairs) == N_PAIRS
    assert {p.kind for p in pairs} == {"facing", "cover"}
    # every half relabelled from scratch by the label code, with the recipe's margins
    specs = [s for p in pairs for s in (p.a, p.b)]
    labs = label_scenes(specs, recipe.labels)
    for p, la, lb in zip(pairs, labs[::2], labs[1::2]):
        assert (la.vpt_label, la.hidden_reason) == (1, None)
        assert (lb.vpt_label, lb.hidden_reason) == (0, "out_of_view" if p.kind == "facing" else "occluded")
        for lab in (la, lb):  # the basic set's validity checks: visible, big enough, not partial
            assert lab.observer_ok and not lab.observer_problems and lab.depth_label is not None
            assert lab.image.ball_radius_px >= recipe.labels.min_ball_px
            assert lab.image.viewer_radius_px >= recipe.labels.min_viewer_px
    ang = facing_angle_2d(specs)
    cov = segment_coverage_2d(specs)
    assert np.all(np.abs(ang[::2] - ang[1::2]) <= cf.ANGLE_TOL_DEG)
    assert np.all(np.abs(cov[::2] - cov[1::2]) <= cf.COVER_TOL)
    for p, ca, cb in zip(pairs, cov[::2], cov[1::2]):
        if p.kind == "cover":  # occlusion covers the segment, so the visible half is covered too
            assert ca > 0.05 and cb > 0.05
            assert p.b.occluders[-1].id in p.labels_b.blocking_occluders
        else:  # the viewer's turn differs, its 2D angle does not
            assert p.a.viewer.yaw_deg != p.b.viewer.yaw_deg
            assert abs(abs(p.labels_a.viewer_turn_deg) - abs(p.labels_b.viewer_turn_deg)) <= cf.TURN_TOL_DEG + 1
    assert rep.successes["facing"] + rep.successes["cover"] == N_PAIRS
    assert rep.attempts["facing"] >= rep.successes["facing"] and rep.attempts["cover"] >= rep.successes["cover"]


def test_the_image_plane_cues_sit_at_chance_across_the_pairs(built):
    """On 6 pairs (3 of each kind) the tolerance is looser than the 0.50 +/- 0.03 of the full
    set. The rule values are matched within a pair (the angle exactly, the coverage within
    COVER_TOL), so the AUC moves only by comparisons of values within that tolerance: each
    pair's own two halves (n of the n * n comparisons, so at most 1 / (2 n) if all went the
    same way: 0.17 for 3 pairs, 0.08 for 6) and the rare near-ties across pairs (0.02 allowed).
    The SMD is at most COVER_TOL over the spread of the coverage across pairs. The pixel cues
    (viewer silhouette centroid, mask pixels) are matched only approximately, so each pair's
    pixel values are checked to agree instead. The full-set criterion is measured by
    ``python -m vpt.datasets.conflict`` (docs/conflict.md)."""
    pairs, _ = built
    rows = cf.cue_balance(pairs)
    for r in rows:
        assert abs(r["auc"] - 0.5) <= 1 / (2 * r["n_pairs"]) + 0.02, r
        assert abs(r["smd"]) <= 0.1, r
    pix = pixel_cue_values(pairs, list(PIXEL_CUES))
    a, b = pix["facing_ball_angle"]
    assert np.all(np.abs(a - b) <= 8.0)
    a, b = pix["cover_lens_1"]
    assert np.all(np.abs(a - b) <= 0.08)


def test_the_build_is_deterministic_for_a_seed(recipe, built):
    pairs, _ = built
    again, _ = cf.build_pairs(recipe.sampling, recipe.labels, recipe.name, recipe.config["occluders"]["shapes"],
                              load_catalogue("occluders"), 2)
    by_index = {p.index: p for p in pairs}
    assert len(again) == 2
    for p in again:  # the same bases are tried in the same order, so the same pairs come out
        q = by_index[p.index]
        assert to_json(p.a) + to_json(p.b) == to_json(q.a) + to_json(q.b)


def test_auc_and_smd_can_fail():
    y = np.r_[np.ones(5), np.zeros(5)]
    assert cf.auc(np.arange(10.0)[::-1], y) == 1.0 and cf.auc(np.arange(10.0), y) == 0.0
    assert cf.auc(np.ones(10), y) == 0.5
    assert cf.smd(np.r_[np.full(5, 2.0), np.full(5, 1.0)] + np.tile([0.1, -0.1, 0, 0.05, -0.05], 2), y) > 5
    rows = [{"cue": "angle_2d", "group": "all", "auc": 0.6, "smd": 0.0}]
    assert not criteria_met(rows)
