"""Run deciders over datasets and store each (decider, dataset, selection) as one run.

A run whose manifest exists is skipped (its id is a hash of the decider's provenance, the
dataset hash and the selection, so the same command finds it again); an interrupted one
(rows without a manifest, or nothing) is redone from the start. Progress goes to a tqdm bar.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from tqdm import tqdm

from vpt.deciders.base import Decider, RunContext
from vpt.trials import store
from vpt.trials.items import Dataset


@dataclass(frozen=True)
class RunResult:
    run_id: str
    path: Path
    rows: int
    kept: bool  # True when a finished run was found and left as it was
    decider: str
    dataset: str
    selection: str


def run_decider(decider: Decider, dataset: Dataset, results: str | Path, selection: str = "all",
                command: Sequence[str] | None = None, force: bool = False) -> RunResult:
    """Answer ``dataset.select(selection)`` with ``decider`` and store the run (or keep the
    finished one). ``command`` is recorded in the manifest (default: ``sys.argv``)."""
    config = decider.describe()
    run_id = store.make_run_id(decider.name, config, dataset.hash, selection)
    folder = Path(results) / run_id
    if store.is_complete(folder) and not force:
        m = store.read_manifest(folder)
        return RunResult(run_id, folder, int(m.get("rows", 0)), True, decider.name, dataset.name, selection)
    started = store.utc_now()
    t0 = time.perf_counter()
    items = dataset.select(selection)
    rows = decider.decide(items, RunContext(run_id, dataset, selection, started))
    manifest: dict[str, Any] = {
        "command": list(command) if command is not None else list(sys.argv),
        "decider": decider.name, "kind": decider.kind, "config": config,
        "decision_makers": sorted(rows["decision_maker"].unique().tolist()) if len(rows) else [],
        "dataset": {"name": dataset.name, "hash": dataset.hash, "root": str(dataset.root)},
        "selection": selection, "seeds": config.get("seeds", {}), "versions": store.package_versions(),
        "started_utc": started.isoformat(), "finished_utc": store.utc_now().isoformat(),
        "seconds": round(time.perf_counter() - t0, 3), "cost": config.get("cost"),
    }
    store.write_run(results, run_id, rows, manifest)
    return RunResult(run_id, folder, len(rows), False, decider.name, dataset.name, selection)


def run_all(deciders: Sequence[Decider], datasets: Sequence[Dataset], results: str | Path,
            command: Sequence[str] | None = None, force: bool = False, progress: bool = True) -> list[RunResult]:
    """Every decider on every selection of every dataset (``all``, and ``human`` where the
    dataset has a human set); one run each."""
    jobs = [(d, ds, sel) for d in deciders for ds in datasets for sel in ds.selections()]
    out = []
    bar = tqdm(jobs, desc="baseline runs", unit="run", disable=not progress, file=sys.stderr)
    for decider, ds, sel in bar:
        bar.set_postfix_str(f"{decider.name} on {ds.name} ({sel})")
        out.append(run_decider(decider, ds, results, sel, command=command, force=force))
    return out


def conflict_sets_beside(root: str | Path) -> list[Dataset]:
    """The conflict sets beside a basic benchmark, found as the audit finds them
    (:func:`vpt.datasets.audit_families.conflict_folders_beside`); none beside a conflict set itself
    (as the audit, which evaluates conflict sets beside a ``basic`` profile only)."""
    from vpt.datasets.audit_families import conflict_folders_beside, profile_of
    from vpt.datasets.index import read_index
    from vpt.trials.items import load_dataset

    if profile_of(read_index(Path(root))) != "basic":
        return []
    return [load_dataset(p) for p in conflict_folders_beside(Path(root))]


def evaluation_sets(train: Dataset, sweeps: Sequence[str] | None = None,
                    conflicts: Sequence[str] | None = None) -> tuple[list[Dataset], list[Dataset]]:
    """The datasets a decider trained on ``train`` also answers: (sweep datasets, conflict
    sets), each the folders given or, where ``None``, those beside ``train``
    (:func:`vpt.trials.items.sweep_datasets_beside`, :func:`conflict_sets_beside`; an
    unfinished sibling is named on stderr). Their rows keep their own dataset name and index
    split (a conflict set's test items are ``test`` rows of dataset ``conflict``);
    :func:`set_names` and the report tell the sets apart."""
    from vpt.trials.items import load_dataset, note_unfinished, sweep_datasets_beside

    if sweeps is None or conflicts is None:
        note_unfinished(train.root)
    found_sweeps = [load_dataset(p) for p in sweeps] if sweeps is not None else sweep_datasets_beside(train.root)
    found_conflicts = ([load_dataset(p) for p in conflicts] if conflicts is not None
                       else conflict_sets_beside(train.root))
    return found_sweeps, [c for c in found_conflicts if c.root != train.root]


def set_names(trials, train_name: str):
    """Each row's evaluation set: its split, or ``"<split> · <dataset>"`` for rows of a dataset
    other than the training one (a conflict set beside it), the report's naming
    (:func:`vpt.report.load.separate_sets`); sweep steps stay ``sweep``."""
    split = trials["split"].astype(str)
    other = (trials["dataset"].astype(str) != train_name) & (split != "sweep")
    return split.where(~other, split + " · " + trials["dataset"].astype(str))
