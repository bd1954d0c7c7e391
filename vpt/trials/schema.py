"""The trial table: one row per (run, decision maker, stimulus, variant, repeat).

Every decision maker (a baseline, a probe, a fine-tuned or from-scratch network, a VLM, a
human participant) writes rows of this one schema, so that every metric and every figure
has one code path. This module is the only place the columns are defined.

Polarity follows the dataset index: for `task == "vpt"`, 1 = the viewer can see the ball;
for `task == "depth"`, 1 = the ball is closer to the observer camera than the viewer.
An invalid answer or a timeout is a row with `response` null and `correct` null: it is
counted, never dropped and never guessed.
"""

from __future__ import annotations


import numpy as np
import pandas as pd
import pyarrow as pa

from vpt.columns import Column
from vpt.errors import UserError

SCHEMA_VERSION = 1

KINDS = ("baseline", "probe", "finetune", "scratch", "vlm", "human")
TASKS = ("vpt", "depth")
SPLITS = ("train", "val", "test", "ood", "human", "warmup", "sweep")
PARSED_BY = ("rule", "judge", "reask", "none")




COLUMNS: tuple[Column, ...] = (
    Column("run_id", pa.string(), False, "one evaluation run; its manifest run.json sits beside the rows"),
    Column("kind", pa.string(), False, "who answered: " + ", ".join(KINDS)),
    Column("decision_maker", pa.string(), False,
           "model name + weights tag + head, a baseline's name, or a pseudonymous participant id"),
    Column("task", pa.string(), False, "vpt or depth"),
    Column("dataset", pa.string(), False, "the dataset folder's name"),
    Column("dataset_hash", pa.string(), False, "hash of the dataset index the run read"),
    Column("split", pa.string(), False, "the stimulus' set: " + ", ".join(SPLITS)),
    Column("scene_id", pa.string(), False, "joins to the dataset index and the scene JSON"),
    Column("sweep_id", pa.string(), True, "the sweep this stimulus belongs to; null outside sweeps"),
    Column("sweep_step", pa.int64(), True, "the step within its sweep; null outside sweeps"),
    Column("variant", pa.string(), False,
           "what was varied for the same stimulus (prompt, shots, mirrored, option order, layer...); 'default' otherwise"),
    Column("repeat", pa.int64(), False, "0 unless the stimulus is asked again"),
    Column("label", pa.int64(), True, "the ground truth, same polarity as the index; null where undefined "
           "(an ambiguous sweep step)"),
    Column("response", pa.int64(), True, "the answer, same polarity; null = invalid or timed out"),
    Column("correct", pa.bool_(), True, "response == label; null when either is null"),
    Column("score", pa.float64(), True, "probability of class 1 where the decision maker has one"),
    Column("rt_ms", pa.float64(), True, "reaction time (humans) or latency (APIs), milliseconds"),
    Column("seed", pa.int64(), False, "the seed that made this row"),
    Column("parsed_by", pa.string(), True, "how a worded answer was read: " + ", ".join(PARSED_BY)
           + " (none: no answer read, response null); null for decision makers that do not answer in words"),
    Column("created_at", pa.timestamp("us", tz="UTC"), False, "when the row was made, UTC"),
)
NAMES = tuple(c.name for c in COLUMNS)
# columns added after a table format was in use: a table (or a file) written before them reads them as null
LATER_COLUMNS = ("parsed_by",)
ARROW_SCHEMA = pa.schema([pa.field(c.name, c.type, nullable=c.nullable) for c in COLUMNS],
                         metadata={b"vpt_trial_schema": str(SCHEMA_VERSION).encode()})
# The natural key: one row per (run, decision maker, task, stimulus, variant, repeat).
KEY = ("run_id", "decision_maker", "task", "scene_id", "variant", "repeat")

_CHOICES = {"kind": KINDS, "task": TASKS, "split": SPLITS, "parsed_by": PARSED_BY}


class TrialTableError(UserError):
    """A trial table (or a file claiming to be one) that does not follow the schema."""


def _fail(source: str, column: str, what: str) -> None:
    raise TrialTableError(f"{source}: column {column!r}: {what} (the trial table schema is in vpt/trials/schema.py "
                          "and docs/trials.md)")


