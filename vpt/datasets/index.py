"""The dataset index: one row per stimulus, the table every evaluator reads.

A dataset folder (``data/<recipe>/``, written by ``vpt scenes``) holds ``index.parquet``
(and ``index.csv``, the same table for people). This module is the only place its columns
are declared: :data:`COLUMNS` gives each one's type, whether it may be null and what it
means. :func:`conform` checks a table against the declaration (the writer calls it before
writing, every reader through :func:`read_index`), and :func:`markdown` prints the
column table of docs/dataset.md.

Strings use ``""`` for "none" (never null); the two labels are 0, 1 or null, and null only
on sweep steps marked ``partial`` or ``ambiguous``. ``required`` columns are the ones
evaluators rely on: an index without them is refused; the others are written by
``vpt scenes`` too and checked whenever present (a hand-made index may leave them out).
Columns not declared here are carried unchecked.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from vpt.columns import Column
from vpt.errors import UserError
from vpt.fileio import atomic_write_parquet, atomic_write_text

INDEX_FILE = "index.parquet"
CSV_FILE = "index.csv"
SPLITS = ("train", "val", "test", "ood", "strategy")
HIDDEN_REASONS = ("", "occluded", "out_of_view", "partial")
SIDES = ("left", "right")
TASK_SETS = ("vpt,depth", "vpt", "depth")  # the values of the tasks column
ALL_TASKS = TASK_SETS[0]  # what an item serves where its index has no tasks column




_S, _I, _F, _B = pa.string(), pa.int64(), pa.float64(), pa.bool_()

COLUMNS: tuple[Column, ...] = (
    Column("scene_id", _S, False, "unique id of the stimulus; the scene JSON's name"),
    Column("recipe", _S, False, "the recipe's name", required=False),
    Column("split", _S, False, "train, val, test, ood (binary items) or strategy (sweep steps)", choices=SPLITS),
    Column("image", _S, False, "the stimulus PNG, relative to the dataset folder; \"\" where not rendered"),
    Column("mask", _S, False, "its object-index PNG; \"\" where not rendered"),
    Column("depth_map", _S, False, "its depth map (`--depth`); \"\" otherwise", required=False),
    Column("human_image", _S, False, "the stimulus at the human resolution (human set, warm-up); \"\" otherwise",
           required=False),
    Column("human_mask", _S, False, "its object index at the human resolution; \"\" otherwise", required=False),
    Column("scene_json", _S, False, "the scene JSON, relative to the dataset folder (never empty)"),
    Column("vpt_label", _I, True, "1 = the viewer can see the ball, 0 = it cannot; null only on partial sweep steps",
           choices=(0, 1)),
    Column("hidden_reason", _S, False, "occluded or out_of_view where vpt_label is 0, partial on a partial step, \"\" "
           "otherwise", choices=HIDDEN_REASONS),
    Column("depth_label", _I, True, "1 = the ball is closer to the observer camera than the viewer, 0 = the viewer; "
           "null only on ambiguous sweep steps", choices=(0, 1)),
    Column("cell", _S, False, "counterbalancing cell (ball side, viewer facing, overlap); the pair's kind in a "
           "conflict set (facing, cover, depth); \"\" on sweep steps"),
    Column("tasks", _S, False, "the tasks the item serves: vpt,depth (the basic set, the sweeps), vpt (a conflict "
           "set's facing and cover pairs) or depth; evaluators score an item on these tasks only", required=False,
           choices=TASK_SETS),
    Column("ball_side", _S, False, "the ball left or right of the viewer in the image", required=False, choices=SIDES),
    Column("viewer_facing", _S, False, "the viewer facing left or right in the image", required=False, choices=SIDES),
    Column("viewer_facing_right", _I, False, "1 when viewer_facing is right", required=False, choices=(0, 1)),
    Column("viewer_facing_angle_deg", _F, False, "the viewer's forward against the observer's right, degrees",
           required=False),
    Column("occluder_overlaps_segment", _I, False, "1 when an occluder covers the image segment viewer to ball",
           required=False, choices=(0, 1)),
    Column("n_occluders", _I, False, "occluders in the scene", required=False),
    Column("ball_x_px", _F, False, "the ball's centre in the image, u (px)", required=False),
    Column("ball_y_px", _F, False, "the ball's centre in the image, v (px)", required=False),
    Column("ball_radius_px", _F, False, "the ball's image radius (px)", required=False),
    Column("viewer_x_px", _F, False, "the viewer's body centre in the image, u (px)", required=False),
    Column("viewer_y_px", _F, False, "the viewer's body centre in the image, v (px)", required=False),
    Column("viewer_radius_px", _F, False, "image radius of the viewer's proxy sphere (px)", required=False),
    Column("segment_length_px", _F, False, "image distance viewer to ball (px)", required=False),
    Column("viewer_visible_fraction", _F, False, "share of the ball's solid angle the viewer sees (analytic)",
           required=False),
    Column("style", _S, False, "the appearance style (studio, room, outdoor...)", required=False),
    Column("viewer_model", _S, False, "the viewer's model (camera, head, figure)", required=False),
    Column("occluder_shapes", _S, False, "the occluders' shapes, comma-separated", required=False),
    Column("human_set", _B, False, "in the human set (drawn from test)"),
    Column("warmup", _B, False, "in the warm-up set (drawn from train)"),
    Column("sweep_id", _S, False, "the sweep this step belongs to; \"\" outside sweeps"),
    Column("sweep_kind", _S, False, "the sweep's kind (occluder_slide, viewer_turn...); \"\" outside sweeps"),
    Column("sweep_step", _I, False, "the step within its sweep; -1 outside sweeps"),
    Column("sweep_parameter", _S, False, "the swept parameter's name; \"\" outside sweeps", required=False),
    Column("sweep_value", _F, True, "the swept parameter's value at this step; null outside sweeps", required=False),
    Column("sweep_step_label", _S, False, "the step's label along the sweep (0, 1, partial, ambiguous); \"\" outside "
           "sweeps"),
    Column("rendered", _B, False, "image and mask exist (false after `--plan-only`)"),
)
NAMES = tuple(c.name for c in COLUMNS)
BY_NAME = {c.name: c for c in COLUMNS}
REQUIRED = tuple(c.name for c in COLUMNS if c.required)


def serves(tasks: pd.Series, task: str) -> pd.Series:
    """Whether each item serves ``task``, from its ``tasks`` values (null: :data:`ALL_TASKS`)."""
    return tasks.fillna(ALL_TASKS).astype(str).str.split(",").map(lambda ts: task in ts)
TASK_LABEL = {"vpt": "vpt_label", "depth": "depth_label"}


class DatasetIndexError(UserError):
    """A dataset index (or a file claiming to be one) that does not follow the declaration."""


def _fail(source: object, column: str, what: str) -> None:
    raise DatasetIndexError(f"{source}: column {column!r}: {what} (the index is declared in vpt/datasets/index.py "
                            "and docs/dataset.md; re-run `vpt scenes` to rewrite the index)")


def _check(s: pd.Series, col: Column, source: object) -> pd.Series:
    if not col.nullable and s.isna().any():
        _fail(source, col.name, f"null in {int(s.isna().sum())} rows"
              + (" (use \"\" for none)" if pa.types.is_string(col.type) else "; it may not be null"))
    if pa.types.is_string(col.type):
        inferred = pd.api.types.infer_dtype(s, skipna=True)
        if inferred not in ("string", "empty"):
            _fail(source, col.name, f"expected strings, found {inferred}")
        return s.astype(object).where(s.notna(), None) if col.nullable else s.astype(str)
    if pa.types.is_boolean(col.type):
        if not s.isin([True, False]).all():
            _fail(source, col.name, "expected true/false in every row")
        return s.astype(bool)
    try:
        v = pd.to_numeric(s, errors="raise")
    except (TypeError, ValueError) as err:
        _fail(source, col.name, f"expected numbers: {err}")
    if pa.types.is_floating(col.type):
        return v.astype("float64")
    if (v.dropna() % 1 != 0).any():
        _fail(source, col.name, "expected integers, found fractions")
    return v.astype("Int64" if col.nullable else "int64")  # as pandas writes them (labels: Int64)


def conform(df: pd.DataFrame, source: object = "dataset index", complete: bool = False) -> pd.DataFrame:
    """Check ``df`` against :data:`COLUMNS`; return it with the declared dtypes.

    ``source`` (the file) is named in every error, with the column and how to fix it.
    ``complete`` (the writer): every declared column must be there and no other. Otherwise
    (readers) the required columns must be there; the others are checked when present and
    undeclared columns are carried. Also checked: ``scene_id`` unique, ``scene_json`` never
    empty, labels null only on sweep steps, sweep steps numbered from 0, and a row marked
    ``rendered`` has its image and mask.
    """
    need = NAMES if complete else REQUIRED
    missing = [n for n in need if n not in df.columns]
    if missing:
        _fail(source, missing[0], f"missing ({len(missing)} {'declared' if complete else 'required'} columns absent: "
              + ", ".join(missing) + ")")
    if complete:
        extra = [c for c in df.columns if c not in BY_NAME]
        if extra:
            _fail(source, str(extra[0]), "not declared in the index (add it to vpt/datasets/index.py COLUMNS)")
    out = df.copy()
    for col in COLUMNS:
        if col.name not in df.columns:
            continue
        s = _check(df[col.name], col, source)
        if col.choices is not None:
            bad = s.notna() & ~s.isin(col.choices)
            if bad.any():
                if col.choices == (0, 1):
                    allowed = "0, 1 or null" if col.nullable else "0 or 1"
                else:
                    allowed = "one of " + ", ".join(repr(c) if c == "" else str(c) for c in col.choices)
                _fail(source, col.name, f"value {s[bad].iloc[0]!r} is not {allowed}")
        out[col.name] = s
    dup = out["scene_id"].duplicated()
    if dup.any():
        _fail(source, "scene_id", f"{out['scene_id'][dup].iloc[0]!r} appears more than once")
    if (out["scene_json"] == "").any():
        _fail(source, "scene_json", "empty path")
    binary = out["sweep_id"] == ""
    for name in TASK_LABEL.values():
        if out.loc[binary, name].isna().any():
            _fail(source, name, "null on a binary (non-sweep) item; only sweep steps may be unlabelled")
    if (out.loc[~binary, "sweep_step"] < 0).any():
        _fail(source, "sweep_step", "negative step on a sweep item")
    if (out["rendered"] & ((out["image"] == "") | (out["mask"] == ""))).any():
        _fail(source, "image", "a row marked rendered has no image or mask path")
    return out.reset_index(drop=True)


def empty() -> pd.DataFrame:
    """An index with every declared column and no rows."""
    return pd.DataFrame({c.name: pd.Series([], dtype="object") for c in COLUMNS})


def write_index(rows: list[dict], folder: Path) -> pd.DataFrame:
    """Conform ``rows`` (every declared column, nothing else) and write ``index.csv`` and
    ``index.parquet`` atomically; returns the table."""
    folder = Path(folder)
    df = conform(pd.DataFrame(rows) if rows else empty(), folder / INDEX_FILE, complete=True)
    atomic_write_text(folder / CSV_FILE, df.to_csv(index=False))
    atomic_write_parquet(folder / INDEX_FILE, df)
    return df


def index_path(folder: str | Path) -> Path:
    """``folder/index.parquet``, or a one-line error when ``folder`` is not a dataset folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: no such dataset folder; run `make scenes` (or `vpt scenes`) to write one")
    path = folder / INDEX_FILE
    if not path.exists():
        raise UserError(f"{folder}: not a dataset folder (no {INDEX_FILE}); run `make scenes` (or `vpt scenes`) "
                        "to write one")
    return path


