"""Basic test against conflict test, per decision maker: what benchmarks/conflict_models.sh prints.

    .venv/bin/python benchmarks/conflict_models.py RESULTS --train DATA [--boot 2000] [--seed 0]

For every decision maker trained on DATA (a basic benchmark; the conflict set is the one beside
it, found as the commands find it) and each task: accuracy on the basic val and test splits and
on the conflict set's test split, with 95 % bootstrap intervals (basic items resampled one by
one, conflict items pair by pair, since the two halves of a look-alike pair share a base scene),
the difference conflict minus basic (the two sets resampled independently), accuracy on each
pair kind that serves the task (the index column ``tasks``: a conflict set's facing and cover
pairs serve VPT only, its depth pairs both tasks; the item table keeps the label of a task an
item does not serve as null, so those items are left out of that task), and per pair whether both halves were answered correctly and whether the two halves
got the same answer (a decision maker that reads only the image plane answers both halves of a
VPT pair alike: the same answer in 100 % of pairs, 50 % accuracy).

Shown: the label rule; the shortcut baselines over all cues and over each cue family, and the
single cue best on basic val; every probe, fine-tuned and from-scratch network; of per-layer
probes (``...@layer/...``) only the layer best on basic val per model, weights and task (the
pooled penultimate features are the probe without ``@``). Rows are the latest run of each
decision maker (vpt.report.load.latest_runs).
"""

from __future__ import annotations

import argparse
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

LEVEL = 0.95


def boot_accuracy(correct: np.ndarray, groups: np.ndarray, rng: np.random.Generator, n_boot: int) -> np.ndarray:
    """Resampled accuracies: groups (scenes or pairs) drawn with replacement."""
    from vpt.metrics.bootstrap import resample_counts

    codes, inverse = np.unique(groups, return_inverse=True)
    hits = np.bincount(inverse, weights=correct.astype(float), minlength=len(codes))
    size = np.bincount(inverse, minlength=len(codes)).astype(float)
    w = resample_counts(rng, len(codes), n_boot)
    return (w @ hits) / (w @ size)


