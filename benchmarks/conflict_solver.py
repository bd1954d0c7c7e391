"""CPU and wall time of the conflict pair solver alone (``vpt scenes`` spends most of a
conflict recipe's planning there), and a digest of the pairs it made.

    PYTHONPATH=. .venv/bin/python benchmarks/conflict_solver.py [RECIPE] [--scale paper] [--workers N]

Runs every solving job of the recipe (:func:`vpt.datasets.conflict_set.plan_jobs`) in
``--workers`` processes (default: ``VPT_PLAN_WORKERS`` or one per core) and prints the
pairs per kind, the CPU seconds of this process and its workers (user + system), the wall
seconds, and the SHA-256 of the pairs' specs and labels: the same digest for any number of
processes shows that the plan does not depend on it. Timings depend on the machine's load.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import sys
import time
from collections import Counter
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("recipe", nargs="?", default="scenes/conflict.yaml")
    ap.add_argument("--scale", default=None)
    ap.add_argument("--workers", type=int, default=None)
    a = ap.parse_args(argv)
    if a.workers is not None:
        if a.workers < 1:
            ap.error(f"--workers {a.workers}: give 1 or more processes")
        os.environ["VPT_PLAN_WORKERS"] = str(a.workers)
    from vpt.datasets import conflict_set as cs
    from vpt.datasets.recipe import load_recipe

    recipe = load_recipe(Path(a.recipe))
    jobs = cs.plan_jobs(recipe, a.scale)
    t0 = time.perf_counter()
    results = cs._solve_all(recipe, jobs, progress=False)
    wall = time.perf_counter() - t0
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
    pairs = [p for ps, _ in results for p in ps]
    digest = hashlib.sha256(repr([(p.a, p.b, p.labels_a, p.labels_b) for p in pairs]).encode()).hexdigest()
    kinds = Counter(p.kind for p in pairs)
    print(f"recipe {recipe.name}, scale {a.scale or 'default'}: {len(jobs)} jobs, "
          f"{cs.plan_workers(len(jobs))} processes")
    print(f"pairs: {len(pairs)} ({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))})")
    print(f"CPU seconds (this process and its workers, user + system, includes imports): {cpu:.1f}")
    print(f"wall seconds (solving only): {wall:.1f}")
    print(f"pairs digest: {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
