"""Error consistency (Geirhos et al. 2020) and noise ceilings (split-half reliability).

Error consistency: for two decision makers on the trials both answered (same task, scene,
variant and repeat; labelled rows; splits other than `train`), c_obs is the share of trials
where both are right or both wrong, c_exp = p1 p2 + (1 - p1)(1 - p2) what independent
observers with those accuracies would share, kappa = (c_obs - c_exp) / (1 - c_exp), and
kappa_max the largest kappa the two accuracies allow (c_obs at most 1 - |p1 - p2|). An
invalid answer counts as wrong. All pairs come from a few matrix products.

Noise ceiling: participants are split at random into two halves (many seeded splits); per
item (task, scene) human accuracy in each half; the Pearson correlation of the halves,
corrected with Spearman-Brown (2r / (1 + r)), estimates the reliability of the full human
item accuracies. A model's per-item correctness is correlated with the same halves.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vpt.metrics.frame import Prepared

EXCLUDED_SPLITS = ("train",)


def kappa_from_counts(n: np.ndarray, both_right: np.ndarray, right_a: np.ndarray, right_b: np.ndarray
                      ) -> dict[str, np.ndarray]:
    """Cohen's kappa on trial-wise correctness from shared-trial counts (arrays broadcast).
    Returns acc_a, acc_b, c_obs, c_exp, kappa, kappa_max (NaN where undefined: no shared
    trials, or c_exp == 1 because both are always right or always wrong)."""
    n, both_right, right_a, right_b = (np.asarray(x, dtype=np.float64) for x in (n, both_right, right_a, right_b))
    with np.errstate(invalid="ignore", divide="ignore"):
        pa, pb = right_a / n, right_b / n
        both_wrong = n - right_a - right_b + both_right
        c_obs = (both_right + both_wrong) / n
        c_exp = pa * pb + (1 - pa) * (1 - pb)
        ok = (n > 0) & (c_exp < 1 - 1e-12)
        kappa = np.where(ok, (c_obs - c_exp) / (1 - c_exp), np.nan)
        kmax = np.where(ok, (1 - np.abs(pa - pb) - c_exp) / (1 - c_exp), np.nan)
    return {"acc_a": pa, "acc_b": pb, "c_obs": c_obs, "c_exp": c_exp, "kappa": kappa, "kappa_max": kmax}


def correctness_matrix(p: Prepared, task: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(correct, answered) float32 matrices, decision makers x items, for one task, and the
    decision-maker and item codes of their rows and columns. Repeated rows of a
    (decision maker, item) pair (e.g. two runs) are averaged."""
    keep = (p.task == task) & p.labelled & ~np.isin(p.split_names[p.split], EXCLUDED_SPLITS)
    dm, item, corr = p.dm[keep], p.item[keep], p.correct[keep].astype(np.float32)
    dms, di = np.unique(dm, return_inverse=True)
    items, ii = np.unique(item, return_inverse=True)
    x = np.zeros((len(dms), len(items)), np.float32)
    m = np.zeros_like(x)
    if len(np.unique(di * len(items) + ii)) == len(di):
        x[di, ii], m[di, ii] = corr, 1.0
    else:
        np.add.at(x, (di, ii), corr)
        np.add.at(m, (di, ii), 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        x = np.where(m > 0, x / np.maximum(m, 1), 0).astype(np.float32)
    return x, (m > 0).astype(np.float32), dms, items


def kappa_pairs(p: Prepared, min_shared: int = 1) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Every pair of decision makers per task: long table (one row per unordered pair) and,
    per task, the square kappa matrix (decision makers in code order)."""
    rows, mats = [], {}
    for t, task in enumerate(p.task_names):
        x, m, dms, _ = correctness_matrix(p, t)
        x64, m64 = x.astype(np.float64), m.astype(np.float64)
        n, both = m64 @ m64.T, x64 @ x64.T
        ra = x64 @ m64.T
        k = kappa_from_counts(n, both, ra, ra.T)
        k["kappa"][n < min_shared] = np.nan
        names = p.dm_names[dms]
        mats[task] = pd.DataFrame(k["kappa"], index=names, columns=names)
        a, b = np.triu_indices(len(dms), 1)
        rows.append(pd.DataFrame({"task": task, "decision_maker_a": names[a], "decision_maker_b": names[b],
                                  "kind_a": p.dm_kind[dms[a]], "kind_b": p.dm_kind[dms[b]], "n_shared": n[a, b],
                                  **{key: v[a, b] for key, v in k.items()}}))
    long = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    if len(long):
        with np.errstate(invalid="ignore", divide="ignore"):
            long["kappa_norm"] = long["kappa"] / long["kappa_max"]
    return long, mats


def kappa_summary(pairs: pd.DataFrame) -> pd.DataFrame:
    """Mean kappa (and kappa_max) per task and pair type: human-human (the reference),
    model-human, model-model."""
    if pairs.empty:
        return pd.DataFrame(columns=["task", "pair", "n_pairs", "kappa_mean", "kappa_sd", "kappa_max_mean"])
    ha, hb = pairs["kind_a"] == "human", pairs["kind_b"] == "human"
    pair = np.where(ha & hb, "human-human", np.where(ha | hb, "model-human", "model-model"))
    g = pairs.assign(pair=pair).dropna(subset=["kappa"]).groupby(["task", "pair"])
    return g.agg(n_pairs=("kappa", "size"), kappa_mean=("kappa", "mean"), kappa_sd=("kappa", "std"),
                 kappa_max_mean=("kappa_max", "mean")).reset_index()


def _masked_pearson(a: np.ndarray, b: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Pearson r along the last axis over entries where m is true (broadcasting)."""
    m = m.astype(np.float64)
    cnt = m.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ma, mb = (a * m).sum(-1) / cnt, (b * m).sum(-1) / cnt
        da, db = (a - ma[..., None]) * m, (b - mb[..., None]) * m
        return (da * db).sum(-1) / np.sqrt((da * da).sum(-1) * (db * db).sum(-1))


def _cross_pearson(x: np.ndarray, mx: np.ndarray, h: np.ndarray, mh: np.ndarray) -> np.ndarray:
    """Pearson r of every row of x (masked by mx) with every row of h (masked by mh), over
    the items both masks keep: (rows of x, rows of h), from matrix products of masked sums."""
    mh = mh.astype(np.float64)
    xm, hm = x * mx, h * mh
    cnt = mx @ mh.T
    sx, sh = xm @ mh.T, mx @ hm.T
    sxh, sxx, shh = xm @ hm.T, (xm * x) @ mh.T, mx @ (hm * h).T
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = sxh - sx * sh / cnt
        vx, vh = sxx - sx * sx / cnt, shh - sh * sh / cnt
        return np.where((vx > 1e-12) & (vh > 1e-12), cov / np.sqrt(np.abs(vx * vh)), np.nan)


def spearman_brown(r: np.ndarray | float, factor: float = 2.0) -> np.ndarray:
    """Reliability of `factor` times the data from the reliability r of one part."""
    r = np.asarray(r, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return factor * r / (1 + (factor - 1) * r)


def split_halves(rng: np.random.Generator, n_participants: int, n_splits: int) -> np.ndarray:
    """(n_splits, n_participants) bool: True = first half (floor(n/2) participants)."""
    order = np.argsort(rng.random((n_splits, n_participants)), axis=1)
    return order < n_participants // 2


def noise_ceiling(p: Prepared, rng: np.random.Generator, n_splits: int = 200, level: float = 0.95
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split-half human reliability per task, and each non-human decision maker's item-wise
    correlation with the same halves. Returns (ceilings, model_consistency); empty frames
    where a task has fewer than two participants."""
    ceil_rows, model_rows = [], []
    human = p.is_human()
    a = (1 - level) / 2 * 100
    for t, task in enumerate(p.task_names):
        x, m, dms, _ = correctness_matrix(p, t)
        hum = human[dms]
        if hum.sum() < 2:
            continue
        hx, hm = x[hum].astype(np.float64), m[hum].astype(np.float64)
        seen = hm.sum(0) > 0
        hx, hm = hx[:, seen], hm[:, seen]
        halves = split_halves(rng, len(hx), n_splits).astype(np.float64)
        ca, cb = halves @ hm, (1 - halves) @ hm
        with np.errstate(invalid="ignore", divide="ignore"):
            acc_a, acc_b = (halves @ hx) / ca, ((1 - halves) @ hx) / cb
        both = (ca > 0) & (cb > 0)
        acc_a, acc_b = np.nan_to_num(acc_a), np.nan_to_num(acc_b)
        r = _masked_pearson(acc_a, acc_b, both)
        sb = spearman_brown(r)
        ceil_rows.append({"task": task, "n_participants": int(hum.sum()), "n_items": int(seen.sum()),
                          "n_splits": n_splits, "split_half_r": float(np.nanmean(r)),
                          "ceiling": float(np.nanmean(sb)), "ceiling_lo": float(np.nanpercentile(sb, a)),
                          "ceiling_hi": float(np.nanpercentile(sb, 100 - a))})
        others = np.flatnonzero(~hum)
        if not len(others):
            continue
        mx, mm = x[others][:, seen].astype(np.float64), m[others][:, seen].astype(np.float64)
        rmh = (_cross_pearson(mx, mm, acc_a, both) + _cross_pearson(mx, mm, acc_b, both)) / 2  # (models, splits)
        with np.errstate(invalid="ignore", divide="ignore"):
            norm = np.where(r[None] > 0, rmh / np.sqrt(np.where(r[None] > 0, r[None], 1)), np.nan)
        for j, d in enumerate(dms[others]):
            ok = ~np.isnan(rmh[j])
            model_rows.append({"task": task, "decision_maker": p.dm_names[d], "kind": p.dm_kind[d],
                               "n_items": int((mm[j] > 0).sum()),
                               "r_with_half": float(rmh[j][ok].mean()) if ok.any() else np.nan,
                               "r_normalised": float(norm[j][ok].mean()) if ok.any() else np.nan})
    return pd.DataFrame(ceil_rows), pd.DataFrame(model_rows)
