"""How worded answers were read (the trial table's ``parsed_by``), per decision maker and task:
the share of rows read by the rules, by a judge, after a re-ask, or not at all, and accuracy
with and without the judged rows (invalid answers count as wrong, as everywhere in the report)."""

from __future__ import annotations

import pandas as pd

from vpt.trials.schema import PARSED_BY

COLUMNS = ["decision_maker", "task", "n", *[f"share_{p}" for p in PARSED_BY], "accuracy", "accuracy_without_judged",
           "n_without_judged"]


def parse_table(trials: pd.DataFrame) -> pd.DataFrame:
    """One row per (decision maker, task) that has worded answers (``parsed_by`` not null)."""
    if "parsed_by" not in trials.columns:
        return pd.DataFrame(columns=COLUMNS)
    t = trials[trials["parsed_by"].notna() & trials["label"].notna()]
    rows = []
    for (dm, task), g in t.groupby(["decision_maker", "task"], sort=True):
        ok = g["correct"].astype("boolean").fillna(False).astype(bool)
        unjudged = g["parsed_by"] != "judge"
        row = {"decision_maker": dm, "task": task, "n": len(g)}
        row.update({f"share_{p}": round(float((g["parsed_by"] == p).mean()), 4) for p in PARSED_BY})
        row.update(accuracy=round(float(ok.mean()), 4),
                   accuracy_without_judged=round(float(ok[unjudged].mean()), 4) if unjudged.any() else float("nan"),
                   n_without_judged=int(unjudged.sum()))
        rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)
