"""Probes on frozen backbone features: the ``probe`` decision makers of the trial table.

For each task (``vpt``, ``depth``) a head is fitted on the ``train`` split of one dataset and
answers every other item once: val, test, ood, the human set (in its own run) and every
sweep step of the sweep datasets. ``score`` is the predicted probability of class 1.

Heads:

* ``linear`` (default): standardised features and L2 logistic regression (sklearn); the
  inverse regularisation ``C`` is chosen from :data:`C_GRID` by cross-validation on train,
  stratified and grouped by scene (:func:`scene_groups`: a sweep's steps form one group;
  every binary stimulus is its own scene), so no scene is in two folds.
* ``3dpc``: 3D-PC's head in torch: BatchNorm1d, dropout, one linear layer, AdamW; the epoch
  is chosen on val (early stopping), the last one when the dataset has no val split.

Decision makers are named ``<model>/<weights>[@layer]/<head>``
(e.g. ``resnet18/random-init/linear``), so ``vpt report`` matches them to the model lists.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

import vpt
from vpt.deciders.base import RunContext, make_trials, train_targets
from vpt.deciders.vision.features import FeatureCache, extract
from vpt.errors import UserError
from vpt.trials.items import Dataset, labels

TASKS = ("vpt", "depth")
HEADS = ("linear", "3dpc")
C_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)
HEAD_3DPC = {"dropout": 0.5, "lr": 1e-3, "weight_decay": 1e-4, "epochs": 100, "batch_size": 64}


def scene_groups(items: pd.DataFrame) -> np.ndarray:
    """The CV group of each item: its sweep (all steps share one scene) or its own scene id."""
    return np.asarray([s if isinstance(s, str) and s else sid for s, sid in zip(items["sweep_id"], items["scene_id"])])


def require_images(ds: Dataset) -> None:
    if not ds.rendered:
        n = int((~ds.items["rendered"].astype(bool)).sum())
        raise UserError(f"{ds.root}: {n} of {len(ds.items)} stimuli have no rendered image; vision models need "
                        "pixels: run `make scenes` (or `vpt scenes` without --plan-only)")


def grouped_folds(y: np.ndarray, groups: np.ndarray, seed: int, folds: int = 5):
    """Stratified folds that never split a group (scene), or None when the data are too few."""
    from sklearn.model_selection import StratifiedGroupKFold

    minority = int(min(np.bincount(y, minlength=2)))
    k = min(folds, len(set(groups)), minority)
    return StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed) if k >= 2 else None


def fit_linear(x: np.ndarray, y: np.ndarray, groups: np.ndarray, seed: int, folds: int = 5) -> tuple[Any, dict]:
    """Standardise + L2 logistic regression with C chosen by stratified grouped CV.

    The same choice as ``GridSearchCV`` over :data:`C_GRID` (the scaler fitted on each
    fold's training part, accuracy averaged over folds, the first best C), computed faster:
    within a fold the fits run along the C grid in ascending order, each starting from the
    previous solution (``warm_start``); the final model is refitted on all of ``x``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def model(C: float = 1.0):
        return LogisticRegression(C=C, max_iter=5000, random_state=seed)

    cv = grouped_folds(y, groups, seed, folds)
    if cv is None:  # too small to cross-validate: sklearn's default C
        return make_pipeline(StandardScaler(), model()).fit(x, y), {"C": 1.0, "cv_folds": 0}
    from threadpoolctl import threadpool_limits

    x = np.asarray(x, np.float64)  # lbfgs runs in float64; converting once saves a cast per fit
    splits = list(cv.split(x, y, groups))

    def path(tr: np.ndarray, te: np.ndarray) -> list[float]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tiny folds, constant features, a large C that does not converge
            scaler = StandardScaler().fit(x[tr])
            x_tr, x_te = scaler.transform(x[tr]), scaler.transform(x[te])
            lr, acc = model().set_params(warm_start=True), {}
            for j in np.argsort(C_GRID):
                lr.set_params(C=C_GRID[j]).fit(x_tr, y[tr])
                acc[int(j)] = float((lr.predict(x_te) == y[te]).mean())
        return [acc[j] for j in range(len(C_GRID))]

    # One BLAS / OpenMP thread: these problems are small, and threads that wait for each other
    # make every fit many times slower when other jobs share the cores (10x measured under load
    # 8.6 on two cores; running the folds in threads gained nothing measurable).
    with threadpool_limits(1):
        scores = np.array([path(tr, te) for tr, te in splits])
        best = int(np.argmax(scores.mean(0)))  # the first of equal means, as GridSearchCV's rank
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pipe = make_pipeline(StandardScaler(), model(C_GRID[best])).fit(x, y)
    return pipe, {"C": float(C_GRID[best]), "cv_folds": len(splits), "cv_accuracy": float(scores.mean(0)[best])}


class Head3DPC:
    """BatchNorm -> dropout -> linear, trained with AdamW; the best val epoch is kept."""

    def __init__(self, dim: int, seed: int, params: dict[str, Any] = HEAD_3DPC) -> None:
        import torch

        self.params, self.seed = dict(params), seed
        torch.manual_seed(seed)
        self.net = torch.nn.Sequential(torch.nn.BatchNorm1d(dim), torch.nn.Dropout(params["dropout"]),
                                       torch.nn.Linear(dim, 2))
        self.classes_ = np.array([0, 1])

    def fit(self, x: np.ndarray, y: np.ndarray, x_val: np.ndarray | None = None, y_val: np.ndarray | None = None):
        import torch

        p = self.params
        g = torch.Generator().manual_seed(self.seed)
        xt, yt = torch.from_numpy(x).float(), torch.from_numpy(y).long()
        opt = torch.optim.AdamW(self.net.parameters(), lr=p["lr"], weight_decay=p["weight_decay"])
        best, best_state, self.best_epoch = -1.0, None, p["epochs"] - 1
        for epoch in range(p["epochs"]):
            self.net.train()
            for idx in torch.randperm(len(xt), generator=g).split(p["batch_size"]):
                if len(idx) < 2:
                    continue  # BatchNorm needs two samples
                opt.zero_grad()
                torch.nn.functional.cross_entropy(self.net(xt[idx]), yt[idx]).backward()
                opt.step()
            if x_val is not None and len(x_val):
                acc = float((self.predict(x_val) == y_val).mean())
                if acc > best:
                    best, self.best_epoch = acc, epoch
                    best_state = {k: v.clone() for k, v in self.net.state_dict().items()}
        if best_state is not None:
            self.net.load_state_dict(best_state)
        self.val_accuracy = best if best >= 0 else None
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        import torch

        self.net.eval()
        with torch.no_grad():
            return torch.softmax(self.net(torch.from_numpy(x).float()), dim=1).numpy()

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.predict_proba(x).argmax(1)


class VisionProbe:
    """A head on one frozen backbone, fitted on ``train``'s train split for both tasks."""

    kind = "probe"

    def __init__(self, backbone_options: dict[str, Any], train: Dataset, head: str = "linear", seed: int = 0,
                 cache: FeatureCache | None = None, batch_size: int = 32, progress: bool = True,
                 head_params: dict[str, Any] | None = None) -> None:
        if head not in HEADS:
            raise UserError(f"unknown head {head!r}; choose from {', '.join(HEADS)}")
        self.options, self.train, self.head, self.seed = dict(backbone_options), train, head, seed
        self.cache, self.batch_size, self.progress = cache, batch_size, progress
        self.head_params = {**HEAD_3DPC, **(head_params or {})}
        self._backbone = None
        self._models: dict[str, tuple[Any, dict]] | None = None

    @property
    def backbone(self):
        if self._backbone is None:
            from vpt.deciders.vision.backbones import load_backbone

            self._backbone = load_backbone(**self.options)
        return self._backbone

    @property
    def name(self) -> str:
        return f"probe-{self.backbone.tag}-{self.head}"

    @property
    def decision_maker(self) -> str:
        return f"{self.backbone.tag}/{self.head}"

    def features(self, ds: Dataset, items: pd.DataFrame) -> np.ndarray:
        require_images(ds)
        return extract(self.backbone, list(items["image"]), self.cache, self.batch_size, self.progress)

    def describe(self) -> dict[str, Any]:
        n_train = int((self.train.items["split"] == "train").sum())
        head = ({"head": "linear", "model": "StandardScaler + sklearn LogisticRegression (L2)", "C_grid": list(C_GRID),
                 "cv": "StratifiedGroupKFold (k <= 5) grouped by scene, on train"} if self.head == "linear" else
                {"head": "3dpc", "model": "BatchNorm1d -> Dropout -> Linear(2), AdamW, best val epoch", **self.head_params})
        return {"decision_makers": [self.decision_maker], "tasks": list(TASKS), "backbone": self.backbone.identity(),
                "head": head, "train": {"dataset": self.train.name, "hash": self.train.hash, "split": "train",
                                        "items": n_train},
                "vpt": vpt.__version__, "seeds": {"head": self.seed}}

    def fit(self) -> dict[str, tuple[Any, dict]]:
        if self._models is not None:
            return self._models
        items = self.train.items
        tr, va = items[items["split"] == "train"], items[items["split"] == "val"]
        if tr.empty:
            raise UserError(f"{self.train.root}: no train split to fit a probe on (a sweep dataset? pass the binary "
                            "benchmark, e.g. data/depth-vpt)")
        x_tr = self.features(self.train, tr)
        x_va = self.features(self.train, va) if len(va) else np.zeros((0, x_tr.shape[1]), np.float32)
        models: dict[str, tuple[Any, dict]] = {}
        for task in TASKS:
            keep, yy = train_targets(tr, task, self.train.root, "probe")
            if self.head == "linear":
                models[task] = fit_linear(x_tr[keep], yy, scene_groups(tr[keep]), self.seed)
            else:
                yv = labels(va, task)
                kv = yv.notna().to_numpy()
                h = Head3DPC(x_tr.shape[1], self.seed, self.head_params).fit(x_tr[keep], yy, x_va[kv], yv[kv].to_numpy(int))
                models[task] = (h, {"best_epoch": h.best_epoch, "val_accuracy": h.val_accuracy})
        self._models = models
        return models

    def decide(self, items: pd.DataFrame, context: RunContext) -> pd.DataFrame:
        models = self.fit()
        test = items[items["split"] != "train"]
        frames = []
        if len(test):
            x = self.features(context.dataset, test)
            for task, (model, _) in models.items():
                proba = model.predict_proba(x)[:, list(model.classes_).index(1)]
                frames.append(pd.DataFrame({"decision_maker": self.decision_maker, "task": task,
                                            "scene_id": test["scene_id"].to_numpy(),
                                            "response": (proba >= 0.5).astype(int), "score": proba,
                                            "seed": self.seed}))
        answers = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
            {c: [] for c in ("decision_maker", "task", "scene_id", "response", "score", "seed")})
        return make_trials(answers, items, context, self.kind)
