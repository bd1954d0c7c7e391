"""Accuracy, balanced accuracy and signal detection per (decision maker, task, split), with
bootstrap intervals resampled at the right unit.

- Models and baselines: scenes are the unit (every variant and repeat of a scene moves with
  it); on the `sweep` split whole sweeps are the unit (resample `sweep_id`).
- Each human participant is a decision maker of its own, resampled the same way; the pooled
  `humans` row is the mean of the participants' accuracies, resampled participants first,
  then each drawn participant's trials.

Invalid answers (response null) on labelled rows count as wrong and are reported as
`invalid_rate`; unlabelled rows are counted in `n_unlabelled` and never scored.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special, stats

from vpt.metrics.bootstrap import draw_participants, interval, ratio_boot, resample_counts, trial_rates
from vpt.metrics.frame import HUMANS, Prepared

CHANCE = 0.5
FLOOR_QUANTILE = 0.95
_STATS = ("rows", "labelled", "correct", "l1", "c1", "invalid", "v1", "v0", "hits", "fas", "vresp1")


def sdt(hits: np.ndarray, n_signal: np.ndarray, fas: np.ndarray, n_noise: np.ndarray
        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """d-prime and criterion with the log-linear correction (add 0.5 to the counts and 1 to
    the trials of each class, Hautus 1995), so rates of 0 or 1 stay finite. Returns
    (hit rate, false-alarm rate, d', c); NaN where a class has no valid trials."""
    hits, n_signal, fas, n_noise = (np.asarray(a, dtype=float) for a in (hits, n_signal, fas, n_noise))
    h = (hits + 0.5) / (n_signal + 1)
    f = (fas + 0.5) / (n_noise + 1)
    zh, zf = special.ndtri(h), special.ndtri(f)
    ok = (n_signal > 0) & (n_noise > 0)
    d = np.where(ok, zh - zf, np.nan)
    c = np.where(ok, -(zh + zf) / 2, np.nan)
    return np.where(ok, h, np.nan), np.where(ok, f, np.nan), d, c


def permutation_floor(n_labelled: np.ndarray, n_valid: np.ndarray, k1_valid: np.ndarray, r1_valid: np.ndarray,
                      q: float = FLOOR_QUANTILE) -> np.ndarray:
    """The accuracy that `q` of label permutations stay below, for the decision maker's own
    answers: the labels of the valid rows are shuffled among them (invalid rows stay wrong).
    Exact: the number of (response 1, label 1) agreements is hypergeometric, and
    correct = valid - labels1 - responses1 + 2 * agreements."""
    n_labelled, n_valid, k1, r1 = (np.asarray(a, dtype=np.int64) for a in (n_labelled, n_valid, k1_valid, r1_valid))
    a = stats.hypergeom.ppf(q, np.maximum(n_valid, 1), k1, r1)
    correct = n_valid - k1 - r1 + 2 * np.nan_to_num(a)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_labelled > 0, correct / np.maximum(n_labelled, 1), np.nan)


def _unit_sums(p: Prepared) -> pd.DataFrame:
    """Per (decision maker, task, split, unit) sums of the row statistics."""
    is_sweep = p.split_names[p.split] == "sweep" if len(p.split_names) else np.zeros(0, bool)
    unit = np.where(is_sweep, p.sweep, p.scene)
    lab1, lab0 = p.labelled & (p.label == 1), p.labelled & (p.label == 0)
    v = p.valid & p.labelled
    cols = {"rows": np.ones(len(p.dm)), "labelled": p.labelled, "correct": p.correct, "l1": lab1,
            "c1": p.correct & lab1, "invalid": p.labelled & ~p.valid, "v1": v & lab1, "v0": v & lab0,
            "hits": v & lab1 & (p.response == 1), "fas": v & lab0 & (p.response == 1), "vresp1": v & (p.response == 1)}
    dims = [p.n_dm, max(len(p.task_names), 1), max(len(p.split_names), 1), int(unit.max(initial=0)) + 1]
    key = ((p.dm * dims[1] + p.task) * dims[2] + p.split) * dims[3] + unit
    uniq, inv = np.unique(key, return_inverse=True)
    frame = pd.DataFrame({k: np.bincount(inv, weights=np.asarray(a, dtype=np.float64), minlength=len(uniq))
                          for k, a in cols.items()})
    rest, u = np.divmod(uniq, dims[3])
    rest, sp = np.divmod(rest, dims[2])
    dm, tk = np.divmod(rest, dims[1])
    frame.index = pd.MultiIndex.from_arrays([dm, tk, sp, u], names=["dm", "task", "split", "unit"])
    return frame


