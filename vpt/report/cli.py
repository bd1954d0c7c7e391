"""`vpt report`: the subcommand (registered through vpt.cli.EVALUATOR_COMMANDS). Nothing
heavy is imported here; matplotlib and the metrics load when the command runs."""

from __future__ import annotations

import argparse


def cmd_report(args: argparse.Namespace) -> int:
    from vpt.report.build import build_report

    path, res = build_report(args.results, args.out, datasets=args.dataset, n_boot=args.bootstrap, seed=args.seed,
                             models_dir=args.models)
    total = sum(res.timings.values())
    print(f"wrote {path} (and figures/, tables/ beside it) in {total:.1f} s: "
          + ", ".join(f"{k} {v:.1f} s" for k, v in res.timings.items()))
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser("report", help="one self-contained HTML report over any number of runs",
                       description="Reads trial tables (results folders, run folders or Parquet files), computes "
                       "accuracy and balanced accuracy with bootstrap CIs, signal detection, error consistency, noise "
                       "ceilings, psychometric fits along sweeps and grouping by model metadata, and writes "
                       "OUT/report.html (self-contained: opens from disk, no network), OUT/figures/*.png|svg and "
                       "OUT/tables/*.csv.")
    r.add_argument("results", nargs="+", help="results folders, run folders or trial Parquet files")
    r.add_argument("--out", required=True, help="output folder")
    r.add_argument("--dataset", action="append", default=[],
                   help="a dataset folder (repeatable) for its card summary and sweep values; data/<dataset> is "
                   "found without it")
    r.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples (default 1000)")
    r.add_argument("--seed", type=int, default=0, help="seed of the bootstrap and split-half streams")
    r.add_argument("--models", default=None, help="folder of model lists (default evaluation/models)")
    r.set_defaults(func=cmd_report)
