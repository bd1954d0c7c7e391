"""Psychometric fits along sweeps.

Each sweep step has a value of the swept variable (`sweep_value` from the dataset index; the
step number where there is no index, or where the variable is circular: `viewer_turn`).
The labels along a sweep locate its flips (midway between the last labelled step on one
side and the first on the other; partial or ambiguous steps in between have a null label).
Every step gets x, its signed distance to the nearest flip, positive on the label-1 side,
so sweeps of a kind pool into one curve: P(response = 1) = sigmoid(a + b x). The
threshold -a/b is where the decision maker's answer flips relative to the true flip (0 for
a perfect one) and the slope b its sharpness (per unit of the variable). Partial steps are
shown but not fitted; sweeps without a flip (e.g. `invariance`) get an accuracy-per-step
curve instead. Intervals resample whole sweeps (shared across decision makers).

The fits are penalised logistic regressions (ridge 1e-2 on the standardised coefficients,
so perfect separation, e.g. `label-rule`, gives a large finite slope), solved by Newton's
method for all decision makers at once (tests check it against scipy.optimize on the same
data); each resample starts from one Newton step off the full-data fit built from the
resampled sweeps' score contributions (`one_step_boot`) and takes one exact Newton step
from there (`refine`); tests compare the intervals with fully refitted resamples.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vpt.metrics.bootstrap import interval, resample_counts
from vpt.metrics.frame import HUMANS, Prepared

SWEEP_KINDS = ("occluder_slide", "occluder_move", "viewer_turn", "depth_pass", "invariance")
CIRCULAR_KINDS = ("viewer_turn",)
RIDGE = 1e-2
N_BINS = 12


def kind_of(sweep_id: str) -> str:
    """The sweep kind from an id such as `occluder_slide-003` (`sweep` if it names none)."""
    head = str(sweep_id).rsplit("-", 1)[0]
    return head if head in SWEEP_KINDS else "sweep"


def aligned_x(values: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Signed distance of every step to the nearest flip of the labels (-1 = unlabelled),
    positive on the label-1 side; NaN everywhere when the labels never flip."""
    known = np.flatnonzero(labels >= 0)
    at, sign = [], []
    for i, j in zip(known[:-1], known[1:]):
        if labels[i] != labels[j]:
            at.append((values[i] + values[j]) / 2)
            toward_j = 1.0 if values[j] >= values[i] else -1.0
            sign.append(toward_j if labels[j] == 1 else -toward_j)
    if not at:
        return np.full(len(values), np.nan)
    at_, sign_ = np.asarray(at), np.asarray(sign)
    near = np.argmin(np.abs(values[:, None] - at_[None]), axis=1)
    return (values - at_[near]) * sign_[near]


def fit_logistic(k: np.ndarray, n: np.ndarray, z: np.ndarray, init: np.ndarray | None = None,
                 iters: int = 25, ridge: float = RIDGE) -> tuple[np.ndarray, np.ndarray]:
    """Penalised logistic fits of k successes out of n at z (last axis = points), batched
    over the leading axes. Returns (coefficients [..., 2] = (a, b), converged [...])."""
    theta = np.zeros(k.shape[:-1] + (2,)) if init is None else np.broadcast_to(init, k.shape[:-1] + (2,)).copy()
    converged = np.zeros(k.shape[:-1], bool)
    for _ in range(iters):
        eta = theta[..., :1] + theta[..., 1:] * z
        s = 1 / (1 + np.exp(-eta))
        r, w = n * s - k, n * s * (1 - s)
        g0, g1 = r.sum(-1) + ridge * theta[..., 0], (r * z).sum(-1) + ridge * theta[..., 1]
        h00, h01, h11 = w.sum(-1) + ridge, (w * z).sum(-1), (w * z * z).sum(-1) + ridge
        det = h00 * h11 - h01 * h01
        d0, d1 = (h11 * g0 - h01 * g1) / det, (h00 * g1 - h01 * g0) / det
        step = np.stack([d0, d1], -1)
        theta = theta - np.clip(step, -5, 5)
        converged = np.abs(step).max(-1) < 1e-7
        if converged.all():
            break
    return theta, converged


def one_step_boot(k: np.ndarray, n: np.ndarray, z: np.ndarray, theta: np.ndarray, group: np.ndarray,
                  weights: np.ndarray, ridge: float = RIDGE) -> np.ndarray:
    """Resampled fits by one Newton step from the full-data fit (the estimating-function
    bootstrap, Hu & Kalbfleisch 2000): the score and Hessian of a resample are the weighted
    sums of each resampled unit's contributions at the full-data fit, so every resample of
    every decision maker costs two small matrix products. k, n: (dm, points); z: (points,);
    theta: (dm, 2); group: unit of each point; weights: (B, units). Returns (dm, B, 2)."""
    s = 1 / (1 + np.exp(-(theta[:, :1] + theta[:, 1:] * z)))
    r, w = n * s - k, n * s * (1 - s)
    onehot = np.zeros((len(z), weights.shape[1]))
    onehot[np.arange(len(z)), group] = 1.0
    per_unit = [(a @ onehot) @ weights.T for a in (r, r * z, w, w * z, w * z * z)]  # each (dm, B)
    g0, g1, h00, h01, h11 = per_unit
    g0, g1 = g0 + ridge * theta[:, :1], g1 + ridge * theta[:, 1:]
    h00, h11 = h00 + ridge, h11 + ridge
    det = h00 * h11 - h01 * h01
    with np.errstate(invalid="ignore", divide="ignore"):
        d0, d1 = (h11 * g0 - h01 * g1) / det, (h00 * g1 - h01 * g0) / det
    return np.stack([theta[:, :1] - d0, theta[:, 1:] - d1], -1)


