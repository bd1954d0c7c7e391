"""Baseline decision makers, no neural network: the label rule and the shortcut learners.

* ``label-rule`` (decision maker ``baseline:label-rule``): rebuilds each stimulus' spec from
  its scene JSON and applies the line-of-sight and depth-order rules of
  :mod:`vpt.scene.labels` with the label settings stored in that JSON. It must score 100 %
  wherever a label is defined (a check that the index, the JSON and the rules agree), and it
  is the reference a sweep curve is drawn against. Where the rule itself gives no answer (a
  partly visible ball, a depth gap under the minimum) its response is null.
* shortcut baselines, trained on the ``train`` split of one dataset and tested on every other
  split, on the human set and on sweep datasets: on each single image cue of the audit
  (:mod:`vpt.datasets.cues`: positions, sizes, the viewer's silhouette and 2D facing,
  occluder coverage of the viewer-ball segment, brightness and colour) a standardised
  logistic regression (``baseline:logreg:<cue>``) and gradient-boosted trees
  (``baseline:hgb:<cue>``); on all cues together (``baseline:logreg:all-cues``,
  ``baseline:hgb:all-cues``); and a logistic regression on the 8 x 8 grey thumbnail
  (``baseline:logreg:thumbnail``). ``score`` is the predicted probability of class 1.

Cues come from the rendered images and masks, or, for a dataset that was only planned,
from the analytic projection of its geometry (then there are no colour cues and the
thumbnail is the occluder mask); training and test data must come from the same source.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import vpt
from vpt.datasets.cues import FAMILY_NAMES, GEOMETRY_CUES, RGB_CUES, dataset_cue_table, family_cues
from vpt.deciders.base import RunContext, make_trials, train_targets
from vpt.errors import UserError
from vpt.trials.items import Dataset

TASKS = ("vpt", "depth")
FAMILIES = ("single", "combined", "thumbnail")
# boosted trees: the audit's settings on all cues; fewer, larger steps on one cue (same reach)
# (leaves of 10 items, not sklearn's 20, so that a small train split can still split)
HGB_PARAMS = {"max_depth": 3, "max_iter": 200, "learning_rate": 0.05, "min_samples_leaf": 10}
HGB_SINGLE_PARAMS = {"max_depth": 3, "max_iter": 50, "learning_rate": 0.1, "min_samples_leaf": 10}


class LabelRule:
    """The line-of-sight and depth rules applied to the geometry stored in each scene JSON."""

    name = "label-rule"
    kind = "baseline"
    decision_maker = "baseline:label-rule"

    def describe(self) -> dict[str, Any]:
        return {"decision_makers": [self.decision_maker], "rule": "vpt.scene.labels.label_scenes on the scene JSON's "
                "spec with its label_config", "vpt": vpt.__version__, "seeds": {"rows": 0}}

    def decide(self, items: pd.DataFrame, context: RunContext) -> pd.DataFrame:
        from vpt.scene.labels import LabelConfig, label_scenes
        from vpt.scene.spec import scene_from_dict

        groups: dict[str, list[tuple[str, Any]]] = {}
        for sid, path in zip(items["scene_id"], items["scene_json"]):
            try:
                rec = json.loads(Path(path).read_text(encoding="utf-8"))
                spec = scene_from_dict(rec["spec"])
                cfg = json.dumps(rec["label_config"], sort_keys=True)
            except (OSError, ValueError, KeyError, TypeError) as err:
                raise UserError(f"{path}: cannot rebuild the scene of {sid} ({type(err).__name__}: {err}); "
                                f"run `vpt verify {context.dataset.root}` or re-run `vpt scenes`") from None
            groups.setdefault(cfg, []).append((sid, spec))
        answers = []
        for cfg, pairs in groups.items():
            recs = label_scenes([s for _, s in pairs], LabelConfig(**json.loads(cfg)))
            for (sid, _), lab in zip(pairs, recs):
                for task, key in (("vpt", "vpt_label"), ("depth", "depth_label")):
                    answers.append({"decision_maker": self.decision_maker, "task": task, "scene_id": sid,
                                    "response": getattr(lab, key), "score": np.nan, "seed": 0})
        return make_trials(pd.DataFrame(answers), items, context, self.kind)


def _source(ds: Dataset) -> str:
    r = ds.items["rendered"]
    return "images" if r.all() else "analytic" if not r.any() else "mixed"


class CueCache:
    """Cue tables (and thumbnails) per dataset hash, computed once per process."""

    def __init__(self) -> None:
        self._tables: dict[str, tuple[pd.DataFrame, np.ndarray]] = {}

    def get(self, ds: Dataset) -> tuple[pd.DataFrame, np.ndarray]:
        if ds.hash not in self._tables:
            if _source(ds) == "mixed":
                raise UserError(f"{ds.root}: only some stimuli are rendered; finish `vpt scenes` (or `make scenes`) "
                                "so that every cue comes from the same kind of image")
            table, thumbs = dataset_cue_table(ds.root, ds.index)
            self._tables[ds.hash] = (table.set_index("scene_id"), thumbs)
        return self._tables[ds.hash]


def _logreg(seed: int, max_iter: int = 2000):
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler(),
                         LogisticRegression(max_iter=max_iter, random_state=seed))


def _hgb(seed: int, params: dict[str, Any]):
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(**params, random_state=seed)


class ShortcutBaselines:
    """One family of shortcut learners (``single``, ``combined`` or ``thumbnail``), fitted
    on the ``train`` split of ``train`` for both tasks; answers every non-train item."""

    kind = "baseline"

    def __init__(self, family: str, train: Dataset, seed: int = 0, cues: CueCache | None = None) -> None:
        if family not in FAMILIES:
            raise UserError(f"unknown shortcut family {family!r}; choose from {', '.join(FAMILIES)}")
        self.family, self.train, self.seed = family, train, seed
        self.name = f"baseline-{family}"
        self.cues = cues or CueCache()
        self._models: dict[tuple[str, str], tuple[Any, list[str] | None]] | None = None
        self._n_train = 0

    def _features(self, table: pd.DataFrame) -> list[str]:
        names = [c for c in list(GEOMETRY_CUES) + list(RGB_CUES) if c in table.columns]
        return [c for c in names if table[c].astype(float).notna().any()]

    def _design(self, ds: Dataset, scene_ids: pd.Series, cols: list[str] | None) -> np.ndarray:
        table, thumbs = self.cues.get(ds)
        if cols is None:  # the thumbnail
            pos = {sid: i for i, sid in enumerate(table.index)}
            return thumbs[[pos[s] for s in scene_ids]].astype(float)
        return table.loc[list(scene_ids), cols].to_numpy(float)

    def _hgb_params(self) -> dict[str, Any]:
        return dict(HGB_SINGLE_PARAMS if self.family == "single" else HGB_PARAMS)

    def _threads(self):
        """One OpenMP thread for the many one-cue fits (thread start-up costs more than the fit)."""
        from contextlib import nullcontext

        from threadpoolctl import threadpool_limits

        return threadpool_limits(1) if self.family == "single" else nullcontext()

    def fit(self) -> None:
        if self._models is not None:
            return
        items = self.train.items[self.train.items["split"] == "train"]
        if items.empty:
            raise UserError(f"{self.train.root}: no train split to fit shortcut baselines on (a sweep dataset? "
                            "pass the binary benchmark, e.g. data/depth-vpt)")
        table, _ = self.cues.get(self.train)
        feats = self._features(table.loc[list(items["scene_id"])])
        specs: list[tuple[str, str, list[str] | None]] = []
        if self.family == "single":
            specs = [(f"baseline:{m}:{c}", m, [c]) for c in feats for m in ("logreg", "hgb")]
        elif self.family == "combined":
            specs = [(f"baseline:{m}:all-cues", m, feats) for m in ("logreg", "hgb")]
            # each cue family's cues together: the family floors the report draws beside every decision maker
            for fam in FAMILY_NAMES:
                cols = family_cues(fam, feats)
                if cols:
                    specs += [(f"baseline:{m}:{fam}-cues", m, cols) for m in ("logreg", "hgb")]
        else:
            specs = [("baseline:logreg:thumbnail", "logreg", None)]
        models: dict[tuple[str, str], tuple[Any, list[str] | None]] = {}
        with warnings.catch_warnings(), self._threads():
            warnings.simplefilter("ignore")  # constant cues and tiny fixtures are fine here
            for task in TASKS:
                keep, yy = train_targets(items, task, self.train.root, "classifier")
                for dm, model, cols in specs:
                    x = self._design(self.train, items["scene_id"][keep], cols)
                    est = (_logreg(self.seed, 5000 if self.family == "combined" else 2000) if model == "logreg"
                           else _hgb(self.seed, self._hgb_params()))
                    models[(dm, task)] = (est.fit(x, yy), cols)
        self._models, self._n_train = models, len(items)

    def describe(self) -> dict[str, Any]:
        """Cheap (no fitting), so that a rerun finds its finished runs at once; the decision
        makers it fitted are listed in each run's manifest."""
        n_train = int((self.train.items["split"] == "train").sum())
        return {"family": self.family, "tasks": list(TASKS),
                "decision_makers": {"single": "baseline:{logreg,hgb}:<cue>", "combined": "baseline:{logreg,hgb}:{all,nuisance,image-plane,depth}-cues",
                                    "thumbnail": "baseline:logreg:thumbnail"}[self.family],
                "models": {"logreg": "median imputer, standard scaler, sklearn LogisticRegression (L2, C=1)",
                           "hgb": f"sklearn HistGradientBoostingClassifier {self._hgb_params()}"},
                "train": {"dataset": self.train.name, "hash": self.train.hash, "split": "train", "items": n_train},
                "cue_source": _source(self.train), "vpt": vpt.__version__, "seeds": {"model": self.seed}}

    def decide(self, items: pd.DataFrame, context: RunContext) -> pd.DataFrame:
        self.fit()
        assert self._models is not None
        if _source(context.dataset) != _source(self.train):
            raise UserError(f"{context.dataset.root}: cues would come from {_source(context.dataset)} but the "
                            f"baselines were trained on {_source(self.train)} cues of {self.train.root}; render both "
                            "(`make scenes`) or plan both")
        test = items[items["split"] != "train"]
        frames = []
        with warnings.catch_warnings(), self._threads():
            warnings.simplefilter("ignore")
            for (dm, task), (model, cols) in self._models.items():
                if test.empty:
                    break
                x = self._design(context.dataset, test["scene_id"], cols)
                proba = model.predict_proba(x)[:, list(model.classes_).index(1)]
                frames.append(pd.DataFrame({"decision_maker": dm, "task": task, "scene_id": test["scene_id"].to_numpy(),
                                            "response": model.predict(x).astype(int), "score": proba,
                                            "seed": self.seed}))
        answers = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
            {c: [] for c in ("decision_maker", "task", "scene_id", "response", "score", "seed")})
        return make_trials(answers, items, context, self.kind)


def make_deciders(train: Dataset, only: str | None = None, seed: int = 0) -> list:
    """The baseline deciders of ``vpt baseline``: the label rule and the three shortcut
    families (or just ``only``: ``label-rule``, ``single``, ``combined``, ``thumbnail``)."""
    cues = CueCache()
    everything = ["label-rule", *FAMILIES]
    chosen = everything if only is None else [only]
    out: list = []
    for name in chosen:
        out.append(LabelRule() if name == "label-rule" else ShortcutBaselines(name, train, seed, cues))
    return out
