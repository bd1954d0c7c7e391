"""The report's headline table: one row per task and split, VPT first, saying what a reader
needs before any figure: whether the labels were verified, what chance and the permutation
floor are, the shortcut floor with its name, and the best decision maker of each kind.

The full accuracy table stays in ``tables/accuracy.csv`` and in the report grouped by task.
"""

from __future__ import annotations

import pandas as pd

from vpt.datasets.cues import CUE_FAMILY, FAMILY_NAMES, FAMILY_TITLES
from vpt.metrics.frame import HUMANS, is_label_rule

TASK_ORDER = ("vpt", "depth")
SPLIT_ORDER = ("val", "test", "ood", "human", "sweep")
KIND_ORDER = ("probe", "finetune", "scratch", "vlm", "human")
FLOOR_COLUMNS = {"nuisance": "nuisance floor", "image-plane": "image-plane floor", "depth": "depth-cue floor"}


def ordered(values, order) -> list:
    """``values`` in ``order`` first, the rest sorted after them."""
    present = list(dict.fromkeys(values))
    return [v for v in order if v in present] + sorted(v for v in present if v not in order)


def family_of(decision_maker: str) -> str | None:
    """The cue family (:data:`vpt.datasets.cues.CUE_FAMILY`) a shortcut baseline reads: the
    family of its one cue (``baseline:<model>:<cue>``), or the family it names
    (``baseline:<model>:<family>-cues``); None for the other decision makers."""
    parts = str(decision_maker).split(":")
    if len(parts) != 3 or parts[0] != "baseline":
        return None
    if parts[2] in CUE_FAMILY:
        return CUE_FAMILY[parts[2]]
    name = parts[2][: -len("-cues")] if parts[2].endswith("-cues") else ""
    return name if name in FAMILY_NAMES else None


def family_floor_table(acc: pd.DataFrame) -> pd.DataFrame:
    """Each cue family's floor per (task, split): the shortcut floor (:func:`shortcut_floor_table`,
    best on val) over the baselines that read that family's cues only. Columns task, split,
    family, decision_maker, accuracy."""
    fams = acc["decision_maker"].map(family_of)
    parts = [shortcut_floor_table(acc[fams == f]).assign(family=f) for f in FAMILY_NAMES if (fams == f).any()]
    cols = ["task", "split", "family", "decision_maker", "accuracy"]
    return pd.concat(parts, ignore_index=True)[cols] if parts else pd.DataFrame(columns=cols)


def shortcut_floor_table(acc: pd.DataFrame) -> pd.DataFrame:
    """The shortcut floor per (task, split): the baseline (label rule excluded) that is best on
    ``val`` for that task, so the floor is not picked on the split it is drawn on; a task without
    val rows falls back to the best baseline per split. Columns task, split, decision_maker,
    accuracy."""
    b = acc[(acc["kind"] == "baseline") & ~acc["decision_maker"].map(is_label_rule)]
    rows = []
    for task, g in b.groupby("task"):
        val = g[g["split"] == "val"]
        if len(val):
            best = val.sort_values(["accuracy", "decision_maker"], ascending=[False, True])["decision_maker"].iloc[0]
            for split, a in g[g["decision_maker"] == best].groupby("split")["accuracy"].max().items():
                rows.append((task, split, best, a))
        else:
            for split, s in g.groupby("split"):
                top = s.sort_values(["accuracy", "decision_maker"], ascending=[False, True]).iloc[0]
                rows.append((task, split, top["decision_maker"], top["accuracy"]))
    return pd.DataFrame(rows, columns=["task", "split", "decision_maker", "accuracy"])


