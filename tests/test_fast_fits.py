"""The audit's batched single-cue fits (vpt.datasets.fast_fits) against scikit-learn, the oracle.

The depth-2 tree is scikit-learn's own algorithm on one feature (float32 values, the same split
proxy and tie rule), so its predictions must be *identical*. The logistic regression is solved
to its exact optimum, while the audit's scikit-learn pipeline stops L-BFGS at a gradient
tolerance of 1e-4: against a scikit-learn fit run to 1e-12 the coefficients must agree to 1e-6,
and against the audit's own setting a prediction may differ only for a test point that lies
within 1e-2 (in standardised units of the decision ``w z + b``) of the boundary, where the two
stopping points disagree about the side.
"""

import warnings

import numpy as np
import pandas as pd
import pytest

from vpt.datasets import audit as audit_mod
from vpt.datasets.audit import audit_cues
from vpt.datasets.fast_fits import _standardise, fit_predict, logistic_fit, single_cue_accuracies


def _pipelines(tol=None):
    models = audit_mod._single_models()
    if tol is not None:
        models["logistic"].set_params(logisticregression__tol=tol, logisticregression__max_iter=100_000)
    return models


def _sklearn_predict(x, y, xte, tol=None, only=("logistic", "tree")):
    """Each row's predictions by the audit's scikit-learn pipelines (fitted one by one)."""
    from sklearn.base import clone

    out = {k: [] for k in only}
    models = _pipelines(tol)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for xi, yi, ti in zip(x, y, xte):
            for name in only:
                out[name].append(clone(models[name]).fit(xi[:, None], yi.astype(int)).predict(ti[:, None]))
    return out


def _adversarial(seed=0, m=60, k=40):
    """Rows of 1-D training data (x, y) and test values: random, tied, constant, separable,
    tiny classes, missing values, values closer than the trees' FEATURE_THRESHOLD, large
    offsets."""
    g = np.random.default_rng(seed)  # test data only
    rows = []

    def add(x, y, t):
        rows.append((np.asarray(x, float), np.asarray(y, float), np.asarray(t, float)))

    for _ in range(40):  # random, with a little signal sometimes
        y = (g.random(m) < 0.5).astype(float)
        add(g.normal(size=m) + g.uniform(0, 1.5) * y, y, g.normal(size=k))
    for _ in range(30):  # heavy ties: few distinct values, test values on them
        y = (g.random(m) < 0.5).astype(float)
        add(g.integers(0, 4, m) + 0.0 * y, y, g.integers(-1, 5, k))
    for _ in range(15):  # ties with signal
        y = (g.random(m) < 0.5).astype(float)
        add(np.round(g.normal(size=m) + y, 1), y, np.round(g.normal(size=k), 1))
    for c in (0.0, 3.0, 0.1, -1e6):  # constant feature, balanced and not (a majority of 0, then of 1)
        add(np.full(m, c), (np.arange(m) % 2).astype(float), g.normal(size=k) + c)
        add(np.full(m, c), (np.arange(m) % 3 == 0).astype(float), np.full(k, c))
        add(np.full(m, c), (np.arange(m) % 3 != 0).astype(float), g.normal(size=k) + c)
    for _ in range(10):  # perfectly separable, at a random cut
        x = g.normal(size=m)
        add(x, (x > g.normal(scale=0.5)).astype(float), g.normal(size=k))
    for n_pos in (1, 2, 3, 5, 6, 11):  # tiny classes (the tree's leaves need 5 samples)
        y = np.zeros(m)
        y[g.choice(m, n_pos, replace=False)] = 1
        add(g.normal(size=m) + 2 * y, y, g.normal(size=k))
    for _ in range(6):  # missing values in train and test (median imputation)
        x, t = g.normal(size=m), g.normal(size=k)
        x[g.choice(m, 7, replace=False)] = np.nan
        t[g.choice(k, 5, replace=False)] = np.nan
        y = (x > 0).astype(float)
        y[np.isnan(x)] = g.integers(0, 2, 7)
        add(x, y, t)
    for _ in range(6):  # values closer than FEATURE_THRESHOLD, and float32 collisions
        base = g.integers(0, 3, m).astype(float)
        x = base + g.choice([0.0, 3e-8, 5e-8, 2e-7], m)
        y = (g.random(m) < 0.3 + 0.2 * base).astype(float)
        add(x, y, base[:k] + g.choice([0.0, 4e-8, 1e-7], k))
    for _ in range(5):  # a large offset (float32 rounding of the threshold)
        y = (g.random(m) < 0.5).astype(float)
        add(1e6 + g.normal(size=m) * 0.5 + y, y, 1e6 + g.normal(size=k))
    for _ in range(4):  # the label lies in steps below FEATURE_THRESHOLD: sklearn cannot split there
        y = (g.random(m) < 0.5).astype(float)
        add(np.where(y == 1, 5e-8, 0.0) + g.integers(0, 2, m), y, g.choice([0.0, 3e-8, 5e-8, 1.0], k))
    for _ in range(4):  # steps of 0.01 at 1e6: distinct in float64, one value in float32
        y = (g.random(m) < 0.5).astype(float)
        add(1e6 + 0.01 * y + g.integers(0, 2, m), y, 1e6 + g.choice([0.0, 0.004, 0.01, 1.0], k))
    return rows


