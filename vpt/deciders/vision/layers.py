"""Per-layer curves: the accuracy of one probe per layer (``vpt probe --layer a,b,c``), per
task and split, as a table and a figure written beside the results:
``<out>/layer-curves/<model>__<weights>__<head>.csv`` and ``.png``.

CSV columns: ``decision_maker``, ``layer`` (as given), ``position`` (0, 1, ... in the order
given, the x axis), ``task``, ``split``, ``accuracy`` (mean of ``correct`` over the labelled
rows), ``n`` (those rows). ``split`` names a set beside the training dataset as the report
does: ``test · conflict`` for the test split of a conflict set (:func:`vpt.deciders.run.set_names`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

SPLITS = ("val", "test", "ood", "human", "sweep")


def curve_table(trials: pd.DataFrame, layers: dict[str, str], order: Sequence[str],
                train_name: str | None = None) -> pd.DataFrame:
    """Accuracy per layer, task and split; ``layers`` maps each decision maker to its layer,
    ``order`` gives the layers' positions; with ``train_name`` (the dataset the probes were
    fitted on), the splits of the other datasets are sets of their own (``test · conflict``)."""
    from vpt.deciders.run import set_names

    df = trials[trials["decision_maker"].isin(list(layers)) & trials["label"].notna()]
    if train_name is not None:
        df = df.assign(split=set_names(df, train_name))
    acc = (df.groupby(["decision_maker", "task", "split"], observed=True)["correct"]
           .agg(accuracy="mean", n="size").reset_index())
    acc["layer"] = acc["decision_maker"].map(layers)
    acc["position"] = acc["layer"].map({name: i for i, name in enumerate(order)})
    acc["split"] = acc["split"].astype(str)
    acc = acc[acc["split"].str.split(" · ").str[0].isin(SPLITS)]
    cols = ["decision_maker", "layer", "position", "task", "split", "accuracy", "n"]
    return acc.sort_values(["task", "split", "position"])[cols].reset_index(drop=True)


def curve_figure(table: pd.DataFrame, order: Sequence[str], title: str, path: Path) -> Path:
    """One panel per task, one line per split, accuracy against the layer; chance at 0.5."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = sorted(table["task"].unique())
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.4), squeeze=False, sharey=True)
    for ax, task in zip(axes[0], tasks):
        t = table[table["task"] == task]
        present = set(t["split"])
        beside = sorted(x for x in present if " · " in x)  # the splits of a set beside it: dashed
        for split in [s for s in SPLITS if s in present] + beside:
            s = t[t["split"] == split]
            ax.plot(s["position"], s["accuracy"], marker="o", label=split, ls="--" if " · " in split else "-")
        ax.axhline(0.5, color="grey", lw=0.8, ls="--")
        ax.set_xticks(range(len(order)), list(order), rotation=30, ha="right", fontsize=8)
        ax.set(title=f"{task}", xlabel="layer", ylim=(0, 1.02))
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("accuracy")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
    tmp.replace(path)
    return path


def write_curves(trials: pd.DataFrame, layers: dict[str, str], order: Sequence[str], name: str,
                 out: str | Path, train_name: str | None = None) -> tuple[Path, Path]:
    """The CSV and the PNG of one backbone's per-layer curve under ``<out>/layer-curves/``."""
    from vpt.deciders.vision.saliency import slug

    folder = Path(out) / "layer-curves"
    folder.mkdir(parents=True, exist_ok=True)
    table = curve_table(trials, layers, order, train_name)
    csv = folder / f"{slug(name)}.csv"
    table.to_csv(csv, index=False)
    return csv, curve_figure(table, order, f"per-layer probe accuracy: {name}", folder / f"{slug(name)}.png")