def refine(k: np.ndarray, n: np.ndarray, z: np.ndarray, theta_b: np.ndarray, w: np.ndarray, chunk: int = 32
           ) -> np.ndarray:
    """One exact Newton step on every resample from its one-step estimate (so the resampled
    fits are second-order accurate), in chunks of decision makers to bound memory.
    k, n: (dm, points); theta_b: (dm, B, 2); w: (B, points) resampling weights."""
    out = np.empty_like(theta_b)
    k32, n32, w32, z32 = (a.astype(np.float32) for a in (k, n, w, z))  # one step: float32 is precise enough
    for lo in range(0, len(k), chunk):
        sl = slice(lo, lo + chunk)
        out[sl] = fit_logistic(k32[sl, None, :] * w32[None], n32[sl, None, :] * w32[None], z32,
                               init=theta_b[sl].astype(np.float32), iters=1)[0]
    return out


def _step_table(p: Prepared, index: pd.DataFrame | None) -> pd.DataFrame:
    """One row per (task, sweep, step): label, value, kind, variable, x."""
    sw = (p.split_names[p.split] == "sweep") & (p.sweep >= 0)
    rows = pd.DataFrame({"task": p.task[sw], "sweep": p.sweep[sw], "step": p.step[sw], "scene": p.scene[sw],
                         "label": np.where(p.labelled[sw], p.label[sw], -1)})
    steps = rows.groupby(["task", "sweep", "step"], sort=True).agg(label=("label", "max"), scene=("scene", "first"))
    steps = steps.reset_index()
    steps["sweep_id"] = p.sweep_names[steps["sweep"]]
    steps["scene_id"] = p.scene_names[steps["scene"]]
    steps["kind"] = steps["sweep_id"].map(kind_of)
    steps["value"], steps["variable"] = steps["step"].astype(float), "step"
    if index is not None and len(index) and "sweep_value" in index:
        ix = index.drop_duplicates("scene_id").set_index("scene_id")
        val = steps["scene_id"].map(ix["sweep_value"])
        known = val.notna()
        if "sweep_kind" in ix:
            steps.loc[known, "kind"] = steps.loc[known, "scene_id"].map(ix["sweep_kind"]).fillna("sweep")
        use = known & ~steps["kind"].isin(CIRCULAR_KINDS)
        steps.loc[use, "value"] = val[use].astype(float)
        if "sweep_parameter" in ix:
            steps.loc[use, "variable"] = steps.loc[use, "scene_id"].map(ix["sweep_parameter"]).fillna("value")
    steps["x"] = np.nan
    for _, g in steps.groupby(["task", "sweep"]):
        steps.loc[g.index, "x"] = aligned_x(g["value"].to_numpy(), g["label"].to_numpy())
    return steps


def sweep_fits(p: Prepared, rng: np.random.Generator, index: pd.DataFrame | None = None, n_boot: int = 1000,
               level: float = 0.95) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fits per (decision maker, task, sweep kind) and binned curves for the figures.
    The pooled `humans` decision maker sums the participants' counts."""
    steps = _step_table(p, index)
    if steps.empty:
        return pd.DataFrame(), pd.DataFrame()
    sw = (p.split_names[p.split] == "sweep") & (p.sweep >= 0)
    resp = pd.DataFrame({"dm": p.dm[sw], "task": p.task[sw], "sweep": p.sweep[sw], "step": p.step[sw],
                         "k": (p.valid & (p.response == 1))[sw].astype(float), "n": p.valid[sw].astype(float),
                         "c": p.correct[sw].astype(float), "l": p.labelled[sw].astype(float)})
    counts = resp.groupby(["dm", "task", "sweep", "step"], sort=True).sum().reset_index()
    counts = counts.merge(steps[["task", "sweep", "step", "kind", "x", "label", "value", "variable"]],
                          on=["task", "sweep", "step"])
    human = p.is_human()
    names = list(p.dm_names) + [HUMANS]
    kinds = list(p.dm_kind) + ["human"]
    if human.any():
        pooled = counts[human[counts["dm"]]].groupby(["task", "sweep", "step"], as_index=False).agg(
            {"k": "sum", "n": "sum", "c": "sum", "l": "sum", "kind": "first", "x": "first", "label": "first",
             "value": "first", "variable": "first"})
        counts = pd.concat([counts, pooled.assign(dm=len(p.dm_names))], ignore_index=True)
    fits, curves = [], []
    for (t, kind), g in counts.groupby(["task", "kind"], sort=True):
        task = p.task_names[t]
        curves.append(_curves(g, names, kinds, task, kind))
        pts = g[(g["label"] >= 0) & g["x"].notna()]
        if pts.empty:
            continue
        fits.append(_fit_group(pts, names, kinds, task, kind, rng, n_boot, level))
    return (pd.concat(fits, ignore_index=True) if fits else pd.DataFrame(),
            pd.concat(curves, ignore_index=True) if curves else pd.DataFrame())


