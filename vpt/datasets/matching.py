"""Matched selection: from a pool of candidates, keep the items whose image cues match
between the VPT labels.

The sampler fills every stratum of a split ``pool`` times over (see
:func:`vpt.datasets.balance.fill`); this module then keeps, inside each counterbalancing
cell, the hidden and visible items that look alike in the image (pairs may cross the depth
label, whose quotas are kept exactly; a cell's pool is twice as large that way). Every
pool item is described by the cues of the audit (:mod:`vpt.datasets.cues`), computed from
the analytic projection of its geometry, so what is matched is what a model sees:

* each matching cue (:data:`MATCH_CUES`) is turned into its rank in the split's pool (robust
  to scale and outliers) and weighted;
* a propensity score (the logit of an L2 logistic regression of the VPT label on all
  geometry cues of the pool) is added as one more coordinate, so that cues not matched one
  by one are balanced on average;
* hidden and visible items are paired greedily, the closest pair first (distance: weighted
  Euclidean in those coordinates), each item used once, until the group's quotas are full.

Deterministic: the same pool gives the same selection (stable sort, ties by pool order).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any, Callable, Iterator, Sequence

import numpy as np
from scipy.spatial.distance import cdist

# cue -> weight: the cues a shortcut reads first (the audit's strongest single cues), the
# angle between the viewer's 2D facing and the ball above all.
MATCH_CUES: dict[str, float] = {
    "facing_ball_angle": 4.0,
    "viewer_axis_angle": 1.5,
    "viewer_aspect": 1.0,
    "viewer_width": 1.0,
    "facing_dx": 1.0,
    "facing_dy": 1.0,
    "abs_dx": 1.0,
    "segment_length": 1.0,
    "cover_lens_11": 1.5,
    "cover_body_11": 1.0,
    "cover_lens_1": 1.0,
    "near_ball_occ_wide": 1.5,
    "near_ball_occ": 1.0,
    "segment_gap": 1.0,
    "dy": 1.5,  # its magnitude tells a ball in front of a turned viewer from one beside it
    "viewer_x": 1.0,
}
PROPENSITY_WEIGHT = 2.0
ROUNDS = 6  # selection rounds, reweighting the cues still unbalanced
BALANCED = 0.1  # standardized difference below which a cue counts as balanced
REWEIGHT = 4.0  # weight added per unit of standardized difference left after a round


def _ranks(x: np.ndarray) -> np.ndarray:
    """Each column's rank in [0, 1] (ties get their mean rank; NaN gets 0.5)."""
    out = np.empty_like(x, dtype=float)
    n = len(x)
    for j in range(x.shape[1]):
        col = np.nan_to_num(x[:, j], nan=np.nanmedian(x[:, j]) if np.isfinite(x[:, j]).any() else 0.0)
        order = np.argsort(col, kind="stable")
        r = np.empty(n)
        r[order] = np.arange(n)
        # mean rank of ties
        _, inv, counts = np.unique(col, return_inverse=True, return_counts=True)
        sums = np.bincount(inv, weights=r)
        out[:, j] = (sums[inv] / counts[inv]) / max(n - 1, 1)
    return out


