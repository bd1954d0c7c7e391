"""Benchmark: the full report from a synthetic trial table the size of a 3D-PC replication.

    python benchmarks/report_speed.py [--models 330] [--humans 20] [--bootstrap 1000] [--out DIR]

Writes 350 decision makers x about 6,000 stimuli (both tasks over test, ood, the human set
and 32 sweeps; about 2.1 million rows) as runs into a temporary results folder (not timed),
then times `vpt report` on it end to end: reading and checking the Parquet parts, every
metric with the given bootstrap resamples, the figures and the HTML.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from vpt.metrics import synthetic
from vpt.metrics.frame import generator


def write_synthetic(results: Path, n_models: int, n_humans: int, seed: int = 0) -> int:
    """Write the synthetic population as one run per decision-maker kind; returns the rows."""
    from vpt.trials.store import write_run

    rng = generator(seed)
    # 2 tasks x (1,800 test + 800 ood + 100 human + 32 sweeps of 9-15 steps) = 6,232 rows per model,
    # 1,032 per participant (human set and sweeps)
    stim = synthetic.stimuli(1800, 800, 100, 8, rng)
    dms = synthetic.population(n_models, n_humans, rng)
    table = synthetic.trial_table(stim, dms, rng)
    rows = 0
    for kind, part in table.groupby("kind"):
        run_id = f"bench-{kind}"
        write_run(results, run_id, part.assign(run_id=run_id), {"command": ["benchmarks/report_speed.py"], "kind": kind,
                                                                "cost": {"usd": 0.0} if kind == "vlm" else None})
        rows += len(part)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python benchmarks/report_speed.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", type=int, default=330, help="non-human decision makers (default 330)")
    ap.add_argument("--humans", type=int, default=20, help="human participants (default 20; 350 in all)")
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--out", default=None, help="keep the report here (default: a temporary folder)")
    args = ap.parse_args(argv)
    from vpt.report.build import build_report

    tmp = Path(tempfile.mkdtemp(prefix="vpt-bench-"))
    try:
        t0 = time.perf_counter()
        rows = write_synthetic(tmp / "results", args.models, args.humans)
        print(f"synthetic trial table: {rows:,} rows, {args.models + args.humans} decision makers "
              f"(written in {time.perf_counter() - t0:.1f} s, not timed)", flush=True)
        out = Path(args.out) if args.out else tmp / "report"
        t1 = time.perf_counter()
        path, res = build_report([tmp / "results"], out, n_boot=args.bootstrap)
        total = time.perf_counter() - t1
        print("stages: " + ", ".join(f"{k} {v:.1f} s" for k, v in res.timings.items()))
        print(f"report: {total:.1f} s for {rows:,} rows and {args.bootstrap} bootstrap resamples -> {path}")
    finally:
        if not args.out:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
