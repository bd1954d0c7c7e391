"""Planning the splits in parallel processes gives exactly the plan of one process."""

import pytest

from tests.conftest import recipe_dict
from vpt.datasets.build import plan_recipe, plan_workers
from vpt.datasets.recipe import parse_recipe
from vpt.scene.spec import to_dict
from vpt.errors import UserError


def _small():
    d = recipe_dict("depth-vpt")
    d["splits"] = {"train": 32, "val": 8, "test": 16, "ood": 8}
    d["human_set"], d["warmup"] = 8, 4
    d["balance"]["pool"] = 2
    return parse_recipe(d)


def _signature(plan):
    return [(it.split, it.cell, it.human_set, it.warmup, to_dict(it.spec)) for it in plan.items], plan.reports


@pytest.mark.slow
def test_parallel_plan_is_the_serial_plan(monkeypatch):
    recipe = _small()
    monkeypatch.setenv("VPT_PLAN_WORKERS", "1")
    serial = _signature(plan_recipe(recipe, progress=False))
    monkeypatch.setenv("VPT_PLAN_WORKERS", "2")
    parallel = _signature(plan_recipe(recipe, progress=False))
    assert parallel == serial
    assert len(serial[0]) == 64


@pytest.mark.slow
def test_parallel_cue_table_is_the_serial_table(monkeypatch):
    """The plan-time audit's cue table, computed in chunks by several processes, is the
    table of one process (same rows, order, columns, dtypes and thumbnails)."""
    import numpy as np
    import pandas as pd

    from vpt.datasets import audit

    monkeypatch.setenv("VPT_PLAN_WORKERS", "2")
    items = plan_recipe(_small(), progress=False).items
    monkeypatch.setattr(audit, "PARALLEL_FROM", 16)
    table_2, thumbs_2 = audit.plan_table(items)
    monkeypatch.setenv("VPT_PLAN_WORKERS", "1")
    table_1, thumbs_1 = audit.plan_table(items)
    pd.testing.assert_frame_equal(table_2, table_1)
    assert np.array_equal(thumbs_2, thumbs_1) and len(table_1) == len(items)


def test_worker_count(monkeypatch):
    monkeypatch.delenv("VPT_PLAN_WORKERS", raising=False)
    assert 1 <= plan_workers(4) <= 4 and plan_workers(1) == 1
    monkeypatch.setenv("VPT_PLAN_WORKERS", "8")
    assert plan_workers(3) == 3
    monkeypatch.setenv("VPT_PLAN_WORKERS", "two")
    with pytest.raises(UserError, match="VPT_PLAN_WORKERS"):
        plan_workers(4)