def is_dataset(folder: str | Path) -> bool:
    return (Path(folder) / INDEX_FILE).is_file()


def read_index(folder: str | Path, columns: list[str] | None = None, allow_empty: bool = True) -> pd.DataFrame:
    """Read ``folder/index.parquet`` and check it against the declaration (:func:`conform`).

    ``columns`` reads only those (plus the required ones: the checks need them). An error
    names the file and the column and says how to fix it."""
    path = index_path(folder)
    try:
        if columns is None:
            raw = pd.read_parquet(path)
        else:
            have = set(pq.read_schema(path).names)
            want = list(dict.fromkeys([*REQUIRED, *columns]))
            raw = pd.read_parquet(path, columns=[c for c in want if c in have])
    except Exception as err:  # pyarrow raises several types for a damaged or foreign file
        raise UserError(f"{path}: cannot be read as Parquet ({type(err).__name__}: {err}); re-run `vpt scenes` "
                        "to rewrite the index") from None
    if raw.empty and not allow_empty:
        raise UserError(f"{path}: the index lists no stimuli")
    return conform(raw, path)


def content_hash(index: pd.DataFrame) -> str:
    """Hash of an index's content (its CSV text with sorted columns), stable across Parquet
    writers: the same table gives the same hash."""
    text = index[sorted(index.columns)].to_csv(index=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def has_sweeps(index: pd.DataFrame) -> bool:
    return bool((index["sweep_id"] != "").any())


def markdown() -> str:
    """The declaration as a Markdown table, for docs/dataset.md (a test keeps them equal)."""
    lines = ["| column | type | null | required | meaning |", "|---|---|---|---|---|"]
    for c in COLUMNS:
        lines.append(f"| `{c.name}` | {c.type} | {'yes' if c.nullable else 'no'} | {'yes' if c.required else 'no'} "
                     f"| {c.meaning} |")
    return "\n".join(lines)

