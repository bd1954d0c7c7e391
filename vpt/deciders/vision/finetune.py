"""Fine-tuning timm backbones: the ``finetune`` decision makers of the trial table.

One network per task (``vpt``, ``depth``), trained on the ``train`` split of one dataset with
a new two-class head: every parameter (``blocks="all"``) or the head plus the last ``k``
parameter groups of timm's ``group_matcher`` (``blocks=k``; blocks of a ViT, stages of a
ResNet). AdamW with a linear warm-up then cosine decay per step; 3D-PC's settings by default
(:data:`DEFAULTS`: lr 5e-5, weight decay 1e-4, 30 epochs). No augmentation (a flip or a crop
could change the answer). Early stopping on val accuracy (``patience`` epochs without a new
best); the best val epoch's weights answer.

After every epoch the state (weights, optimiser, schedule, epoch, best weights, history, RNG)
is saved atomically to ``<work>/<key>/<task>.pt``, ``key`` a hash of the configuration: an
interrupted run resumes at the next epoch, a finished one is loaded without training.
Decision makers are ``<model>/<weights>/finetune-all`` or ``.../finetune-last<k>``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

import vpt
from vpt.deciders.base import RunContext, make_trials
from vpt.deciders.vision.probe import TASKS, require_images
from vpt.deciders.vision.settings import FINETUNE_DEFAULTS, SCRATCH_DEFAULTS
from vpt.errors import UserError
from vpt.trials.items import Dataset, labels

DEFAULTS: dict[str, Any] = dict(FINETUNE_DEFAULTS)
DEFAULT_WORK = Path(".cache") / "vpt-finetune"


def trainable(module, blocks: str | int) -> list[str]:
    """Unfreeze all parameters, or the head plus the last ``blocks`` groups; returns their names."""
    from timm.models import group_parameters

    names = [n for n, _ in module.named_parameters()]
    if blocks == "all":
        keep = set(names)
    else:
        groups = list(group_parameters(module, module.group_matcher(coarse=True)).values())
        head = {n for n, _ in module.get_classifier().named_parameters(prefix=_classifier_prefix(module))}
        keep = head | {n for g in groups[-(int(blocks) + 1):] for n in g}
    for n, p in module.named_parameters():
        p.requires_grad_(n in keep)
    return [n for n in names if n in keep]


def _classifier_prefix(module) -> str:
    head = module.get_classifier()
    return next(n for n, m in module.named_modules() if m is head)


OPTIONS_FILE = "options.json"


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _as_flag(key: str) -> str:
    """An options.json key as the command-line option that sets it (or the key itself)."""
    last = key.rsplit(".", 1)[-1]
    if key.startswith("settings.") or key == "blocks":
        return "--" + last.replace("_", "-")
    if key == "seeds.train":
        return "--seed"
    if key == "backbone.preprocessing.input_size":
        return "--input-size"
    return key


def _shown(v: Any) -> str:
    return "(unset)" if v is None else v if isinstance(v, str) else json.dumps(v)


def finished_like(tuner: "FineTuner") -> list[str]:
    """For each other folder under ``tuner.work`` holding every task's checkpoint of the same
    decision maker on the same training set, the options in which it differs from ``tuner``
    (as command-line options where there is one: ``--epochs 20``), to say what to pass."""
    from vpt.deciders.vision.probe import TASKS

    mine = _flat(json.loads(json.dumps(tuner.describe(), default=str)))
    out = []
    for record in sorted(tuner.work.glob(f"*/{OPTIONS_FILE}")):
        if record.parent.name == tuner.key() or not all((record.parent / f"{t}.pt").exists() for t in TASKS):
            continue
        try:
            theirs = _flat(json.loads(record.read_text()))
        except (OSError, ValueError):
            continue
        if theirs.get("decision_makers") != mine.get("decision_makers") or \
                theirs.get("train.hash") != mine.get("train.hash"):
            continue
        diff = [f"{_as_flag(k)} {_shown(theirs.get(k))}" for k in sorted(set(mine) | set(theirs))
                if mine.get(k) != theirs.get(k)]
        out.append(", ".join(diff) if diff else "the same options under another vpt version")
    return out


def lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay to 0 at ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))


def _save(path: Path, state: dict) -> None:
    import torch

    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    torch.save(state, tmp)
    os.replace(tmp, path)


class FineTuner:
    """Fine-tune one timm backbone per task on ``train``'s train split; answer every other item."""

    kind = "finetune"
    defaults: dict[str, Any] = DEFAULTS

    def __init__(self, backbone_options: dict[str, Any], train: Dataset, blocks: str | int = "all", seed: int = 0,
                 work: str | Path = DEFAULT_WORK, progress: bool = True, on_epoch: Callable | None = None,
                 **settings: Any) -> None:
        unknown = set(settings) - set(self.defaults)
        if unknown:
            raise UserError(f"unknown training settings {sorted(unknown)}; known: {', '.join(self.defaults)}")
        if blocks != "all" and (not str(blocks).isdigit() or int(blocks) < 0):
            raise UserError(f"--blocks {blocks!r}: 'all' or a number of last blocks (0 = the head only)")
        self.options, self.train, self.seed, self.progress = dict(backbone_options), train, seed, progress
        self.blocks = "all" if blocks == "all" else int(blocks)
        self.settings = {**self.defaults, **settings}
        self.work, self.on_epoch = Path(work), on_epoch
        self._backbone = None
        self._nets: dict[str, Any] | None = None
        self.trained_epochs = 0  # epochs run by this process (resumed ones are not counted)

    @property
    def backbone(self):
        if self._backbone is None:
            from vpt.deciders.vision.backbones import load_backbone

            if self.options.get("hf_dir") or "/" in self.options["model"]:
                raise UserError("fine-tuning supports timm models; transformers towers can be probed (vpt probe)")
            self._backbone = load_backbone(**{**self.options, "layer": None})
        return self._backbone

    @property
    def head_name(self) -> str:
        return "finetune-all" if self.blocks == "all" else f"finetune-last{self.blocks}"

    @property
    def name(self) -> str:
        return f"{self.backbone.model_name}-{self.backbone.weights}-{self.head_name}"

    @property
    def decision_maker(self) -> str:
        return f"{self.backbone.model_name}/{self.backbone.weights}/{self.head_name}"

    def describe(self) -> dict[str, Any]:
        return {"decision_makers": [self.decision_maker], "tasks": list(TASKS), "backbone": self.backbone.identity(),
                "blocks": self.blocks, "settings": self.settings, "schedule": "AdamW, linear warm-up then cosine "
                "(per step), early stopping on val accuracy, best val epoch answers", "augmentation": self.augmentation,
                "train": {"dataset": self.train.name, "hash": self.train.hash, "split": "train",
                          "items": int((self.train.items["split"] == "train").sum())},
                "vpt": vpt.__version__, "seeds": {"train": self.seed}}

    augmentation = "none"

    def augment(self, x, epoch: int, batch: int):
        """Label-preserving augmentation of a training batch (none for fine-tuning)."""
        return x

    def key(self) -> str:
        return hashlib.sha256(json.dumps(self.describe(), sort_keys=True, default=str).encode()).hexdigest()[:16]

    def _batches(self, items: pd.DataFrame, order: np.ndarray | None = None):
        from vpt.deciders.vision.features import batches, prefetch_helps

        paths = list(items["image"])
        idx = np.arange(len(paths)) if order is None else order
        bs = self.settings["batch_size"]
        for i, x in batches(self.backbone.preprocessing, [paths[j] for j in idx], bs,
                            prefetch_helps(self.backbone.device)):
            yield idx[i:i + bs], x

    def _predict(self, net, items: pd.DataFrame) -> np.ndarray:
        import torch

        net.eval()
        out = np.zeros(len(items), np.float32)
        with torch.inference_mode():
            for chunk, x in self._batches(items):
                out[chunk] = torch.softmax(net(x.to(self.backbone.device)), 1)[:, 1].float().cpu().numpy()
        return out

    def _train_task(self, task: str, tr: pd.DataFrame, va: pd.DataFrame):
        import copy

        import torch
        from tqdm import tqdm

        s, dev = self.settings, self.backbone.device
        folder = self.work / self.key()
        folder.mkdir(parents=True, exist_ok=True)
        record = folder / OPTIONS_FILE
        if not record.exists():  # what the folder's checkpoints were trained with (read by finished_like)
            tmp = record.with_name(f".{record.name}.tmp-{os.getpid()}")
            tmp.write_text(json.dumps(self.describe(), sort_keys=True, indent=2, default=str) + "\n")
            os.replace(tmp, record)
        path = folder / f"{task}.pt"
        torch.manual_seed(self.seed)
        net = copy.deepcopy(self.backbone.module).cpu()
        net.reset_classifier(2)
        params = trainable(net, self.blocks)
        net.to(dev)
        opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=s["lr"],
                                weight_decay=s["weight_decay"])
        steps_per_epoch = math.ceil(len(tr) / s["batch_size"])
        total, warm = s["epochs"] * steps_per_epoch, s["warmup_epochs"] * steps_per_epoch
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: lr_factor(step, warm, total))
        state = {"epoch": -1, "best_val": -1.0, "best_epoch": -1, "best": None, "history": [], "done": False}
        if path.exists():
            saved = torch.load(path, map_location="cpu", weights_only=False)
            net.load_state_dict(saved["model"])
            opt.load_state_dict(saved["optimizer"])
            sched.load_state_dict(saved["scheduler"])
            torch.set_rng_state(saved["rng"])
            state = saved["state"]
        y_tr = torch.tensor(labels(tr, task).to_numpy(int))
        y_va = labels(va, task).to_numpy(int) if len(va) else np.zeros(0, int)
        epochs = range(state["epoch"] + 1, s["epochs"]) if not state["done"] else range(0)
        verb = "fine-tune" if self.kind == "finetune" else "train"
        bar = tqdm(epochs, desc=f"{verb} {self.decision_maker} {task}", unit="epoch", disable=not self.progress,
                   file=sys.stderr)
        for epoch in bar:
            net.train()
            losses = []
            order = np.random.default_rng([self.seed, epoch]).permutation(len(tr))  # the same after a resume
            for b, (chunk, x) in enumerate(self._batches(tr, order)):
                x = self.augment(x, epoch, b)
                opt.zero_grad()
                loss = torch.nn.functional.cross_entropy(net(x.to(dev)), y_tr[chunk].to(dev))
                loss.backward()
                opt.step()
                sched.step()
                losses.append(float(loss.detach()))
            val = float(((self._predict(net, va) >= 0.5).astype(int) == y_va).mean()) if len(va) else None
            state["history"].append({"epoch": epoch, "loss": float(np.mean(losses)), "val_accuracy": val})
            if val is None or val > state["best_val"]:
                state.update(best_val=-1.0 if val is None else val, best_epoch=epoch,
                             best={k: v.detach().cpu().clone() for k, v in net.state_dict().items()})
            stop = val is not None and epoch - state["best_epoch"] >= s["patience"]
            state.update(epoch=epoch, done=stop or epoch == s["epochs"] - 1)
            _save(path, {"model": net.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                         "rng": torch.get_rng_state(), "state": state, "trainable": len(params)})
            self.trained_epochs += 1
            if self.on_epoch is not None:
                self.on_epoch(task, epoch)
            if stop:
                break
        if state["best"] is not None:
            net.load_state_dict(state["best"])
        return net, state

    def fit(self) -> dict[str, Any]:
        if self._nets is not None:
            return self._nets
        items = self.train.items
        require_images(self.train)
        tr, va = items[items["split"] == "train"], items[items["split"] == "val"]
        if tr.empty:
            raise UserError(f"{self.train.root}: no train split to fine-tune on")
        nets = {}
        for task in TASKS:
            keep = labels(tr, task).notna().to_numpy()
            vkeep = labels(va, task).notna().to_numpy() if len(va) else np.zeros(0, bool)
            nets[task] = self._train_task(task, tr[keep].reset_index(drop=True), va[vkeep].reset_index(drop=True))
        self._nets = nets
        return nets

    def decide(self, items: pd.DataFrame, context: RunContext) -> pd.DataFrame:
        nets = self.fit()
        test = items[items["split"] != "train"].reset_index(drop=True)
        frames = []
        if len(test):
            require_images(context.dataset)
            for task, (net, _) in nets.items():
                proba = self._predict(net, test)
                frames.append(pd.DataFrame({"decision_maker": self.decision_maker, "task": task,
                                            "scene_id": test["scene_id"].to_numpy(),
                                            "response": (proba >= 0.5).astype(int), "score": proba.astype(float),
                                            "seed": self.seed}))
        answers = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
            {c: [] for c in ("decision_maker", "task", "scene_id", "response", "score", "seed")})
        return make_trials(answers, items, context, self.kind)