def ci(samples: np.ndarray) -> tuple[float, float]:
    lo, hi = np.nanquantile(samples, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    return float(lo), float(hi)


def pct(v: float) -> str:
    return "-" if v is None or pd.isna(v) else f"{100 * v:.1f}"


def pick_rows(trials: pd.DataFrame, train_name: str) -> list[tuple[str, str, str]]:
    """(task, decision maker, how it was chosen) shown per task."""
    basic = trials[(trials["dataset"] == train_name) & trials["label"].notna()]
    val = basic[basic["split"] == "val"].groupby(["task", "decision_maker"], observed=True)["correct"].mean()
    out = []
    for task in ("vpt", "depth"):
        v = val.loc[task] if task in val.index.get_level_values(0) else pd.Series(dtype=float)
        dms = sorted(trials.loc[trials["task"] == task, "decision_maker"].unique())
        chosen: list[tuple[str, str]] = [(d, "") for d in dms if d == "baseline:label-rule"]
        combined = [d for d in dms if d.startswith("baseline:") and d.split(":")[-1].endswith("-cues")]
        chosen += [(d, "") for d in sorted(combined, key=lambda d: (d.split(":")[2] != "all-cues", d.split(":")[2], d))]
        single = [d for d in dms if d.startswith("baseline:") and len(d.split(":")) == 3
                  and not d.split(":")[2].endswith("-cues") and d.split(":")[2] != "thumbnail"
                  and d != "baseline:label-rule"]
        if single and len(v):
            s = v.reindex(single).dropna()
            if len(s):
                chosen.append((str(s.idxmax()), "best single cue on basic val"))
        models = [d for d in dms if not d.startswith("baseline:")]
        layered: dict[str, list[str]] = {}
        for dm in models:
            if "@" in dm:
                head, rest = dm.split("@", 1)
                layered.setdefault(head + "/" + rest.split("/", 1)[1], []).append(dm)
            else:
                chosen.append((dm, ""))
        for family, members in sorted(layered.items()):
            s = v.reindex(members).dropna()
            if len(s):
                best = str(s.idxmax())
                chosen.append((best, f"best of {len(members)} layers on basic val"))
        out += [(task, dm, why) for dm, why in chosen]
    return out


def task_kinds(items: pd.DataFrame, task: str) -> list[str]:
    """The pair kinds (``cell``) with at least one item that serves ``task`` (its label not null)."""
    col = "vpt_label" if task == "vpt" else "depth_label"
    return sorted(items.loc[items[col].notna(), "cell"].astype(str).unique())


def opposite_pairs(items: pd.DataFrame, task: str) -> str:
    """Per pair kind: how many pairs, of those whose items serve ``task``, have halves with
    opposite ``task`` labels (``facing 21 of 22, ...``). Items that do not serve the task (label
    null) are left out, so a kind that serves only VPT is not counted for depth."""
    from vpt.datasets.conflict_set import pair_id

    col = "vpt_label" if task == "vpt" else "depth_label"
    served = items[items[col].notna()]
    if served.empty:
        return "none serve this task"
    served = served.assign(pair=[pair_id(s) for s in served["scene_id"]])
    opposite = served.groupby(["cell", "pair"])[col].nunique() == 2
    return ", ".join(f"{kind} {int(o.sum())} of {len(o)}" for kind, o in opposite.groupby(level=0))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results")
    ap.add_argument("--train", required=True, help="the basic benchmark the decision makers were trained on")
    ap.add_argument("--boot", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    from vpt.datasets.conflict_set import pair_id
    from vpt.deciders.run import conflict_sets_beside
    from vpt.report.load import latest_runs
    from vpt.trials.items import load_dataset
    from vpt.trials.store import read_trials

    train = load_dataset(args.train)
    conflicts = conflict_sets_beside(train.root)
    if not conflicts:
        print(f"{args.train}: no conflict set beside it (a sibling folder written from a conflict recipe, such as "
              "data/conflict by `make scenes`): nothing to compare")
        return 0
    conflict = conflicts[0]
    trials, _ = latest_runs(read_trials(args.results))
    trials = trials[trials["label"].notna()]
    kinds = dict(zip(conflict.items["scene_id"], conflict.items["cell"].astype(str)))
    print(f"basic: {train.root} ({train.hash[:12]}); conflict: {conflict.root} ({conflict.hash[:12]}); "
          f"{args.boot} bootstrap resamples, {LEVEL:.0%} intervals\n")
    for task in ("vpt", "depth"):
        rows = [r for r in pick_rows(trials, train.name) if r[0] == task]
        print(f"### {task}\n")
        ct = conflict.items[conflict.items["split"] == "test"]
        kind_names = task_kinds(ct, task)
        print("| decision maker | basic val | basic test [95 % CI] | conflict test [95 % CI] | conflict - basic "
              "[95 % CI] | " + " | ".join(f"{k} pairs" for k in kind_names) + " | pairs both right | pairs answered alike |")
        print("|---|---|---|---|---|" + "---|" * len(kind_names) + "---|---|")
        for _, dm, why in rows:
            t = trials[(trials["task"] == task) & (trials["decision_maker"] == dm)]
            b = t[(t["dataset"] == train.name)]
            bv, bt = b[b["split"] == "val"], b[b["split"] == "test"]
            c = t[(t["dataset"] == conflict.name) & (t["split"] == "test")]
            if bt.empty or c.empty:
                continue
            ok_b = bt["correct"].to_numpy(bool)
            ok_c = c["correct"].to_numpy(bool)
            pairs = np.array([pair_id(s) for s in c["scene_id"]])
            rng = np.random.default_rng([args.seed, zlib.crc32(f"{task} {dm}".encode())])  # each row its own draws
            sb = boot_accuracy(ok_b, bt["scene_id"].to_numpy(), rng, args.boot)
            sc = boot_accuracy(ok_c, pairs, rng, args.boot)
            kind = c["scene_id"].map(kinds)
            per_pair = c.assign(pair=pairs).groupby("pair")
            both = per_pair["correct"].all().mean()
            alike = per_pair["response"].nunique().eq(1).mean()
            lo_b, hi_b = ci(sb)
            lo_c, hi_c = ci(sc)
            lo_d, hi_d = ci(sc - sb)
            name = f"`{dm}`" + (f" ({why})" if why else "")
            per_kind = " | ".join(pct(c.loc[kind.eq(k).to_numpy(), "correct"].mean()) for k in kind_names)
            print(f"| {name} | {pct(bv['correct'].mean()) if len(bv) else '-'} | {pct(ok_b.mean())} [{pct(lo_b)}, "
                  f"{pct(hi_b)}] | {pct(ok_c.mean())} [{pct(lo_c)}, {pct(hi_c)}] | "
                  f"{100 * (ok_c.mean() - ok_b.mean()):+.1f} [{100 * lo_d:+.1f}, {100 * hi_d:+.1f}] | "
                  f"{per_kind} | {pct(both)} | {pct(alike)} |")
        n_b = int(((trials["dataset"] == train.name) & (trials["split"] == "test")
                   & (trials["task"] == task)).groupby(trials["decision_maker"]).sum().max())
        n_c = int(((trials["dataset"] == conflict.name) & (trials["split"] == "test")
                   & (trials["task"] == task)).groupby(trials["decision_maker"]).sum().max())
        print(f"\n(basic test: {n_b} items; conflict test: {n_c} items in {n_c // 2} pairs, those that serve {task}; "
              f"pairs whose two halves have opposite {task} labels: {opposite_pairs(ct, task)})\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
