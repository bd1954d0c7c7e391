"""Where trial rows live: one folder per run, one Parquet part and one manifest each.

Layout::

    RESULTS/
      <run_id>/
        trials.parquet   the run's rows (the trial table schema, vpt/trials/schema.py)
        run.json         the manifest: command, config, versions, dataset name and hash,
                         seeds, start and end (UTC), cost, row count

Both files are written atomically (temporary name in the same folder, then rename), the
Parquet part first and the manifest last: the manifest is the completion marker. A folder
without one is an interrupted run; readers skip it (or refuse it when it is named
directly) and the next run with the same configuration redoes it. The ``run_id`` is derived
from the decision maker's provenance, its configuration, the dataset hash and the selection
(:func:`make_run_id`), so a rerun finds its finished runs and skips them.
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

import pandas as pd
import pyarrow.parquet as pq

from vpt.fileio import atomic_write_parquet, atomic_write_text
from vpt.trials import schema
from vpt.trials.schema import KEY, TrialTableError

PART = "trials.parquet"
MANIFEST = "run.json"


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def make_run_id(name: str, config: dict[str, Any], dataset_hash: str, selection: str = "all") -> str:
    """A readable, deterministic run id: ``<name>-<selection>-<hash of everything>``."""
    blob = json.dumps({"name": name, "config": config, "dataset_hash": dataset_hash, "selection": selection,
                       "schema": schema.SCHEMA_VERSION}, sort_keys=True, default=str)
    slug = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower()
    return f"{slug}-{selection}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"


def package_versions() -> dict[str, str | None]:
    """Versions of what made the rows (python, vpt, the scientific stack, git commit)."""
    import importlib.metadata as md

    out: dict[str, str | None] = {"python": platform.python_version()}
    for pkg in ("vpt", "numpy", "pandas", "pyarrow", "scikit-learn"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    from vpt.datasets.writer import git_commit

    out["git"] = git_commit()
    return out


def is_complete(run_dir: Path) -> bool:
    """A run is complete when its manifest exists (it is written last)."""
    return (Path(run_dir) / MANIFEST).is_file() and (Path(run_dir) / PART).is_file()


def write_run(results: str | Path, run_id: str, trials: pd.DataFrame, manifest: dict[str, Any]) -> Path:
    """Write a run's rows and then its manifest, each atomically; returns the run folder.

    Rows are checked against the schema first (naming the run in errors) and must all carry
    ``run_id``. A stale manifest is removed before the new part replaces the old one, so a
    crash in between leaves an incomplete run, never a manifest describing other rows."""
    folder = Path(results) / run_id
    table = schema.to_arrow(trials, source=f"run {run_id}")
    ids = set(table.column("run_id").unique().to_pylist())
    if ids and ids != {run_id}:
        raise TrialTableError(f"run {run_id}: column 'run_id': rows carry {sorted(ids)}; expected only {run_id!r}")
    dup = trials.duplicated(list(KEY))
    if dup.any():
        raise TrialTableError(f"run {run_id}: {int(dup.sum())} rows repeat a key {KEY}")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MANIFEST).unlink(missing_ok=True)
    atomic_write_parquet(folder / PART, table)
    invalid = int(table.column("response").null_count)
    record = {"run_id": run_id, "schema_version": schema.SCHEMA_VERSION, **manifest, "rows": table.num_rows,
              "invalid_responses": invalid, "part": PART}
    atomic_write_text(folder / MANIFEST, json.dumps(record, indent=2, sort_keys=True, default=str) + "\n")
    return folder


def read_manifest(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / MANIFEST
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise TrialTableError(f"{path}: cannot read the run manifest ({err})") from None


def _parts(path: Path) -> list[Path]:
    """Parquet files named by ``path``: a file, a run folder or a results folder."""
    if path.is_file():
        if path.suffix != ".parquet":
            raise TrialTableError(f"{path}: not a Parquet file, a run folder nor a results folder")
        if path.name == PART and not (path.parent / MANIFEST).exists():
            raise TrialTableError(f"{path}: its run is incomplete (no {MANIFEST} beside it: interrupted); "
                                  "rerun the command that made it to finish it")
        return [path]
    if not path.is_dir():
        raise TrialTableError(f"{path}: no such file or folder")
    if (path / PART).exists() or (path / MANIFEST).exists():
        if not is_complete(path):
            raise TrialTableError(f"{path}: incomplete run (no {MANIFEST} or no {PART}: interrupted); "
                                  "rerun the command that made it to finish it")
        return [path / PART]
    runs = sorted(p for p in path.iterdir() if p.is_dir() and is_complete(p))
    loose = sorted(p for p in path.glob("*.parquet") if p.is_file())
    if not runs and not loose:
        raise TrialTableError(f"{path}: no finished runs (folders with {MANIFEST}) nor Parquet files in it")
    return [p / PART for p in runs] + loose


def _read_part(path: Path) -> pd.DataFrame:
    try:
        df = pq.read_table(path).to_pandas()
    except Exception as err:  # a damaged or non-Parquet file: pyarrow raises several types
        raise TrialTableError(f"{path}: cannot be read as Parquet ({type(err).__name__}: {err})") from None
    df = schema.conform(df, source=str(path))
    if path.name == PART and (path.parent / MANIFEST).exists():
        m = read_manifest(path.parent)
        if m.get("rows") != len(df):
            raise TrialTableError(f"{path}: column 'run_id': {len(df)} rows but its manifest says {m.get('rows')}")
        if len(df) and set(df["run_id"].unique()) != {m.get("run_id")}:
            raise TrialTableError(f"{path}: column 'run_id': rows do not belong to run {m.get('run_id')!r}")
    return df


def trial_files(*paths: str | Path) -> list[Path]:
    """Every Parquet part that :func:`read_trials` would read, in order."""
    return [p for path in paths for p in _parts(Path(path))]


def read_trials(*paths: str | Path) -> pd.DataFrame:
    """Concatenate the trial rows of any number of results folders, run folders or Parquet
    files, each checked with :func:`vpt.trials.schema.conform` (errors name the file and
    the column). Incomplete runs inside a results folder are skipped; a key
    (:data:`~vpt.trials.schema.KEY`) seen twice is an error naming both files."""
    files = trial_files(*paths)
    if not files:
        raise TrialTableError("no trial files given")
    frames, seen = [], set()
    for f in files:
        if f.resolve() in seen:
            continue  # the same file named twice (a folder and a file in it)
        seen.add(f.resolve())
        frames.append(_read_part(f).assign(_source=str(f)))
    df = pd.concat(frames, ignore_index=True)
    dup = df.duplicated(list(KEY), keep=False)
    if dup.any():
        first = df[dup].iloc[0]
        where = sorted(set(df.loc[dup & (df[list(KEY)] == first[list(KEY)]).all(axis=1), "_source"]))
        raise TrialTableError(f"{', '.join(where)}: column 'run_id': key {tuple(first[list(KEY)])} appears "
                              f"{int(dup.sum())} times in all (rows of the same run read twice?)")
    return df.drop(columns="_source")  # every part is conformed already: same columns and dtypes


def read_manifests(*paths: str | Path) -> list[dict[str, Any]]:
    """The manifests of the finished runs that :func:`read_trials` reads."""
    out = []
    for f in trial_files(*paths):
        if f.name == PART and (f.parent / MANIFEST).exists():
            out.append(read_manifest(f.parent))
    return out


def finished_runs(results: str | Path) -> Iterable[Path]:
    results = Path(results)
    return sorted(p for p in results.iterdir() if p.is_dir() and is_complete(p)) if results.is_dir() else []
