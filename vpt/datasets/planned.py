"""What a plan is made of: the planned items of a recipe (:class:`DatasetItem`), the plan
(:class:`DatasetPlan`) and how many processes plan it (:func:`plan_workers`). Shared by the
planners of every recipe kind (:mod:`vpt.datasets.build` for binary sets and sweeps,
:mod:`vpt.datasets.conflict_set` for the conflict set) and the writers."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from vpt.datasets.recipe import Recipe
from vpt.errors import UserError
from vpt.scene.labels import SceneLabels
from vpt.scene.spec import SceneSpec


@dataclass
class DatasetItem:
    spec: SceneSpec
    labels: SceneLabels
    split: str
    cell: str | None = None
    human_set: bool = False
    warmup: bool = False
    sweep: dict[str, Any] | None = None  # sweep_id, kind, step, n_steps, parameter, value, step_label, transitions
    tasks: str = "vpt,depth"  # the tasks the item serves (the index column; vpt.datasets.index.TASK_SETS)


@dataclass
class DatasetPlan:
    recipe: Recipe
    scale: str | None
    items: list[DatasetItem]
    reports: list[str] = field(default_factory=list)

    def by_split(self) -> dict[str, list[DatasetItem]]:
        out: dict[str, list[DatasetItem]] = {}
        for it in self.items:
            out.setdefault(it.split, []).append(it)
        return out


def plan_workers(n_jobs: int) -> int:
    """Processes for planning: ``VPT_PLAN_WORKERS`` if set, else one per core, at most one per job."""
    env = os.environ.get("VPT_PLAN_WORKERS", "").strip()
    if env:
        if not env.isdigit() or int(env) < 1:
            raise UserError(f"VPT_PLAN_WORKERS={env!r}: give a whole number of processes, 1 or more")
        return min(int(env), max(1, n_jobs))
    return max(1, min(os.cpu_count() or 1, n_jobs))


