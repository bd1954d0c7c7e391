"""Matched selection: quotas kept, cue differences between the labels shrink, deterministic."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from vpt.datasets.matching import coordinates, select_pairs, standardized_differences


def _pool(seed: int = 0, n: int = 240):
    rng = np.random.default_rng(seed)
    groups, strata, hidden, cues = [], [], [], []
    for i in range(n):
        g = i % 2
        h = i % 4 >= 2
        reason = ("occ" if i % 8 >= 6 else "oov") if h else "vis"
        # hidden items have larger values of cue 0 on average: overlap only in the tails
        cues.append([rng.normal(1.0 if h else 0.0, 1.0), rng.normal(0.0, 1.0)])
        groups.append(g)
        strata.append((g, reason))
        hidden.append(h)
    return np.array(cues), groups, strata, hidden


def test_standardized_difference_by_hand():
    cues = np.array([[0.0], [2.0], [1.0], [3.0]])
    hidden = np.array([True, True, False, False])
    # means 1 and 2, both sd sqrt(2): |1 - 2| / sqrt(2)
    assert standardized_differences(cues, ["a"], hidden)["a"] == pytest.approx(1 / np.sqrt(2))


def test_selection_keeps_quotas_and_shrinks_the_difference():
    cues, groups, strata, hidden = _pool()
    quota = {(g, r): n for (g, r), n in {(0, "vis"): 20, (0, "oov"): 10, (0, "occ"): 10,
                                          (1, "vis"): 20, (1, "oov"): 10, (1, "occ"): 10}.items()}
    coords = cues / cues.std(axis=0)
    keep = select_pairs(coords, groups, strata, hidden, quota)
    assert Counter(strata[i] for i in keep) == Counter(quota)
    h = np.array(hidden)
    before = standardized_differences(cues, ["a", "b"], h)["a"]
    after = standardized_differences(cues[keep], ["a", "b"], h[keep])["a"]
    assert before > 0.8
    assert after < 0.35 * before
    assert keep == select_pairs(coords, groups, strata, hidden, quota)


def test_unequal_quotas_and_a_pool_too_small():
    cues, groups, strata, hidden = _pool(1)
    quota = {(0, "vis"): 21, (0, "oov"): 9, (0, "occ"): 10, (1, "vis"): 19, (1, "oov"): 11, (1, "occ"): 10}
    keep = select_pairs(cues, groups, strata, hidden, quota)
    assert Counter(strata[i] for i in keep) == Counter(quota)
    with pytest.raises(ValueError, match="pool too small"):
        select_pairs(cues, groups, strata, hidden, {**quota, (0, "vis"): 1000})


def test_coordinates_add_the_propensity():
    cues, _, _, hidden = _pool(2)
    names = ["facing_ball_angle", "unmatched_cue"]
    c = coordinates(cues, names, (~np.array(hidden)).astype(int))
    # one weighted rank for the matched cue, one for the propensity logit
    assert c.shape == (len(cues), 2)
    assert 0.0 <= c[:, 0].min() and c[:, 0].max() == pytest.approx(4.0)


def _greedy_by_full_sort(coords, groups, strata, is_hidden, quota):
    """The pairing phase by its definition: every (hidden, visible) pair of a group in one
    stable sort of their distances, closest first (the rest phase is not exercised: quotas
    here are equal for both labels)."""
    from collections import Counter

    from scipy.spatial.distance import cdist

    keep = []
    for g in sorted(set(groups), key=str):
        members = [i for i, x in enumerate(groups) if x == g]
        hid = [i for i in members if is_hidden[i]]
        vis = [i for i in members if not is_hidden[i]]
        left = Counter({s: quota.get(s, 0) for s in {strata[i] for i in members}})
        used = set()
        for flat in np.argsort(cdist(coords[hid], coords[vis]), axis=None, kind="stable"):
            h, v = hid[flat // len(vis)], vis[flat % len(vis)]
            if h in used or v in used or left[strata[h]] <= 0 or left[strata[v]] <= 0:
                continue
            used.update((h, v))
            left[strata[h]] -= 1
            left[strata[v]] -= 1
        keep.extend(used)
    return sorted(keep)


def test_chunked_pairing_is_the_full_sort_greedy(monkeypatch):
    """Pairs found a chunk of distances at a time (partitions, not one sort of the whole
    matrix) are the pairs of the greedy over the fully sorted distances, ties included."""
    from vpt.datasets import matching

    rng = np.random.default_rng(3)
    for chunk in (5, 64, matching.PAIR_CHUNK):
        monkeypatch.setattr(matching, "PAIR_CHUNK", chunk)
        for _ in range(30):
            n = int(rng.integers(4, 160))
            coords = np.round(rng.random((n, 2)) * 3)  # many equal distances
            groups = rng.integers(0, 2, n).tolist()
            hidden = (rng.random(n) < 0.5).tolist()
            strata = [(g, int(h), int(rng.integers(0, 2))) for g, h in zip(groups, hidden)]
            quota = {}
            for g in set(groups):
                for d in (0, 1):
                    k = min(sum(1 for s in strata if s == (g, h, d)) for h in (0, 1)) // 2
                    quota[(g, 0, d)] = quota[(g, 1, d)] = k
            want = _greedy_by_full_sort(coords, groups, strata, hidden, quota)
            assert matching.select_pairs(coords, groups, strata, hidden, quota) == want
