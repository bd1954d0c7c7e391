from collections import Counter
from dataclasses import replace

import pytest

from vpt.datasets.balance import CELLS, Stratum, _swap_depth, quotas, spread, stratum_order
from vpt.datasets.build import plan_recipe
from vpt.datasets.recipe import parse_recipe


def test_quotas_cross_and_balance():
    for n in (32, 64, 100, 257):
        q = quotas(n, 0.5)
        assert sum(q.values()) == n
        cells = Counter()
        for s, k in q.items():
            cells[(s.side, s.facing, s.overlap, s.vpt)] += k
            if s.vpt == 0 and s.reason == "occluded":
                assert s.overlap, "occluded items must sit in overlap cells"
        for c in CELLS:
            assert abs(cells[c + (1,)] - cells[c + (0,)]) <= 1
        two = Counter()
        for s, k in q.items():
            two[(s.vpt, s.depth)] += k
        assert max(two.values()) - min(two.values()) <= 1
    q = quotas(256, 0.5)
    reasons = Counter()
    for s, k in q.items():
        if s.vpt == 0:
            reasons[s.reason] += k
    assert reasons["occluded"] == reasons["out_of_view"] == 64
    q = quotas(256, 0.25)
    reasons = Counter({r: sum(k for s, k in q.items() if s.reason == r) for r in ("occluded", "out_of_view")})
    assert reasons["occluded"] == 32 and reasons["out_of_view"] == 96


def test_stratum_order_covers_every_pair_once_and_crosses_in_fours():
    order = stratum_order()
    assert len(set(order)) == 32
    for i in range(0, 32, 4):
        assert {combo for _, combo in order[i:i + 4]} == {(1, 1), (0, 0), (1, 0), (0, 1)}
    assert spread(10, 4) == [3, 3, 2, 2]


def test_depth_swap_keeps_cells_and_2x2_balanced():
    need = Counter(quotas(64, 0.5))
    starving = Stratum("left", "right", True, 1, None, 0)
    before_cells = Counter()
    for s, k in need.items():
        before_cells[(s.cell, s.vpt)] += k
    msg = _swap_depth(need, starving)
    assert msg and "vpt=1 depth=0" in msg
    after_cells = Counter()
    two = Counter()
    for s, k in need.items():
        after_cells[(s.cell, s.vpt)] += k
        two[(s.vpt, s.depth)] += k
    assert +after_cells == +before_cells
    assert len(set(two.values())) == 1


@pytest.fixture(scope="module")
def plan_small():
    from tests.conftest import recipe_dict

    d = recipe_dict("depth-vpt")
    d["balance"]["pool"] = 2  # matched selection on a small pool (fast)
    d["splits"] = {"train": 32, "val": 32, "test": 32, "ood": 32}
    d["human_set"], d["warmup"] = 16, 8
    return plan_recipe(parse_recipe(d), progress=False)


