"""The conflict-set comparison (benchmarks/conflict_models.py): items are counted only on the
tasks they serve (the index column ``tasks``), so a conflict set's facing and cover pairs, which
serve VPT only, are left out of depth."""

from pathlib import Path

import pandas as pd

from benchmarks import conflict_models
from vpt.trials.items import items_table


def _index() -> pd.DataFrame:
    rows = []
    # (kind, tasks, vpt labels of halves a and b, depth labels of halves a and b)
    pairs = [("facing", "vpt", (1, 0), (1, 0)), ("cover", "vpt", (1, 0), (0, 0)),
             ("depth", "vpt,depth", (1, 0), (1, 0)), ("depth", "vpt,depth", (0, 1), (1, 1))]
    for n, (kind, tasks, vpt, depth) in enumerate(pairs):
        for half, v, d in zip("ab", vpt, depth):
            rows.append({"scene_id": f"conflict-test-{n:08d}-{kind}-{half}", "split": "test", "sweep_id": "",
                         "vpt_label": v, "depth_label": d, "hidden_reason": "" if v else "out_of_view",
                         "cell": kind, "tasks": tasks, "sweep_kind": "", "sweep_step": -1,
                         "sweep_step_label": "", "human_set": False, "warmup": False, "rendered": True})
    return pd.DataFrame(rows)


def test_kinds_and_opposite_pairs_follow_the_tasks_column():
    items = items_table(Path("."), _index())
    assert conflict_models.task_kinds(items, "vpt") == ["cover", "depth", "facing"]
    assert conflict_models.task_kinds(items, "depth") == ["depth"]
    # the facing pair's index holds opposite depth labels, but it does not serve depth: not counted
    assert conflict_models.opposite_pairs(items, "depth") == "depth 1 of 2"
    assert conflict_models.opposite_pairs(items, "vpt") == "cover 1 of 1, depth 2 of 2, facing 1 of 1"


def test_an_index_without_tasks_serves_both():
    index = _index().drop(columns="tasks")
    items = items_table(Path("."), index)
    assert conflict_models.task_kinds(items, "depth") == ["cover", "depth", "facing"]
    assert conflict_models.opposite_pairs(items, "depth") == "cover 0 of 1, depth 1 of 2, facing 1 of 1"


def test_no_item_serves_the_task():
    items = items_table(Path("."), _index().assign(tasks="vpt"))
    assert conflict_models.task_kinds(items, "depth") == []
    assert conflict_models.opposite_pairs(items, "depth") == "none serve this task"
