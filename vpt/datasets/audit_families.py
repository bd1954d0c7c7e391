"""Cue families in the shortcut audit, and the criteria that ``vpt audit --strict`` judges.

Every cue belongs to one family (:data:`vpt.datasets.cues.CUE_FAMILY`): **nuisance**
(positions, sizes, brightness, colour, occluder pixels away from the line of sight),
**image-plane** (the 2D facing rule and the 2D cover rule of :mod:`vpt.scene.imageplane`,
their graded values and parts) and **depth** (the ball's and the viewer's image size and
height, their ratios). For each family the audit reports

* the strongest single cue of the family (the largest figure of its rows in the single-cue
  table: cross-validated or train -> test, logistic regression or depth-2 tree);
* the family's cues together: logistic regression and boosted trees trained on ``train`` and
  tested on every evaluation set (test, ood, the human set, each sweep kind, a conflict set);
* how much each graded cue differs between the labels: ROC AUC and standardised mean
  difference (SMD) over the audited items, for the image-plane cues against the VPT label
  (all items, and visible against each hidden reason) and for image height and image size
  against the depth label.

**Criteria** (:func:`checks`; issue 26). Every set: no single cue above
:data:`~vpt.datasets.audit.VPT_SINGLE_CUE_LIMIT` on VPT; where invariance sweeps are
evaluated, no cue model above :data:`COMBINED_LIMIT` on them; where a conflict set is
evaluated beside a basic one, the boosted trees over all cues (trained on the basic train
split) at most :data:`COMBINED_LIMIT` on its test split. A conflict set (profile
``conflict``: its index marks look-alike pairs, or its recipe is named so) adds: each graded
image-plane cue's AUC within 0.50 +/- :data:`AUC_TOLERANCE` overall and per hidden reason, the
combined nuisance cues at most :data:`COMBINED_LIMIT` on test, every single cue at most
:data:`CONFLICT_SINGLE_CUE_LIMIT`, and image height and image size within 0.50 +/-
:data:`AUC_TOLERANCE` on the depth label.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from vpt.datasets.cues import DEPTH_HEIGHT_SIZE, FAMILY_NAMES, FAMILY_TITLES, GRADED_IMAGE_PLANE, family_cues

AUC_TOLERANCE = 0.03
MAX_SMD = 0.1
COMBINED_LIMIT = 0.60
CONFLICT_SINGLE_CUE_LIMIT = 0.58
# index columns that mark the items of a conflict set (look-alike pairs), and the one whose
# value names a pair's kind ("facing", "cover", "depth", ...)
CONFLICT_MARKERS = ("pair_id", "pair_kind", "conflict_kind")
KIND_COLUMNS = ("pair_kind", "conflict_kind")
PROFILES = ("basic", "conflict")


def profile_of(table: pd.DataFrame) -> str:
    """``"conflict"`` when the table's items are marked as look-alike pairs (a non-empty
    :data:`CONFLICT_MARKERS` column) or come from a recipe named ``conflict...``; else
    ``"basic"``."""
    for col in CONFLICT_MARKERS:
        if col in table.columns and (table[col].fillna("").astype(str) != "").any():
            return "conflict"
    if "recipe" in table.columns and table["recipe"].fillna("").astype(str).str.contains("conflict").any():
        return "conflict"
    return "basic"


def is_conflict_index(idx: pd.DataFrame) -> bool:
    """A dataset index of a conflict set: binary items (not sweep steps) of the ``conflict``
    profile (:func:`profile_of`)."""
    return bool((idx["sweep_id"].fillna("") == "").any()) and profile_of(idx) == "conflict"


def conflict_folders_beside(root: Path) -> list[Path]:
    """Sibling dataset folders (same parent) that hold a conflict set (:func:`is_conflict_index`)
    with images or planned items."""
    from vpt.datasets.index import is_dataset, read_index

    here = Path(root).resolve()
    return [p for p in sorted(here.parent.iterdir())
            if p != here and is_dataset(p) and is_conflict_index(read_index(p))]


def family_single(single: pd.DataFrame) -> pd.DataFrame:
    """Per family (rows) and label: the largest single-cue accuracy of its cues (any column of
    the single-cue table) and that cue."""
    rows = {}
    for fam in FAMILY_NAMES:
        cues = family_cues(fam, list(single.index))
        row: dict[str, object] = {"cues": float(len(cues))}
        for label in ("vpt_label", "depth_label"):
            cols = [c for c in single.columns if c.startswith(label)]
            best = single.loc[cues, cols].max(axis=1) if cues else pd.Series(dtype=float)
            row[label] = float(best.max()) if len(best) else math.nan
            row[f"{label} cue"] = str(best.idxmax()) if len(best) and best.notna().any() else ""
        rows[fam] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def family_combined(train: pd.DataFrame, sets: dict[str, pd.DataFrame], used: list[str],
                    design: Callable[[pd.DataFrame, list[str], bool], np.ndarray], label: str,
                    models: Callable[[], dict]) -> pd.DataFrame:
    """Each family's cues together (the nuisance family with the style): every combined
    model trained on ``train`` and scored on each evaluation set. Rows ``"<family> ·
    <model>"``; a family with no cue in ``used`` is left out."""
    from sklearn.base import clone

    out = {}
    for fam in FAMILY_NAMES:
        cols = family_cues(fam, used)
        if not cols:
            continue
        style = fam == "nuisance"
        y = train[label].to_numpy(int)
        for name, model in models().items():
            m = clone(model).fit(design(train, cols, style), y)
            out[f"{fam} · {name}"] = {k: float(np.mean(m.predict(design(v, cols, style)) == v[label].to_numpy(int)))
                                      for k, v in sets.items()}
    return pd.DataFrame.from_dict(out, orient="index")