class ScratchTrainer(FineTuner):
    """A randomly initialised network (from ``init_seed``) trained on the train split: ``kind``
    ``scratch``, decision maker ``<model>/random-init[-s<seed>]/scratch``.

    Augmentation keeps every label true: a horizontal mirror of the whole picture is the
    picture of the mirrored scene, in which the viewer sees the ball exactly when it did and the
    depth order is unchanged (both are invariant under reflection), so a flip needs no label
    swap; and a per-image brightness/contrast change (scale 0.8-1.2, shift +-0.2 in normalised
    units). No crop, no rotation: either could cut the ball or the viewer away."""

    kind = "scratch"
    defaults = dict(SCRATCH_DEFAULTS)
    augmentation = "horizontal flip (p 0.5), brightness/contrast x*U(0.8,1.2)+U(-0.2,0.2); no crop, no rotation"

    def __init__(self, backbone_options: dict[str, Any], train: Dataset, **kwargs: Any) -> None:
        opts = {**backbone_options, "random_init": True, "checkpoint": None, "hf_dir": None}
        super().__init__(opts, train, "all", **kwargs)

    @property
    def head_name(self) -> str:
        return "scratch"

    def augment(self, x, epoch: int, batch: int):
        import torch

        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch * 1009 + batch)  # same after a resume
        flip = torch.rand(len(x), generator=g) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        scale = 0.8 + 0.4 * torch.rand(len(x), 1, 1, 1, generator=g)
        shift = -0.2 + 0.4 * torch.rand(len(x), 1, 1, 1, generator=g)
        return x * scale + shift
