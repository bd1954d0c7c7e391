"""Single-cue models of the shortcut audit, fitted in batches with numpy.

The audit's single-cue figures (:mod:`vpt.datasets.audit`) are thousands of tiny fits: for each
of about 40 cues and two labels, a logistic regression and a depth-2 decision tree, in 5-fold
cross-validation and train -> test, and the same again for every shuffled label of the
permutation null (20 by default). Fitted one by one as scikit-learn pipelines they took minutes
of the plan-time audit, about a third of it input validation. Here they are fitted all at once,
as arrays of shape (fits, samples):

* **logistic regression** (the scikit-learn pipeline ``SimpleImputer(median) ->
  StandardScaler -> LogisticRegression(C=1)``): the median of the training values fills
  missing ones, the training mean and standard deviation standardise (a constant cue keeps a
  scale of 1), and the penalised log-likelihood (``sum log-loss + w^2 / (2 C)``, intercept not
  penalised, no class weights: scikit-learn's objective) is maximised by Newton's method on the
  two parameters, with step halving, to its exact optimum; a point is predicted 1 when
  ``w z + b > 0``. scikit-learn's default L-BFGS stops at a gradient tolerance of 1e-4, so its
  boundary differs from the exact one by about that much, and a test point that falls between
  the two is the only possible difference in accuracy (see the tests). A training set with a
  single class (where scikit-learn's logistic regression stops with an error) predicts that
  class.
* **depth-2 tree** (``SimpleImputer(median) -> DecisionTreeClassifier(max_depth=2,
  min_samples_leaf=5)``, gini): the values are cast to float32 as scikit-learn's trees do,
  sorted once, and every split position between two values further apart than
  scikit-learn's ``FEATURE_THRESHOLD`` (1e-7, in float32) is scored with the same proxy
  (``-n_right * gini_right - n_left * gini_left``, computed in the same order, so ties break
  the same way: the first best position in ascending order wins); the threshold is the sum
  of the two values' halves, a node splits only with at least ``2 * min_samples_leaf`` samples
  and a gini above machine epsilon, and a leaf predicts its majority class (class 0 on a tie).
  With one feature this is scikit-learn's exact algorithm, so the predictions are identical.

This is a hand-written substitute for what scikit-learn does, kept only because it was measured
to be needed (``benchmarks/audit_speed.py``; the record is linked from
``docs/counterbalancing.md``): scikit-learn stays the oracle, both in the tests
(``tests/test_fast_fits.py`` compares every fit with the pipelines on random and adversarial
data) and in the audit itself (``audit_cues(..., method="sklearn")`` runs the old path).
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

C = 1.0  # LogisticRegression's default, as in the audit's single-cue pipeline
MIN_SAMPLES_LEAF = 5
FEATURE_THRESHOLD = np.float32(1e-7)  # sklearn/tree/_partitioner.pxd
EPSILON = np.finfo(np.float64).eps  # sklearn/tree/_tree.pyx
MAX_CELLS = 2_000_000  # fits x samples per batch: the arrays of one batch stay near 200 MB


def _medians(x: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """The median of each row's valid, non-missing values (0 where there is none), as
    SimpleImputer(strategy="median") computes it for a column."""
    sub = np.where(valid, x, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # rows with no value at all
        med = np.nanmedian(sub, axis=1)
    return np.where(np.isnan(med), 0.0, med)


def _objective(w, b, z, y, v):
    eta = w[:, None] * z + b[:, None]
    return (v * (np.logaddexp(0.0, eta) - y * eta)).sum(axis=1) + w * w / (2 * C)


def logistic_fit(z: np.ndarray, y: np.ndarray, v: np.ndarray, tol: float = 1e-10, max_iter: int = 100,
                 active: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Exact L2-penalised (``C``) logistic regression of ``y`` on one standardised feature
    ``z``, one fit per row (``v``: 1 for the row's samples, 0 for padding). Returns the slope
    and intercept of each row. Rows with a single class are left at (0, 0); the caller
    predicts that class."""
    n_rows = len(z)
    w = np.zeros(n_rows)
    with np.errstate(all="ignore"):  # start at the optimum of the (unpenalised) intercept for w = 0
        ybar = (y * v).sum(1) / v.sum(1)
        b = np.where((ybar > 0) & (ybar < 1), np.log(ybar / (1 - ybar)), 0.0)
    active = np.ones(n_rows, bool) if active is None else active.copy()
    f = _objective(w, b, z, y, v)
    for _ in range(max_iter):
        if not active.any():
            break
        a = np.flatnonzero(active)
        za, ya, va, wa, ba = z[a], y[a], v[a], w[a], b[a]
        p = 1.0 / (1.0 + np.exp(-(wa[:, None] * za + ba[:, None])))
        r = (p - ya) * va
        gw, gb = (r * za).sum(1) + wa / C, r.sum(1)
        s = p * (1.0 - p) * va
        hww, hwb, hbb = (s * za * za).sum(1) + 1.0 / C, (s * za).sum(1), s.sum(1)
        det = hww * hbb - hwb * hwb
        det = np.where(det > 0, det, np.inf)  # no curvature left: stop this row
        dw, db = (hbb * gw - hwb * gb) / det, (hww * gb - hwb * gw) / det
        step = np.ones(len(a))
        fa = f[a]
        for _ in range(40):  # halve the step where the full one does not decrease the objective
            fn = _objective(wa - step * dw, ba - step * db, za, ya, va)
            bad = fn > fa + 1e-12 * np.abs(fa)
            if not bad.any():
                break
            step = np.where(bad, step / 2, step)
        w[a], b[a], f[a] = wa - step * dw, ba - step * db, fn
        active[a] = (np.abs(step * dw) > tol * (1 + np.abs(wa))) | (np.abs(step * db) > tol * (1 + np.abs(ba)))
    return w, b


