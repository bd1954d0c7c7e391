"""The dataset index is declared once (vpt.datasets.index): the writer, the readers and the
documentation agree with the declaration, and a malformed index is named by file and column."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import ROOT
from tests.test_labels import occ, scene
from vpt.datasets import index
from vpt.datasets.build import DatasetItem
from vpt.datasets.writer import index_row
from vpt.errors import UserError
from vpt.scene.labels import LabelConfig, label_scenes
from vpt.trials import schema
from vpt.trials.items import load_dataset

DATASET_PAGE = ROOT / "docs" / "dataset.md"  # the index table
TRIALS_PAGE = ROOT / "docs" / "trials.md"  # the trial schema


def test_documented_tables_are_the_declarations():
    assert index.markdown() in DATASET_PAGE.read_text(encoding="utf-8"), \
        "docs/dataset.md's index table differs from vpt.datasets.index.markdown(); paste it"
    assert schema.markdown() in TRIALS_PAGE.read_text(encoding="utf-8"), \
        "docs/trials.md's trial table differs from vpt.trials.schema.markdown(); paste it"


def _rows(tmp: Path) -> list[dict]:
    """Index rows as the writer makes them, for two binary items and two sweep steps."""
    specs = [scene(scene_id="a"), scene(scene_id="b", occluders=[occ(7, "box", (1.5, -0.5, 0.5), (0.05, 1.0, 1.0))]),
             scene(scene_id="c"), scene(scene_id="d", ball_pos=(-3.0, 0.0, 0.5))]
    labs = label_scenes(specs, LabelConfig())
    rows = []
    for k, (s, lab) in enumerate(zip(specs, labs)):
        if k < 2:  # these geometries leave depth undefined; binary items need both labels
            lab = replace(lab, vpt_label=k, hidden_reason=None if k else "out_of_view", depth_label=k)
        sweep = None if k < 2 else {"sweep_id": "turn-000", "kind": "viewer_turn", "step": k - 2,
                                     "parameter": "yaw_deg", "value": 10.0 * k, "step_label": str(lab.vpt_label)}
        item = DatasetItem(s, lab, "test" if sweep is None else "strategy", "c0" if sweep is None else None,
                           human_set=k == 0, sweep=sweep)
        rows.append(index_row(item, {"files": {}}, tmp, tmp / "scenes" / "test" / f"{s.scene_id}.json"))
    return rows


def test_writer_rows_are_exactly_the_declared_columns(tmp_path):
    rows = _rows(tmp_path)
    assert all(tuple(r) == index.NAMES for r in rows), "index_row and vpt.datasets.index.COLUMNS disagree"
    df = index.write_index(rows, tmp_path)
    assert (tmp_path / "index.csv").exists() and not [p for p in tmp_path.iterdir() if ".tmp" in p.name]
    back = index.read_index(tmp_path)
    pd.testing.assert_frame_equal(back, df)
    assert str(back["vpt_label"].dtype) == "Int64" and str(back["sweep_step"].dtype) == "int64"
    assert list(back["sweep_step"]) == [-1, -1, 0, 1] and np.isnan(back["sweep_value"].iloc[0])
    ds = load_dataset(tmp_path)
    assert ds.hash == index.content_hash(back) and list(ds.select("human")["scene_id"]) == ["a"]
    assert set(index.read_index(tmp_path, columns=["ball_side"]).columns) == set(index.REQUIRED) | {"ball_side"}


@pytest.mark.parametrize("change, column, message", [
    (lambda r: {k: v for k, v in r.items() if k != "style"}, "style", "missing"),
    (lambda r: {**r, "colour": "red"}, "colour", "not declared"),
    (lambda r: {**r, "ball_side": "up"}, "ball_side", "not one of"),
    (lambda r: {**r, "n_occluders": 1.5}, "n_occluders", "fractions"),
    (lambda r: {**r, "hidden_reason": None}, "hidden_reason", "null in"),
])
def test_the_writer_refuses_rows_off_the_declaration(tmp_path, change, column, message):
    rows = [change(r) for r in _rows(tmp_path)]
    with pytest.raises(index.DatasetIndexError) as err:
        index.write_index(rows, tmp_path)
    text = str(err.value)
    assert text.startswith(f"{tmp_path / 'index.parquet'}: column {column!r}: ") and message in text
    assert not (tmp_path / "index.parquet").exists()


@pytest.mark.parametrize("change, column, message", [
    (lambda d: d.drop(columns="scene_json"), "scene_json", "missing"),
    (lambda d: d.assign(viewer_facing_right=2), "viewer_facing_right", "is not 0 or 1"),
    (lambda d: d.assign(ball_x_px="left"), "ball_x_px", "expected numbers"),
    (lambda d: d.assign(sweep_step=-1), "sweep_step", "negative step"),
    (lambda d: d.assign(warmup=None), "warmup", "null in"),
])
def test_read_index_names_the_file_the_column_and_the_fix(tmp_path, change, column, message):
    df = index.write_index(_rows(tmp_path), tmp_path)
    change(df).to_parquet(tmp_path / "index.parquet", index=False)
    with pytest.raises(UserError) as err:
        index.read_index(tmp_path)
    text = str(err.value)
    assert text.startswith(f"{tmp_path / 'index.parquet'}: column {column!r}: ") and message in text
    assert "re-run `vpt scenes` to rewrite the index" in text and "vpt/datasets/index.py" in text


def test_not_a_dataset_folder(tmp_path):
    with pytest.raises(UserError, match="no such dataset folder"):
        index.read_index(tmp_path / "nope")
    with pytest.raises(UserError, match="not a dataset folder"):
        index.read_index(tmp_path)
    (tmp_path / "index.parquet").write_text("not parquet")
    with pytest.raises(UserError, match="cannot be read as Parquet"):
        index.read_index(tmp_path)


def test_an_item_is_scored_only_on_the_tasks_it_serves(tmp_path):
    """A conflict set's facing and cover items serve VPT only: the index keeps their true depth
    label, the item table every evaluator reads has it null (so no evaluator scores or fits
    depth on them); an index without the column serves both tasks everywhere."""
    from vpt.datasets.audit_families import serves
    from vpt.trials.items import labels

    rows = _rows(tmp_path)
    rows[0]["tasks"], rows[1]["tasks"] = "vpt", "depth"
    index.write_index(rows, tmp_path)
    back = index.read_index(tmp_path)
    assert list(back["depth_label"].iloc[:2]) == [0, 1] and list(back["tasks"].iloc[:2]) == ["vpt", "depth"]
    items = load_dataset(tmp_path).items
    assert items["depth_label"].isna().iloc[0] and not items["vpt_label"].isna().iloc[0]
    assert items["vpt_label"].isna().iloc[1] and items["depth_label"].iloc[1] == 1
    assert labels(items, "depth").notna().tolist()[:2] == [False, True]
    assert serves(items, "depth").tolist()[:2] == [False, True] and serves(items.drop(columns="tasks"), "vpt").all()
    with pytest.raises(UserError, match="tasks"):
        index.write_index([{**rows[0], "tasks": "colour"}] + rows[1:], tmp_path)
    old = back.drop(columns="tasks")
    index.atomic_write_parquet(tmp_path / index.INDEX_FILE, old)
    both = load_dataset(tmp_path).items
    assert both["depth_label"].iloc[0] == 0 and set(both["tasks"]) == {"vpt,depth"}
