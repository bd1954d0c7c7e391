"""Look-alike pairs (vpt.scene.conflict): solved from random base scenes of the default recipe,
relabelled by the label code, and the image-plane cues at chance across them; raised balls on
stands (an ordinary occluder row) and the opt-in depth pairs."""

import copy
from dataclasses import replace

import numpy as np
import pytest

from tests.conftest import recipe_dict
from vpt.datasets.conflict import DEPTH_CUES, PIXEL_CUES, criteria_met, main, pixel_cue_values, single_cue_misses
from vpt.datasets.recipe import load_catalogue, parse_recipe
from vpt.scene import conflict as cf
from vpt.scene.conflict_parts import STAND, is_stand, raised_ball
from vpt.scene.imageplane import facing_angle_2d, segment_coverage_2d
from vpt.scene.labels import LabelConfig, label_scenes
from vpt.scene.raster import OCCLUDER_BASE, analytic_mask
from vpt.scene.spec import ObserverSpec, SceneSpec, ViewerSpec, to_json

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
        else:  # the same viewer; the ball raised on a stand at the same pixel, moved in depth
            assert p.a.viewer == p.b.viewer
            for s in (p.a, p.b):
                stand = s.occluders[-1]
                assert is_stand(stand) and stand.size[2] == pytest.approx(s.ball.position[2] - s.ball.radius)
            assert np.allclose(p.labels_a.image.ball_center_px, p.labels_b.image.ball_center_px, atol=0.5)
            assert p.labels_a.image.ball_radius_px == pytest.approx(p.labels_b.image.ball_radius_px, rel=0.03)
            assert abs(p.labels_a.depth.ball_z_m - p.labels_b.depth.ball_z_m) > 0.1
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


def test_the_rings_around_ball_and_viewer_look_alike_in_both_halves(built):
    """The audit's rings of occluder pixels (2.5 and 5 ball radii around the ball, 2 viewer
    radii around the viewer) are what boosted trees read at SCALE=paper when a facing pair's
    stands ended inside the wide ring: each stand now reaches past it (same image width in
    both halves). Cover pairs are not matched on the rings yet (docs/conflict.md), so only
    facing pairs are held to it (analytic masks; the tolerance allows for edge pixels)."""
    pairs, _ = built
    names = ["near_ball_occ", "near_ball_occ_wide", "near_viewer_occ"]
    pix = pixel_cue_values(pairs, names)
    for p, i in zip(pairs, range(len(pairs))):
        if p.kind != "facing":
            continue
        for n in names:
            a, b = pix[n][0][i], pix[n][1][i]
            assert abs(a - b) <= 0.02, (p.kind, n, a, b)


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


def test_auc_skips_nothing_silently_and_single_cue_misses_flag_both_directions():
    rows = [{"cue": "x", "group": "all", "auc": 0.61, "smd": 0.0}, {"cue": "y", "group": "all", "auc": 0.39, "smd": 0.0},
            {"cue": "z", "group": "all", "auc": 0.55, "smd": 0.0}, {"cue": "n", "group": "all", "auc": float("nan"), "smd": 0.0}]
    assert [r["cue"] for r in single_cue_misses(rows)] == ["x", "y"]


OBS = ObserverSpec(position=(0.0, -5.0, 3.5), look_at=(0.0, 0.3, 0.3), hfov_deg=50.0, width=256, height=256)
VIEW = ViewerSpec(model="camera", position=(-1.0, 0.3, 0.8), yaw_deg=0.0, pitch_deg=-8.0, hfov_deg=60.0, vfov_deg=60.0)


def _raised(dz, extra=()):
    eye = VIEW.eye
    ball, stand = raised_ball((eye[0] + 2.0, eye[1], eye[2] + dz), 0.15, len(extra))
    return SceneSpec("t", "t", "test", 0, 0, OBS, VIEW, ball, tuple(extra) + (stand,))


