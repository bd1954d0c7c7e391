"""The shortcut audit's two ways of fitting the single-cue models, side by side on the same items.

    .venv/bin/python benchmarks/audit_speed.py [--recipe depth-vpt] [--scale S] [--dataset data/depth-vpt]
    .venv/bin/python benchmarks/record.py audit-speed -- .venv/bin/python benchmarks/audit_speed.py ...

For the planned items of a recipe (the plan-time audit of ``vpt scenes --plan-only``: cues
from the analytic projection) and, with ``--dataset``, for a rendered dataset (cues from the
pixels, its sweeps beside it as ``vpt audit DIR`` finds them; nothing is written there), the
cue table is computed once and audited three times: as before (``method="sklearn"``, one
scikit-learn pipeline per fit, the libraries' default threads), the same fits on one thread
(``audit.THREADS = 1``, this version's setting), and ``method="fast"`` (all single-cue fits at
once by :mod:`vpt.datasets.fast_fits`, one thread). Prints the time of each (the whole audit,
and the single-cue part: the table and the permutation null), the largest differences between
the single-cue tables and nulls of before and fast, both verdicts, and whether the other
tables (the same code in both) agree.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from vpt.datasets import audit as audit_mod

SINGLE = {"fast": "_single_cues_fast", "sklearn": "_single_cues_sklearn"}


RUNS = (("before", "sklearn", None),  # the audit as it was: a pipeline per fit, the libraries' thread defaults
        ("sklearn, 1 thread", "sklearn", 1),  # the old fits with this version's thread limit
        ("fast", "fast", 1))  # this version


def _timed_audit(table, thumbs, source, method, threads):
    """audit_cues with the single-cue part timed on its own: (result, total s, single-cue s)."""
    inner = getattr(audit_mod, SINGLE[method])
    spent = []

    def timed(*args, **kwargs):
        t = time.perf_counter()
        out = inner(*args, **kwargs)
        spent.append(time.perf_counter() - t)
        return out

    setattr(audit_mod, SINGLE[method], timed)
    saved_threads, audit_mod.THREADS = audit_mod.THREADS, threads
    try:
        t = time.perf_counter()
        result = audit_mod.audit_cues(table, thumbs, source, method=method)
        return result, time.perf_counter() - t, sum(spent)
    finally:
        setattr(audit_mod, SINGLE[method], inner)
        audit_mod.THREADS = saved_threads


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def compare(name: str, table: pd.DataFrame, thumbs: np.ndarray, source: str) -> dict:
    print(f"\n## {name}\n")
    res, times = {}, {}
    print("| run | fits | threads | whole audit (s) | single cues and null (s) | CPU (s) | load before |")
    print("|---|---|---|---|---|---|---|")
    for run, method, threads in RUNS:
        load, cpu = _load(), time.process_time()
        res[run], total, single = _timed_audit(table, thumbs, source, method, threads)
        times[run] = (total, single)
        print(f"| {run} | {method} | {threads or 'default'} | {total:.1f} | {single:.1f} | "
              f"{time.process_time() - cpu:.1f} | {load} |")
    print(f"\n- speed-up of the whole audit: {times['before'][0] / times['fast'][0]:.1f}x against before, "
          f"{times['sklearn, 1 thread'][0] / times['fast'][0]:.1f}x against the sklearn fits on one thread; "
          f"single-cue part {times['sklearn, 1 thread'][1] / times['fast'][1]:.0f}x")
    same = res["before"].to_json() == res["sklearn, 1 thread"].to_json()
    print(f"- the sklearn path on one thread and with the default threads: {'identical' if same else 'DIFFERENT'} "
          f"audit.json")
    old, new = res["before"], res["fast"]
    print(f"- {old.n_items} binary items ({old.n_train} train, {old.n_test} test), {len(old.single)} cues, "
          f"{old.permutations} permutations; one test item is {1 / old.n_test:.4f} of a train->test accuracy, one "
          f"item of a fold {1 / old.n_items:.4f} of a CV accuracy")
    diff = (new.single - old.single).abs()
    print(f"\nLargest |fast - sklearn| per column of the single-cue table (cells that differ, of {len(diff)}):\n")
    print("| column | largest difference | cue | sklearn | fast | cells that differ |")
    print("|---|---|---|---|---|---|")
    for col in old.single.columns:
        cue = diff[col].idxmax()
        print(f"| {col} | {diff[col].max():.4f} | `{cue}` | {old.single.loc[cue, col]:.4f} | "
              f"{new.single.loc[cue, col]:.4f} | {(diff[col] > 0).sum()} |")
    print("\n| figure | sklearn | fast |\n|---|---|---|")
    for label in audit_mod.LABELS:
        print(f"| largest single cue, {label} | {old.max_single(label):.4f} (`{old.worst_cue(label)}`) | "
              f"{new.max_single(label):.4f} (`{new.worst_cue(label)}`) |")
    print(f"| permutation null (95th pct. of the maximum) | {old.null_max['vpt_label']:.4f} | "
          f"{new.null_max['vpt_label']:.4f} |")
    print(f"| verdict | {'PASS' if old.passed() else 'FAIL'} | {'PASS' if new.passed() else 'FAIL'} |")
    comb = max([float((getattr(new, k) - getattr(old, k)).abs().max().max())
                for k in ("combined", "combined_depth", "by_cell", "by_reason") if len(getattr(old, k))] or [0.0])
    print(f"| combined-cue, per-cell and by-reason tables, largest difference (the same code) | - | {comb:.4f} |")
    return {"old": old, "new": new, "times": times, "max_single_diff": float(diff.max().max()),
            "null_diff": abs(new.null_max["vpt_label"] - old.null_max["vpt_label"])}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipe", default="depth-vpt", help="recipe to plan and audit (a packaged name or a file); "
                   "'' skips the plan")
    p.add_argument("--scale", default=None, help="the recipe's scale (e.g. paper)")
    p.add_argument("--dataset", default=None, help="a rendered dataset folder to audit from its pixels too")
    p.add_argument("--permutations", type=int, default=audit_mod.N_PERMUTATIONS,
                   help=f"shuffles of the permutation null (default {audit_mod.N_PERMUTATIONS}, the audit's)")
    args = p.parse_args(argv)
    audit_mod.N_PERMUTATIONS = args.permutations
    print(f"permutations {audit_mod.N_PERMUTATIONS}, folds 5; times are wall-clock on this machine, its load as "
          f"it was (printed below)")
    print(f"load average at the start: {_load()} (2 cores shared with other work: compare runs of one table)")
    if args.recipe:
        from vpt.datasets.build import plan_recipe
        from vpt.datasets.recipe import find_recipes
        from vpt.resources import resolve_recipe

        recipe = [r for r in find_recipes(resolve_recipe(args.recipe)) if r.kind == "binary"][0]
        t = time.perf_counter()
        plan = plan_recipe(recipe, args.scale, progress=False)
        t_plan = time.perf_counter() - t
        t = time.perf_counter()
        table, thumbs = audit_mod.plan_table(plan.items)
        print(f"\nplanned {recipe.name} (scale {args.scale or 'default'}, seed {recipe.config['seed']}): "
              f"{len(plan.items)} items in {t_plan:.0f} s; analytic cues in {time.perf_counter() - t:.0f} s")
        compare(f"plan-time audit: {recipe.name}, analytic cues of the planned items", table, thumbs, "analytic")
    if args.dataset:
        root = Path(args.dataset)
        sweeps = audit_mod.sweep_folders_beside(root)
        t = time.perf_counter()
        table, thumbs, source = audit_mod.dataset_table(root, sweeps)
        print(f"\ncues of {root} ({source}) and its sweeps {[s.name for s in sweeps]} in "
              f"{time.perf_counter() - t:.0f} s")
        out = compare(f"rendered dataset: {root}, cues from the pixels", table, thumbs, source)
        stored = root / "audit.json"
        if stored.exists():  # the audit written when it was rendered, by the sklearn path
            saved = json.loads(stored.read_text())
            for method in ("old", "new"):
                mine = json.loads(out[method].to_json())
                d = max(abs(mine["single"][c][k] - v) for c, row in saved["single"].items() for k, v in row.items()
                        if c in mine["single"] and v is not None and mine["single"][c].get(k) is not None)
                print(f"- {'sklearn' if method == 'old' else 'fast'} path against the stored {stored.name}: largest "
                      f"single-cue difference {d:.4f}; null {mine['permutation_null_max']['vpt_label']:.4f} "
                      f"(stored {saved['permutation_null_max']['vpt_label']:.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
