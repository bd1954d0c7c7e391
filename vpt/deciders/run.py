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
