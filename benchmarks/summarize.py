"""Markdown tables of a results folder that `vpt report` has read: what the documentation's
results page quotes, printed so that a recorded run carries its own numbers.

    .venv/bin/python benchmarks/summarize.py RESULTS [--report RESULTS/report] [--data DATASET ...]

Prints, per task: accuracy on val, test (95 % bootstrap CI), ood, the human set and the sweeps
of every vision decision maker and of the shortcut floor (the baseline best on val, as the
report draws it); accuracy per sweep kind; per-layer probe accuracy on test; attribution
shares per region (and over the area share). Reads RESULTS/report/tables/*.csv (run `vpt report RESULTS --out
RESULTS/report` first) and the trial rows (for the sweep kinds).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

SPLITS = ("val", "test", "ood", "human", "sweep")


def _fmt(v: float) -> str:
    return "-" if pd.isna(v) else f"{100 * v:.1f}"


def accuracy_tables(acc: pd.DataFrame) -> str:
    from vpt.report.summary import shortcut_floor_table

    table = shortcut_floor_table(acc)
    floor = table.set_index(["task", "split"])["accuracy"]
    # the floor's decision maker per task: one when it was chosen on val (as the report draws it)
    best_val = {t: g["decision_maker"].iloc[0] for t, g in table.groupby("task") if g["decision_maker"].nunique() == 1}
    acc = acc[~acc["decision_maker"].str.contains("@")]  # per-layer probes: their own table
    out = []
    for task, g in acc.groupby("task"):
        rows = g[g["kind"].isin(["probe", "finetune", "scratch"])]
        if f"{task}" in best_val:
            rows = pd.concat([rows, g[g["decision_maker"] == best_val[task]]])
        out += [f"\n### {task}\n", "| decision maker | val | test [95 % CI] | ood | human set | sweeps |",
                "|---|---|---|---|---|---|"]
        for dm, d in rows.groupby("decision_maker", sort=False):
            s = d.set_index("split")
            cell = {sp: _fmt(s["accuracy"].get(sp, float("nan"))) for sp in SPLITS}
            if "test" in s.index:
                cell["test"] += f" [{_fmt(s.loc['test', 'accuracy_lo'])}, {_fmt(s.loc['test', 'accuracy_hi'])}]"
            name = f"floor: {dm}" if dm == best_val.get(task) else dm
            out.append(f"| {name} | " + " | ".join(cell[sp] for sp in SPLITS) + " |")
        out.append("\nFloor per split: " + ", ".join(f"{sp} {_fmt(floor.get((task, sp), float('nan')))}"
                                                    for sp in SPLITS))
    return "\n".join(out)


def sweep_kind_table(results: Path, data: list[Path]) -> str:
    from vpt.report.load import latest_runs
    from vpt.trials.items import load_dataset
    from vpt.trials.store import read_trials

    kinds = {}
    for d in data:
        items = load_dataset(d).items
        kinds.update(dict(zip(items["scene_id"], items["sweep_kind"])))
    if not kinds:
        return ""
    trials, _ = latest_runs(read_trials(results))
    t = trials[(trials["split"] == "sweep") & trials["label"].notna()].copy()
    if t.empty:
        return ""
    t["sweep_kind"] = t["scene_id"].map(kinds)
    t = t[t["kind"].isin(["probe", "finetune", "scratch"]) | t["decision_maker"].str.contains("all-cues")]
    t = t[~t["decision_maker"].str.contains("@")]
    tab = t.groupby(["task", "decision_maker", "sweep_kind"], observed=True)["correct"].mean().unstack("sweep_kind")
    cols = list(tab.columns)
    lines = ["| task | decision maker | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
    for (task, dm), r in tab.iterrows():
        lines.append(f"| {task} | {dm} | " + " | ".join(_fmt(r[c]) for c in cols) + " |")
    return "\n".join(lines)


def layer_table(curves: pd.DataFrame) -> str:
    c = curves[curves["split"] == "test"]
    lines = []
    for (curve, task), g in c.groupby(["curve", "task"]):
        g = g.sort_values("position")
        if not lines:
            lines = ["| backbone | task | " + " | ".join(g["layer"]) + " |", "|---|---|" + "---|" * len(g)]
        lines.append(f"| {curve} | {task} | " + " | ".join(_fmt(a) for a in g["accuracy"]) + " |")
    return "\n".join(lines)


def attribution_table(att: pd.DataFrame) -> str:
    """Share of |attribution| per region in %, with the share over the region's area share
    (1.0x: no more than its pixels; the report's summary table) in brackets."""
    keys = [c for c in ("decision_maker", "task", "method") if c in att.columns]
    share = att.pivot_table(index=keys, columns="region", values="share", aggfunc="mean")
    ratio = att.pivot_table(index=keys, columns="region", values="ratio", aggfunc="mean") \
        if "ratio" in att.columns else None
    cols = [c for c in ("ball", "viewer", "occluders", "background") if c in share.columns]
    cols += [c for c in share.columns if c not in cols]
    lines = ["| " + " | ".join(keys) + " | " + " | ".join(cols) + " |", "|" + "---|" * (len(keys) + len(cols))]
    for k, r in share.iterrows():
        cells = [_fmt(r[c]) + (f" ({ratio.loc[k, c]:.2f}x)" if ratio is not None and pd.notna(ratio.loc[k, c]) else "")
                 for c in cols]
        k = k if isinstance(k, tuple) else (k,)
        lines.append("| " + " | ".join(map(str, k)) + " | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("results")
    p.add_argument("--report", default=None, help="the report folder (default RESULTS/report)")
    p.add_argument("--data", nargs="*", default=[], help="sweep dataset folders (for accuracy per sweep kind)")
    a = p.parse_args(argv)
    results = Path(a.results)
    tables = Path(a.report or results / "report") / "tables"
    acc = pd.read_csv(tables / "accuracy.csv")
    if (tables / "summary.csv").exists():  # the report's summary per task and split
        from vpt.report.summary import display

        shown = display(pd.read_csv(tables / "summary.csv").astype(object))
        print("## Summary per task and split (the report's)\n\n| " + " | ".join(shown.columns) + " |\n|"
              + "---|" * len(shown.columns))
        for r in shown.itertuples(index=False):
            print("| " + " | ".join(str(v) for v in r) + " |")
        print()
    print("## Accuracy (%)\n" + accuracy_tables(acc))
    kinds = sweep_kind_table(results, [Path(d) for d in a.data])
    if kinds:
        print("\n## Accuracy per sweep kind (%)\n\n" + kinds)
    if (tables / "layer_curves.csv").exists():
        print("\n## Per-layer probes, test accuracy (%)\n\n" + layer_table(pd.read_csv(tables / "layer_curves.csv")))
    if (tables / "attribution.csv").exists():
        print("\n## Attribution share per region (%)\n\n" + attribution_table(pd.read_csv(tables / "attribution.csv")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