def conform(df: pd.DataFrame, source: str = "trial table") -> pd.DataFrame:
    """Check `df` against the schema and return it with the schema's column order and dtypes.

    `source` names the file or the decision maker in error messages. Raises TrialTableError
    naming the first column that is missing, of the wrong type, null where it may not be,
    outside its allowed values, or inconsistent (`correct` must equal `response == label`).
    Extra columns are an error too: a foreign table is refused, not silently trimmed.
    """
    later = [n for n in LATER_COLUMNS if n not in df.columns]
    if later:
        df = df.assign(**{n: pd.Series(pd.NA, index=df.index, dtype="object") for n in later})
    missing = [n for n in NAMES if n not in df.columns]
    if missing:
        _fail(source, missing[0], f"missing ({len(missing)} of {len(NAMES)} schema columns absent: "
              + ", ".join(missing) + ")")
    extra = [c for c in df.columns if c not in NAMES]
    if extra:
        _fail(source, str(extra[0]), "not part of the trial table schema")
    out = pd.DataFrame(index=df.index)
    for col in COLUMNS:
        s = df[col.name]
        if not col.nullable and s.isna().any():
            _fail(source, col.name, f"null in {int(s.isna().sum())} rows; it may not be null")
        try:
            if pa.types.is_string(col.type):
                inferred = pd.api.types.infer_dtype(s, skipna=True)
                if inferred not in ("string", "empty"):
                    bad = s.dropna()[[not isinstance(v, str) for v in s.dropna()]]
                    raise TypeError(f"non-string value {bad.iloc[0]!r}" if len(bad) else f"{inferred} values")
                s = s.astype("string")
            elif pa.types.is_integer(col.type):
                v = pd.to_numeric(s, errors="raise")
                if (v.dropna() % 1 != 0).any():
                    raise TypeError("non-integer value")
                s = v.astype("Int64")
            elif pa.types.is_boolean(col.type):
                if not (pd.api.types.is_bool_dtype(s.dtype)
                        or all(isinstance(v, (bool, np.bool_)) or v in (0, 1) for v in s.dropna())):
                    raise TypeError("non-boolean value")
                s = s.astype("boolean")
            elif pa.types.is_floating(col.type):
                s = pd.to_numeric(s, errors="raise").astype("float64")
            else:
                s = pd.to_datetime(s, utc=True)
        except (TypeError, ValueError) as err:
            _fail(source, col.name, f"wrong type for {col.type}: {err}")
        out[col.name] = s
    for name, allowed in _CHOICES.items():
        bad = ~out[name].isin(allowed) & (out[name].notna() if name in LATER_COLUMNS else True)
        if bad.any():
            _fail(source, name, f"value {out[name][bad].iloc[0]!r} is not one of {', '.join(allowed)}")
    for name in ("label", "response"):
        bad = out[name].notna() & ~out[name].isin([0, 1])
        if bad.any():
            _fail(source, name, f"value {out[name][bad].iloc[0]!r}; must be 0, 1 or null")
    expect = (out["response"] == out["label"]).astype("boolean")
    expect[out["response"].isna() | out["label"].isna()] = pd.NA
    agree = (out["correct"].isna() & expect.isna()) | (out["correct"] == expect).fillna(False)
    if not agree.all():
        _fail(source, "correct", f"{int((~agree).sum())} rows where it is not response == label "
              "(null when response or label is null)")
    sweep = out["split"] == "sweep"
    if out.loc[sweep, "sweep_id"].isna().any():
        _fail(source, "sweep_id", "null on a sweep row")
    return out.reset_index(drop=True)


def empty() -> pd.DataFrame:
    """A trial table with no rows and the schema's dtypes."""
    return conform(pd.DataFrame({n: pd.Series([], dtype="object") for n in NAMES}))


def to_arrow(df: pd.DataFrame, source: str = "trial table") -> pa.Table:
    """Conform and convert to an Arrow table with the schema (and its version) attached."""
    return pa.Table.from_pandas(conform(df, source), schema=ARROW_SCHEMA, preserve_index=False)


def markdown() -> str:
    """The schema as a Markdown table, for docs/trials.md and the report."""
    lines = ["| column | type | null | meaning |", "|---|---|---|---|"]
    for c in COLUMNS:
        lines.append(f"| `{c.name}` | {c.type} | {'yes' if c.nullable else 'no'} | {c.meaning} |")
    return "\n".join(lines)