def propensity(cues: np.ndarray, labels: np.ndarray) -> np.ndarray | None:
    """The logit of an L2 logistic regression of ``labels`` on all ``cues`` (standardized),
    or None when only one label is present."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.nan_to_num(cues, nan=0.0)
    if len(set(labels.tolist())) < 2 or not x.shape[1]:
        return None
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
    model.fit(x, labels)
    return model.decision_function(x)


def coordinates(cues: np.ndarray, names: Sequence[str], labels: np.ndarray,
                weights: dict[str, float] | None = None, logit: np.ndarray | None = None) -> np.ndarray:
    """The matching coordinates of a pool: the weighted ranks of the cues in ``weights``
    (default :data:`MATCH_CUES`) plus the weighted rank of the propensity logit (fitted here
    unless given)."""
    weights = MATCH_CUES if weights is None else weights
    idx = {n: i for i, n in enumerate(names)}
    cols = [idx[c] for c in weights if c in idx]
    w = np.array([weights[names[i]] for i in cols])
    coords = [_ranks(cues[:, cols]) * w]
    logit = propensity(cues, labels) if logit is None else logit
    if logit is not None:
        coords.append(_ranks(logit[:, None]) * PROPENSITY_WEIGHT)
    return np.hstack(coords)


PAIR_CHUNK = 1 << 16  # closest pairs sorted at a time (the rest of the distances only partitioned)
PREFILTER = 2048  # pairs checked at once against the items already used, before the exact loop


def _closest_first(d: np.ndarray) -> Iterator[np.ndarray]:
    """The flat indices of ``d``, closest first (ties by flat index, as a stable argsort of
    the whole matrix orders them), in chunks: each chunk is found by a partition of the
    distances not yet given, so a caller that stops early never sorts the whole matrix."""
    flat = d.ravel()
    rest = np.arange(flat.size)
    while rest.size:
        vals = flat[rest]
        if rest.size > PAIR_CHUNK:
            thr = np.partition(vals, PAIR_CHUNK - 1)[PAIR_CHUNK - 1]
            low = vals <= thr
            take, vals_take, rest = rest[low], vals[low], rest[~low]
        else:
            take, vals_take, rest = rest, vals, rest[:0]
        yield take[np.argsort(vals_take, kind="stable")]


def _pair_greedily(d: np.ndarray, hid: list[int], vis: list[int], strata: Sequence[Any], left: Counter,
                   used: set[int], pairs: int) -> None:
    """Pair ``hid`` and ``vis`` items closest first (distances ``d``), each item once and each
    stratum up to ``left``, until ``pairs`` pairs are made (updates ``used`` and ``left``)."""
    if pairs <= 0:
        return
    nv = len(vis)
    codes = {s: c for c, s in enumerate(left)}
    left_of = np.array([left[s] for s in left])
    h_code = np.array([codes[strata[i]] for i in hid])
    v_code = np.array([codes[strata[i]] for i in vis])
    h_used, v_used = np.zeros(len(hid), bool), np.zeros(nv, bool)
    made = 0
    for order in _closest_first(d):
        for start in range(0, order.size, PREFILTER):
            block = order[start:start + PREFILTER]
            hr, vr = block // nv, block % nv
            # entries already impossible (an item used, a stratum full) are skipped in bulk;
            # both only grow, so this drops nothing the loop below would take
            ok = ~h_used[hr] & ~v_used[vr] & (left_of[h_code[hr]] > 0) & (left_of[v_code[vr]] > 0)
            for a, b in zip(hr[ok].tolist(), vr[ok].tolist()):
                if h_used[a] or v_used[b] or left_of[h_code[a]] <= 0 or left_of[v_code[b]] <= 0:
                    continue
                h_used[a] = v_used[b] = True
                left_of[h_code[a]] -= 1
                left_of[v_code[b]] -= 1
                made += 1
                if made >= pairs:
                    break
            if made >= pairs:
                break
        if made >= pairs:
            break
    used.update(hid[a] for a in np.flatnonzero(h_used).tolist())
    used.update(vis[b] for b in np.flatnonzero(v_used).tolist())
    for s, c in codes.items():
        left[s] = int(left_of[c])


def select_pairs(coords: np.ndarray, groups: Sequence[Any], strata: Sequence[Any], is_hidden: Sequence[bool],
                 quota: dict[Any, int]) -> list[int]:
    """Indices of the pool items to keep.

    ``groups[i]`` is item i's group (its cell), ``strata[i]`` its stratum (the key of
    ``quota``), ``is_hidden[i]`` its VPT label (True = hidden). Inside each group, hidden and
    visible items are paired closest first, each stratum up to its quota; a group whose
    hidden and visible quotas differ fills the rest with the items nearest to what the
    other label has already kept."""
    by_group: dict[Any, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        by_group[g].append(i)
    keep: list[int] = []
    for g in sorted(by_group, key=str):
        members = by_group[g]
        hid = [i for i in members if is_hidden[i]]
        vis = [i for i in members if not is_hidden[i]]
        left = Counter({s: quota.get(s, 0) for s in {strata[i] for i in members}})
        used: set[int] = set()
        if hid and vis:
            n_vis_free = sum(left[s] for s in {strata[i] for i in vis})
            n_hid_free = sum(left[s] for s in {strata[i] for i in hid})
            _pair_greedily(cdist(coords[hid], coords[vis]), hid, vis, strata, left, used,
                           min(n_vis_free, n_hid_free))
        # the rest (unequal quotas, or a reason's quota its pairs did not reach): nearest to the
        # other label's kept items, else in pool order
        for side, other in ((hid, vis), (vis, hid)):
            ref = [i for i in other if i in used]
            rest = [i for i in side if i not in used]
            if not rest:
                continue
            if ref:
                dist = cdist(coords[rest], coords[ref]).min(axis=1)
                rest = [rest[k] for k in np.argsort(dist, kind="stable")]
            for i in rest:
                if left[strata[i]] > 0:
                    used.add(i)
                    left[strata[i]] -= 1
        short = {s: n for s, n in left.items() if n > 0}
        if short:
            raise ValueError(f"pool too small for group {g}: missing {short}")
        keep.extend(sorted(used))
    return sorted(keep)


def standardized_differences(cues: np.ndarray, names: Sequence[str], hidden: np.ndarray) -> dict[str, float]:
    """|mean(hidden) - mean(visible)| / pooled sd, per cue (the balance diagnostic of
    matching studies; below 0.1 is usually called balanced)."""
    out = {}
    for j, n in enumerate(names):
        a, b = cues[hidden, j], cues[~hidden, j]
        a, b = a[np.isfinite(a)], b[np.isfinite(b)]
        if len(a) < 2 or len(b) < 2:
            continue
        sd = np.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2)
        out[n] = float(abs(a.mean() - b.mean()) / sd) if sd > 0 else 0.0
    return out


def match_pool(pool: list[Any], quota: dict[Any, int], describe: Callable[[list[Any]], tuple[np.ndarray, list[str]]],
               group_of: Callable[[Any], Any]) -> tuple[list[Any], list[str]]:
    """Keep ``quota`` items per stratum out of ``pool`` (items with ``.stratum``, whose
    ``.vpt`` is the label), matched as described in the module docstring. Matching on some
    cues can unbalance others, so the selection is repeated up to :data:`ROUNDS` times, each
    round adding weight to every cue still over :data:`BALANCED` (standardized difference
    between the labels, over all geometry cues); the round with the smallest largest
    difference is kept. Returns the kept items (pool order) and report lines."""
    cues, names = describe(pool)
    hidden = np.array([a.stratum.vpt == 0 for a in pool])
    labels = (~hidden).astype(int)
    logit = propensity(cues, labels)
    groups, strata = [group_of(a.stratum) for a in pool], [a.stratum for a in pool]
    weights = dict(MATCH_CUES)
    best: tuple[float, list[int], dict[str, float], int] | None = None
    for rnd in range(ROUNDS):
        keep = select_pairs(coordinates(cues, names, labels, weights, logit), groups, strata, hidden.tolist(), quota)
        after = standardized_differences(cues[keep], names, hidden[keep])
        worst = max(after.values(), default=0.0)
        if best is None or worst < best[0]:
            best = (worst, keep, after, rnd)
        if worst <= BALANCED:
            break
        for n, d in after.items():
            if d > BALANCED:
                weights[n] = weights.get(n, 0.0) + REWEIGHT * d
    assert best is not None
    _, keep, after, rnd = best
    before = standardized_differences(cues, names, hidden)
    worst = sorted(after, key=lambda n: -after[n])[:3]
    lines = [f"  matched {len(keep)} of a pool of {len(pool)} on image cues (round {rnd + 1} of up to {ROUNDS}): "
             f"mean standardized difference between the VPT labels {np.mean(list(before.values())):.3f} -> "
             f"{np.mean(list(after.values())):.3f}; largest after: "
             + ", ".join(f"{n} {after[n]:.2f} (was {before[n]:.2f})" for n in worst)]
    return [pool[i] for i in keep], lines
