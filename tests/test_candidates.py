"""The batched sampler (vpt.scene.candidates) and its steering labels (vpt.scene.fastlabels):
a candidate is the same in any batch, the steering labels are label_scenes' labels, and the
balls keep the labels' margins."""

import itertools
import math
from dataclasses import replace

import numpy as np
import pytest

from vpt.datasets.balance import _key, quotas, stratum_of
from vpt.datasets.recipe import load_catalogue, load_recipe
from vpt.datasets.writer import seeds_record
from vpt.scene.batch import BLOCK, GENERATOR_VERSION
from vpt.scene.candidates import sample_batch
from vpt.scene.fastlabels import steer
from vpt.scene.labels import label_scenes
from vpt.scene.sampling import cue_bins

RECIPE = load_recipe("depth-vpt")
SHAPES = tuple(RECIPE.config["occluders"]["shapes"])
CATALOGUE = load_catalogue("occluders")
STRATA = sorted(quotas(256, 0.5, 0.5), key=str)
KEYS = {_key(s) for s in STRATA}


def _targets(n: int, offset: int = 0) -> list:
    """Every stratum in turn, two in three with a matching hint (as the planner aims them)."""
    out = []
    for i, s in zip(range(offset, offset + n), itertools.cycle(STRATA)):
        t = s.target()
        out.append(replace(t, hint=(None if i % 5 == 0 else i % 4, i % 4, i % 2)) if i % 3 else t)
    return out


def _batch(indices, targets):
    return sample_batch(RECIPE.name, RECIPE.sampling, "train", indices, targets, SHAPES, CATALOGUE)


def _as_list(b):
    return [b.spec(i) if b.built[i] else b.reason[i] for i in range(len(b))]


def test_a_candidate_is_the_same_in_any_batch():
    targets = _targets(300)
    whole = _as_list(_batch(range(300), targets))
    assert sum(isinstance(x, str) for x in whole) < 100, "most candidates must be built"
    # a batch that starts and ends inside blocks, indices out of order, and one at a time
    part = _as_list(_batch(range(BLOCK // 2 + 3, 200), targets[BLOCK // 2 + 3:200]))
    assert part == whole[BLOCK // 2 + 3:200]
    picks = [250, 7, 131, 64, 63]
    assert _as_list(_batch(picks, [targets[i] for i in picks])) == [whole[i] for i in picks]
    for i in (0, 5, 77, 299):
        assert _as_list(_batch([i], [targets[i]])) == [whole[i]]
    other_seed = replace(RECIPE.sampling, seed=RECIPE.sampling.seed + 1)
    moved = sample_batch(RECIPE.name, other_seed, "train", range(20), targets[:20], SHAPES, CATALOGUE)
    assert _as_list(moved) != whole[:20]


def _reference(specs, cfg):
    """(stratum key, cue bins) per spec from label_scenes, or None where it is unusable."""
    out = []
    for lab in label_scenes(specs, cfg):
        st, _ = stratum_of(lab)
        out.append(None if st is None or _key(st) not in KEYS else (_key(st), cue_bins(lab)))
    return out


def _compare(b, cfg):
    res = steer(b, cfg, cfg.n_rays, KEYS, KEYS)
    built = np.flatnonzero(b.built)
    ref = dict(zip(built.tolist(), _reference([b.spec(int(i)) for i in built], cfg)))
    fast = {int(r): (k, bins) for r, k, bins in zip(res.rows, res.keys, res.bins)}
    wrong = {i: (ref[i], fast.get(i)) for i in built.tolist() if ref[i] != fast.get(i)}
    return len(ref), sum(v is not None for v in ref.values()), wrong


def test_steering_labels_are_label_scenes_labels():
    cfg = replace(RECIPE.labels, n_rays=256)
    n, usable, wrong = _compare(_batch(range(2000), _targets(2000)), cfg)
    assert n > 1500 and usable > 500
    assert not wrong, f"{len(wrong)} of {n} candidates differ: {dict(list(wrong.items())[:5])}"


def test_steering_labels_agree_at_the_margins():
    """Balls moved onto the edges the labels test: the viewer's field of view shrunk and
    grown by the angular margin (visible / partial / out of view), and the minimum depth gap."""
    cfg = replace(RECIPE.labels, n_rays=256)
    b = _batch(range(3000, 4200), _targets(1200, 3000))
    rows = np.flatnonzero(b.built)
    lab = RECIPE.labels
    rng = np.random.default_rng(0)
    for j, i in enumerate(rows):
        eye, r = b.eye[i], b.b_r[i]
        dist = np.linalg.norm(b.b_pos[i, :2] - eye[:2])
        if j % 2:  # horizontal field-of-view edges, +- the margin, +- a hair
            size = math.degrees(math.asin(min(1.0, r * (1 + lab.ball_margin) / dist)))
            edge = b.v_hfov[i] / 2 + rng.choice([-1, 1]) * (lab.fov_margin_deg + size) + rng.choice([-1e-3, 0, 1e-3])
            a = math.radians(b.yaw[i] + rng.choice([-1, 1]) * edge)
            b.b_pos[i, :2] = eye[:2] + dist * np.array([math.cos(a), math.sin(a)])
        else:  # the minimum relative depth gap, +- a hair, along the observer's line to the ball
            d_view = np.linalg.norm(b.v_pos[i] - b.obs_pos[i])
            gap = lab.min_depth_gap + rng.choice([-1e-4, 0, 1e-4])
            target = d_view * ((1 - gap) if rng.random() < 0.5 else 1 / (1 - gap))
            ray = b.b_pos[i] - b.obs_pos[i]
            p = b.obs_pos[i] + ray / np.linalg.norm(ray) * target
            b.b_pos[i] = (p[0], p[1], r)
    # occluders may now overlap the ball: only the labels are compared, as label_scenes sees them
    n, usable, wrong = _compare(b, cfg)
    assert n > 900 and usable > 100
    assert not wrong, f"{len(wrong)} of {n} candidates differ: {dict(list(wrong.items())[:5])}"


@pytest.mark.parametrize("vpt", [1, 0])
def test_batched_balls_keep_the_labels_margins(vpt):
    """Visible targets' balls lie inside the field of view shrunk by the margin, out-of-view
    targets' balls outside the grown one (angles on the floor plane from the viewer's eye)."""
    lab = RECIPE.labels
    targets = [replace(t, vpt=vpt, reason=None if vpt else "out_of_view") for t in _targets(600)]
    b = _batch(range(600), targets)
    to = b.b_pos[:, :2] - b.eye[:, :2]
    angle = np.abs((np.degrees(np.arctan2(to[:, 1], to[:, 0])) - b.yaw + 180.0) % 360.0 - 180.0)
    size = np.degrees(np.arcsin(np.minimum(1.0, b.b_r * (1 + lab.ball_margin) / np.hypot(to[:, 0], to[:, 1]))))
    half = b.v_hfov / 2
    if vpt:
        assert (angle <= half - lab.fov_margin_deg - size + 1e-9).all()
        assert np.median(angle / (half - lab.fov_margin_deg - size)) > 0.6  # drawn near the edge
    else:
        assert (angle >= half + lab.fov_margin_deg + size - 1e-9).all()


def test_scene_json_records_the_generator_version():
    spec = _as_list(_batch([130], _targets(1)))[0]
    rec = seeds_record(spec)
    assert rec["generator_version"] == GENERATOR_VERSION == 2
    assert rec["streams"][0] == f"depth-vpt/train/layout-v2 (block {130 // BLOCK}, row {130 % BLOCK})"