def auc_smd(values: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """ROC AUC of ``values`` for label 1 and the standardised mean difference (label 1 minus
    label 0, over the pooled standard deviation); NaN values are left out, and NaN where a
    label has fewer than two items or the values are constant."""
    from sklearn.metrics import roc_auc_score

    v, y = np.asarray(values, float), np.asarray(y, int)
    ok = np.isfinite(v)
    v, y = v[ok], y[ok]
    a, b = v[y == 1], v[y == 0]
    if len(a) < 2 or len(b) < 2:
        return math.nan, math.nan
    sd = math.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2)
    smd = float((a.mean() - b.mean()) / sd) if sd > 0 else (0.0 if a.mean() == b.mean() else math.inf)
    return float(roc_auc_score(y, v)), smd


def serves(table: pd.DataFrame, task: str) -> pd.Series:
    """Whether each row's item serves ``task`` (its ``tasks`` column, the index's; every row
    where the table has none)."""
    from vpt.datasets.index import serves as serves_task

    if "tasks" not in table.columns:
        return pd.Series(True, index=table.index)
    return serves_task(table["tasks"], task)


def _depth_items(binary: pd.DataFrame) -> pd.DataFrame:
    """The items the depth criteria read: those that serve the depth task (a conflict set's
    depth pairs, column ``tasks``), else a conflict set's depth pairs where its index names
    pair kinds and has any, else every item."""
    on = serves(binary, "depth")
    if on.any() and not on.all():
        return binary[on]
    for col in KIND_COLUMNS:
        if col in binary.columns:
            d = binary[binary[col].fillna("").astype(str) == "depth"]
            if len(d):
                return d
    return binary


def _pair_key(binary: pd.DataFrame) -> pd.Series | None:
    """Each row's look-alike pair where the items come in pairs of two (a ``pair_id``
    column, or ids ending ``-a`` and ``-b`` as a conflict set's), else None."""
    if "pair_id" in binary.columns and (binary["pair_id"].fillna("").astype(str) != "").all():
        key = binary["pair_id"].astype(str)
    elif "scene_id" in binary.columns and binary["scene_id"].astype(str).str.endswith(("-a", "-b")).all():
        key = binary["scene_id"].astype(str).str[:-2]
    else:
        return None
    return key if len(key) and (key.value_counts() == 2).all() else None


