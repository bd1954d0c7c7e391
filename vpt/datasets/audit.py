"""Shortcut audit: can a label be read off 2D image cues, without taking a perspective?

The cues (:mod:`vpt.datasets.cues`) come from the pixels: the rendered masks and images of a
dataset folder, or, before anything is rendered, the analytic projection of the planned
scenes (:mod:`vpt.scene.raster`). For each label:

* **single cues**: each scalar cue alone, a standardised logistic regression and a depth-2
  decision tree (which catches a band or a threshold), scored by stratified, seeded k-fold
  cross-validation over the binary items and by training on ``train`` and testing on
  ``test``; a label-permutation null gives the chance level of the *maximum* over cues. These
  thousands of one-feature fits are made all at once by :mod:`vpt.datasets.fast_fits` (the
  same models as the scikit-learn pipelines, which ``method="sklearn"`` still runs one by one);
* **combined**: all scalar cues together (plus the style), logistic regression and
  gradient-boosted trees trained on ``train``, tested on ``test``, ``ood``, the human set
  and every sweep; and the 8 x 8 thumbnail alone, the raw-pixel route;
* **where the combined cues win**: the combined models' test accuracy in each
  counterbalancing cell, and for the visible, occluded and out-of-view items of each cell,
  so that a leak left in the aggregate can be traced to the layouts it comes from;
* **the two halves of the task**: the combined models trained and tested on visible against
  occluded items only (in the overlap cells, where occlusion can happen), and on visible
  against out-of-view items only (balanced accuracy,
  chance 0.5). Occlusion is where a 2D reader must fail; out of view, the angle in the image
  between the viewer's facing and the ball is the 2D form of the question itself, and a
  model that reads it is partly doing the task.

The criterion (:data:`VPT_SINGLE_CUE_LIMIT`): no single cue above 60 % on the VPT label, in
cross-validation or train -> test. Depth order is *meant* to be readable from monocular cues
(the ball's height in the image is one), so its numbers are reported, not judged.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from vpt.datasets.audit_fits import LABELS
from vpt.datasets.audit_fits import combined_models as _combined_models
from vpt.datasets.audit_fits import cv_splits as _cv_splits  # noqa: F401 (the tests' and benchmarks' handle)
from vpt.datasets.audit_fits import single_cues_fast as _single_cues_fast
from vpt.datasets.audit_fits import single_cues_sklearn as _single_cues_sklearn
from vpt.datasets.audit_fits import single_models as _single_models
from vpt.datasets import audit_families as fam
from vpt.datasets.cues import GEOMETRY_CUES, all_cues  # noqa: F401 (GEOMETRY_CUES: the tests' handle)
from vpt.datasets.index import is_dataset, read_index
from vpt.errors import UserError

VPT_SINGLE_CUE_LIMIT = 0.60
VPT_COMBINED_AIM = 0.70
N_PERMUTATIONS = 20
# Threads for the scikit-learn fits (combined models, thumbnail, the sklearn single-cue path).
# They are small, and on the shared 2-core development machine the libraries' default threads
# cost more than they gave: the sklearn path on the default plan took 139 s and 49 s with them
# (two runs), 37 s and 35 s on one thread, with an identical audit.json
# (benchmarks/results/2026-12-07-audit-speed*.md).
# None leaves the libraries' own defaults.
THREADS: int | None = 1


@dataclass
class AuditResult:
    source: str  # "images" (rendered masks and images) or "analytic" (planned geometry)
    single: pd.DataFrame  # rows: cue; columns: "<label> cv logistic", "... cv tree", "... test logistic", ...
    combined: pd.DataFrame  # rows: model; columns: evaluation sets; VPT label
    combined_depth: pd.DataFrame
    null_max: dict[str, float]  # label -> 95th pct. of the max single-cue accuracy (CV and train -> test) under permutation
    n_items: int
    n_train: int
    n_test: int
    folds: int
    descriptions: dict[str, str] = field(default_factory=dict)
    permutations: int = 0
    # rows: counterbalancing cell; columns: n, each combined model, and the boosted trees on
    # the items of each kind (visible, occluded, out of view); test split, VPT label
    by_cell: pd.DataFrame = field(default_factory=pd.DataFrame)
    # rows: combined model; columns: "visible vs occluded", "visible vs out of view" (balanced
    # accuracy on test, each model trained on that half of train)
    by_reason: pd.DataFrame = field(default_factory=pd.DataFrame)
    # cue families (vpt.datasets.audit_families): the strongest single cue of each, each
    # family's cues together ("<family> · <model>" rows, evaluation-set columns) per label, and
    # the graded cues' AUC and SMD between the labels
    profile: str = "basic"
    family_single: pd.DataFrame = field(default_factory=pd.DataFrame)
    family_vpt: pd.DataFrame = field(default_factory=pd.DataFrame)
    family_depth: pd.DataFrame = field(default_factory=pd.DataFrame)
    balance: pd.DataFrame = field(default_factory=pd.DataFrame)

    def max_single(self, label: str = "vpt_label") -> float:
        cols = [c for c in self.single.columns if c.startswith(label)]
        return float(self.single[cols].max().max())

    def worst_cue(self, label: str = "vpt_label") -> str:
        cols = [c for c in self.single.columns if c.startswith(label)]
        return str(self.single[cols].max(axis=1).idxmax())

    def combined_test(self) -> float:
        return float(self.combined["test"].max()) if "test" in self.combined else float("nan")

    def checks(self) -> list[fam.Check]:
        """The criteria of this set's profile (:func:`vpt.datasets.audit_families.checks`)."""
        return fam.checks(self.profile, self.max_single("vpt_label"), VPT_SINGLE_CUE_LIMIT, self.combined,
                          self.family_vpt, self.balance)

    def passed(self) -> bool:
        return all(c.passed for c in self.checks())

    def pass_meaning(self, label: str = "vpt_label") -> str:
        """What the single-cue verdict can and cannot show at this sample size: the limit beside
        the permutation null and the binomial uncertainty of one accuracy on the test items."""
        null = self.null_max.get(label, float("nan"))
        half = 1.96 * math.sqrt(0.25 / max(self.n_test, 1))  # 95 % half-width of an accuracy near 0.5
        where = ("at" if abs(VPT_SINGLE_CUE_LIMIT - null) < 0.01 else "below" if VPT_SINGLE_CUE_LIMIT < null
                 else "above")
        return (f"*What the verdict can show.* With {self.n_test} test items one accuracy near chance is uncertain by "
                f"about ±{half:.1%} (95 %), and the limit ({VPT_SINGLE_CUE_LIMIT:.0%}) sits {where} the shuffled-label "
                f"maximum ({null:.1%}). A pass shows that no single image cue is detectably stronger than the best of "
                f"{len(self.single)} cues under shuffled labels; it cannot show that the cues carry no information: a "
                f"cue worth a few points above chance passes at this size. A result at or below the shuffled maximum, "
                f"pass or fail, is what chance gives. Larger sets (`SCALE=paper`) narrow both.")

    def to_markdown(self, top: int = 12) -> str:
        lab = "vpt_label"
        cols = [c for c in self.single.columns if c.startswith(lab)]
        order = self.single[cols].max(axis=1).sort_values(ascending=False).index
        dcols = [c for c in self.single.columns if c.startswith("depth_label")]
        lines = [f"Cues computed from the {'rendered masks and images' if self.source == 'images' else 'analytic projection of the planned scenes (no render)'}; "
                 f"{self.n_items} binary items ({self.n_train} train, {self.n_test} test), {self.folds}-fold "
                 f"stratified cross-validation, and train -> test.\n",
                 f"**VPT label, single cues** (the {top} strongest of {len(self.single)}; limit "
                 f"{VPT_SINGLE_CUE_LIMIT:.0%} in every column):\n",
                 "| cue | CV logistic | CV tree | train->test logistic | train->test tree | depth label (max) |",
                 "|---|---|---|---|---|---|"]
        for cue in order[:top]:
            r = self.single.loc[cue]
            lines.append(f"| {self.descriptions.get(cue, cue)} (`{cue}`) | " + " | ".join(
                f"{r[f'{lab} {k}']:.3f}" for k in ("cv logistic", "cv tree", "test logistic", "test tree"))
                + f" | {r[dcols].max():.3f} |")
        worst = self.worst_cue(lab)
        lines += ["", f"Largest single-cue accuracy for the VPT label: **{self.max_single(lab):.3f}** (`{worst}`; "
                      f"limit {VPT_SINGLE_CUE_LIMIT:.2f}: "
                      f"{'PASS' if self.max_single(lab) <= VPT_SINGLE_CUE_LIMIT else 'FAIL'}). Under shuffled "
                      f"labels the maximum over cues and the four columns reaches "
                      f"{self.null_max.get(lab, float('nan')):.3f} (95th percentile of {self.permutations} "
                      f"permutations): the chance level of the largest figure in this table.",
                  "", self.pass_meaning(),
                  "", "**VPT label, all cues together** (trained on train; chance 0.5):\n"]
        lines += frame_markdown(self.combined)
        lines += ["", f"Combined-cue accuracy on test: **{self.combined_test():.3f}** (aim: at most "
                      f"{VPT_COMBINED_AIM:.0%})."]
        if len(self.by_cell):
            lines += ["", "**Where the combined cues win**: test accuracy per counterbalancing cell (and, for the "
                          "boosted trees, on the cell's visible, occluded and out-of-view items; `-` where the cell "
                          "has none). A cell far above 0.5 holds the layouts a 2D reader tells apart:\n"]
            lines += frame_markdown(self.by_cell, head="cell", ints=("n",))
        if len(self.by_reason):
            lines += ["", "**The two halves of the task**: all cues, trained on train and tested on test with one "
                          "kind of hidden item only (occluded: in the overlap cells; balanced accuracy, chance 0.5). "
                          "Against occluded items a 2D "
                          "reader should stay near chance; against out-of-view items the 2D angle between the "
                          "viewer's facing and the ball is the question itself, seen in the image:\n"]
            lines += frame_markdown(self.by_reason)
        lines += ["",
                  f"**Depth label** (a real monocular cue, reported, not judged): largest single cue "
                  f"{self.max_single('depth_label'):.3f} (`{self.worst_cue('depth_label')}`); all cues:\n"]
        lines += frame_markdown(self.combined_depth)
        lines += fam.families_markdown(self.profile, self.family_single, self.family_vpt, self.family_depth,
                                       self.balance, self.checks(), frame_markdown)
        lines += ["", f"Verdict: **{'PASS' if self.passed() else 'FAIL'}** (every criterion above)."]
        return "\n".join(lines) + "\n"

    def to_json(self) -> str:
        def table(df: pd.DataFrame) -> dict:
            return {str(i): {k: (None if pd.isna(v) else round(float(v), 4)) for k, v in row.items()}
                    for i, row in df.iterrows()}

        return json.dumps({"source": self.source, "n_items": self.n_items, "n_train": self.n_train,
                           "n_test": self.n_test, "folds": self.folds, "passed": self.passed(),
                           "vpt_single_cue_limit": VPT_SINGLE_CUE_LIMIT, "vpt_max_single": self.max_single(),
                           "vpt_worst_cue": self.worst_cue(), "vpt_combined_test": self.combined_test(),
                           "permutation_null_max": self.null_max, "permutations": self.permutations, "single": table(self.single),
                           "combined_vpt": table(self.combined), "combined_depth": table(self.combined_depth),
                           "combined_vpt_by_cell": table(self.by_cell),
                           "combined_vpt_by_reason": table(self.by_reason), "profile": self.profile,
                           "family_single": table(self.family_single.drop(
                               columns=[c for c in self.family_single.columns if c.endswith(" cue")])),
                           "family_strongest_cue": {str(i): {k: r[k] for k in r.index if k.endswith(" cue")}
                                                    for i, r in self.family_single.iterrows()},
                           "family_vpt": table(self.family_vpt), "family_depth": table(self.family_depth),
                           "graded_cue_balance": table(self.balance),
                           "checks": [{"name": c.name, "value": round(c.value, 4), "limit": c.limit,
                                       "passed": c.passed} for c in self.checks()]},
                          indent=2, sort_keys=True) + "\n"