def _batch(rows):
    """Pad rows of different lengths into one batch (fast_fits' layout)."""
    m, k = max(len(r[0]) for r in rows), max(len(r[2]) for r in rows)
    x, y, v = np.zeros((len(rows), m)), np.zeros((len(rows), m)), np.zeros((len(rows), m))
    t, vt = np.zeros((len(rows), k)), np.zeros((len(rows), k))
    for i, (xi, yi, ti) in enumerate(rows):
        x[i, :len(xi)], y[i, :len(yi)], v[i, :len(xi)] = xi, yi, 1
        t[i, :len(ti)], vt[i, :len(ti)] = ti, 1
    return x, y, v, t, vt


def _two_class(rows):
    return [r for r in rows if 0 < np.nansum(r[1]) < len(r[1])]  # sklearn's logistic needs both classes


@pytest.fixture(scope="module")
def adversarial():
    rows = _adversarial()
    # rows of several lengths in one batch: padding must not change any fit
    g = np.random.default_rng(1)
    rows += [(x[:n], y[:n], t[:n // 2]) for x, y, t in _adversarial(seed=2)[:40:3] for n in [int(g.integers(12, 59))]]
    return rows


def test_trees_are_identical_to_sklearn(adversarial):
    rows = adversarial
    fast = fit_predict(*_batch(rows))["tree"]
    ref = _sklearn_predict(*zip(*rows), only=("tree",))["tree"]
    for i, (r, p) in enumerate(zip(rows, ref)):
        assert np.array_equal(fast[i, :len(r[2])], p), f"row {i}: {fast[i, :len(r[2])]} != {p}"


def test_trees_match_sklearn_on_random_data_at_audit_size():
    """Train->test sized fits (256 / 128) with a band, as the audit's cues have."""
    g = np.random.default_rng(7)
    rows = []
    for _ in range(60):
        x = g.normal(size=256)
        y = ((np.abs(x) < g.uniform(0.3, 1.5)) ^ (g.random(256) < g.uniform(0, 0.5))).astype(float)
        rows.append((x, y, g.normal(size=128)))
    fast = fit_predict(*_batch(rows))["tree"]
    ref = _sklearn_predict(*zip(*rows), only=("tree",))["tree"]
    assert np.array_equal(fast, np.array(ref))


def _standardised(x, y, xte):
    """The audit pipeline's imputer and scaler (scikit-learn's), fitted on x."""
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    prep = make_pipeline(SimpleImputer(strategy="median"), StandardScaler()).fit(x[:, None])
    return prep.transform(x[:, None])[:, 0], prep.transform(xte[:, None])[:, 0]


def test_standardisation_matches_sklearn():
    """The scaler of the fast logistic against StandardScaler, near-constant rows included
    (scikit-learn keeps a scale of 1 where the variance is at rounding level)."""
    from sklearn.preprocessing import StandardScaler

    g = np.random.default_rng(5)
    m = 50
    near = np.full(m, 0.1)
    near[::2] = np.nextafter(0.1, 1.0)
    rows = [g.normal(size=m), np.full(m, 0.1), near, np.full(m, -1e6), 1e6 + g.normal(size=m) * 1e-9,
            g.integers(0, 2, m) * 1e-300]
    x = np.array(rows)
    t = x[:, ::-1] + g.normal(size=x.shape) * 1e-3
    z, zt = _standardise(x, np.ones_like(x), np.full(len(x), float(m)), t)
    for i, row in enumerate(rows):
        sc = StandardScaler().fit(row[:, None])
        np.testing.assert_allclose(z[i], sc.transform(row[:, None])[:, 0], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(zt[i], sc.transform(t[i][:, None])[:, 0], rtol=1e-9, atol=1e-12)


def test_logistic_reaches_sklearns_optimum(adversarial):
    """Against scikit-learn run to convergence (tol 1e-12): the same slope and intercept
    (to 1e-6), so the same predictions away from the boundary."""
    from sklearn.linear_model import LogisticRegression

    rows = _two_class(adversarial)
    zs = [_standardised(*r) for r in rows]
    z, y, v, _, _ = _batch([(zi, r[1], zt) for zi, r, (_, zt) in zip([a for a, _ in zs], rows, zs)])
    w, b = logistic_fit(z, y, v)
    for i, (zi, r) in enumerate(zip(zs, rows)):
        m = LogisticRegression(C=1.0, tol=1e-12, max_iter=100_000).fit(zi[0][:, None], r[1].astype(int))
        assert w[i] == pytest.approx(m.coef_[0, 0], abs=1e-6, rel=1e-6), i
        assert b[i] == pytest.approx(m.intercept_[0], abs=1e-6, rel=1e-6), i


def test_logistic_predictions_match_the_audit_pipeline(adversarial):
    """Against the audit's own pipeline (L-BFGS, tol 1e-4): a prediction differs only for a
    test point within 1e-2 of the boundary; on data away from the boundary, none differ."""
    rows = _two_class(adversarial)
    fast = fit_predict(*_batch(rows))["logistic"]
    ref = _sklearn_predict(*zip(*rows), only=("logistic",))["logistic"]
    exact = _sklearn_predict(*zip(*rows), tol=1e-12, only=("logistic",))["logistic"]
    differ = 0
    for i, r in enumerate(rows):
        k = len(r[2])
        assert np.array_equal(fast[i, :k], exact[i]), i  # the same optimum: the same side everywhere
        bad = np.flatnonzero(fast[i, :k] != ref[i])
        if len(bad):
            zi, zt = _standardised(*r)
            w, b = logistic_fit(zi[None, :], r[1][None, :], np.ones((1, len(zi))))
            assert np.all(np.abs(w[0] * zt[bad] + b[0]) < 1e-2), (i, bad)
            differ += len(bad)
    assert differ <= 0.01 * sum(len(r[2]) for r in rows)


def test_single_cue_accuracies_match_sklearn_per_split():
    """The batched accuracies, cue by cue and split by split, against the pipelines."""
    g = np.random.default_rng(11)
    n = 150
    x = g.normal(size=(n, 5))
    x[:, 1] = np.round(x[:, 1])  # ties
    x[:, 2] = 1.0  # constant
    x[g.choice(n, 9, replace=False), 3] = np.nan
    labels = g.integers(0, 2, (3, n))
    labels[1] = (x[:, 0] > 0.2).astype(int)  # separable
    splits = [audit_mod._cv_splits(y, 5) for y in labels]
    acc = single_cue_accuracies(x, labels, splits)
    from sklearn.base import clone

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for li, y in enumerate(labels):
            for si, (tr, te) in enumerate(splits[li]):
                for j in range(x.shape[1]):
                    tree = clone(_pipelines()["tree"]).fit(x[tr][:, [j]], y[tr])
                    assert acc["tree"][li, si, j] == np.mean(tree.predict(x[te][:, [j]]) == y[te])
                    lr = clone(_pipelines(tol=1e-12)["logistic"]).fit(x[tr][:, [j]], y[tr])
                    assert acc["logistic"][li, si, j] == np.mean(lr.predict(x[te][:, [j]]) == y[te])


def _audit_table(n=400, seed=0):
    g = np.random.default_rng(seed)  # test data only
    from vpt.datasets.cues import GEOMETRY_CUES

    df = pd.DataFrame({c: g.normal(size=n) for c in list(GEOMETRY_CUES)[:6]})
    df["scene_id"] = [f"s{i}" for i in range(n)]
    df["split"] = np.where(np.arange(n) % 3 == 0, "test", "train")
    df["vpt_label"] = g.integers(0, 2, n)
    df["depth_label"] = g.integers(0, 2, n)
    df["sweep_id"] = ""
    cues = list(GEOMETRY_CUES)[:6]
    df[cues[0]] = np.round(df[cues[0]] + 0.4 * df["vpt_label"], 1)  # a weak, tied cue
    df[cues[1]] = np.where(df["vpt_label"] == 1, g.normal(scale=0.3, size=n), 2 * np.sign(df[cues[1]]))  # band
    df[cues[2]] = 5.0  # constant
    df.loc[g.choice(n, 20, replace=False), cues[3]] = np.nan
    return df


def test_the_audit_is_the_same_by_either_method():
    df = _audit_table()
    fast = audit_cues(df, permutations=4)
    ref = audit_cues(df, permutations=4, method="sklearn")
    assert list(fast.single.columns) == list(ref.single.columns)
    assert list(fast.single.index) == list(ref.single.index)
    trees = [c for c in ref.single.columns if c.endswith("tree")]
    assert (fast.single[trees] == ref.single[trees]).all().all()
    # a logistic figure may move by a test item next to the boundary (see the module docstring)
    assert np.abs(fast.single - ref.single).max().max() <= 1 / fast.n_test + 1e-12
    assert fast.null_max["vpt_label"] == pytest.approx(ref.null_max["vpt_label"], abs=1 / fast.n_test)
    assert fast.passed() == ref.passed() and fast.worst_cue() == ref.worst_cue()
    pd.testing.assert_frame_equal(fast.combined, ref.combined)


def test_the_fast_audit_is_the_same_run_to_run():
    """The single-cue table and the null, twice from the same table: identical to the bit
    (the folds and the shuffles come from fixed seeds, the fits have no randomness)."""
    df = _audit_table(seed=3)
    binary, cues = audit_mod._binary(df), [c for c in audit_mod.GEOMETRY_CUES if c in df.columns]
    one, null_one = audit_mod._single_cues_fast(binary, cues, 5, 6)
    two, null_two = audit_mod._single_cues_fast(binary, cues, 5, 6)
    pd.testing.assert_frame_equal(one, two, check_exact=True)
    assert null_one == null_two and not np.isnan(null_one["vpt_label"])


def test_an_unknown_method_is_refused():
    with pytest.raises(ValueError, match="method"):
        audit_cues(_audit_table(), method="quick")


@pytest.mark.slow  # plans a recipe and audits it both ways (20-30 s)
def test_a_planned_dataset_gets_the_same_verdicts(small_binary):
    """The default recipe, planned small: the fast audit's table, null and verdicts against
    the scikit-learn path on the same cue table."""
    from vpt.datasets.build import plan_recipe
    from vpt.datasets.cues import plan_cue_table
    from vpt.datasets.recipe import parse_recipe

    plan = plan_recipe(parse_recipe(small_binary), progress=False)
    table, thumbs = plan_cue_table(plan.items)
    fast = audit_cues(table, thumbs, "analytic", permutations=2)
    ref = audit_cues(table, thumbs, "analytic", permutations=2, method="sklearn")
    trees = [c for c in ref.single.columns if c.endswith("tree")]
    assert (fast.single[trees] == ref.single[trees]).all().all()
    # a two-valued cue (the rules' answers) puts a whole group of test items at one point, so
    # where the exact optimum and L-BFGS's stop fall either side of it the group flips: the
    # one-item bound holds for the graded cues
    graded = [c for c in fast.single.index if table[c].nunique() > 2]
    assert np.abs(fast.single.loc[graded] - ref.single.loc[graded]).max().max() <= 1 / fast.n_test + 1e-12
    assert abs(fast.null_max["vpt_label"] - ref.null_max["vpt_label"]) <= 1 / fast.n_test + 1e-12
    assert fast.passed() == ref.passed()
    assert fast.worst_cue() == ref.worst_cue() and fast.worst_cue("depth_label") == ref.worst_cue("depth_label")
    assert fast.max_single() == pytest.approx(ref.max_single(), abs=1 / fast.n_test)
    pd.testing.assert_frame_equal(fast.combined, ref.combined)
    pd.testing.assert_frame_equal(fast.by_cell, ref.by_cell)
