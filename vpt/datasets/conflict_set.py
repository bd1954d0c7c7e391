"""The conflict set as a dataset: look-alike pairs (:func:`vpt.scene.conflict.build_pairs`)
planned into the train / val / test / ood splits of a ``kind: conflict`` recipe
(``scenes/conflict.yaml``), with a human set and a warm-up, for ``vpt scenes``.

* **Pairs stay together.** Both halves of a pair (``a``: the viewer sees the ball, ``b``: it
  does not) go to the same split, the human set and the warm-up take whole pairs, and the
  two halves look alike beyond their geometry: one style, one set of lights, the same
  material on each occluder (the ``a`` half's dressing, copied to ``b``).
* **Splits are disjoint by scene.** Every split solves its pairs from base scenes of its own
  range of candidate indices (:data:`SPLIT_OFFSET`), so no two splits share a random stream
  or a scene; the ``ood`` split draws its base scenes with the recipe's ``ood`` occluder
  shapes and is dressed in its ``ood`` styles.
* **Parallel, and the same whatever the number of processes.** A split's pairs are solved in
  jobs of ``conflict.pairs_per_job`` pairs, job ``j`` from the base scenes at
  ``SPLIT_OFFSET[split] + j * pairs_per_job * attempts_per_pair`` on; the jobs run in
  :func:`vpt.datasets.planned.plan_workers` processes and their results are put together in
  job order, so the plan (and every scene JSON) is byte-identical for a seed.
* **Ids, cells, tasks and the index.** An item's id is
  ``<recipe>-<split>-<base index>-<kind>-<a|b>`` (:func:`pair_id` strips the half), its
  ``cell`` (the index column) is the pair's kind (``facing``, ``cover``, ``depth``); labels,
  hidden reasons and the depth label are the solver's, made with the recipe's margins by the
  label code. Its ``tasks`` (the index column) say what it is scored on: every pair serves
  VPT (``a`` visible, ``b`` hidden, the image-plane values equal), depth pairs serve the depth
  task too, facing and cover pairs do not (their depth order shows in the picture).

The criteria of the set (the image-plane cues at chance, the single-cue maximum, combined
nuisance cues) are measured by :mod:`vpt.datasets.conflict_card` and written into the card.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from typing import Any, Sequence

from tqdm import tqdm

from vpt.datasets.planned import DatasetItem, DatasetPlan, plan_workers
from vpt.datasets.recipe import Recipe, RecipeError, load_catalogue
from vpt.scene import conflict as solver
from vpt.scene.conflict import ConflictPair, build_pairs
from vpt.scene.sampling import dress

SPLITS = ("train", "val", "test", "ood")
INDEX_RANGE = 10_000_000  # candidate indices per split
SPLIT_OFFSET = {s: i * INDEX_RANGE for i, s in enumerate(SPLITS)}


@dataclass(frozen=True)
class Job:
    """``n_pairs`` pairs of ``split``, solved from base scenes ``start`` to ``start + attempts - 1``."""

    split: str
    number: int
    n_pairs: int
    start: int
    attempts: int


def pair_id(scene_id: str) -> str:
    """The pair of an item (its id without the ``-a`` / ``-b`` of its half)."""
    return scene_id[:-2] if scene_id.endswith(("-a", "-b")) else scene_id


def solver_kinds(recipe: Recipe) -> tuple[str, ...]:
    """The recipe's pair kinds, checked against what the solver can make."""
    kinds = tuple(recipe.config["conflict"]["kinds"])
    bad = [k for k in kinds if k not in solver.KINDS]
    if bad:
        raise RecipeError(f"{recipe.path}: conflict.kinds: the pair solver makes no {bad[0]!r} pairs; "
                          f"known kinds: {', '.join(solver.KINDS)}")
    return kinds


def kinds_for(kinds: tuple[str, ...], job: Job) -> tuple[str, ...]:
    """The kinds in the order a job tries them: rotated by the job number, so that the kind
    that gets a job's odd pair changes from job to job."""
    r = job.number % len(kinds)
    return kinds[r:] + kinds[:r]


