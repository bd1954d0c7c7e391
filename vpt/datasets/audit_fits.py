"""The shortcut audit's models and single-cue fits (split from :mod:`vpt.datasets.audit`).

* :func:`single_models`: per cue, a standardised logistic regression and a depth-2 tree;
* :func:`combined_models`: all cues of a set together, logistic regression and boosted trees;
* :func:`single_cues_fast` / :func:`single_cues_sklearn`: the single-cue table (cross-validated
  and train -> test accuracy of each cue for each label) and the label-permutation null of
  the largest figure in it; the fast path fits everything at once with
  :mod:`vpt.datasets.fast_fits`, the scikit-learn path one pipeline per fit (the reference).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

LABELS = ("vpt_label", "depth_label")


def single_models():
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    return {"logistic": make_pipeline(SimpleImputer(strategy="median"), StandardScaler(),
                                      LogisticRegression(max_iter=1000)),
            "tree": make_pipeline(SimpleImputer(strategy="median"),
                                  DecisionTreeClassifier(max_depth=2, min_samples_leaf=5, random_state=0))}


def combined_models():
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return {"logistic": make_pipeline(SimpleImputer(strategy="median"), StandardScaler(),
                                      LogisticRegression(C=1.0, max_iter=5000)),
            "boosted trees": HistGradientBoostingClassifier(max_depth=3, max_iter=200, learning_rate=0.05,
                                                            random_state=0)}


def _cv_scores(x: np.ndarray, y: np.ndarray, folds: int, seed: int = 0) -> dict[str, float]:
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold

    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    splits = list(cv.split(x, y))
    out = {}
    for name, model in single_models().items():
        accs = []
        for tr, te in splits:
            m = clone(model).fit(x[tr], y[tr])
            accs.append(float(np.mean(m.predict(x[te]) == y[te])))
        out[name] = float(np.mean(accs))
    return out


def _transfer_scores(x_tr: np.ndarray, y_tr: np.ndarray, x_te: np.ndarray, y_te: np.ndarray) -> dict[str, float]:
    from sklearn.base import clone

    return {name: float(np.mean(clone(m).fit(x_tr, y_tr).predict(x_te) == y_te)) for name, m in single_models().items()}


def single_cues_sklearn(binary: pd.DataFrame, cues: list[str], folds: int, permutations: int
                         ) -> tuple[pd.DataFrame, dict[str, float]]:
    """The single-cue table and the permutation null, one scikit-learn pipeline per fit (the
    reference for :func:`single_cues_fast`, kept for comparison and as the tests' oracle)."""
    train = binary[binary["split"] == "train"]
    test = binary[binary["split"] == "test"]
    rows: dict[str, dict[str, float]] = {}
    for cue in cues:
        x, row = binary[[cue]].to_numpy(float), {}
        if np.all(np.isnan(x)):
            continue
        xtr, xte = train[[cue]].to_numpy(float), test[[cue]].to_numpy(float)
        for label in LABELS:
            y = binary[label].to_numpy(int)
            for k, v in _cv_scores(x, y, folds).items():
                row[f"{label} cv {k}"] = v
            for k, v in _transfer_scores(xtr, train[label].to_numpy(int), xte, test[label].to_numpy(int)).items():
                row[f"{label} test {k}"] = v
        rows[cue] = row
    single = pd.DataFrame.from_dict(rows, orient="index")
    used = list(single.index)
    null_max = {}
    gen = np.random.default_rng(12345)  # the permutation null's own, fixed stream
    x_all = binary[used].to_numpy(float)
    is_tr, is_te = (binary["split"] == "train").to_numpy(), (binary["split"] == "test").to_numpy()
    for label in ("vpt_label",):
        y = binary[label].to_numpy(int)
        maxima = []
        for _ in range(permutations):  # the max over every column the table reports: CV and train -> test
            yp = gen.permutation(y)
            maxima.append(max(max(max(_cv_scores(x_all[:, [j]], yp, folds).values()),
                                  max(_transfer_scores(x_all[is_tr][:, [j]], yp[is_tr], x_all[is_te][:, [j]],
                                                       yp[is_te]).values()))
                              for j in range(len(used))))
        null_max[label] = float(np.quantile(maxima, 0.95)) if maxima else float("nan")
    return single, null_max


def cv_splits(y: np.ndarray, folds: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import StratifiedKFold

    return list(StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(np.zeros((len(y), 1)), y))


def single_cues_fast(binary: pd.DataFrame, cues: list[str], folds: int, permutations: int
                      ) -> tuple[pd.DataFrame, dict[str, float]]:
    """The same table and null as :func:`single_cues_sklearn`, every fit of a label (all
    cues, folds and shuffles) at once by :mod:`vpt.datasets.fast_fits`."""
    from vpt.datasets.fast_fits import single_cue_accuracies

    used = [c for c in cues if not binary[c].isna().all()]
    x = binary[used].to_numpy(float)
    is_tr, is_te = (binary["split"] == "train").to_numpy(), (binary["split"] == "test").to_numpy()
    transfer = [(np.flatnonzero(is_tr), np.flatnonzero(is_te))]

    def scores(ys: np.ndarray) -> dict[str, np.ndarray]:
        """(label vectors, cues) accuracies: 'cv <model>' (mean over folds), 'test <model>'."""
        cv = single_cue_accuracies(x, ys, [cv_splits(y, folds) for y in ys])
        tt = single_cue_accuracies(x, ys, [transfer] * len(ys))
        return {**{f"cv {k}": v.mean(axis=1) for k, v in cv.items()},
                **{f"test {k}": v[:, 0] for k, v in tt.items()}}

    columns: dict[str, np.ndarray] = {}
    for label in LABELS:
        res = scores(binary[label].to_numpy(int)[None, :])
        for k in ("cv logistic", "cv tree", "test logistic", "test tree"):
            columns[f"{label} {k}"] = res[k][0]
    single = pd.DataFrame(columns, index=used)
    null_max = {}
    gen = np.random.default_rng(12345)  # the permutation null's own, fixed stream (as the sklearn path's)
    for label in ("vpt_label",):
        y = binary[label].to_numpy(int)
        shuffled = np.array([gen.permutation(y) for _ in range(permutations)]).reshape(permutations, len(y))
        if permutations and used:
            res = scores(shuffled)
            maxima = np.max([v.max(axis=1) for v in res.values()], axis=0)  # per shuffle: max over cues, columns
            null_max[label] = float(np.quantile(maxima, 0.95))
        else:
            null_max[label] = float("nan")
    return single, null_max
