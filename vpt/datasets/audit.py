"""Shortcut audit: can a label be predicted from a nuisance cue alone?

For every label and every cue, a cross-validated logistic regression from the cue alone
(standardised; and again from quantile bins of the cue, which catches non-monotonic
relations), and one from the union of all cues. Folds are stratified and seeded. A well
balanced benchmark keeps every single cue near chance (50 %).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from vpt.errors import UserError

CUES = {
    "ball_x_px": "ball x in the image",
    "ball_y_px": "ball y in the image",
    "ball_radius_px": "ball size in pixels",
    "viewer_x_px": "viewer x in the image",
    "viewer_y_px": "viewer y in the image",
    "segment_length_px": "2D distance viewer to ball",
    "occluder_overlaps_segment": "occluder overlaps the 2D segment",
    "n_occluders": "number of occluders",
    "viewer_facing_right": "viewer facing left or right",
}
# Reported too, but not part of the pass/fail criterion (the list above is): the
# sampler steers these per counterbalancing cell, never per label.
EXTRA_CUES = {
    "viewer_facing_angle_deg": "viewer turned toward or away from the observer",
}
LABELS = ("vpt_label", "depth_label")
VPT_SINGLE_CUE_LIMIT = 0.60


@dataclass
class AuditResult:
    table: pd.DataFrame  # rows: cue; columns: per label, linear and binned accuracy
    n_items: int
    folds: int

    def max_single(self, label: str) -> float:
        """Largest single-cue accuracy over the criterion cues (``CUES``)."""
        cols = [c for c in self.table.columns if c.startswith(label)]
        return float(self.table.loc[[c for c in CUES if c in self.table.index], cols].max().max())

    def passed(self) -> bool:
        return self.max_single("vpt_label") <= VPT_SINGLE_CUE_LIMIT

    def to_markdown(self) -> str:
        t = self.table.copy()
        t.insert(0, "cue", [CUES.get(i) or f"{EXTRA_CUES[i]} (extra)" if i in EXTRA_CUES else CUES.get(i, i)
                            for i in t.index])
        head = "| " + " | ".join(t.columns) + " |\n|" + "---|" * len(t.columns) + "\n"
        body = "".join("| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row) + " |\n"
                       for row in t.itertuples(index=False))
        verdict = (f"\nLargest single-cue accuracy for the VPT label: {self.max_single('vpt_label'):.3f} "
                   f"(limit {VPT_SINGLE_CUE_LIMIT:.2f}: {'PASS' if self.passed() else 'FAIL'}); "
                   f"depth label: {self.max_single('depth_label'):.3f}. {self.n_items} items, "
                   f"{self.folds}-fold stratified cross-validation.\n")
        return head + body + verdict

    def to_json(self) -> str:
        return json.dumps({"n_items": self.n_items, "folds": self.folds, "passed": self.passed(),
                           "vpt_single_cue_limit": VPT_SINGLE_CUE_LIMIT,
                           "table": {cue: {k: round(float(v), 4) for k, v in row.items()}
                                     for cue, row in self.table.iterrows()}}, indent=2, sort_keys=True) + "\n"


def _cv_accuracy(x: np.ndarray, y: np.ndarray, folds: int, binned: bool) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import KBinsDiscretizer, StandardScaler

    if binned:
        n_bins = int(min(8, max(2, len(np.unique(x)))))
        first = KBinsDiscretizer(n_bins=n_bins, encode="onehot", strategy="quantile")
    else:
        first = StandardScaler()
    model = make_pipeline(first, LogisticRegression(max_iter=1000))
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant cues and merged quantile bins are fine here
        return float(np.mean(cross_val_score(model, x, y, cv=cv, scoring="accuracy")))


def audit_frame(df: pd.DataFrame, folds: int = 5) -> AuditResult:
    """Audit binary items of an index table (rows with both labels; sweeps are left out)."""
    missing = [c for c in list(CUES) + list(LABELS) if c not in df.columns]
    if missing:
        raise UserError(f"the index lacks the columns {missing}; was it written by vpt?")
    d = df.dropna(subset=list(LABELS))
    if "sweep_id" in d.columns:
        d = d[d["sweep_id"].isna() | (d["sweep_id"] == "")]
    if len(d) < folds * 4:
        raise UserError(f"only {len(d)} binary items: too few for a {folds}-fold audit")
    rows = {}
    for cue in list(CUES) + [c for c in EXTRA_CUES if c in d.columns]:
        x = d[[cue]].to_numpy(float)
        row = {}
        for label in LABELS:
            y = d[label].to_numpy(int)
            row[f"{label} linear"] = _cv_accuracy(x, y, folds, binned=False)
            row[f"{label} binned"] = _cv_accuracy(x, y, folds, binned=True) if len(np.unique(x)) > 2 else row[f"{label} linear"]
        rows[cue] = row
    x_all = d[list(CUES)].to_numpy(float)
    rows["all cues"] = {}
    for label in LABELS:
        acc = _cv_accuracy(x_all, d[label].to_numpy(int), folds, binned=False)
        rows["all cues"][f"{label} linear"] = acc
        rows["all cues"][f"{label} binned"] = _cv_accuracy(x_all, d[label].to_numpy(int), folds, binned=True)
    return AuditResult(pd.DataFrame.from_dict(rows, orient="index"), len(d), folds)


def write_audit(result: AuditResult, folder: Path) -> None:
    from vpt.fileio import atomic_write_text

    atomic_write_text(folder / "audit.json", result.to_json())
    atomic_write_text(folder / "audit.md", "# Shortcut audit\n\n" + result.to_markdown())
