"""The trial table as integer codes and numpy arrays, computed once and shared by every metric.

Conventions used everywhere in vpt.metrics:

- a row is *labelled* when `label` is not null; unlabelled rows (ambiguous or partial sweep
  steps) are counted (`n_unlabelled`) but never scored;
- a row is *valid* when `response` is not null; an invalid labelled row counts as wrong
  for accuracy, balanced accuracy and error consistency and is reported as `invalid_rate`;
  signal detection and psychometric fits use the valid rows only (an invalid answer is
  neither a yes nor a no).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

HUMANS = "humans"  # the pooled human row: mean over participants, participants-then-trials bootstrap
LABEL_RULE = "label-rule"  # the rules applied to the scene JSON (vpt baseline names it baseline:label-rule)


def is_label_rule(name: str) -> bool:
    """The label rule, however its runner prefixes it (`label-rule`, `baseline:label-rule`)."""
    return str(name) == LABEL_RULE or str(name).endswith(":" + LABEL_RULE)


def generator(seed: int) -> np.random.Generator:
    """The one way vpt.metrics makes random streams: explicit, seeded, never global."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), 0x5EED])))


@dataclass
class Prepared:
    """Codes and arrays for one trial table (row order is the table's)."""

    df: pd.DataFrame
    dm: np.ndarray            # int codes into dm_names
    dm_names: np.ndarray      # str
    dm_kind: np.ndarray       # kind of each decision maker (first seen)
    task: np.ndarray          # codes into task_names
    task_names: np.ndarray
    split: np.ndarray
    split_names: np.ndarray
    scene: np.ndarray         # codes of scene_id
    scene_names: np.ndarray
    sweep: np.ndarray         # codes of sweep_id, -1 outside sweeps
    sweep_names: np.ndarray
    step: np.ndarray          # sweep_step, -1 outside sweeps
    item: np.ndarray          # codes of (scene_id, variant, repeat): the trial identity within a task
    label: np.ndarray         # int8, -1 = null
    response: np.ndarray      # int8, -1 = null
    labelled: np.ndarray      # bool
    valid: np.ndarray         # bool
    correct: np.ndarray       # bool: labelled, valid and response == label (invalid counts wrong)

    @property
    def n_dm(self) -> int:
        return len(self.dm_names)

    def is_human(self) -> np.ndarray:
        """Per decision maker: kind == human."""
        return self.dm_kind == "human"


def _codes(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    codes, names = pd.factorize(s, sort=True, use_na_sentinel=True)
    return codes.astype(np.int64), np.asarray(names, dtype=object)


def prepare(df: pd.DataFrame) -> Prepared:
    """Factorise a conforming trial table (see vpt.trials.schema.conform) into arrays."""
    dm, dm_names = _codes(df["decision_maker"])
    kinds = pd.Series(df["kind"].to_numpy(dtype=object)).groupby(dm).first()
    task, task_names = _codes(df["task"])
    split, split_names = _codes(df["split"])
    scene, scene_names = _codes(df["scene_id"])
    sweep, sweep_names = _codes(df["sweep_id"])
    step = df["sweep_step"].fillna(-1).to_numpy(dtype=np.int64)
    variant, _ = _codes(df["variant"])
    repeat = df["repeat"].fillna(0).to_numpy(dtype=np.int64)
    key = (scene * (variant.max(initial=0) + 1) + variant) * (repeat.max(initial=0) + 1) + repeat
    item = np.unique(key, return_inverse=True)[1]
    label = df["label"].fillna(-1).to_numpy(dtype=np.int8)
    response = df["response"].fillna(-1).to_numpy(dtype=np.int8)
    labelled, valid = label >= 0, response >= 0
    return Prepared(df=df, dm=dm, dm_names=dm_names, dm_kind=kinds.reindex(range(len(dm_names))).to_numpy(dtype=object),
                    task=task, task_names=task_names, split=split, split_names=split_names, scene=scene,
                    scene_names=scene_names, sweep=sweep, sweep_names=sweep_names, step=step,
                    item=np.asarray(item, dtype=np.int64), label=label, response=response, labelled=labelled,
                    valid=valid, correct=labelled & valid & (label == response))
