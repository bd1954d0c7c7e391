"""Inputs of a report: trial rows and run manifests (through vpt.trials.store), dataset
indexes and cards, and optional attribution tables beside the runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from vpt.datasets.index import content_hash, is_dataset, read_index
from vpt.errors import UserError
from vpt.report.attribution import attribution_files, read_attribution
from vpt.trials.store import read_manifests, read_trials, trial_files


@dataclass
class DatasetInfo:
    root: Path
    name: str
    index: pd.DataFrame
    card: str
    hash: str | None = None


@dataclass
class Inputs:
    trials: pd.DataFrame
    manifests: list[dict[str, Any]]
    datasets: list[DatasetInfo] = field(default_factory=list)
    attribution: pd.DataFrame | None = None
    sources: list[Path] = field(default_factory=list)
    superseded: list[str] = field(default_factory=list)  # run ids whose rows a newer run replaced
    layer_curves: pd.DataFrame | None = None  # <results>/layer-curves/*.csv of vpt probe --layer a,b,...


SAME_TRIALS = ("decision_maker", "task", "dataset_hash", "split", "variant")


def latest_runs(trials: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Where one decision maker answered the same trials (same task, dataset hash, split and
    variant) in more than one run, as when a setting changed and a rerun wrote a new run
    beside the old one, keep the rows of the run made last (latest ``created_at``) and drop
    the others, so that no decision maker counts twice. Returns the rows and the run ids
    dropped."""
    if trials.empty:
        return trials, []
    runs = trials.groupby(list(SAME_TRIALS) + ["run_id"], dropna=False, observed=True)["created_at"].max().reset_index()
    runs = runs.sort_values(["created_at", "run_id"])
    keep = runs.drop_duplicates(list(SAME_TRIALS), keep="last")
    if len(keep) == len(runs):
        return trials, []
    key = list(SAME_TRIALS) + ["run_id"]
    kept = trials.merge(keep[key], on=key, how="inner")
    lost = runs.merge(keep[key], on=key, how="left", indicator=True)
    dropped = sorted(set(lost.loc[lost["_merge"] == "left_only", "run_id"]))
    return kept.reset_index(drop=True), dropped


def separate_sets(trials: pd.DataFrame) -> pd.DataFrame:
    """Where rows of one split come from more than one dataset (a conflict set beside the basic
    set, both with a ``test`` split), keep the split's name for the dataset with the most
    scenes and name the others' ``"<split> · <dataset>"``, so every set gets its own panel,
    summary row and floors. Sweep steps keep ``sweep`` (each sweep dataset is one kind of
    set)."""
    if trials.empty or "dataset" not in trials.columns:
        return trials
    size = trials.groupby("dataset", observed=True)["scene_id"].nunique()
    split = trials["split"].astype(str)
    new = split.copy()
    for name, g in trials.groupby(split, observed=True):
        if name == "sweep":
            continue
        present = sorted(g["dataset"].astype(str).unique(), key=lambda d: (-int(size.get(d, 0)), d))
        for other in present[1:]:
            sel = (split == name) & (trials["dataset"].astype(str) == other)
            new[sel] = f"{name} · {other}"
    return trials if new.equals(split) else trials.assign(split=new)


def read_dataset(root: Path) -> DatasetInfo:
    """A dataset folder's index and card (the card may be missing)."""
    index = read_index(root)  # checked against vpt.datasets.index; errors name the file and column
    card = (root / "card.md").read_text(encoding="utf-8") if (root / "card.md").exists() else ""
    digest = content_hash(index)
    return DatasetInfo(root.resolve(), root.resolve().name, index, card, digest)


def _dataset_candidates(manifests: list[dict[str, Any]], names: set[str], given: list[Path]) -> list[Path]:
    found = list(given)
    for m in manifests:
        for key in ("dataset_path", "dataset_dir", "dataset_root", "dataset"):
            v = m.get(key)
            if isinstance(v, dict):
                v = v.get("path") or v.get("root")
            if isinstance(v, str) and is_dataset(v):
                found.append(Path(v))
    for name in names:
        if is_dataset(Path("data") / name):
            found.append(Path("data") / name)
    out, seen = [], set()
    for p in found:
        r = p.resolve()
        if r not in seen:
            seen.add(r)
            out.append(p)
    return out


def load_inputs(results: list[str | Path], datasets: list[str | Path] | None = None) -> Inputs:
    """Read every run under `results` (folders or Parquet files) and the datasets: those
    given, those the manifests name, and data/<dataset> for every dataset in the rows."""
    trials, superseded = latest_runs(read_trials(*results))
    trials = separate_sets(trials)
    left = set(trials["run_id"].unique()) if len(trials) else set()
    manifests = [m for m in read_manifests(*results) if m.get("run_id") in left or m.get("run_id") not in superseded]
    files = trial_files(*results)
    names = set(trials["dataset"].unique()) if len(trials) else set()
    dsets = [read_dataset(p) for p in _dataset_candidates(manifests, names, [Path(d) for d in datasets or []])]
    att = read_attribution(attribution_files(files, results))  # beside the runs and from vpt saliency
    return Inputs(trials, manifests, dsets, att, files, superseded, read_layer_curves(results))


LAYER_CURVE_COLUMNS = ("decision_maker", "layer", "position", "task", "split", "accuracy", "n")


def read_layer_curves(results: list[str | Path]) -> pd.DataFrame | None:
    """The per-layer curves that ``vpt probe --layer a,b,...`` wrote under ``<results>/layer-curves/``,
    one table with a ``curve`` column (the file's name: model, weights, head)."""
    frames = []
    for r in results:
        for f in sorted(Path(r).glob("layer-curves/*.csv")) if Path(r).is_dir() else []:
            df = pd.read_csv(f)
            missing = set(LAYER_CURVE_COLUMNS) - set(df.columns)
            if missing:
                raise UserError(f"{f}: missing columns {sorted(missing)}; a per-layer curve has "
                                f"{', '.join(LAYER_CURVE_COLUMNS)} (written by vpt probe --layer a,b,...)")
            frames.append(df.assign(curve=f.stem.replace("__", "/")))
    return pd.concat(frames, ignore_index=True) if frames else None


def sweep_index(datasets: list[DatasetInfo]) -> pd.DataFrame | None:
    """scene_id -> sweep_value, sweep_kind, sweep_parameter over every dataset given."""
    parts = [d.index[[c for c in ("scene_id", "sweep_value", "sweep_kind", "sweep_parameter") if c in d.index]]
             for d in datasets if "sweep_value" in d.index.columns]
    parts = [p[p["sweep_kind"].astype(str) != ""] if "sweep_kind" in p else p for p in parts]
    return pd.concat(parts, ignore_index=True) if parts else None


def cost_table(manifests: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per run with a `cost` in its manifest (a number, or a mapping of numbers)."""
    rows = []
    for m in manifests:
        cost = m.get("cost")
        if cost is None or cost == {}:
            continue
        who = m.get("decider") or ", ".join(m.get("decision_makers") or [])
        row = {"run_id": m.get("run_id"), "decider": who, "kind": m.get("kind"), "rows": m.get("rows")}
        if isinstance(cost, dict):
            row.update({f"cost_{k}": v for k, v in cost.items() if isinstance(v, (int, float, str))})
        elif isinstance(cost, (int, float)):
            row["cost_usd"] = cost
        else:
            row["cost"] = str(cost)
        rows.append(row)
    return pd.DataFrame(rows)