def frame_markdown(df: pd.DataFrame, head: str = "model", ints: tuple[str, ...] = ()) -> list[str]:
    """A result frame as Markdown table lines (``ints``: columns printed as whole numbers)."""
    cols = list(df.columns)
    out = [f"| {head} | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    for name, row in df.iterrows():
        out.append(f"| {name} | " + " | ".join("-" if pd.isna(v) else f"{int(v)}" if c in ints else f"{v:.3f}"
                                                 for c, v in row.items()) + " |")
    return out


KINDS = (("visible", lambda f: f["vpt_label"] == 1),
         ("occluded", lambda f: (f["vpt_label"] == 0) & (f["hidden_reason"] == "occluded")),
         ("out of view", lambda f: (f["vpt_label"] == 0) & (f["hidden_reason"] == "out_of_view")))


def _by_reason(train: pd.DataFrame, test: pd.DataFrame, design: Callable[[pd.DataFrame], np.ndarray]) -> pd.DataFrame:
    """The combined models on each half of the VPT task: visible against occluded items (in
    the cells where an occluder overlaps the segment), and visible against out-of-view items,
    each trained on that half of train and scored by balanced accuracy on that half of test
    (a half whose train or test lacks a label is left out)."""
    from sklearn.base import clone
    from sklearn.metrics import balanced_accuracy_score

    if "hidden_reason" not in train.columns:
        return pd.DataFrame()
    out: dict[str, dict[str, float]] = {}
    for reason, column in (("occluded", "visible vs occluded"), ("out_of_view", "visible vs out of view")):
        half = [f[(f["vpt_label"] == 1) | (f["hidden_reason"] == reason)] for f in (train, test)]
        if reason == "occluded" and "cell" in train.columns:
            # occlusion needs an occluder over the segment: visible items without one are
            # told from occluded ones by that alone, so this half keeps the overlap cells
            half = [f[f["cell"].fillna("").str.endswith("overlap-yes")] for f in half]
        if any(f["vpt_label"].nunique() < 2 for f in half):
            continue
        (tr, te) = half
        for name, model in _combined_models().items():
            m = clone(model).fit(design(tr), tr["vpt_label"].to_numpy(int))
            out.setdefault(name, {})[column] = float(balanced_accuracy_score(te["vpt_label"].to_numpy(int),
                                                                              m.predict(design(te))))
    return pd.DataFrame.from_dict(out, orient="index")


def _by_cell(test: pd.DataFrame, predictions: dict[str, np.ndarray]) -> pd.DataFrame:
    """The combined models' test accuracy per counterbalancing cell (``predictions``: model
    -> predicted VPT label of each test row), and the boosted trees' on each kind of item."""
    if "cell" not in test.columns or not (test["cell"].fillna("") != "").any():
        return pd.DataFrame()
    right = {m: p == test["vpt_label"].to_numpy(int) for m, p in predictions.items()}
    rows = {}
    for cell in sorted(c for c in test["cell"].fillna("").unique() if c):
        m = (test["cell"] == cell).to_numpy()
        row = {"n": float(m.sum()), **{name: float(r[m].mean()) for name, r in right.items()}}
        if "boosted trees" in right and "hidden_reason" in test.columns:
            for kind, select in KINDS:
                k = m & select(test).to_numpy()
                row[f"trees, {kind}"] = float(right["boosted trees"][k].mean()) if k.any() else float("nan")
        rows[cell] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def _extra(split: pd.Series) -> pd.Series:
    """Rows of another set evaluated beside the audited one (a conflict set beside a basic
    one: splits named ``conflict ...``): evaluation sets only, never fitted on."""
    return split.fillna("").astype(str).str.startswith("conflict ")


def _binary(table: pd.DataFrame) -> pd.DataFrame:
    d = table.dropna(subset=list(LABELS))
    if "sweep_id" in d.columns:
        d = d[d["sweep_id"].isna() | (d["sweep_id"] == "")]
    return d[~_extra(d["split"])]


def _eval_sets(table: pd.DataFrame, binary: pd.DataFrame) -> dict[str, pd.DataFrame]:
    sets = {s: binary[binary["split"] == s] for s in ("test", "ood")}
    if "human_set" in binary.columns:
        sets["human"] = binary[binary["human_set"].astype(bool)]
    extra = table.dropna(subset=list(LABELS))
    extra = extra[_extra(extra["split"])]
    for name, grp in extra.groupby("split"):
        sets[str(name)] = grp
    if "sweep_id" not in table.columns or "sweep_kind" not in table.columns:
        return {k: v for k, v in sets.items() if len(v)}
    sweeps = table[table["sweep_id"].fillna("") != ""]
    for kind, grp in sweeps.groupby("sweep_kind"):
        sets[f"sweep {kind}"] = grp[grp["sweep_step_label"].isin(["0", "1"])].assign(
            vpt_label=lambda g: g["sweep_step_label"].astype(int))
    return {k: v for k, v in sets.items() if len(v)}


def audit_cues(table: pd.DataFrame, thumbs: np.ndarray | None = None, source: str = "images", folds: int = 5,
               permutations: int | None = None, method: str = "fast", profile: str | None = None) -> AuditResult:
    """Audit a cue table (see :mod:`vpt.datasets.cues`); sweep rows, when present, are only
    evaluation sets for the combined models. ``permutations`` for the null (default
    :data:`N_PERMUTATIONS`; 0 skips it). ``method``: how the single-cue models are fitted,
    ``"fast"`` (all at once, :mod:`vpt.datasets.fast_fits`) or ``"sklearn"`` (one pipeline
    per fit: the reference, minutes where the fast path takes seconds). ``profile``: which
    criteria apply (``"basic"`` or ``"conflict"``; default: read from the table, see
    :func:`vpt.datasets.audit_families.profile_of`)."""
    if method not in ("fast", "sklearn"):
        raise ValueError(f"method must be 'fast' or 'sklearn', not {method!r}")
    from sklearn.base import clone

    permutations = N_PERMUTATIONS if permutations is None else permutations

    cues = [c for c in all_cues() if c in table.columns]
    missing = [c for c in ("split",) + LABELS if c not in table.columns]
    if missing or not cues:
        raise UserError(f"the cue table lacks the columns {missing or 'of any cue'}; was it made by vpt.datasets.cues?")
    binary = _binary(table)
    profile = profile or fam.profile_of(binary)
    if profile not in fam.PROFILES:
        raise UserError(f"unknown audit profile {profile!r}; choose from {', '.join(fam.PROFILES)}")
    train = binary[binary["split"] == "train"]
    test = binary[binary["split"] == "test"]
    if len(binary) < folds * 4 or len(train) < 8 or len(test) < 4:
        raise UserError(f"only {len(binary)} binary items ({len(train)} train, {len(test)} test): too few for a "
                        f"{folds}-fold audit with a train -> test check")
    import contextlib

    from threadpoolctl import threadpool_limits  # a dependency of scikit-learn

    with warnings.catch_warnings(), (threadpool_limits(limits=THREADS) if THREADS else contextlib.nullcontext()):
        warnings.simplefilter("ignore")  # constant cues and all-NaN columns are fine here
        single_cues = _single_cues_sklearn if method == "sklearn" else _single_cues_fast
        single, null_max = single_cues(binary, cues, folds, permutations)
        used = list(single.index)

        feats = used + [c for c in ("style",) if c in table.columns]
        sets = _eval_sets(table, binary)

        def design(frame: pd.DataFrame, cols: list[str] | None = None, style: bool = True) -> np.ndarray:
            x = frame[used if cols is None else cols].to_numpy(float)
            if style and "style" in feats:
                styles = sorted(table["style"].fillna("").unique())
                x = np.hstack([x, np.stack([(frame["style"].fillna("") == s).to_numpy(float) for s in styles], 1)])
            return x

        combined, test_predictions = {}, {}
        for label in LABELS:
            res = {}
            for name, model in _combined_models().items():
                m = clone(model).fit(design(train), train[label].to_numpy(int))
                res[name] = {k: float(np.mean(m.predict(design(v)) == v[label].to_numpy(int)))
                             for k, v in sets.items() if not (label == "depth_label" and k.startswith("sweep"))}
                if label == "vpt_label":
                    test_predictions[name] = m.predict(design(test))
            if thumbs is not None and len(thumbs) == len(table):
                pos = {sid: i for i, sid in enumerate(table["scene_id"])}
                th = lambda f: thumbs[[pos[s] for s in f["scene_id"]]]  # noqa: E731
                m = clone(_single_models()["logistic"]).fit(th(train), train[label].to_numpy(int))
                res["8x8 thumbnail (logistic)"] = {k: float(np.mean(m.predict(th(v)) == v[label].to_numpy(int)))
                                                   for k, v in sets.items()
                                                   if not (label == "depth_label" and k.startswith("sweep"))}
            combined[label] = pd.DataFrame.from_dict(res, orient="index")
        by_cell, by_reason = _by_cell(test, test_predictions), _by_reason(train, test, design)
        per_family = {label: fam.family_combined(train, {k: v for k, v in sets.items() if not (
            label == "depth_label" and k.startswith("sweep"))}, used, design, label, _combined_models)
            for label in LABELS}
        balance = fam.balance_table(binary, used)
    return AuditResult(source, single, combined["vpt_label"], combined["depth_label"], null_max, len(binary),
                       len(train), len(test), folds, all_cues(), permutations, by_cell, by_reason, profile,
                       fam.family_single(single), per_family["vpt_label"], per_family["depth_label"], balance)


def _index_columns(root: Path) -> pd.DataFrame:
    """The index columns the audit reads beside the cues: the human-set flag, the recipe and
    the conflict markers (:data:`vpt.datasets.audit_families.CONFLICT_MARKERS`) where present."""
    index = read_index(root)
    cols = ["scene_id"] + [c for c in ("human_set", "recipe", *fam.CONFLICT_MARKERS) if c in index.columns]
    return index[cols]


def dataset_table(root: Path, sweeps: list[Path] | None = None, conflicts: list[Path] | None = None
                  ) -> tuple[pd.DataFrame, np.ndarray, str]:
    """The cue table and thumbnails that :func:`audit_dataset` audits, and their source;
    ``conflicts``: conflict-set folders whose items become evaluation sets (``conflict
    <split>``)."""
    from vpt.datasets.cues import dataset_cue_table

    root = Path(root)
    index = read_index(root)
    table, thumbs = dataset_cue_table(root, index)
    table = table.merge(_index_columns(root), on="scene_id", how="left")
    source = "images" if table["rendered"].all() else "analytic"
    for folder in sweeps or []:
        t2, th2 = dataset_cue_table(folder, read_index(folder))
        table, thumbs = pd.concat([table, t2], ignore_index=True), np.vstack([thumbs, th2])
    for folder in conflicts or []:
        t2, th2 = dataset_cue_table(folder, read_index(folder))
        t2 = t2.assign(split="conflict " + t2["split"].astype(str), scene_id=Path(folder).name + "/" + t2["scene_id"])
        table, thumbs = pd.concat([table, t2], ignore_index=True), np.vstack([thumbs, th2])
    return table, thumbs, source


def audit_dataset(root: Path, sweeps: list[Path] | None = None, folds: int = 5, method: str = "fast",
                  conflicts: list[Path] | None = None) -> AuditResult:
    """Audit a rendered dataset folder from its images and masks; ``sweeps`` are dataset
    folders whose sweep steps become extra evaluation sets, and ``conflicts`` conflict-set
    folders whose items do (default: those beside a basic set,
    :func:`vpt.datasets.audit_families.conflict_folders_beside`)."""
    profile = fam.profile_of(_index_columns(Path(root)))
    extra = (fam.conflict_folders_beside(root) if conflicts is None else conflicts) if profile == "basic" else []
    table, thumbs, source = dataset_table(root, sweeps, extra)
    return audit_cues(table, thumbs, source, folds, method=method, profile=profile)


PARALLEL_FROM = 256  # items from which the plan's cue table is computed by several processes


def _cue_chunks(items: list, progress: bool) -> tuple[pd.DataFrame, np.ndarray]:
    """:func:`vpt.datasets.cues.plan_cue_table` of ``items``, in contiguous chunks on one
    process per core (``VPT_PLAN_WORKERS``), joined in item order: the same table."""
    from vpt.datasets.cues import plan_cue_table
    from vpt.datasets.planned import plan_workers

    workers = plan_workers(len(items) // (PARALLEL_FROM // 2))
    if workers == 1:
        return plan_cue_table(items, progress=progress)
    from concurrent.futures import ProcessPoolExecutor

    from tqdm import tqdm

    bounds = np.linspace(0, len(items), workers + 1).round().astype(int)
    with ProcessPoolExecutor(workers) as ex:
        futures = [ex.submit(plan_cue_table, items[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
        parts = [f.result() for f in tqdm(futures, desc=f"analytic cues ({workers} processes)", unit="part",
                                          disable=not progress, leave=False)]
    return pd.concat([t for t, _ in parts], ignore_index=True), np.concatenate([th for _, th in parts])


def plan_table(items: list, sweep_items: list | None = None, progress: bool = False) -> tuple[pd.DataFrame, np.ndarray]:
    """The cue table and thumbnails that :func:`audit_plan` audits."""
    table, thumbs = _cue_chunks(list(items) + list(sweep_items or []), progress)
    flags = {it.spec.scene_id: it.human_set for it in items}
    table["human_set"] = table["scene_id"].map(flags).fillna(False)
    table["recipe"] = [it.spec.recipe for it in list(items) + list(sweep_items or [])]  # the profile reads it
    return table, thumbs


def audit_plan(items: list, sweep_items: list | None = None, folds: int = 5, progress: bool = False,
               method: str = "fast") -> AuditResult:
    """Audit planned items (no render) from the analytic projection of their geometry."""
    table, thumbs = plan_table(items, sweep_items, progress)
    return audit_cues(table, thumbs, "analytic", folds, method=method)


def sweep_folders_beside(root: Path) -> list[Path]:
    """Sibling dataset folders (same parent) whose index holds sweep steps."""
    out = []
    for p in sorted(Path(root).resolve().parent.iterdir()):
        if p == Path(root).resolve() or not is_dataset(p):
            continue
        idx = read_index(p, columns=["sweep_id", "image"])
        if (idx["sweep_id"] != "").any() and (idx["image"] != "").any():
            out.append(p)
    return out


def write_audit(result: AuditResult, folder: Path) -> None:
    from vpt.fileio import atomic_write_text

    atomic_write_text(folder / "audit.json", result.to_json())
    atomic_write_text(folder / "audit.md", "# Shortcut audit\n\n" + result.to_markdown())