def plan_jobs(recipe: Recipe, scale: str | None = None) -> list[Job]:
    """The solving jobs of a conflict recipe, in plan order (split, then job number)."""
    solver_kinds(recipe)
    c = recipe.config["conflict"]
    per, tries = c["pairs_per_job"], c["attempts_per_pair"]
    stride = per * tries
    jobs = []
    for split, size in recipe.split_sizes(scale).items():
        n = size // 2
        n_jobs = -(-n // per)
        if n_jobs * stride > INDEX_RANGE:
            raise RecipeError(f"{recipe.path}: splits.{split}: {n} pairs need {n_jobs * stride:,} base scenes, more "
                              f"than a split's {INDEX_RANGE:,}; lower conflict.attempts_per_pair or the split size")
        for j in range(n_jobs):
            k = min(per, n - j * per)
            jobs.append(Job(split, j, k, SPLIT_OFFSET[split] + j * stride, k * tries))
    return jobs


def solve_job(recipe: Recipe, job: Job) -> tuple[list[ConflictPair], Any]:
    """One job's pairs and the solver's report (runs in a worker process)."""
    cfg = recipe.config
    shapes = cfg["ood"]["occluder_shapes"] if job.split == "ood" else cfg["occluders"]["shapes"]
    return build_pairs(recipe.sampling, recipe.labels, recipe.name, list(shapes), load_catalogue("occluders"),
                       job.n_pairs, start=job.start, max_attempts=job.attempts,
                       kinds=kinds_for(solver_kinds(recipe), job),
                       nearer_first=job.number % 2 == 0)  # the order a kind's odd pair takes alternates


def pair_items(recipe: Recipe, pair: ConflictPair, split: str, styles: Sequence[str],
               styles_cat: dict[str, Any]) -> list[DatasetItem]:
    """The two items of a pair, dressed alike (``a``'s style, lights and occluder materials)."""
    sid = f"{recipe.name}-{split}-{pair.index:08d}-{pair.kind}"
    a = dress(replace(pair.a, scene_id=f"{sid}-a"), list(styles), styles_cat)
    b = dress(replace(pair.b, scene_id=f"{sid}-b"), list(styles), styles_cat)
    mats = {o.id: o.material for o in a.occluders}
    b = replace(b, appearance=a.appearance, lights=a.lights,
                occluders=tuple(replace(o, material=mats.get(o.id, o.material)) for o in b.occluders))
    tasks = ",".join(solver.tasks_of(pair.kind))
    return [DatasetItem(a, pair.labels_a, split, pair.kind, tasks=tasks),
            DatasetItem(b, pair.labels_b, split, pair.kind, tasks=tasks)]


def _solve_all(recipe: Recipe, jobs: list[Job], progress: bool) -> list[tuple[list[ConflictPair], Any]]:
    workers = plan_workers(len(jobs))
    if workers == 1:
        it = tqdm(jobs, desc="solving conflict pairs", unit="job", disable=not progress, leave=False)
        return [solve_job(recipe, j) for j in it]
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(workers) as ex:
        futures = {ex.submit(solve_job, recipe, j): n for n, j in enumerate(jobs)}
        done: dict[int, tuple[list[ConflictPair], Any]] = {}
        for f in tqdm(as_completed(futures), total=len(futures), desc=f"solving conflict pairs ({workers} processes)",
                      unit="job", disable=not progress, leave=False):
            done[futures[f]] = f.result()
    return [done[n] for n in range(len(jobs))]


def _report(recipe: Recipe, jobs: list[Job], results: list[tuple[list[ConflictPair], Any]]) -> list[str]:
    lines = []
    why: Counter = Counter()
    for split in SPLITS:
        mine = [(j, r) for j, r in zip(jobs, results) if j.split == split]
        if not mine:
            continue
        att: Counter = Counter()
        ok: Counter = Counter()
        no_base = 0
        kinds = Counter(p.kind for _, (pairs, _) in mine for p in pairs)
        short = []
        for job, (pairs, rep) in mine:
            att.update(rep.attempts)
            ok.update(rep.successes)
            no_base += rep.no_base
            why.update(rep.why)
            if len(pairs) < job.n_pairs:
                short.append(f"  {split} job {job.number}: {len(pairs)} of {job.n_pairs} pairs within {job.attempts} "
                             f"base scenes (raise conflict.attempts_per_pair)")
        rates = ", ".join(f"{k} {ok[k]}/{att[k]} ({100 * ok[k] / att[k]:.1f} %)" for k in sorted(att) if att[k])
        lines.append(f"{split}: {sum(kinds.values())} pairs (" + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
                     + f") from {len(mine)} jobs; base scenes solved: {rates}; not built by the sampler: {no_base}")
        lines += short
    lines.append("most frequent reasons a base scene was not solved (per try):")
    lines += [f"  {n}: {reason}" for reason, n in why.most_common(8)]
    return lines


def plan_conflict(recipe: Recipe, scale: str | None = None, progress: bool = True) -> DatasetPlan:
    """Every item of a conflict recipe: the pairs of every split, dressed, with the human set
    (whole pairs from test) and the warm-up (whole pairs from train) flagged."""
    cfg = recipe.config
    jobs = plan_jobs(recipe, scale)
    results = _solve_all(recipe, jobs, progress)
    styles_cat = load_catalogue("styles")
    plan = DatasetPlan(recipe, scale, [])
    groups: dict[str, list[list[DatasetItem]]] = {s: [] for s in SPLITS}
    for job, (pairs, _) in zip(jobs, results):
        styles = cfg["ood"]["styles"] if job.split == "ood" else cfg["styles"]
        for p in pairs:
            groups[job.split].append(pair_items(recipe, p, job.split, styles, styles_cat))
    for split in SPLITS:
        for g in groups[split]:
            plan.items.extend(g)
    _flag_pairs(groups["test"], cfg["human_set"] // 2, "human_set")
    _flag_pairs(groups["train"], cfg["warmup"] // 2, "warmup")
    plan.reports.extend(_report(recipe, jobs, results))
    return plan


def _flag_pairs(pairs: list[list[DatasetItem]], n: int, flag: str) -> None:
    """Flag ``n`` whole pairs, spread evenly over the pair kinds (round-robin, in plan order)."""
    by_kind: dict[str, list[list[DatasetItem]]] = {}
    for g in pairs:
        by_kind.setdefault(str(g[0].cell), []).append(g)
    taken, rank = 0, 0
    while taken < n and any(rank < len(v) for v in by_kind.values()):
        for kind in sorted(by_kind):
            if rank < len(by_kind[kind]) and taken < n:
                for it in by_kind[kind][rank]:
                    setattr(it, flag, True)
                taken += 1
        rank += 1
