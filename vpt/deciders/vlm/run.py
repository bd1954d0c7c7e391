"""One VLM configuration on one dataset selection -> one run folder (trials + calls + run.json).

The run id is a hash of the configuration, the dataset hash and the selection, as for every
decider: a finished run is kept and makes zero calls; ``retry_failed`` redoes it, where the
cache answers every request already answered so that only failures (timeouts, errors) are
sent again. The call log ``calls.parquet`` (raw answer text, parse, tokens, cost, image hash
and the pixel size sent, per call) is written before the manifest, which comes last.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import pandas as pd

from vpt.deciders.base import RunContext, make_trials
from vpt.deciders.vlm import cost as cost_mod
from vpt.deciders.vlm import judge as judge_mod
from vpt.deciders.vlm.cache import ResponseCache
from vpt.deciders.vlm.harness import CallRecord, Harness, VLMConfig, answers_frame, calls_frame, reask_rows
from vpt.deciders.vlm.images import ImageCache
from vpt.deciders.vlm.prompts import load_templates
from vpt.deciders.vlm.providers import provider_class
from vpt.fileio import atomic_write_parquet
from vpt.trials import store
from vpt.trials.items import Dataset

CALLS = "calls.parquet"


@dataclass(frozen=True)
class VLMRun:
    run_id: str
    path: Path
    kept: bool
    records: list[CallRecord]
    cost: dict[str, Any] | None
    trials: pd.DataFrame | None
    batch: Any = None  # the batch state when --batch left requests unanswered (nothing written)


def decision_maker(cfg: VLMConfig) -> str:
    return f"vlm:{cfg.provider}:{cfg.model}"


def run_id_for(cfg: VLMConfig, dataset: Dataset, selection: str, splits: Sequence[str] | None) -> str:
    sel = selection + ("-" + "-".join(splits) if splits else "")
    return store.make_run_id(f"vlm-{cfg.provider}-{cfg.model}", cfg.describe(), dataset.hash, sel)


def select_items(dataset: Dataset, selection: str, splits: Sequence[str] | None) -> pd.DataFrame:
    items = dataset.select(selection)
    if splits:
        items = items[items["split"].isin(list(splits))].reset_index(drop=True)
    return items


def make_harness(cfg: VLMConfig, results: Path, cache_path: Path | None = None, timeout_s: float = 60.0,
                 images: ImageCache | None = None) -> Harness:
    provider = provider_class(cfg.provider)(cfg.model, cfg.base_url, timeout_s)
    price = cost_mod.price_for(cfg.provider, cfg.model)
    cache = ResponseCache(cache_path or results / ".vlm-cache.sqlite")
    return Harness(cfg, provider, load_templates(cfg.prompt_version), price, cache, images)


@dataclass(frozen=True)
class RunOptions:
    """What a VLM run asks about and how it sends (``vpt vlm run``'s options).

    ``selection`` (``all``, ``human``, ``warmup``) and ``splits`` (trial splits; None: all)
    choose the items and are part of the run id; ``budget_usd`` stops the run at that spend
    (:class:`~vpt.deciders.vlm.cost.BudgetReached`, nothing written); ``retry_failed`` redoes a
    finished run (the cache answers what was answered); ``concurrency``, ``rpm`` and ``tpm``
    (requests and tokens per minute) limit the sending; ``cache_path`` is the response cache
    (None: ``RESULTS/.vlm-cache.sqlite``), ``timeout_s`` the seconds per call; ``batch`` uses the
    provider's batch API; ``command`` is recorded in the manifest (None: ``sys.argv``)."""

    selection: str = "all"
    splits: tuple[str, ...] | None = None
    budget_usd: float | None = None
    retry_failed: bool = False
    concurrency: int = 4
    rpm: float | None = None
    tpm: float | None = None
    cache_path: Path | None = None
    timeout_s: float = 60.0
    batch: bool = False
    command: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        for name in ("splits", "command"):  # lists from a command line become tuples (frozen)
            value = getattr(self, name)
            if value is not None and not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))
        if self.cache_path is not None and not isinstance(self.cache_path, Path):
            object.__setattr__(self, "cache_path", Path(self.cache_path))

    @classmethod
    def from_args(cls, args: Any, command: Sequence[str] | None = None) -> "RunOptions":
        """The options of a parsed ``vpt vlm run`` / ``estimate`` command line."""
        return cls(selection=args.selection, splits=args.split, budget_usd=getattr(args, "budget_usd", None),
                   retry_failed=getattr(args, "retry_failed", False), concurrency=args.concurrency, rpm=args.rpm,
                   tpm=args.tpm, cache_path=Path(args.cache) if args.cache else None, timeout_s=args.timeout,
                   batch=getattr(args, "batch", False), command=command)


