"""From recipes to planned datasets: sample, label, balance, plan sweeps, pick human sets.

Planning is pure Python (no Blender): :func:`plan_recipe` returns every stimulus of a recipe
with its spec, labels, split, counterbalancing cell and flags. :mod:`vpt.datasets.writer`
turns a plan into files.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import replace
from typing import Any, Callable, Iterator

import numpy as np
from tqdm import tqdm

from vpt.datasets.balance import FillSettings, fill_matched, quotas
from vpt.datasets.cues import analytic_cue_matrix
from vpt.datasets.planned import DatasetItem, DatasetPlan, plan_workers  # noqa: F401 (re-exported)
from vpt.datasets.recipe import SWEEP_KINDS, Recipe, load_catalogue
from vpt.datasets.sweeps import FIT_FRACTION, PlannedSweep, SweepError, plan_sweep
from vpt.scene.candidates import BatchSampler
from vpt.scene.sampling import dress

BINARY_SPLITS = ("train", "val", "test", "ood")
MATCH_SCALE = 0.5  # matched selection reads the analytic cues at half resolution (4x faster; ranks only)


def plan_recipe(recipe: Recipe, scale: str | None = None, progress: bool = True) -> DatasetPlan:
    """Every stimulus of a recipe, labelled and balanced (raises on an impossible recipe)."""
    if recipe.kind == "sweeps":
        return _plan_sweeps(recipe, scale, progress)
    if recipe.kind == "conflict":
        from vpt.datasets.conflict_set import plan_conflict

        return plan_conflict(recipe, scale, progress)
    return _plan_binary(recipe, scale, progress)


def _plan_split(recipe: Recipe, split: str, size: int, progress: bool) -> tuple[list[DatasetItem], list[str]]:
    """One split's items (sampled, labelled, matched, dressed) and its report lines; splits
    draw from their own random streams, so they can be planned in any order or at once."""
    cfg = recipe.config
    catalogue, styles_cat = load_catalogue("occluders"), load_catalogue("styles")
    shapes = cfg["ood"]["occluder_shapes"] if split == "ood" else cfg["occluders"]["shapes"]
    styles = cfg["ood"]["styles"] if split == "ood" else cfg["styles"]

    make = BatchSampler(recipe.name, recipe.sampling, split, tuple(shapes), catalogue)
    bal = cfg["balance"]
    kept, report = fill_matched(split, quotas(size, bal["occluded_share"], bal["away_open_weight"]), make,
                                FillSettings.from_recipe(recipe, progress), PoolCues())
    kept.sort(key=lambda a: a.spec.index)
    items = [DatasetItem(dress(a.spec, styles, styles_cat), a.labels, split, a.stratum.cell) for a in kept]
    return items, report.lines()


class PoolCues:
    """The analytic cues of pool items for matched selection (``describe`` of
    :func:`~vpt.datasets.balance.fill_matched`), each item's row computed once: selection
    runs again on the same pool when a kept item's labels change at the recorded ray count,
    and an item's row depends only on its spec and the projected lens (kept with the row, so
    a changed one is recomputed)."""

    def __init__(self) -> None:
        self._rows: dict[int, tuple[Any, tuple[float, float], np.ndarray]] = {}

    def __call__(self, acc: list[Any]) -> tuple[np.ndarray, list[str]]:
        def current(a: Any) -> bool:
            got = self._rows.get(id(a.spec))
            return got is not None and got[0] is a.spec and got[1] == a.labels.image.viewer_eye_px

        todo = [a for a in acc if not current(a)]
        rows, names = analytic_cue_matrix([(a.spec, a.labels) for a in todo], MATCH_SCALE)
        for a, row in zip(todo, rows):
            self._rows[id(a.spec)] = (a.spec, a.labels.image.viewer_eye_px, row)
        if not acc:
            return rows, names
        return np.stack([self._rows[id(a.spec)][2] for a in acc]), names


def _plan_binary(recipe: Recipe, scale: str | None, progress: bool) -> DatasetPlan:
    """The binary splits, planned in parallel processes (one per core; see
    :func:`plan_workers`): the result is the same whatever the number of processes."""
    cfg = recipe.config
    sizes = recipe.split_sizes(scale)
    plan = DatasetPlan(recipe, scale, [])
    splits = [s for s in BINARY_SPLITS if sizes[s]]
    workers = plan_workers(len(splits))
    if workers == 1:
        results = [_plan_split(recipe, s, sizes[s], progress) for s in splits]
    else:
        from concurrent.futures import ProcessPoolExecutor

        # the largest split first; bars would interleave, so the workers plan quietly
        order = sorted(splits, key=lambda s: -sizes[s])
        with ProcessPoolExecutor(workers) as ex:
            futures = {s: ex.submit(_plan_split, recipe, s, sizes[s], False) for s in order}
            # the workers are forked by now: the main process imports the audit's libraries
            # while they plan, instead of after
            warm = threading.Thread(target=_warm_audit_imports, daemon=True)
            warm.start()
            it = tqdm(order, desc=f"planning splits ({workers} processes)", unit="split", disable=not progress,
                      leave=False)
            results_by = {s: futures[s].result() for s in it}
        results = [results_by[s] for s in splits]
        warm.join()
    for items, lines in results:
        plan.items.extend(items)
        plan.reports.extend(lines)
    _flag(plan, "test", cfg["human_set"], "human_set", lambda it: (it.cell, it.labels.vpt_label, it.labels.depth_label))
    _flag(plan, "train", cfg["warmup"], "warmup", lambda it: (it.labels.vpt_label, it.labels.depth_label))
    return plan


def _warm_audit_imports() -> None:
    """Import the libraries of the plan-time audit (scikit-learn's models and metrics)."""
    import sklearn.ensemble  # noqa: F401
    import sklearn.impute  # noqa: F401
    import sklearn.linear_model  # noqa: F401
    import sklearn.metrics  # noqa: F401
    import sklearn.model_selection  # noqa: F401
    import sklearn.pipeline  # noqa: F401
    import sklearn.tree  # noqa: F401


def _flag(plan: DatasetPlan, split: str, n: int, flag: str, key) -> None:
    pool = [it for it in plan.items if it.split == split]
    for it in pick_balanced(pool, n, key):
        setattr(it, flag, True)


def _plan_sweeps(recipe: Recipe, scale: str | None, progress: bool) -> DatasetPlan:
    cfg = recipe.config
    catalogue, styles_cat = load_catalogue("occluders"), load_catalogue("styles")
    factor = recipe.scale_factor(scale)
    plan = DatasetPlan(recipe, scale, [])
    sw = cfg["sweeps"]
    for kind in SWEEP_KINDS:
        count = int(round(sw[kind]["count"] * factor))
        attempts = 0
        balance: dict[str, dict[str, int]] = {}
        rejected: dict[str, int] = {}
        for number in range(count):
            try:
                ps = plan_sweep(recipe.name, recipe.sampling, kind, number, sw[kind]["steps"], recipe.labels,
                                cfg["occluders"]["shapes"], catalogue, sw["max_attempts"])
            except SweepError as err:
                raise SweepError(f"{recipe.path}: {err}") from None
            attempts += ps.attempts
            for reason, n in ps.rejections.items():
                rejected[reason] = rejected.get(reason, 0) + n
            for name, value in ps.balance.items():
                balance.setdefault(name, {})
                balance[name][value] = balance[name].get(value, 0) + 1
            plan.items.extend(_sweep_items(ps, cfg["styles"], styles_cat))
        counts = "; ".join(f"{name} " + ", ".join(f"{v} {n}" for v, n in c.items()) for name, c in balance.items())
        plan.reports.append(f"{kind}: {count} sweeps planned from {attempts} base scenes"
                            + (f" ({counts})" if counts else ""))
        plan.reports.extend(f"  rejected {n}: {reason}" for reason, n in sorted(rejected.items(), key=lambda x: -x[1]))
    return plan


def _sweep_items(ps: PlannedSweep, styles: list[str], styles_cat: dict[str, Any]) -> list[DatasetItem]:
    """One item per step, all steps dressed alike (the first step's appearance)."""
    first = dress(ps.steps[0], styles, styles_cat)
    mats = {o.id: o.material for o in first.occluders}
    items = []
    for spec, lab, step_label in zip(ps.steps, ps.labels, ps.step_labels):
        occ = tuple(replace(o, material=mats[o.id]) for o in spec.occluders)
        dressed = replace(spec, appearance=first.appearance, lights=first.lights, occluders=occ)
        sw = spec.sweep
        assert sw is not None
        info = {"sweep_id": ps.sweep_id, "kind": ps.kind, "step": sw.step, "n_steps": sw.n_steps,
                "parameter": ps.parameter, "value": sw.value, "primary_label": ps.primary,
                "step_label": step_label, "transitions": ps.transitions, "balance": ps.balance,
                "summary": ps.summary,
                "viewer_visible_fraction": lab.viewer_visible_fraction,  # share of solid angle
                FIT_FRACTION: lab.viewer_visible_pixel_fraction,  # share of the viewer's image pixels
                "fit_fraction": FIT_FRACTION,  # the one a psychometric fit over partial steps uses
                "ball_minus_viewer_x_px": lab.image.ball_center_px[0] - lab.image.viewer_center_px[0],
                "depth_label": lab.depth_label}
        items.append(DatasetItem(dressed, lab, "strategy", None, sweep=info))
    return items


def pick_balanced(items: list[Any], n: int, key: Callable[[Any], Any]) -> Iterator[Any]:
    """``n`` items spread evenly over the groups of ``key`` (round-robin, in item order)."""
    groups: dict[Any, list[Any]] = {}
    for it in items:
        groups.setdefault(key(it), []).append(it)
    keys = sorted(groups, key=str)
    taken = 0
    for rank in itertools.count():
        progressed = False
        for k in keys:
            if rank < len(groups[k]) and taken < n:
                yield groups[k][rank]
                taken += 1
                progressed = True
        if taken >= n or not progressed:
            return