def task_summary(acc: pd.DataFrame) -> pd.DataFrame:
    """One row per (task, split), train left out: n labelled, labels verified (the label rule's
    accuracy, None where it did not run), chance (the majority rate), the permutation floor
    (the largest over the decision makers: each one's depends on its own answer rates), the
    shortcut floor and the best decision maker of each kind present, with its 95 % CI. Like the
    floor, the best of a kind is the one best on ``val`` (where the kind has val rows), so no
    split picks its own winner; pooled participants stand for the humans."""
    floor = shortcut_floor_table(acc).set_index(["task", "split"])
    families = family_floor_table(acc).set_index(["task", "split", "family"])
    kinds = ordered([k for k in acc["kind"].unique() if k != "baseline"], KIND_ORDER)
    val = acc[acc["split"] == "val"].sort_values(["accuracy", "decision_maker"], ascending=[False, True])
    on_val = {key: g["decision_maker"].iloc[0] for key, g in val.groupby(["task", "kind"])}
    rows = []
    for task in ordered(acc["task"].unique(), TASK_ORDER):
        t = acc[acc["task"] == task]
        for split in ordered([s for s in t["split"].unique() if s != "train"], SPLIT_ORDER):
            g = t[t["split"] == split]
            rule = g[g["decision_maker"].map(is_label_rule)]
            row = {"task": task, "split": split, "n_labelled": int(g["n_labelled"].max()),
                   "label_rule": float(rule["accuracy"].min()) if len(rule) else None,
                   "chance": float(g["majority_rate"].max()), "perm_floor": float(g["perm_floor"].max())}
            f = floor.loc[(task, split)] if (task, split) in floor.index else None
            row["shortcut_floor"] = None if f is None else float(f["accuracy"])
            row["shortcut_floor_by"] = None if f is None else f["decision_maker"]
            for fam in FAMILY_NAMES:
                ff = families.loc[(task, split, fam)] if (task, split, fam) in families.index else None
                row[f"floor_{fam}"] = None if ff is None else float(ff["accuracy"])
                row[f"floor_{fam}_by"] = None if ff is None else ff["decision_maker"]
            for kind in kinds:
                k = g[g["kind"] == kind]
                if kind == "human" and (k["decision_maker"] == HUMANS).any():
                    k = k[k["decision_maker"] == HUMANS]  # the pooled participants, not the best one
                elif (task, kind) in on_val:  # chosen on val, as the floor is: not on the split shown
                    k = k[k["decision_maker"] == on_val[(task, kind)]]
                best = k.sort_values(["accuracy", "decision_maker"], ascending=[False, True]).head(1)
                for col, val in (("", best["decision_maker"]), ("_accuracy", best["accuracy"]),
                                 ("_lo", best["accuracy_lo"]), ("_hi", best["accuracy_hi"])):
                    row[f"best_{kind}{col}"] = val.iloc[0] if len(best) else None
            rows.append(row)
    return pd.DataFrame(rows)


def _pct(v) -> str:
    return "" if v is None or pd.isna(v) else f"{100 * float(v):.1f} %"


def display(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary as the report shows it: percentages, names beside their values."""
    kinds = [c[len("best_"):-len("_accuracy")] for c in summary.columns if c.startswith("best_") and
             c.endswith("_accuracy")]
    out = pd.DataFrame({"task": summary["task"], "split": summary["split"], "n": summary["n_labelled"]})
    out["labels verified"] = [("yes" if v == 1 else f"no: label rule {_pct(v)}") if v is not None and pd.notna(v)
                              else "not checked" for v in summary["label_rule"]]
    out["chance"] = summary["chance"].map(_pct)
    out["permutation floor"] = summary["perm_floor"].map(_pct)
    out["shortcut floor"] = [f"{_pct(v)} ({n})" if n else "" for v, n in
                             zip(summary["shortcut_floor"], summary["shortcut_floor_by"])]
    for fam in FAMILY_NAMES:
        if f"floor_{fam}" in summary.columns and summary[f"floor_{fam}_by"].notna().any():
            out[FLOOR_COLUMNS[fam]] = [f"{_pct(v)} ({n})" if isinstance(n, str) else "" for v, n in
                                                  zip(summary[f"floor_{fam}"], summary[f"floor_{fam}_by"])]
    for kind in kinds:
        out[f"best {kind}"] = [f"{_pct(a)} [{_pct(lo)}, {_pct(hi)}] {n}" if isinstance(n, str) else ""
                               for n, a, lo, hi in zip(summary[f"best_{kind}"], summary[f"best_{kind}_accuracy"],
                                                       summary[f"best_{kind}_lo"], summary[f"best_{kind}_hi"])]
    return out


def floor_notes(summary: pd.DataFrame, task: str) -> list[str]:
    """One sentence per split of `task` for the figure's panels: the shortcut floor's value and
    source, and why a model must beat it (chance and the permutation floor beside it); then the
    floor of each cue family."""
    notes = []
    for r in summary[summary["task"] == task].to_dict("records"):
        base = f"{r['split']}: chance {_pct(r['chance'])}, permutation floor {_pct(r['perm_floor'])}"
        floor = r["shortcut_floor"]
        if floor is not None and pd.notna(floor):
            notes.append(f"{base}; shortcut floor {_pct(floor)} ({r['shortcut_floor_by']}). A model at or "
                         f"below {_pct(floor)} has shown nothing that this 2D image cue does not give, "
                         "whatever its distance from chance.")
        else:
            notes.append(f"{base}; no shortcut baseline ran on this split, so there is no floor to beat.")
        fams = [f"{FAMILY_TITLES[f]} {_pct(r[f'floor_{f}'])} ({r[f'floor_{f}_by']})" for f in FAMILY_NAMES
                if r.get(f"floor_{f}") is not None and pd.notna(r.get(f"floor_{f}"))]
        if fams:
            notes.append(f"{r['split']}: floor of each cue family (the baseline best on val among those that read "
                         "that family's cues only): " + "; ".join(fams) + ". A model above the image-plane floor "
                         "does more than apply the 2D facing and cover rules.")
    return notes