def run_vlm(cfg: VLMConfig, dataset: Dataset, results: str | Path, options: RunOptions = RunOptions(),
            exemplars: Dataset | None = None, progress: Callable[[CallRecord], None] | None = None,
            harness: Harness | None = None) -> VLMRun:
    """Run (or keep) one configuration on ``dataset`` into the folder ``results``; raises
    BudgetReached (nothing written) at the budget. ``exemplars``: the dataset the few-shot
    exemplars come from (default ``dataset``); ``progress(record)`` is called per call;
    ``harness`` replaces the one built from ``cfg`` (tests)."""
    o = options
    selection, splits, budget_usd = o.selection, o.splits, o.budget_usd
    results = Path(results)
    run_id = run_id_for(cfg, dataset, selection, splits)
    folder = results / run_id
    if store.is_complete(folder) and not o.retry_failed:
        return VLMRun(run_id, folder, True, [], store.read_manifest(folder).get("cost"), None)
    h = harness or make_harness(cfg, results, o.cache_path, o.timeout_s)
    h.provider.check_key()
    items = select_items(dataset, selection, splits)
    pool = (exemplars or dataset).items
    jobs = h.jobs(items, pool)
    if o.batch:
        from vpt.deciders.vlm import batch as batch_mod

        state = batch_mod.step(h, jobs, budget_usd)
        if not state.done:
            return VLMRun(run_id, folder, False, [], None, None, state)
    started = store.utc_now()
    t0 = time.perf_counter()
    records = h.run(jobs, cost_mod.Budget(budget_usd), o.concurrency, o.rpm, o.tpm, progress)
    context = RunContext(run_id, dataset, selection, started)
    rows = records + (reask_rows(records) if cfg.reask else [])  # the re-ask variant has every item
    trials = make_trials(answers_frame(rows, decision_maker(cfg), cfg.seed), items, context, "vlm")
    calls = calls_frame(records)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_parquet(folder / CALLS, calls)
    cost = cost_mod.summary([{"cached": r.cached, "usd": r.usd, "input_tokens": r.input_tokens,
                              "output_tokens": r.output_tokens, "batch": r.batch} for r in records], h.price)
    if h.judge is not None:  # the judge's calls: their own entry, and in the run's total
        cost = judge_mod.add_cost(cost, records, h.judge.price)
    status = calls["status"].value_counts().to_dict() if len(calls) else {}
    manifest = {
        "command": list(o.command) if o.command is not None else list(sys.argv), "decider": f"vlm-{cfg.provider}",
        "kind": "vlm", "config": cfg.describe(), "decision_makers": [decision_maker(cfg)],
        "dataset": {"name": dataset.name, "hash": dataset.hash, "root": str(dataset.root)},
        "exemplars": {"name": (exemplars or dataset).name, "hash": (exemplars or dataset).hash},
        "selection": selection, "splits": list(splits) if splits else None, "seeds": {"exemplars": cfg.seed},
        "versions": {**store.package_versions(), **sdk_versions()}, "prompt_version": cfg.prompt_version,
        "images": {"format": "PNG", "longer_side_px": cfg.image_size,
                   "sizes_sent": sorted({f"{r.image_width}x{r.image_height}" for r in records})},
        "started_utc": started.isoformat(), "finished_utc": store.utc_now().isoformat(),
        "seconds": round(time.perf_counter() - t0, 3), "cost": cost,
        "calls": {"file": CALLS, "status": {str(k): int(v) for k, v in status.items()},
                  "model_versions": sorted({r.model_version for r in records if r.model_version})},
        "parsed_by": {str(k): int(v) for k, v in trials["parsed_by"].value_counts().items()},
        "judge": h.judge.name if h.judge is not None else None,
    }
    store.write_run(results, run_id, trials, manifest)
    return VLMRun(run_id, folder, False, records, cost, trials)


def sdk_versions() -> dict[str, str | None]:
    import importlib.metadata as md

    out: dict[str, str | None] = {}
    for pkg in ("openai", "anthropic", "google-genai"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    return out