def test_planned_splits_are_balanced_disjoint_and_labelled(plan_small):
    items = plan_small.items
    by_split = plan_small.by_split()
    assert {k: len(v) for k, v in by_split.items()} == {"train": 32, "val": 32, "test": 32, "ood": 32}
    ids = [it.spec.scene_id for it in items]
    assert len(ids) == len(set(ids))
    for split, its in by_split.items():
        two = Counter((it.labels.vpt_label, it.labels.depth_label) for it in its)
        assert set(two.values()) == {len(its) // 4}, (split, two)
        per_cell = Counter((it.cell, it.labels.vpt_label) for it in its)
        for c in {it.cell for it in its}:
            assert per_cell[(c, 1)] == per_cell[(c, 0)], (split, c)
        assert len({it.cell for it in its}) == 8
        for it in its:
            lab = it.labels
            assert lab.observer_ok and lab.vpt_label in (0, 1) and lab.depth_label in (0, 1)
            assert it.cell == Stratum(lab.ball_side, lab.viewer_facing, lab.occluder_overlaps_segment,
                                      lab.vpt_label, lab.hidden_reason, lab.depth_label).cell
            if lab.vpt_label == 1:
                assert lab.viewer_visible_fraction == 1.0
            else:
                assert lab.viewer_visible_fraction == 0.0 and lab.hidden_reason in ("occluded", "out_of_view")
            assert min(lab.depth.relative_gap_euclidean, lab.depth.relative_gap_z) >= 0.10
            assert lab.observer_ball_visible_fraction >= 0.9 and lab.observer_viewer_visible_fraction >= 0.9
    hidden = Counter(it.labels.hidden_reason for it in by_split["train"] if it.labels.vpt_label == 0)
    assert hidden["occluded"] == hidden["out_of_view"]


def test_ood_uses_unseen_shapes_and_sets_come_from_the_right_splits(plan_small):
    train_shapes = {o.shape for it in plan_small.by_split()["train"] for o in it.spec.occluders}
    ood_shapes = {o.shape for it in plan_small.by_split()["ood"] for o in it.spec.occluders}
    assert ood_shapes and not (train_shapes & ood_shapes)
    human = [it for it in plan_small.items if it.human_set]
    warm = [it for it in plan_small.items if it.warmup]
    assert len(human) == 16 and all(it.split == "test" for it in human)
    assert len(warm) == 8 and all(it.split == "train" for it in warm)
    assert set(Counter((it.labels.vpt_label, it.labels.depth_label) for it in human).values()) == {4}
    assert set(Counter((it.labels.vpt_label, it.labels.depth_label) for it in warm).values()) == {2}
    for it in plan_small.items:
        assert it.spec.appearance is not None and all(o.material for o in it.spec.occluders)


def test_impossible_recipe_fails_with_reasons():
    from tests.conftest import recipe_dict
    from vpt.datasets.balance import SamplingError

    d = recipe_dict("depth-vpt")
    d["splits"] = {"train": 16, "val": 0, "test": 0, "ood": 0}
    d["human_set"], d["warmup"] = 0, 0
    d["ball"] = {"radius": [0.02, 0.02], "distance": [1.0, 2.6]}  # far too small to see
    d["balance"] = {"max_candidates_per_item": 3}
    with pytest.raises(SamplingError) as err:
        plan_recipe(parse_recipe(d), progress=False)
    msg = str(err.value)
    assert "gave up after" in msg and "ball too small in the image" in msg and "max_candidates_per_item" in msg


def test_depth_swap_never_feeds_another_starving_stratum():
    need = Counter(quotas(64, 0.5))
    a = Stratum("left", "right", True, 1, None, 0)
    mirror = Stratum("right", "left", True, 1, None, 0)  # starving too
    need[replace(mirror, depth=1)] += 5  # the mirror cell has the most quota to give
    dry = Counter({a: 5000, mirror: 5000})
    msg = _swap_depth(need, a, dry)
    assert msg and mirror.cell not in msg.split(" to ")[1]
    # when the only cell that could take the quota is starving too, nothing moves
    only = Counter({a: 1, replace(a, depth=1): 1, replace(mirror, depth=1): 3, mirror: 1})
    assert _swap_depth(only, a, dry, starve_after=1500) is None and only[a] == 1


def test_fill_settings_come_from_the_recipe():
    """fill/fill_matched take one FillSettings (was 14 parameters), built from the recipe;
    the same settings accept the same candidates."""
    from tests.conftest import recipe_dict
    from vpt.datasets.balance import FillSettings, fill
    from vpt.datasets.recipe import load_catalogue
    from vpt.scene.sampling import sample_candidate

    r = parse_recipe(recipe_dict("depth-vpt"))
    s = FillSettings.from_recipe(r, progress=False)
    bal = r.config["balance"]
    assert (s.labels, s.steer_rays, s.batch_size, s.max_candidates_per_item, s.pool, s.progress) == (
        r.labels, r.config["labels"]["steer_rays"], bal["batch_size"], bal["max_candidates_per_item"], bal["pool"], False)
    catalogue, shapes = load_catalogue("occluders"), r.config["occluders"]["shapes"]

    def make(index, target):
        return sample_candidate(r.name, r.sampling, "train", index, target, shapes, catalogue)

    q = quotas(8, bal["occluded_share"])
    new, rep = fill("train", q, make, s)
    again, rep_again = fill("train", q, make, s)
    assert len(new) == 8 and [a.spec for a in new] == [a.spec for a in again]
    assert rep.candidates == rep_again.candidates
    with pytest.raises(TypeError, match="FillSettings"):
        fill("train", q, make, r.labels)
    with pytest.raises(TypeError):
        fill("train", q, make, s, 64)