def _fit_group(pts: pd.DataFrame, names: list, kinds: list, task: str, kind: str, rng: np.random.Generator,
               n_boot: int, level: float) -> pd.DataFrame:
    point_key = pts[["sweep", "step"]].drop_duplicates().sort_values(["sweep", "step"]).reset_index(drop=True)
    point_key["p"] = np.arange(len(point_key))
    pts = pts.merge(point_key, on=["sweep", "step"])
    dms, di = np.unique(pts["dm"].to_numpy(), return_inverse=True)
    k = np.zeros((len(dms), len(point_key)))
    n = np.zeros_like(k)
    k[di, pts["p"]], n[di, pts["p"]] = pts["k"], pts["n"]
    x = pts.drop_duplicates("p").sort_values("p")["x"].to_numpy()
    scale = float(np.abs(x).max()) or 1.0
    z = x / scale
    theta, conv = fit_logistic(k, n, z)
    sweeps, sweep_of = np.unique(point_key["sweep"].to_numpy(), return_inverse=True)
    w_sweeps = resample_counts(rng, len(sweeps), n_boot)  # (B, sweeps)
    tb = refine(k, n, z, one_step_boot(k, n, z, theta, sweep_of, w_sweeps), w_sweeps[:, sweep_of])
    thr_b, slope_b = _threshold(tb, scale), tb[..., 1] / scale
    thr = _threshold(theta, scale)
    tlo, thi = interval(thr_b, level)
    slo, shi = interval(slope_b, level)
    variable = pts["variable"].iloc[0]
    return pd.DataFrame({"decision_maker": [names[d] for d in dms], "kind": [kinds[d] for d in dms], "task": task,
                         "sweep_kind": kind, "variable": variable, "n_sweeps": len(sweeps), "n_points": len(x),
                         "n_valid": n.sum(1), "threshold": thr, "threshold_lo": tlo, "threshold_hi": thi,
                         "slope": theta[:, 1] / scale, "slope_lo": slo, "slope_hi": shi, "converged": conv,
                         "unit": "sweep"})


def _threshold(theta: np.ndarray, scale: float) -> np.ndarray:
    """x where the fit crosses 0.5; NaN when the curve is flat or the crossing lies more than
    twice the sweep's extent away (not located by this sweep)."""
    a, b = theta[..., 0], theta[..., 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        t = -a / b
    return np.where((np.abs(b) > 1e-3) & (np.abs(t) <= 2), t * scale, np.nan)


def _curves(g: pd.DataFrame, names: list, kinds: list, task: str, kind: str) -> pd.DataFrame:
    """P(response = 1) in bins of x (fitted and partial steps apart), or accuracy per step
    where the kind's sweeps never flip."""
    if g["x"].notna().any():
        pts = g[g["x"].notna()].copy()
        edges = np.unique(np.nanquantile(pts["x"], np.linspace(0, 1, N_BINS + 1)))
        pts["bin"] = np.clip(np.searchsorted(edges, pts["x"], side="right") - 1, 0, max(len(edges) - 2, 0))
        pts["xk"] = pts["x"] * pts["n"]
        pts["fitted"] = pts["label"] >= 0
        out = pts.groupby(["dm", "fitted", "bin"], as_index=False)[["k", "n", "xk"]].sum()
        with np.errstate(invalid="ignore", divide="ignore"):
            out = out.assign(x=out["xk"] / out["n"], y=out["k"] / out["n"], measure="p_response_1")
        xs = pts.groupby(["dm", "fitted", "bin"])["x"].mean().reset_index(drop=True)
        out["x"] = out["x"].fillna(xs)
    else:
        out = g.groupby(["dm", "step"], as_index=False)[["c", "l", "n"]].sum()
        with np.errstate(invalid="ignore", divide="ignore"):
            out = out.assign(x=out["step"].astype(float), y=out["c"] / out["l"], fitted=False, measure="accuracy")
        out = out.rename(columns={"l": "n_labelled"})
    out["decision_maker"] = [names[d] for d in out["dm"]]
    out["kind"] = [kinds[d] for d in out["dm"]]
    variable = g["variable"].iloc[0] if g["x"].notna().any() else "step"
    return out.assign(task=task, sweep_kind=kind, variable=variable)[
        ["decision_maker", "kind", "task", "sweep_kind", "variable", "measure", "fitted", "x", "y", "n"]]
