"""The declared dataset index contract: how every evaluator reads a dataset folder.

A dataset folder (``data/<recipe>/``, written by ``vpt scenes``) holds ``index.parquet``
(``index.csv`` is the same table for people) with one row per stimulus. Evaluators read it
only through :func:`load_dataset`, which checks the columns below and returns a
:class:`Dataset`: the validated index, a hash of its content and an item table with
absolute paths. A missing or malformed index is a :class:`~vpt.errors.UserError` naming the
file and the column.

Required index columns (:data:`INDEX_COLUMNS`): ``scene_id`` (unique), ``split``,
``scene_json``, ``image``, ``mask`` (relative paths, ``""`` where not rendered),
``vpt_label`` and ``depth_label`` (0, 1 or null; null only on sweep steps marked partial or
ambiguous), ``hidden_reason``, ``cell``, ``human_set``, ``warmup``, ``sweep_id``,
``sweep_kind`` (``""`` outside sweeps), ``sweep_step`` (-1 outside sweeps),
``sweep_step_label``, ``rendered``. Optional ones are carried when present
(``human_image``, ``sweep_parameter``, ``sweep_value``, ``style``, ...).

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

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from vpt.errors import UserError

INDEX_FILE = "index.parquet"
# column -> kind: "str" (strings, "" allowed), "label" (0/1/null), "int", "bool"
INDEX_COLUMNS: dict[str, str] = {
    "scene_id": "str", "split": "str", "scene_json": "str", "image": "str", "mask": "str",
    "vpt_label": "label", "depth_label": "label", "hidden_reason": "str", "cell": "str",
    "human_set": "bool", "warmup": "bool", "sweep_id": "str", "sweep_kind": "str", "sweep_step": "int",
    "sweep_step_label": "str", "rendered": "bool",
}
INDEX_SPLITS = ("train", "val", "test", "ood", "strategy")
SELECTIONS = ("all", "human", "warmup")
TASK_LABEL = {"vpt": "vpt_label", "depth": "depth_label"}


def _bad(path: Path, column: str, what: str) -> UserError:
    return UserError(f"{path}: column {column!r}: {what} (the index contract is in vpt/trials/items.py; "
                     "re-run `vpt scenes` to rewrite the index)")


def _check_column(df: pd.DataFrame, path: Path, col: str, kind: str) -> pd.Series:
    s = df[col]
    if kind == "str":
        if s.isna().any():
            raise _bad(path, col, f"null in {int(s.isna().sum())} rows (use \"\" for none)")
        if pd.api.types.infer_dtype(s, skipna=True) not in ("string", "empty"):
            raise _bad(path, col, f"expected strings, found {pd.api.types.infer_dtype(s, skipna=True)}")
        return s.astype(str)
    if kind == "bool":
        if s.isna().any() or not s.isin([True, False]).all():
            raise _bad(path, col, "expected true/false in every row")
        return s.astype(bool)
    try:
        v = pd.to_numeric(s, errors="raise")
    except (TypeError, ValueError) as err:
        raise _bad(path, col, f"expected integers: {err}") from None
    if (v.dropna() % 1 != 0).any():
        raise _bad(path, col, "expected integers, found fractions")
    v = v.astype("Int64")
    if kind == "int" and v.isna().any():
        raise _bad(path, col, "null where an integer is required")
    if kind == "label" and not v.dropna().isin([0, 1]).all():
        raise _bad(path, col, f"value {v.dropna()[~v.dropna().isin([0, 1])].iloc[0]} is not 0, 1 or null")
    return v


def content_hash(index: pd.DataFrame) -> str:
    """Hash of an index's content (its CSV text with sorted columns), stable across Parquet
    writers: the same table gives the same hash."""
    text = index[sorted(index.columns)].to_csv(index=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


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
    ``sweep_step_label``, ``human_set``, ``warmup``, ``rendered``, ``style``."""
    root = root.resolve()

    def paths(col: str) -> list[str | None]:
        if col not in index.columns:
            return [None] * len(index)
        return [str(root / p) if isinstance(p, str) and p else None for p in index[col]]

    sweep = index["sweep_id"] != ""
    items = pd.DataFrame({
        "scene_id": index["scene_id"].astype(str),
        "split": index["split"].where(~sweep, "sweep").astype(str),
        "index_split": index["split"].astype(str),
        "image": paths("image"), "mask": paths("mask"), "human_image": paths("human_image"),
        "scene_json": paths("scene_json"),
        "vpt_label": index["vpt_label"], "depth_label": index["depth_label"],
        "hidden_reason": index["hidden_reason"], "cell": index["cell"],
        "sweep_id": index["sweep_id"].where(sweep, None),
        "sweep_kind": index["sweep_kind"].where(sweep, None),
        "sweep_step": index["sweep_step"].where(sweep, pd.NA).astype("Int64"),
        "sweep_value": index["sweep_value"] if "sweep_value" in index else float("nan"),
        "sweep_step_label": index["sweep_step_label"],
        "human_set": index["human_set"], "warmup": index["warmup"], "rendered": index["rendered"],
        "style": index["style"] if "style" in index else "",
    })
    return items.reset_index(drop=True)


def load_dataset(root: str | Path) -> Dataset:
    """Read and validate ``root/index.parquet``; raise UserError naming the file and column."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"{root}: no such dataset folder; run `make scenes` (or `vpt scenes`) to write one")
    path = root / INDEX_FILE
    if not path.exists():
        raise UserError(f"{root}: not a dataset folder (no {INDEX_FILE}); run `make scenes` (or `vpt scenes`) "
                        "to write one")
    try:
        raw = pd.read_parquet(path)
    except Exception as err:  # pyarrow raises several types for a damaged or foreign file
        raise UserError(f"{path}: cannot be read as Parquet ({type(err).__name__}: {err})") from None
    missing = [c for c in INDEX_COLUMNS if c not in raw.columns]
    if missing:
        raise _bad(path, missing[0], f"missing ({len(missing)} required columns absent: {', '.join(missing)})")
    if raw.empty:
        raise UserError(f"{path}: the index lists no stimuli")
    index = raw.copy()
    for col, kind in INDEX_COLUMNS.items():
        index[col] = _check_column(raw, path, col, kind)
    dup = index["scene_id"].duplicated()
    if dup.any():
        raise _bad(path, "scene_id", f"{index['scene_id'][dup].iloc[0]!r} appears more than once")
    bad_split = ~index["split"].isin(INDEX_SPLITS)
    if bad_split.any():
        raise _bad(path, "split", f"value {index['split'][bad_split].iloc[0]!r} is not one of "
                   + ", ".join(INDEX_SPLITS))
    if (index["scene_json"] == "").any():
        raise _bad(path, "scene_json", "empty path")
    binary = index["sweep_id"] == ""
    for col in ("vpt_label", "depth_label"):
        if index.loc[binary, col].isna().any():
            raise _bad(path, col, "null on a binary (non-sweep) item; only sweep steps may be unlabelled")
    if (index.loc[~binary, "sweep_step"] < 0).any():
        raise _bad(path, "sweep_step", "negative step on a sweep item")
    if (index["rendered"] & ((index["image"] == "") | (index["mask"] == ""))).any():
        raise _bad(path, "image", "a row marked rendered has no image or mask path")
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


def labels(items: pd.DataFrame, task: str) -> pd.Series:
    """The ground truth of ``task`` (``vpt`` or ``depth``) for an item table, Int64 with NA."""
    if task not in TASK_LABEL:
        raise UserError(f"unknown task {task!r}; choose vpt or depth")
    return items[TASK_LABEL[task]].astype("Int64")
