"""What every decision maker implements, and the one function that turns answers into trials.

A decider answers the items of one dataset selection (:meth:`vpt.trials.items.Dataset.select`)
and returns trial rows (:mod:`vpt.trials.schema`); :func:`vpt.deciders.run.run_decider`
stores them as one run. ``describe()`` is its provenance: JSON-able, it goes into the run
manifest and, with the dataset hash and the selection, determines the run id, so anything
that changes the answers (parameters, seeds, training data) must appear in it.

Deciders build rows with :func:`make_trials`: they give only their answers (decision maker,
task, scene, response, score, seed), the labels and the split come from the items, so no
decider can get the ground truth or ``correct`` wrong. An answer the decider could not give
is a null ``response`` (kept and counted, never dropped or guessed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import pandas as pd

from vpt.trials import schema
from vpt.trials.items import Dataset, labels

ANSWER_COLUMNS = ("decision_maker", "task", "scene_id", "response", "score", "seed")
OPTIONAL_ANSWER_COLUMNS = {"variant": "default", "repeat": 0, "rt_ms": float("nan"), "parsed_by": None}


@dataclass(frozen=True)
class RunContext:
    """Where a decider's rows go: the run, the dataset and selection it answers, the time."""

    run_id: str
    dataset: Dataset
    selection: str
    created_at: datetime


@runtime_checkable
class Decider(Protocol):
    """One or more decision makers that answer items and describe where they came from."""

    name: str  # a short name for the run id and the summary, e.g. "label-rule"
    kind: str  # one of vpt.trials.schema.KINDS

    def describe(self) -> dict[str, Any]:
        """Provenance: decision makers, parameters, seeds, training data (JSON-able)."""
        ...

    def decide(self, items: pd.DataFrame, context: RunContext) -> pd.DataFrame:
        """Trial rows (the schema's columns) for ``items``; use :func:`make_trials`."""
        ...


def make_trials(answers: pd.DataFrame, items: pd.DataFrame, context: RunContext, kind: str) -> pd.DataFrame:
    """Trial rows from a decider's answers (:data:`ANSWER_COLUMNS`, optionally ``variant``,
    ``repeat``, ``rt_ms``): split, sweep, label and ``correct`` are taken from ``items``
    (an item table of :mod:`vpt.trials.items`), the run from ``context``. Conformed."""
    missing = [c for c in ANSWER_COLUMNS if c not in answers.columns]
    if missing:
        raise ValueError(f"answers lack the columns {missing}")
    a = answers.copy()
    for col, default in OPTIONAL_ANSWER_COLUMNS.items():
        if col not in a.columns:
            a[col] = default
    meta = items[["scene_id", "split", "sweep_id", "sweep_step", "vpt_label", "depth_label"]]
    df = a.merge(meta, on="scene_id", how="left", validate="many_to_one", indicator=True)
    if (df["_merge"] != "both").any():
        raise ValueError(f"answers for scenes not in the items: {df.loc[df['_merge'] != 'both', 'scene_id'].iloc[0]}")
    label = df["vpt_label"].where(df["task"] == "vpt", df["depth_label"]).astype("Int64")
    response = pd.array(df["response"], dtype="Int64")
    correct = pd.Series(pd.array(response == label.to_numpy(), dtype="boolean"), index=df.index)
    out = pd.DataFrame({
        "run_id": context.run_id, "kind": kind, "decision_maker": df["decision_maker"].astype(str),
        "task": df["task"].astype(str), "dataset": context.dataset.name, "dataset_hash": context.dataset.hash,
        "split": df["split"], "scene_id": df["scene_id"], "sweep_id": df["sweep_id"], "sweep_step": df["sweep_step"],
        "variant": df["variant"], "repeat": df["repeat"], "label": label, "response": response, "correct": correct,
        "score": pd.to_numeric(df["score"], errors="coerce"), "rt_ms": pd.to_numeric(df["rt_ms"], errors="coerce"),
        "seed": df["seed"], "parsed_by": df["parsed_by"].astype("object").where(df["parsed_by"].notna(), None),
        "created_at": pd.Timestamp(context.created_at),
    })
    return schema.conform(out, source=f"run {context.run_id}")


def train_targets(items: pd.DataFrame, task: str, root: Any, what: str) -> tuple[Any, Any]:
    """The rows of ``items`` (a train split) that have a ``task`` label, as a boolean mask,
    and those labels as ints, for fitting a ``what`` (a classifier, a probe); a split with
    one label only is a :class:`~vpt.errors.UserError` naming the dataset ``root``."""
    from vpt.errors import UserError

    y = labels(items, task)
    keep = y.notna().to_numpy()
    yy = y[keep].to_numpy(int)
    if len(set(yy)) < 2:
        raise UserError(f"{root}: the train split has one {task} label only; it cannot fit a {what} "
                        "(a larger recipe scale?)")
    return keep, yy
