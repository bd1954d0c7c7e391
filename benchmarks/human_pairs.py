"""How the human experiment orders a study with conflict items (issue 26): with the packaged
recipes' sizes (depth-vpt human_set 96, conflict human_set 32 = 16 look-alike pairs) and the
default protocol (4 attention checks), draw many participants' plans with
:func:`vpt.deciders.human.protocol.make_plan` and report the conflict share of the test trials,
how often a plain shuffle would have put the two halves of a pair back to back, that the plans
never do, how far apart the halves end up (against the plain shuffle) and the time per plan.

    python benchmarks/human_pairs.py [--plans 5000]

Reads the recipes' sizes from scenes/ (no dataset or render needed: the stimuli are stand-ins).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from vpt.datasets.recipe import load_recipe
from vpt.deciders.human.protocol import Stimuli, Stimulus, StudyConfig, make_plan


def stand_ins(n_basic: int, n_conflict: int, n_warmup: int) -> Stimuli:
    def s(sid: str, pair: str = "", dataset: str = "depth-vpt") -> Stimulus:
        return Stimulus(sid, sid, Path(sid), 1, 512, 512, dataset=dataset, pair=pair)

    test = [s(f"depth-vpt-test-{i}") for i in range(n_basic)]
    test += [s(f"conflict-test-{i // 2}-{'ab'[i % 2]}", f"conflict:{i // 2}", "conflict") for i in range(n_conflict)]
    warm = [s(f"depth-vpt-train-{i}") for i in range(n_warmup)]
    return Stimuli(dataset=None, task="vpt", test=test, warmup=warm)  # type: ignore[arg-type]


def gaps(order: list[str], pair_of: dict[str, str]) -> list[int]:
    where: dict[str, list[int]] = {}
    for i, sid in enumerate(order):
        if pair_of.get(sid):
            where.setdefault(pair_of[sid], []).append(i)
    return [abs(b - a) for a, b in where.values()]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--plans", type=int, default=5000)
    args = ap.parse_args(argv)
    basic, conflict = load_recipe("depth-vpt").config, load_recipe("conflict").config
    st = stand_ins(basic["human_set"], conflict["human_set"], basic["warmup"])
    cfg = StudyConfig(task="vpt")
    pair_of = {s.scene_id: s.pair for s in st.test}
    n_test = len(st.test)
    print(f"test stimuli: {basic['human_set']} basic + {conflict['human_set']} conflict "
          f"({conflict['human_set'] // 2} pairs) = {n_test}; conflict share {conflict['human_set'] / n_test:.3f}")
    adjacent_plain = adjacent_plan = 0
    gap_plain: list[int] = []
    gap_plan: list[int] = []
    t0 = time.perf_counter()
    for seed in range(args.plans):
        plan = make_plan(st, cfg, seed)
        seq = [t.scene_id for t in plan if t.block != "warmup"]
        g = gaps(seq, pair_of)
        gap_plan += g
        adjacent_plan += any(x == 1 for x in g)
    per_plan = (time.perf_counter() - t0) / args.plans
    for seed in range(args.plans):  # the same seeds, a plain shuffle of the test stimuli
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 0x48554D])))
        rng.permutation(len(st.warmup))
        order = [st.test[i].scene_id for i in rng.permutation(n_test)]
        g = gaps(order, pair_of)
        gap_plain += g
        adjacent_plain += any(x == 1 for x in g)
    print(f"plans: {args.plans}")
    print(f"plain shuffle: {adjacent_plain / args.plans:.3f} of the orders show a pair's halves back to back; "
          f"distance between halves median {statistics.median(gap_plain):.0f}, mean {statistics.mean(gap_plain):.1f}, "
          f"min {min(gap_plain)}")
    print(f"make_plan:     {adjacent_plan / args.plans:.3f} of the plans show a pair's halves back to back; "
          f"distance between halves median {statistics.median(gap_plan):.0f}, mean {statistics.mean(gap_plan):.1f}, "
          f"min {min(gap_plan)} (test trials and attention checks)")
    print(f"time per plan: {1000 * per_plan:.2f} ms")


if __name__ == "__main__":
    main()
