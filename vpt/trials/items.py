"""How every evaluator reads a dataset folder: the validated index and the item table.

A dataset folder (``data/<recipe>/``, written by ``vpt scenes``) holds ``index.parquet``
(``index.csv`` is the same table for people) with one row per stimulus. Evaluators read it
only through :func:`load_dataset`, which checks the index and returns a
:class:`Dataset`: the validated index, a hash of its content and an item table with
absolute paths. A missing or malformed index is a :class:`~vpt.errors.UserError` naming the
file and the column.

The columns, their types and the checks are declared once, in :mod:`vpt.datasets.index`
(:data:`~vpt.datasets.index.COLUMNS`); :func:`load_dataset` reads through
:func:`~vpt.datasets.index.read_index`.

**Tasks.** An item is scored only on the tasks it serves (the index column ``tasks``:
``vpt,depth`` where absent). The item table keeps the label of a task the item does not serve
as null, so every evaluator (the trial table, the baselines, probes, fine-tuning, people)
leaves it out of that task as it leaves out an unlabelled sweep step; the index keeps the
true label. A conflict set's facing and cover pairs serve VPT only: their depth order is
read off the picture as on any floor (docs/conflict.md).

**Trial splits.** An item's trial ``split`` (the trial table's column) is its index split
(``train``, ``val``, ``test``, ``ood``); every sweep step (``sweep_id`` set; the index
calls their split ``strategy``) gets ``sweep``. The human set (drawn from ``test``) and the
warm-up (drawn from ``train``) are *flags*, not splits, so each item has exactly one trial
split; :meth:`Dataset.select` with ``"human"`` or ``"warmup"`` returns those items with
their trial split set to ``human`` / ``warmup``. A decision maker that answers the human set
as such (a participant; a baseline reported beside the humans) writes those rows in a run of
their own (the store keys rows by run), so the same stimulus may appear once as ``test`` and
once as ``human`` without a duplicate key.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from vpt.datasets.index import ALL_TASKS, INDEX_FILE, REQUIRED, SPLITS, TASK_LABEL, content_hash, read_index, serves
from vpt.errors import UserError

INDEX_COLUMNS = REQUIRED  # the columns evaluators rely on (declared in vpt.datasets.index)
INDEX_SPLITS = SPLITS
SELECTIONS = ("all", "human", "warmup")
__all__ = ["Dataset", "INDEX_COLUMNS", "content_hash", "labels", "load_dataset", "sweep_datasets_beside"]


@dataclass(frozen=True, eq=False)
class Dataset:
    """A validated dataset folder: ``index`` as written, ``items`` for evaluators."""

    root: Path
    name: str
    hash: str
    index: pd.DataFrame
    items: pd.DataFrame  # one row per stimulus, see items_table()

    @property
    def rendered(self) -> bool:
        """Every stimulus has an image and a mask (otherwise cues use the analytic projection)."""
        return bool(self.items["rendered"].all())

    @property
    def is_sweeps(self) -> bool:
        return bool(self.items["sweep_id"].notna().any())

    def select(self, selection: str = "all") -> pd.DataFrame:
        """Items of a selection: ``all`` (trial split = index split, ``sweep`` for sweep
        steps), ``human`` or ``warmup`` (the flagged items, trial split renamed)."""
        if selection == "all":
            return self.items
        if selection not in SELECTIONS:
            raise UserError(f"unknown selection {selection!r}; choose from {', '.join(SELECTIONS)}")
        flag = "human_set" if selection == "human" else "warmup"
        return self.items[self.items[flag]].assign(split=selection).reset_index(drop=True)

    def selections(self) -> list[str]:
        """``all`` plus ``human`` when the dataset has a human set."""
        return ["all"] + (["human"] if self.items["human_set"].any() else [])


def items_table(root: Path, index: pd.DataFrame) -> pd.DataFrame:
    """The item table: ``scene_id``, trial ``split``, ``index_split``, absolute ``image``,
    ``mask``, ``human_image`` (None where absent) and ``scene_json`` paths, ``vpt_label``,
    ``depth_label`` (Int64, NA where undefined), ``hidden_reason``, ``cell``, ``sweep_id``,
    ``sweep_kind``, ``sweep_step`` (None / NA outside sweeps), ``sweep_value``,
    ``sweep_step_label``, ``human_set``, ``warmup``, ``rendered``, ``style``, ``tasks``. A
    label is null where the item does not serve its task (see the module docstring)."""
    root = root.resolve()

    def paths(col: str) -> list[str | None]:
        if col not in index.columns:
            return [None] * len(index)
        return [str(root / p) if isinstance(p, str) and p else None for p in index[col]]

    sweep = index["sweep_id"] != ""
    tasks = index["tasks"].astype(str) if "tasks" in index else pd.Series(ALL_TASKS, index=index.index)
    on = {t: serves(tasks, t) for t in TASK_LABEL}
    items = pd.DataFrame({
        "scene_id": index["scene_id"].astype(str),
        "split": index["split"].where(~sweep, "sweep").astype(str),
        "index_split": index["split"].astype(str),
        "image": paths("image"), "mask": paths("mask"), "human_image": paths("human_image"),
        "scene_json": paths("scene_json"),
        "vpt_label": index["vpt_label"].astype("Int64").where(on["vpt"], pd.NA),
        "depth_label": index["depth_label"].astype("Int64").where(on["depth"], pd.NA),
        "hidden_reason": index["hidden_reason"], "cell": index["cell"],
        "sweep_id": index["sweep_id"].where(sweep, None),
        "sweep_kind": index["sweep_kind"].where(sweep, None),
        "sweep_step": index["sweep_step"].where(sweep, pd.NA).astype("Int64"),
        "sweep_value": index["sweep_value"] if "sweep_value" in index else float("nan"),
        "sweep_step_label": index["sweep_step_label"],
        "human_set": index["human_set"], "warmup": index["warmup"], "rendered": index["rendered"],
        "style": index["style"] if "style" in index else "", "tasks": tasks,
    })
    return items.reset_index(drop=True)


def load_dataset(root: str | Path) -> Dataset:
    """Read and validate ``root/index.parquet`` (:func:`vpt.datasets.index.read_index`);
    raise UserError naming the file and the column."""
    root = Path(root)
    index = read_index(root, allow_empty=False)
    return Dataset(root.resolve(), root.resolve().name, content_hash(index), index, items_table(root, index))


def sweep_datasets_beside(root: str | Path) -> list[Dataset]:
    """The sibling dataset folders (same parent as ``root``) whose index holds sweep steps."""
    root = Path(root).resolve()
    out = []
    for p in sorted(root.parent.iterdir()):
        if p == root or not (p / INDEX_FILE).exists():
            continue
        d = load_dataset(p)
        if d.is_sweeps:
            out.append(d)
    return out


def unfinished_beside(root: str | Path) -> list[Path]:
    """Sibling folders of ``root`` that hold a dataset's scene files but no index yet: a
    ``vpt scenes`` run that has not finished (the index is written last)."""
    root = Path(root).resolve()
    return [p for p in sorted(root.parent.iterdir())
            if p != root and p.is_dir() and (p / "scenes").is_dir() and not (p / INDEX_FILE).exists()]


def note_unfinished(root: str | Path) -> None:
    """Say on stderr which sibling datasets are left out because they are not finished."""
    import sys

    for p in unfinished_beside(root):
        print(f"vpt: note: {p} skipped: no {INDEX_FILE} yet (an unfinished `vpt scenes` run; run it again to "
              "finish it, then rerun this command)", file=sys.stderr)


def labels(items: pd.DataFrame, task: str) -> pd.Series:
    """The ground truth of ``task`` (``vpt`` or ``depth``) for an item table, Int64 with NA."""
    if task not in TASK_LABEL:
        raise UserError(f"unknown task {task!r}; choose vpt or depth")
    return items[TASK_LABEL[task]].astype("Int64")
