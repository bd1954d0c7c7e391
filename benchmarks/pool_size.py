"""How much a larger candidate pool buys matched selection: ``python benchmarks/pool_size.py``.

Matched selection (:mod:`vpt.datasets.matching`) keeps, out of a pool of ``balance.pool``
times each stratum's quota, the hidden and visible items that look most alike in the image.
It can only balance what the pool offers: where hidden and visible candidates differ in
their joint cue distribution (a nonlinear model tells them apart), a small pool leaves that
difference in the selection. This benchmark plans the ``train`` and ``test`` splits of a
recipe once with the largest pool asked for, then, for each smaller pool factor, keeps the
first ``factor x quota`` candidates of every stratum (the candidates a smaller pool would
have drawn first, since the sampler fills strata in sampling order), runs matched selection
on them, and audits the result with :func:`vpt.datasets.audit.audit_cues` (the same models
and criterion as ``vpt audit``; cues from the analytic projection at the matching scale,
without the permutation null). It prints, per pool factor, the strongest single cue and the
combined-cue accuracy on test, and for the largest pool the audit's per-cell table (where the
selection still leaks). Pure Python; planning dominates its time.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from vpt.datasets import build, matching
from vpt.datasets.audit import frame_markdown, audit_cues
from vpt.datasets.recipe import load_recipe
from vpt.errors import UserError


def _pool_of(recipe_name: str, split: str, size: int, pool: float) -> dict[str, Any]:
    """Plan one split with ``pool`` and return its whole candidate pool (strata, cues in
    pool order) and quotas, captured where matched selection receives them."""
    recipe = load_recipe(recipe_name)
    recipe.config["balance"]["pool"] = pool
    captured: dict[str, Any] = {}
    select = matching.match_pool

    def capture(items, quota, describe, group_of):
        cues, names = describe(items)
        captured.update(cues=cues, names=names, strata=[a.stratum for a in items], quota=dict(quota))
        return select(items, quota, lambda _: (cues, names), group_of)

    matching.match_pool = capture
    try:
        build._plan_split(recipe, split, size, False)
    finally:
        matching.match_pool = select
    return captured


class _Candidate:
    def __init__(self, stratum):
        self.stratum = stratum


def _select(pool: dict[str, Any], factor: float) -> pd.DataFrame:
    """Matched selection on the first ``factor x quota`` candidates of each stratum; the
    kept items as cue-table rows."""
    quota, taken, rows = pool["quota"], Counter(), []
    for i, st in enumerate(pool["strata"]):
        if taken[st] < max(quota.get(st, 0), int(round(factor * quota.get(st, 0)))):
            taken[st] += 1
            rows.append(i)
    cands = [_Candidate(pool["strata"][i]) for i in rows]
    cues = pool["cues"][rows]
    kept, _ = matching.match_pool(cands, quota, lambda _: (cues, pool["names"]), lambda st: st.cell)
    pos = {id(c): k for k, c in enumerate(cands)}
    keep = [pos[id(c)] for c in kept]
    table = pd.DataFrame(cues[keep], columns=pool["names"])
    table["vpt_label"] = [c.stratum.vpt for c in kept]
    table["depth_label"] = [c.stratum.depth for c in kept]
    table["cell"] = [c.stratum.cell for c in kept]
    table["hidden_reason"] = [c.stratum.reason or "" for c in kept]
    return table


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python benchmarks/pool_size.py", description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", default="depth-vpt")
    ap.add_argument("--times", type=float, default=3.0, help="multiple of the recipe's train and test sizes")
    ap.add_argument("--pools", default="1,2,3,6", help="pool factors; the largest is planned")
    args = ap.parse_args(argv)
    try:
        factors = sorted(float(f) for f in args.pools.split(","))
    except ValueError:
        ap.error(f"--pools {args.pools!r}: give pool factors as numbers separated by commas, e.g. 1,2,3,6")
    try:
        sizes = load_recipe(args.recipe).split_sizes(None)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    t0 = time.time()
    with ProcessPoolExecutor(build.plan_workers(2)) as ex:  # VPT_PLAN_WORKERS, as planning does
        futs = {s: ex.submit(_pool_of, args.recipe, s, int(round(sizes[s] * args.times)), factors[-1])
                for s in ("train", "test")}
        pools = {s: f.result() for s, f in futs.items()}
    print(f"planned train ({len(pools['train']['strata'])} candidates in the pool) and test "
          f"({len(pools['test']['strata'])}) in {time.time() - t0:.0f} s")
    print("| pool | strongest single cue (VPT) | combined, logistic | combined, boosted trees |")
    print("|---|---|---|---|")
    for f in factors:
        parts = []
        for split in ("train", "test"):
            t = _select(pools[split], f)
            t["split"] = split
            parts.append(t)
        res = audit_cues(pd.concat(parts, ignore_index=True), source="analytic (matching scale)", permutations=0)
        comb = res.combined["test"]
        print(f"| {f:g} | {res.max_single():.1%} (`{res.worst_cue()}`) | {comb['logistic']:.1%} | "
              f"{comb['boosted trees']:.1%} |", flush=True)
    # where the largest pool's selection still leaks (the audit's per-cell table)
    print(f"\nPool {factors[-1]:g}, test accuracy per counterbalancing cell:\n")
    print("\n".join(frame_markdown(res.by_cell, head="cell", ints=("n",))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
