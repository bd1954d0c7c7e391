"""Attribution tables for the report.

Two places hold them: ``attribution.parquet`` beside a run's trial rows, and the folders
``vpt saliency`` writes, ``<results>/saliency/<name>/attribution.parquet``. Required columns:
``decision_maker``, ``region``, ``share``; carried when present: ``task``, ``method``
(``smoothgrad``, ``ig``), ``kind``, ``ratio`` (share / area share), ``area_share``, ``n``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

from vpt.errors import UserError

FILE = "attribution.parquet"
REQUIRED = ("decision_maker", "region", "share")
OPTIONAL = ("task", "method", "kind", "ratio", "area_share", "n")
KEYS = ("decision_maker", "task", "method")  # a table row is one of these (those present) and a region


def attribution_files(trial_files: Sequence[Path], results: Sequence[str | Path]) -> list[Path]:
    """Attribution tables beside the runs and under ``<results>/saliency/*/``, each once."""
    found = [f.parent / FILE for f in trial_files]
    for r in results:
        if Path(r).is_dir():
            found += sorted(Path(r).glob(f"saliency/*/{FILE}"))
    out: dict[Path, Path] = {}
    for p in found:
        if p.exists():
            out.setdefault(p.resolve(), p)
    return list(out.values())


def read_attribution(files: Sequence[Path]) -> pd.DataFrame | None:
    frames = []
    for a in files:
        df = pd.read_parquet(a)
        missing = set(REQUIRED) - set(df.columns)
        if missing:
            raise UserError(f"{a}: missing columns {sorted(missing)} (an attribution table has decision_maker, "
                            "region, share)")
        frames.append(df[[c for c in (*REQUIRED, *OPTIONAL) if c in df.columns]])
    return pd.concat(frames, ignore_index=True) if frames else None


def summary(att: pd.DataFrame) -> pd.DataFrame:
    """Mean share (and ratio) per decision maker, task and method where given, and region."""
    keys = [c for c in KEYS if c in att.columns and att[c].notna().any()] + ["region"]
    values = [c for c in ("share", "ratio") if c in att.columns]
    return att.groupby(keys, as_index=False, dropna=False)[values].mean()
