"""`vpt baseline`: the label rule and the shortcut baselines on a dataset, written as runs.

Registered by :mod:`vpt.cli` through ``EVALUATOR_COMMANDS`` (``"vpt.deciders.cli"``); imports
nothing heavy until the command runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ONLY = ("label-rule", "single", "combined", "thumbnail")
SUMMARY_SPLITS = ("train", "val", "test", "ood", "human", "sweep")


def add_parser(sub: argparse._SubParsersAction) -> None:
    b = sub.add_parser("baseline", help="label rule and shortcut baselines on a dataset -> trial table runs",
                       description="Writes trial-table runs (RESULTS/<run_id>/trials.parquet + run.json) for the "
                       "label rule (the line-of-sight and depth rules applied to each scene JSON: 100 % wherever a "
                       "label is defined) and for shortcut learners trained on the dataset's train split and tested "
                       "on val, test, ood, the human set, the sweep datasets and the conflict sets: logistic "
                       "regression and boosted trees on each single image cue of the audit and on all cues "
                       "together, and logistic regression on 8x8 thumbnails; both tasks. Finished runs are kept on a rerun.")
    b.add_argument("dataset", help="a dataset folder (data/<recipe>) with a train split")
    b.add_argument("--out", default="results", help="results folder (default: results/)")
    b.add_argument("--sweeps", nargs="*", default=None,
                   help="sweep dataset folders to test on (default: the sweep datasets beside DATASET; "
                   "`--sweeps` alone for none)")
    b.add_argument("--conflict", nargs="*", default=None,
                   help="conflict-set folders to test on (default: the conflict sets beside DATASET, as the audit "
                   "finds them; `--conflict` alone for none); their rows keep their dataset's name")
    b.add_argument("--only", choices=ONLY, default=None, help="one baseline family only")
    b.add_argument("--seed", type=int, default=0, help="seed of the shortcut models (default 0)")
    b.add_argument("--force", action="store_true", help="redo finished runs")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    b.set_defaults(func=cmd_baseline)


def summary_table(trials, train_name: str | None = None) -> str:
    """Accuracy per decision maker, task and split (rows with a label), as Markdown; with
    ``train_name``, the splits of a set beside the training dataset in columns of their own
    (``test · conflict``). Of the single-cue learners only the best cue per model and task
    (chosen on val, else test) is shown; every one of them is in the trial table."""
    import pandas as pd

    from vpt.deciders.run import set_names

    df = trials[trials["label"].notna()]
    if train_name is not None:
        df = df.assign(split=set_names(df, train_name))
    acc = df.groupby(["task", "decision_maker", "split"], observed=True)["correct"].mean().unstack("split")
    beside = sorted({c for c in acc.columns if " · " in c and c.split(" · ")[0] in SUMMARY_SPLITS},
                    key=lambda c: (c.split(" · ")[1], SUMMARY_SPLITS.index(c.split(" · ")[0])))
    splits = [s for s in SUMMARY_SPLITS if s in acc.columns] + beside
    acc = acc[splits]
    keep = []
    for (task, dm), row in acc.iterrows():
        parts = dm.split(":")
        if len(parts) == 3 and parts[2] != "thumbnail" and not parts[2].endswith("-cues"):
            continue
        keep.append((task, dm))
    single = [(t, d) for t, d in acc.index if (t, d) not in keep]
    chooser = "val" if "val" in acc.columns else "test" if "test" in acc.columns else None
    best: list[tuple[str, str]] = []
    if single and chooser:
        s = acc.loc[single, chooser].dropna().astype(float)
        for (task, model), grp in s.groupby(lambda k: (k[0], k[1].split(":")[1])):
            best.append(grp.idxmax())
    def order(k: tuple[str, str]) -> tuple:
        task, dm = k
        return (task != "vpt", dm != "baseline:label-rule", k in best, dm)

    rows = acc.loc[sorted(keep + best, key=order)]
    lines = ["| task | decision maker | " + " | ".join(splits) + " |", "|---|---|" + "---|" * len(splits)]
    for (task, dm), row in rows.iterrows():
        name = dm + (f" (best cue on {chooser})" if (task, dm) in best else "")
        lines.append(f"| {task} | {name} | " + " | ".join("-" if pd.isna(v) else f"{float(v):.3f}" for v in row) + " |")
    return "\n".join(lines)


def cmd_baseline(args: argparse.Namespace) -> int:
    from vpt.deciders.baselines import make_deciders
    from vpt.deciders.run import evaluation_sets, run_all
    from vpt.errors import UserError
    from vpt.trials.items import load_dataset
    from vpt.trials.store import read_trials

    train = load_dataset(args.dataset)
    if not (train.items["split"] == "train").any():
        raise UserError(f"{args.dataset}: no train split (a sweep dataset?); pass the binary benchmark, e.g. "
                        "data/depth-vpt, and its sweeps with --sweeps")
    sweeps, conflicts = evaluation_sets(train, args.sweeps, args.conflict)
    others = [*sweeps, *conflicts]  # only answered, never fitted on
    pixel = args.only != "label-rule"
    if pixel and not train.rendered:
        print(f"vpt: note: {train.root} is not rendered; the shortcut baselines use cues of the analytic projection "
              "(no colour cues, occluder-mask thumbnails). Run `make scenes` for cues from the images.",
              file=sys.stderr)
    others_ok = [s for s in others if s.rendered == train.rendered]
    if pixel:
        for s in others:
            if s.rendered != train.rendered:
                print(f"vpt: note: {s.root} skipped for the shortcut baselines: "
                      f"{'rendered' if s.rendered else 'not rendered'}, unlike {train.root}", file=sys.stderr)
    command = (["vpt", "baseline", args.dataset, "--out", args.out]
               + (["--sweeps", *args.sweeps] if args.sweeps is not None else [])
               + (["--conflict", *args.conflict] if args.conflict is not None else [])
               + (["--only", args.only] if args.only else []) + ["--seed", str(args.seed)])
    deciders = make_deciders(train, args.only, seed=args.seed)
    results = run_all([d for d in deciders if d.name == "label-rule"], [train, *others], args.out,
                      command=command, force=args.force, progress=not args.quiet)
    if pixel:
        results += run_all([d for d in deciders if d.name != "label-rule"], [train, *others_ok], args.out,
                           command=command, force=args.force, progress=not args.quiet)
    trials = read_trials(*[r.path for r in results])
    print(summary_table(trials, train.name))
    kept = sum(r.kept for r in results)
    invalid = int(trials["response"].isna().sum())
    print(f"\n{len(trials)} rows in {len(results)} runs ({kept} kept from an earlier run, "
          f"{len(results) - kept} written; {invalid} rows without a response) under {Path(args.out)}/")
    return 0