def _pair_reason(binary: pd.DataFrame) -> pd.Series | None:
    """Each row's hidden reason for the per-reason groups: the item's own, or, where the
    items come in look-alike pairs (:func:`_pair_key`), the reason of the pair's hidden half
    for both halves, so that the visible halves of one kind's pairs are compared with the
    hidden halves of the same pairs (as the conflict card does)."""
    if "hidden_reason" not in binary.columns:
        return None
    own = binary["hidden_reason"].fillna("").astype(str)
    pair = _pair_key(binary)
    if pair is None:
        return own
    hidden = own != ""
    return pair.map(own[hidden].groupby(pair[hidden]).first()).fillna("")


def balance_table(binary: pd.DataFrame, used: list[str]) -> pd.DataFrame:
    """AUC and SMD of each graded image-plane cue against the VPT label (all items; visible
    against occluded; visible against out of view: per pair where the items come in
    look-alike pairs, :func:`_pair_reason`) and of image height and image size against the
    depth label (on the items that serve the depth task, :func:`_depth_items`). Rows: cue;
    columns ``"<group> AUC"``, ``"<group> SMD"``."""
    rows: dict[str, dict[str, float]] = {}
    reason = _pair_reason(binary)
    groups = [("VPT, all", np.ones(len(binary), bool))]
    if reason is not None:
        paired = _pair_key(binary) is not None
        for why, name in (("occluded", "VPT, visible vs occluded"), ("out_of_view", "VPT, visible vs out of view")):
            sel = ((reason == why) if paired else (binary["vpt_label"] == 1) | (reason == why)).to_numpy()
            groups.append((name, sel))
    for cue in GRADED_IMAGE_PLANE:
        if cue not in used:
            continue
        row = {}
        for name, sel in groups:
            row[f"{name} AUC"], row[f"{name} SMD"] = auc_smd(binary.loc[sel, cue].to_numpy(float),
                                                             binary.loc[sel, "vpt_label"].to_numpy(int))
        rows[cue] = row
    depth = _depth_items(binary)
    for what, cue in DEPTH_HEIGHT_SIZE.items():
        if cue in used:
            auc, smd = auc_smd(depth[cue].to_numpy(float), depth["depth_label"].to_numpy(int))
            rows[f"{cue} ({what})"] = {"depth AUC": auc, "depth SMD": smd}
    return pd.DataFrame.from_dict(rows, orient="index")


@dataclass(frozen=True)
class Check:
    """One criterion: what is measured, its value, the limit in words, and whether it holds."""

    name: str
    value: float
    limit: str
    passed: bool


def _auc_check(name: str, table: pd.DataFrame, cols: list[str]) -> Check | None:
    vals = table[cols].to_numpy(float) if len(table) and cols else np.zeros(0)
    vals = vals[np.isfinite(vals)]
    if not len(vals):
        return None
    worst = float(vals[np.argmax(np.abs(vals - 0.5))])
    return Check(name, worst, f"0.50 ± {AUC_TOLERANCE:.2f}", abs(worst - 0.5) <= AUC_TOLERANCE + 1e-12)


