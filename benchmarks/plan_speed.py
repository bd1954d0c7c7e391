"""How fast candidate scenes are sampled and labelled, on one core (`make bench`).

    python benchmarks/plan_speed.py [--recipe depth-vpt] [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from vpt.datasets.balance import FillSettings, fill, quotas
from vpt.datasets.recipe import load_catalogue, load_recipe
from vpt.errors import UserError


def sampling_benchmark(recipe_path: Path, seconds: float = 10.0, sizes: list[int] | None = None) -> float:
    """Run the real sampler (aim, sample, label at the steering ray count, accept into cells,
    relabel accepted ones at the recorded ray count) on growing train splits until
    ``seconds`` have passed, or on splits of ``sizes`` (the same work however busy the
    machine: compare the CPU rates); print and return candidates per second."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    recipe = load_recipe(recipe_path)
    cfg = recipe.config
    catalogue = load_catalogue("occluders")
    shapes = cfg["occluders"]["shapes"]
    from vpt.scene.candidates import BatchSampler

    make = BatchSampler(recipe.name, recipe.sampling, "bench", tuple(shapes), catalogue)

    load = os.getloadavg()[0]
    candidates, accepted, elapsed, cpu = 0, 0, 0.0, 0.0
    size = 64
    todo = list(sizes or [])
    while (elapsed < seconds) if sizes is None else todo:
        size = todo.pop(0) if sizes is not None else size
        t0, c0 = time.perf_counter(), time.process_time()
        kept, report = fill("bench", quotas(size, cfg["balance"]["occluded_share"]), make,
                            FillSettings.from_recipe(recipe, progress=False))
        elapsed += time.perf_counter() - t0
        cpu += time.process_time() - c0
        candidates += report.candidates
        accepted += len(kept)
        size *= 2
    rate = candidates / elapsed
    print(f"recipe {recipe.name}: {candidates} candidates sampled and labelled in {elapsed:.1f} s on one core "
          f"= {rate:,.0f} candidates/s ({accepted} accepted into balanced cells, {accepted / elapsed:,.1f} "
          f"accepted scenes/s; threads: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}; load average "
          f"{load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end on {os.cpu_count()} cores)")
    print(f"per second of this process's CPU time: {candidates / max(cpu, 1e-9):,.0f} candidates ({cpu:.1f} s CPU in "
          f"{elapsed:.1f} s: the share of the core it got; on a busy machine this, not the wall-clock rate, tells "
          f"what an idle core would do, approximately)")
    print(f"criterion: at least 20,000 candidates/s on one core (wall clock): {'met' if rate >= 20000 else 'NOT met'}")
    return rate


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python benchmarks/plan_speed.py", description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", default="depth-vpt", help="a recipe file or a packaged recipe's name (default depth-vpt)")
    ap.add_argument("--seconds", type=float, default=10.0, help="how long to sample (default 10)")
    ap.add_argument("--sizes", default=None, help="split sizes to fill instead (e.g. 64,128,256: what 10 s "
                    "cover on the idle machine), the same work on a busy one")
    args = ap.parse_args(argv)
    try:
        sizes = [int(x) for x in args.sizes.split(",")] if args.sizes else None
    except ValueError:
        print(f"error: --sizes {args.sizes!r}: give whole numbers separated by commas, e.g. 64,128,256", file=sys.stderr)
        return 2
    try:
        sampling_benchmark(Path(args.recipe), seconds=args.seconds, sizes=sizes)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