def _summary(g: pd.DataFrame) -> dict[str, np.ndarray]:
    n, c, l1, c1 = g["labelled"].to_numpy(), g["correct"].to_numpy(), g["l1"].to_numpy(), g["c1"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.where(n > 0, c / np.maximum(n, 1), np.nan)
        r1 = np.where(l1 > 0, c1 / np.maximum(l1, 1), np.nan)
        r0 = np.where(n - l1 > 0, (c - c1) / np.maximum(n - l1, 1), np.nan)
    bal = np.nanmean(np.vstack([r1, r0]), axis=0) if len(n) else np.zeros(0)
    h, f, d, crit = sdt(g["hits"], g["v1"], g["fas"], g["v0"])
    nv = g["v1"].to_numpy() + g["v0"].to_numpy()
    return {"n_rows": g["rows"].to_numpy(), "n_labelled": n, "n_unlabelled": g["rows"].to_numpy() - n,
            "n_invalid": g["invalid"].to_numpy(),
            "invalid_rate": np.where(n > 0, g["invalid"].to_numpy() / np.maximum(n, 1), np.nan),
            "accuracy": acc, "balanced_accuracy": bal,
            "majority_rate": np.where(n > 0, np.maximum(l1, n - l1) / np.maximum(n, 1), np.nan),
            "perm_floor": permutation_floor(n, nv, g["v1"], g["vresp1"]), "chance": np.full(len(n), CHANCE),
            "hit_rate": h, "fa_rate": f, "dprime": d, "criterion": crit}


def _balanced(c1: np.ndarray, l1: np.ndarray, c0: np.ndarray, l0: np.ndarray, w: np.ndarray) -> np.ndarray:
    r1, r0 = ratio_boot(c1, l1, w), ratio_boot(c0, l0, w)
    return np.where(np.isnan(r1), r0, np.where(np.isnan(r0), r1, (r1 + r0) / 2))


def accuracy_table(p: Prepared, rng: np.random.Generator, n_boot: int = 1000, level: float = 0.95) -> pd.DataFrame:
    """One row per (decision maker, task, split) plus a pooled `humans` row per (task, split)
    where participants exist. Columns: counts, invalid_rate, accuracy and balanced accuracy
    with `*_lo`/`*_hi` bootstrap bounds, chance, majority_rate, perm_floor, hit/false-alarm
    rates, d-prime and criterion, the resampling unit and how many units there were."""
    sums = _unit_sums(p)
    groups = sums.groupby(level=["dm", "task", "split"], sort=True).sum()
    out = groups.reset_index()[["dm", "task", "split"]]
    out = out.assign(**_summary(groups))
    out["_correct"], out["_l1"], out["_c1"] = (groups[k].to_numpy() for k in ("correct", "l1", "c1"))
    out["n_units"] = sums.groupby(level=["dm", "task", "split"], sort=True).size().to_numpy()
    out["unit"] = np.where(p.split_names[out["split"]] == "sweep", "sweep", "scene")
    for col in ("accuracy_lo", "accuracy_hi", "balanced_accuracy_lo", "balanced_accuracy_hi"):
        out[col] = np.nan
    where = {k: i for i, k in enumerate(zip(out["dm"], out["task"], out["split"]))}
    human_rows = []
    for (t, s), block in sums.groupby(level=["task", "split"], sort=True):
        dms = block.index.get_level_values("dm").to_numpy()
        units = block.index.get_level_values("unit").to_numpy()
        dm_u, dm_i = np.unique(dms, return_inverse=True)
        un_u, un_i = np.unique(units, return_inverse=True)

        def dense(col: str) -> np.ndarray:
            m = np.zeros((len(dm_u), len(un_u)))
            m[dm_i, un_i] = block[col].to_numpy()
            return m

        n, c, l1, c1 = dense("labelled"), dense("correct"), dense("l1"), dense("c1")
        w = resample_counts(rng, len(un_u), n_boot)
        acc_lo, acc_hi = interval(ratio_boot(c, n, w), level)
        bal_lo, bal_hi = interval(_balanced(c1, l1, c - c1, n - l1, w), level)
        rows = [where[(d, t, s)] for d in dm_u]
        out.loc[rows, "accuracy_lo"], out.loc[rows, "accuracy_hi"] = acc_lo, acc_hi
        out.loc[rows, "balanced_accuracy_lo"], out.loc[rows, "balanced_accuracy_hi"] = bal_lo, bal_hi
        human = p.is_human()[dm_u]
        if human.any():
            human_rows.append(_pooled_humans(rng, t, s, out.loc[[r for r, h in zip(rows, human) if h]],
                                             n_boot, level))
    out.insert(0, "kind", p.dm_kind[out["dm"]])
    out.insert(0, "decision_maker", p.dm_names[out["dm"]])
    out["task"], out["split"] = p.task_names[out["task"]], p.split_names[out["split"]]
    out["n_participants"] = np.where(out["kind"] == "human", 1, 0)
    out["sd_participants"] = np.nan
    if human_rows:
        hr = pd.DataFrame(human_rows)
        hr["task"], hr["split"] = p.task_names[hr["task"]], p.split_names[hr["split"]]
        out = pd.concat([out, hr], ignore_index=True)
    return out.drop(columns=["dm", "_correct", "_l1", "_c1"])


def _pooled_humans(rng: np.random.Generator, t: int, s: int, part: pd.DataFrame, n_boot: int, level: float) -> dict:
    """The `humans` row: mean (and SD) of participant accuracies, participants-then-trials CI
    (balanced accuracy: the same participant draws, each class's trials resampled within)."""
    part = part[part["n_labelled"] > 0]
    n, c = part["n_labelled"].to_numpy(), part["_correct"].to_numpy()
    l1, c1 = part["_l1"].to_numpy(), part["_c1"].to_numpy()
    who = draw_participants(rng, len(part), n_boot)
    with np.errstate(all="ignore"):
        acc_b = np.nanmean(trial_rates(rng, who, c, n), axis=1)
        r1, r0 = trial_rates(rng, who, c1, l1), trial_rates(rng, who, c - c1, n - l1)
        bal_b = np.nanmean(np.where(np.isnan(r1), r0, np.where(np.isnan(r0), r1, (r1 + r0) / 2)), axis=1)
    lo, hi = interval(acc_b, level)
    blo, bhi = interval(bal_b, level)
    row = {"decision_maker": HUMANS, "kind": "human", "task": t, "split": s,
           "unit": "participant, then trial", "n_units": len(part), "n_participants": len(part),
           "accuracy_lo": lo, "accuracy_hi": hi, "balanced_accuracy_lo": blo, "balanced_accuracy_hi": bhi,
           "chance": CHANCE, "sd_participants": float(np.std(part["accuracy"], ddof=1)) if len(part) > 1 else np.nan}
    for col in ("n_rows", "n_labelled", "n_unlabelled", "n_invalid"):
        row[col] = float(part[col].sum())
    row["invalid_rate"] = row["n_invalid"] / max(row["n_labelled"], 1)
    for col in ("accuracy", "balanced_accuracy", "majority_rate", "perm_floor", "hit_rate", "fa_rate", "dprime",
                "criterion"):
        row[col] = float(np.nanmean(part[col])) if len(part) and part[col].notna().any() else np.nan
    return row