def checks(profile: str, max_single: float, single_limit: float, combined: pd.DataFrame,
           family: pd.DataFrame, balance: pd.DataFrame) -> list[Check]:
    """The criteria for a set of ``profile`` (see the module docstring). ``combined``: the
    all-cue models (rows) on each evaluation set (columns); ``family``: the same for each
    family's cues."""
    if profile not in PROFILES:
        raise ValueError(f"unknown audit profile {profile!r}; choose from {', '.join(PROFILES)}")
    out = [Check("strongest single cue, VPT", max_single, f"≤ {single_limit:.0%}", max_single <= single_limit)]
    models = pd.concat([combined, family])
    if "sweep invariance" in models.columns:
        v = float(models["sweep invariance"].max())
        out.append(Check("strongest cue model on invariance sweeps", v, f"≤ {COMBINED_LIMIT:.0%}",
                         v <= COMBINED_LIMIT))
    for col in [c for c in combined.columns if c.startswith("conflict") and c.endswith("test")]:
        if "boosted trees" in combined.index:
            v = float(combined.loc["boosted trees", col])
            out.append(Check(f"boosted trees, all cues, basic train -> {col}", v, f"≤ {COMBINED_LIMIT:.0%}",
                             v <= COMBINED_LIMIT))
    if profile == "conflict":
        out.append(Check("strongest single cue, VPT (conflict set)", max_single, f"≤ {CONFLICT_SINGLE_CUE_LIMIT:.0%}",
                         max_single <= CONFLICT_SINGLE_CUE_LIMIT))
        nuis = [r for r in family.index if r.startswith("nuisance ·")]
        if nuis and "test" in family.columns:
            v = float(family.loc[nuis, "test"].max())
            out.append(Check("nuisance cues together, test", v, f"≤ {COMBINED_LIMIT:.0%}", v <= COMBINED_LIMIT))
        vpt_rows = [c for c in balance.index if c in GRADED_IMAGE_PLANE]
        for group in ("VPT, all", "VPT, visible vs occluded", "VPT, visible vs out of view"):
            c = _auc_check(f"image-plane cues' AUC ({group}; furthest from 0.5)", balance.loc[vpt_rows],
                           [f"{group} AUC"] if f"{group} AUC" in balance.columns else [])
            if c:
                out.append(c)
        depth_rows = [c for c in balance.index if c not in GRADED_IMAGE_PLANE]
        c = _auc_check("image height and image size AUC (depth label; furthest from 0.5)", balance.loc[depth_rows],
                       ["depth AUC"] if "depth AUC" in balance.columns else [])
        if c:
            out.append(c)
    return out


def families_markdown(profile: str, family_single_t: pd.DataFrame, family_vpt: pd.DataFrame,
                      family_depth: pd.DataFrame, balance: pd.DataFrame, found: list[Check],
                      frame_markdown: Callable[..., list[str]]) -> list[str]:
    """The audit's family section and its criteria, as Markdown lines."""
    lines = ["", "**Cue families** (issue 26): the strongest single cue of each family (any column above) and "
                 "the family's cues together (trained on train; chance 0.5).\n",
             "| family | cues | single cue, VPT | strongest on VPT | single cue, depth | strongest on depth |",
             "|---|---|---|---|---|---|"]
    for fam, r in family_single_t.iterrows():
        lines.append(f"| {FAMILY_TITLES.get(str(fam), fam)} | {int(r['cues'])} | {r['vpt_label']:.3f} | "
                     f"`{r['vpt_label cue']}` | {r['depth_label']:.3f} | `{r['depth_label cue']}` |")
    if len(family_vpt):
        lines += ["", "Each family's cues together, VPT label:\n"] + frame_markdown(family_vpt, head="family · model")
    if len(family_depth):
        lines += ["", "Each family's cues together, depth label:\n"] + frame_markdown(family_depth,
                                                                                    head="family · model")
    if len(balance):
        lines += ["", "**Graded cues between the labels** (ROC AUC for label 1, 0.5 = no information; SMD = "
                      "standardised mean difference): the image-plane cues against the VPT label, image height "
                      "and image size against the depth label.\n"]
        lines += frame_markdown(balance, head="cue")
    lines += ["", f"**Criteria** ({profile} set; `vpt audit --strict` exits 1 when one fails):\n",
              "| criterion | value | limit | verdict |", "|---|---|---|---|"]
    lines += [f"| {c.name} | {c.value:.3f} | {c.limit} | {'PASS' if c.passed else 'FAIL'} |" for c in found]
    return lines