def _standardise(x: np.ndarray, v: np.ndarray, n: np.ndarray, xte: np.ndarray):
    """StandardScaler fitted on the valid entries of each row of ``x``, applied to ``x`` and
    ``xte`` (a near-constant row keeps a scale of 1, as scikit-learn's does)."""
    xv = np.where(v > 0, x, 0.0)
    mean = xv.sum(1) / n
    var = (np.where(v > 0, x - mean[:, None], 0.0) ** 2).sum(1) / n
    eps = np.finfo(np.float64).eps
    constant = var <= n * eps * var + (n * mean * eps) ** 2
    scale = np.where(constant, 1.0, np.sqrt(var))
    return (xv - mean[:, None]) / scale[:, None] * v, (xte - mean[:, None]) / scale[:, None]


def _gini(c0: np.ndarray, c1: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Gini impurity as sklearn's Gini criterion computes it (same order of operations)."""
    with np.errstate(all="ignore"):
        return 0.0 + (1.0 - ((0.0 + c0 * c0) + c1 * c1) / (n * n))


def _split_scores(xs: np.ndarray, c1: np.ndarray, distinct: np.ndarray, lo: np.ndarray, hi: np.ndarray
                  ) -> np.ndarray:
    """sklearn's proxy score of each split position p (left = sorted positions [lo, p)) of the
    node [lo, hi) that holds it, -inf where p is no valid split of that node. ``xs``: sorted
    float32 values; ``c1[:, p]``: count of class 1 over sorted positions < p; ``distinct``:
    positions whose value is above the previous one by more than FEATURE_THRESHOLD; ``lo``,
    ``hi``: (rows, 1) for one node per row, or (rows, m - 1) for a node per position."""
    m = xs.shape[1]
    p = np.arange(1, m)[None, :]  # split before sorted position p
    c1_lo, c1_hi = np.take_along_axis(c1, lo, 1), np.take_along_axis(c1, hi, 1)
    n_node = (hi - lo).astype(float)
    node_gini = _gini(n_node - (c1_hi - c1_lo), c1_hi - c1_lo, n_node)
    nl, nr = (p - lo).astype(float), (hi - p).astype(float)
    ok = (distinct & (nl >= MIN_SAMPLES_LEAF) & (nr >= MIN_SAMPLES_LEAF)
          & (n_node >= 2 * MIN_SAMPLES_LEAF) & (node_gini > EPSILON))  # the node splits at all
    l1 = c1[:, 1:m] - c1_lo
    r1 = c1_hi - c1[:, 1:m]
    proxy = -nr * _gini(nr - r1, r1, nr) - nl * _gini(nl - l1, l1, nl)
    return np.where(ok, proxy, -np.inf)


def _pick(xs: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The best split of each row's scores: (position p, or -1 where none is valid; threshold,
    the sum of the halves of the values either side, as sklearn's)."""
    rows = np.arange(len(xs))
    k = np.argmax(scores, axis=1)  # the first of equal maxima: sklearn keeps a split only if strictly better
    pos = np.where(scores[rows, k] > -np.inf, k + 1, -1)
    return pos, xs[rows, k].astype(np.float64) / 2.0 + xs[rows, k + 1].astype(np.float64) / 2.0


def tree_fit_predict(x: np.ndarray, y: np.ndarray, v: np.ndarray, xte: np.ndarray) -> np.ndarray:
    """Depth-2 gini trees (min_samples_leaf 5) on one feature, one per row of ``x`` (imputed;
    ``v`` marks the row's samples), predicting the rows of ``xte``. Returns 0/1 predictions."""
    rows, m = x.shape
    xs32 = np.where(v > 0, x, np.inf).astype(np.float32)
    order = np.argsort(xs32, axis=1, kind="stable")
    xs = np.take_along_axis(xs32, order, 1)
    ys = np.take_along_axis(np.where(v > 0, y, 0.0), order, 1)
    c1 = np.concatenate([np.zeros((rows, 1)), np.cumsum(ys, axis=1)], axis=1)  # c1[:, p]: class 1 among < p
    distinct = xs[:, 1:] > (xs[:, :-1] + FEATURE_THRESHOLD)  # float32 arithmetic, as sklearn's
    n = v.sum(1).astype(np.int64)
    zero = np.zeros(rows, np.int64)
    root, t0 = _pick(xs, _split_scores(xs, c1, distinct, zero[:, None], n[:, None]))
    left_hi = np.where(root > 0, root, n)
    right_lo = np.where(root > 0, root, n)
    # both children in one pass: each position scored within the child that holds it
    p = np.arange(1, m)[None, :]
    in_left = p < left_hi[:, None]
    scores = _split_scores(xs, c1, distinct, np.where(in_left, 0, right_lo[:, None]),
                           np.where(in_left, left_hi[:, None], n[:, None]))
    pl, tl = _pick(xs, np.where(in_left, scores, -np.inf))
    pr, tr = _pick(xs, np.where(in_left, -np.inf, scores))

    def leaf_class(lo, hi):
        ones = np.take_along_axis(c1, hi[:, None], 1)[:, 0] - np.take_along_axis(c1, lo[:, None], 1)[:, 0]
        return (ones > (hi - lo) - ones).astype(np.int8)  # majority; a tie predicts class 0

    # leaves: (lo, hi) of each of the four (a node that did not split is its own leaf)
    ll = leaf_class(zero, np.where(pl > 0, pl, left_hi))
    lr = leaf_class(np.where(pl > 0, pl, zero), left_hi)
    rl = leaf_class(right_lo, np.where(pr > 0, pr, n))
    rr = leaf_class(np.where(pr > 0, pr, right_lo), n)
    whole = leaf_class(zero, n)
    q = xte.astype(np.float32).astype(np.float64)
    go_left = q <= t0[:, None]
    left_pred = np.where((pl > 0)[:, None], np.where(q <= tl[:, None], ll[:, None], lr[:, None]), ll[:, None])
    right_pred = np.where((pr > 0)[:, None], np.where(q <= tr[:, None], rl[:, None], rr[:, None]), rl[:, None])
    return np.where((root > 0)[:, None], np.where(go_left, left_pred, right_pred), whole[:, None])


def fit_predict(x: np.ndarray, y: np.ndarray, v: np.ndarray, xte: np.ndarray, vte: np.ndarray
                ) -> dict[str, np.ndarray]:
    """Both single-cue models, one fit per row: training values ``x`` (NaN = missing) with
    labels ``y`` (0/1), ``v`` = 1 on the row's samples and 0 on padding; test values ``xte``
    (``vte`` likewise). Returns model -> 0/1 predictions on ``xte``."""
    x, y, v = np.asarray(x, float), np.asarray(y, float), np.asarray(v, float)
    xte, vte = np.asarray(xte, float), np.asarray(vte, float)
    valid = v > 0
    if np.isnan(x[valid]).any() or np.isnan(xte[vte > 0]).any():
        # the median of the training values fills the missing ones, in train and test alike
        med = _medians(x, valid)[:, None]
        x, xte = np.where(np.isnan(x), med, x), np.where(np.isnan(xte), med, xte)
    xi, xtei = np.where(valid, x, 0.0), np.where(vte > 0, xte, 0.0)
    n = v.sum(1)
    ones = (y * v).sum(1)
    single = (ones == 0) | (ones == n)
    z, zte = _standardise(xi, v, n, xtei)
    w, b = logistic_fit(z, y, v, active=~single)
    logistic = (w[:, None] * zte + b[:, None] > 0).astype(np.int8)
    logistic = np.where(single[:, None], (ones == n)[:, None].astype(np.int8), logistic)
    return {"logistic": logistic, "tree": tree_fit_predict(xi, y, v, xtei)}


def single_cue_accuracies(x: np.ndarray, labels: np.ndarray, splits: Sequence[Sequence[tuple[np.ndarray, np.ndarray]]]
                          ) -> dict[str, np.ndarray]:
    """Accuracy of each single-cue model for every cue, label vector and split.

    ``x``: (items, cues); ``labels``: (L, items) 0/1 label vectors (the real label, or
    shuffled ones); ``splits[l]``: the (train indices, test indices) pairs used with label
    vector ``l`` (the CV folds, or train -> test), the same number for every ``l``. Returns
    model -> accuracies of shape (L, splits, cues)."""
    x = np.asarray(x, float)
    labels = np.asarray(labels)
    n_lab, n_cues = len(labels), x.shape[1]
    n_splits = len(splits[0])
    jobs = [(l, s) for l in range(n_lab) for s in range(n_splits)]
    out = {k: np.zeros((n_lab, n_splits, n_cues)) for k in ("logistic", "tree")}
    if not jobs or not n_cues:
        return out
    m = max(len(splits[l][s][0]) for l, s in jobs)
    per = max(1, MAX_CELLS // max(1, m * n_cues))
    for start in range(0, len(jobs), per):
        chunk = jobs[start:start + per]
        m = max(len(splits[l][s][0]) for l, s in chunk)
        k = max(len(splits[l][s][1]) for l, s in chunk)
        rows = len(chunk) * n_cues
        xtr, ytr, vtr = np.zeros((rows, m)), np.zeros((rows, m)), np.zeros((rows, m))
        xte, yte, vte = np.zeros((rows, k)), np.zeros((rows, k)), np.zeros((rows, k))
        for i, (l, s) in enumerate(chunk):
            tr, te = splits[l][s]
            r = slice(i * n_cues, (i + 1) * n_cues)
            xtr[r, :len(tr)], ytr[r, :len(tr)], vtr[r, :len(tr)] = x[tr].T, labels[l][tr], 1.0
            xte[r, :len(te)], yte[r, :len(te)], vte[r, :len(te)] = x[te].T, labels[l][te], 1.0
        preds = fit_predict(xtr, ytr, vtr, xte, vte)
        for name, pred in preds.items():
            acc = ((pred == yte) * vte).sum(1) / np.maximum(vte.sum(1), 1)
            acc = acc.reshape(len(chunk), n_cues)
            for i, (l, s) in enumerate(chunk):
                out[name][l, s] = acc[i]
    return out
