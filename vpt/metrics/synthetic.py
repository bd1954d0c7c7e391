"""Synthetic trial tables with planted truths, for tests and the report benchmark.

Each decision maker answers with a known ability per task: P(correct) = sigmoid(ability -
difficulty[item]), so decision makers share item difficulty (and so error consistency);
along sweeps the answer follows a planted psychometric curve in the distance (in steps)
to the nearest label flip. Nothing here reads a dataset or renders anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from vpt.metrics.frame import LABEL_RULE, is_label_rule

# (kind, step labels for vpt, step labels for depth); None = partial / ambiguous
SWEEP_PATTERNS: dict[str, tuple[list, list]] = {
    "occluder_slide": ([1, 1, 1, 1, None, 0, 0, 0, 0, 0, None, 1, 1, 1, 1], [1] * 15),
    "viewer_turn": ([1, 1, 1, None, 0, 0, 0, 0, 0, 0, 0, None, 1, 1, 1], [0] * 15),
    "depth_pass": ([1] * 13, [0, 0, 0, 0, 0, 0, None, 1, 1, 1, 1, 1, 1]),
    "invariance": ([1] * 9, [0, 0, 0, 0, 1, 1, 1, 1, 1]),
}


@dataclass
class Planted:
    """A decision maker: kind, ability (logit) per task, sweep slope (per step), invalid rate."""

    name: str
    kind: str
    ability: dict[str, float]
    slope: float = 2.0
    invalid: float = 0.0
    splits: tuple[str, ...] = ("test", "ood", "human", "sweep")
    copy_of: str | None = None  # copy this decision maker's correctness on a `copy_share` of trials
    copy_share: float = 0.0
    extra: dict = field(default_factory=dict)


def stimuli(n_test: int, n_ood: int, n_human: int, sweeps_per_kind: int, rng: np.random.Generator) -> pd.DataFrame:
    """One row per (scene, task): split, scene_id, sweep_id, sweep_step, label, difficulty,
    and `x`, the signed distance in steps to the nearest flip (label-1 side positive)."""
    rows = []
    for split, n in (("test", n_test), ("ood", n_ood), ("human", n_human)):
        for i in range(n):
            vpt, depth = int(rng.integers(0, 2)), int(rng.integers(0, 2))
            rows += [(split, f"{split}-{i:05d}", None, None, "vpt", vpt, np.nan),
                     (split, f"{split}-{i:05d}", None, None, "depth", depth, np.nan)]
    for kind, (vl, dl) in SWEEP_PATTERNS.items():
        for k in range(sweeps_per_kind):
            sid = f"{kind}-{k:03d}"
            for task, labels in (("vpt", vl), ("depth", dl)):
                x = _aligned(labels)
                for step, lab in enumerate(labels):
                    rows.append(("sweep", f"{sid}-step{step:02d}", sid, step, task, lab, x[step]))
    df = pd.DataFrame(rows, columns=["split", "scene_id", "sweep_id", "sweep_step", "task", "label", "x"])
    df["difficulty"] = rng.normal(0.0, 1.0, len(df))
    return df


def _aligned(labels: list) -> np.ndarray:
    known = [(i, v) for i, v in enumerate(labels) if v is not None]
    flips = [((a + b) / 2, 1 if vb == 1 else -1) for (a, va), (b, vb) in zip(known, known[1:]) if va != vb]
    if not flips:
        return np.full(len(labels), np.nan)
    out = []
    for i in range(len(labels)):
        at, sign = min(flips, key=lambda f: abs(i - f[0]))
        out.append((i - at) * sign)
    return np.asarray(out, dtype=float)


def answer(stim: pd.DataFrame, dm: Planted, rng: np.random.Generator, copied: np.ndarray | None = None
           ) -> tuple[pd.DataFrame, np.ndarray]:
    """Rows of one decision maker; also returns its correctness (for copies)."""
    s = stim[stim["split"].isin(dm.splits)]
    label = s["label"].to_numpy(dtype=float)
    has = ~np.isnan(label)
    ab = s["task"].map(dm.ability).to_numpy(dtype=float)
    p_correct = 1 / (1 + np.exp(-(ab - s["difficulty"].to_numpy())))
    sweep = s["split"].to_numpy() == "sweep"
    fit = sweep & ~np.isnan(s["x"].to_numpy(dtype=float))
    p1 = np.where(label == 1, p_correct, 1 - p_correct)
    p1[fit] = 1 / (1 + np.exp(-dm.slope * s["x"].to_numpy(dtype=float)[fit]))
    if is_label_rule(dm.name):
        p1 = np.where(has, np.nan_to_num(label), 0.5)
    resp = (rng.random(len(s)) < p1).astype(float)
    correct = np.where(has, resp == label, False)
    if copied is not None:
        take = rng.random(len(s)) < dm.copy_share
        correct = np.where(take, copied, correct)
        resp = np.where(has & take, np.where(copied, label, 1 - np.nan_to_num(label)), resp)
    resp[rng.random(len(s)) < dm.invalid] = np.nan
    out = pd.DataFrame({"kind": dm.kind, "decision_maker": dm.name, "task": s["task"].to_numpy(),
                        "split": s["split"].to_numpy(), "scene_id": s["scene_id"].to_numpy(),
                        "sweep_id": s["sweep_id"].to_numpy(), "sweep_step": s["sweep_step"].to_numpy(),
                        "label": label, "response": resp})
    return out, correct


def trial_table(stim: pd.DataFrame, dms: list[Planted], rng: np.random.Generator, run_id: str = "synthetic",
                dataset: str = "synthetic") -> pd.DataFrame:
    """A conforming trial table (vpt.trials.schema) for the planted decision makers."""
    parts, seen = [], {}
    for dm in dms:
        rows, correct = answer(stim, dm, rng, seen.get(dm.copy_of))
        seen[dm.name] = correct
        parts.append(rows)
    df = pd.concat(parts, ignore_index=True)
    lab, resp = df["label"].astype("Int64"), df["response"].astype("Int64")
    corr = (resp == lab).astype("boolean")
    corr[resp.isna() | lab.isna()] = pd.NA
    df = df.assign(label=lab, response=resp, correct=corr, run_id=run_id, dataset=dataset,
                   dataset_hash="0" * 16, variant="default", repeat=0, score=np.nan, rt_ms=np.nan, seed=0,
                   created_at=pd.Timestamp("2026-01-01", tz="UTC"))
    df["sweep_step"] = df["sweep_step"].astype("Int64")
    return df


def population(n_models: int, n_humans: int, rng: np.random.Generator) -> list[Planted]:
    """A 3D-PC-sized population: the label rule, shortcut baselines, probes and VLMs whose
    depth ability exceeds their VPT ability, and human participants on the human set."""
    dms = [Planted(LABEL_RULE, "baseline", {"vpt": 9.0, "depth": 9.0}, slope=20.0),
           Planted("cues-logreg", "baseline", {"vpt": 0.4, "depth": 1.0}, slope=0.3),
           Planted("cues-gbt", "baseline", {"vpt": 0.5, "depth": 1.2}, slope=0.3)]
    for i in range(max(n_models - 3, 0)):
        kind = ("probe", "finetune", "vlm")[i % 3]
        dms.append(Planted(f"model-{i:03d}", kind, {"vpt": float(rng.normal(0.2, 0.4)),
                                                    "depth": float(rng.normal(1.2, 0.5))},
                           slope=float(rng.uniform(0.0, 2.0)), invalid=0.02 if kind == "vlm" else 0.0,
                           extra={"imagenet_top1": float(rng.uniform(60, 88))}))
    for i in range(n_humans):
        dms.append(Planted(f"participant-{i:02d}", "human", {"vpt": float(rng.normal(2.3, 0.3)),
                                                             "depth": float(rng.normal(1.3, 0.3))},
                           slope=3.0, splits=("human", "sweep")))
    return dms