def test_a_stand_is_an_ordinary_occluder_for_labels_and_masks():
    below, above = _raised(-0.3), _raised(0.3)
    assert below.occluders[-1].shape == STAND and below.occluders[-1].primitive == "cylinder"
    assert below.occluders[-1].size[2] == pytest.approx(below.ball.position[2] - 0.15)
    cat = load_catalogue("occluders")
    assert STAND in cat and cat[STAND]["primitive"] == "cylinder"
    # the analytic mask draws the stand under the ball with the occluder's id
    m = analytic_mask(below)
    ys, xs = np.nonzero(m == OCCLUDER_BASE + below.occluders[-1].id)
    bys, bxs = np.nonzero(m == 1)
    assert len(xs) > 10 and ys.min() >= bys.mean() and abs(xs.mean() - bxs.mean()) < 3
    # seen from below, the stand meets the labels' dilated ball: the label is not "visible";
    # without it the same ball is clearly visible (so the stand is not ignored)
    labs = label_scenes([below, above, replace(above, occluders=())], LabelConfig())
    assert labs[0].vpt_label == 1
    assert labs[1].vpt_label is None
    assert labs[2].vpt_label == 1
    with pytest.raises(ValueError, match="above the floor"):
        raised_ball((0.0, 0.0, 0.1), 0.15, 0)


def test_a_stand_on_the_line_of_sight_blocks_it():
    # a second raised ball's stand, made thick, right across the viewer's line of sight
    eye = VIEW.eye
    _, post = raised_ball((eye[0] + 1.0, eye[1], eye[2] + 0.5), 0.15, 0)
    post = replace(post, size=(0.5, 0.5, post.size[2]))
    spec = _raised(-0.1, (post,))
    lab = label_scenes([spec], LabelConfig())[0]
    assert (lab.vpt_label, lab.hidden_reason) == (0, "occluded") and lab.blocking_occluders == (0,)


@pytest.fixture(scope="module")
def depth_built(recipe):
    return cf.build_pairs(recipe.sampling, recipe.labels, recipe.name, recipe.config["occluders"]["shapes"],
                          load_catalogue("occluders"), 4, kinds=("depth",))


def test_depth_pairs_flip_the_depth_order_with_the_same_image_height_and_size(recipe, depth_built):
    pairs, rep = depth_built
    assert len(pairs) == 4 and {p.kind for p in pairs} == {"depth"} and rep.successes["depth"] == 4
    labs = label_scenes([s for p in pairs for s in (p.a, p.b)], recipe.labels)
    for p, la, lb in zip(pairs, labs[::2], labs[1::2]):
        # both labels flip: a visible, b out of view; the visible ball on the near side where asked
        assert (la.vpt_label, lb.vpt_label, lb.hidden_reason) == (1, 0, "out_of_view")
        near = int(p.detail["visible_nearer"])
        assert (la.depth_label, lb.depth_label) == (near, 1 - near)  # every label unambiguous: the margin holds
        for lab in (la, lb):
            assert lab.observer_ok and lab.vpt_label is not None
            assert min(lab.depth.relative_gap_euclidean, lab.depth.relative_gap_z) >= recipe.labels.min_depth_gap
        assert p.a.viewer == p.b.viewer and p.a.observer == p.b.observer
        assert np.allclose(la.image.ball_center_px, lb.image.ball_center_px, atol=0.5)
        assert la.image.ball_radius_px == pytest.approx(lb.image.ball_radius_px, rel=0.03)
    pix = pixel_cue_values(pairs, list(DEPTH_CUES))
    for name in DEPTH_CUES:  # the image height and size cues, from pixels, agree within each pair
        a, b = pix[name]
        assert np.all(np.abs(a - b) <= 0.05 * np.maximum(np.abs(a), 1) + 2), name
    assert sorted(p.detail["visible_nearer"] for p in pairs) == [False, False, True, True]  # asked in turn
    rows = [r for r in cf.cue_balance(pairs, {f"px:{n}": v for n, v in pix.items()}) if r["group"] == "depth order"]
    assert rows and all(r["label"] == "depth" for r in rows)
    for r in rows:
        if r["cue"] in ("px:dy", "px:ball_y", "px:size_ratio", "px:ball_area"):  # see the VPT test's bound
            assert abs(r["auc"] - 0.5) <= 1 / (2 * r["n_pairs"]) + 0.02, r


def test_build_pairs_keeps_its_old_call_and_checks_kinds(recipe):
    with pytest.raises(ValueError, match="kinds"):
        cf.build_pairs(recipe.sampling, recipe.labels, recipe.name, ["wall"], load_catalogue("occluders"), 2,
                       kinds=("facing", "sideways"))


def test_the_summary_refuses_an_unknown_kind(capsys):
    with pytest.raises(SystemExit):
        main(["--pairs", "2", "--kinds", "facing,sideways"])
    assert "unknown kind" in capsys.readouterr().err
