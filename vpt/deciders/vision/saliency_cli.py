"""`vpt saliency`: SmoothGrad / Integrated Gradients maps of probes, fine-tuned and from-scratch
models, scored against the rendered object masks (see :mod:`vpt.deciders.vision.saliency`).

Registered by :mod:`vpt.cli` through ``EVALUATOR_COMMANDS``; imports nothing heavy until a
command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vpt.deciders.vision.cli import _add_backbone_options, backbone_options, checked_names, datasets_for

SPLITS = ("human", "val", "test", "ood", "sweep")
KINDS = ("probe", "finetune", "scratch")
TRAINING = (("epochs", int), ("lr", float), ("weight_decay", float), ("warmup_epochs", int), ("patience", int))


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("saliency", help="attribution maps (SmoothGrad, Integrated Gradients) scored on the masks",
                       description="Makes each decision maker differentiable from the pixels to its answer's log-odds "
                       "(a probe: backbone -> pooled features -> the fitted head; a fine-tuned or from-scratch "
                       "network: its finished checkpoint), computes SmoothGrad and Integrated Gradients maps (captum) "
                       "on a split, saves them (.npz) with PNG overlays, and scores them against the object-index "
                       "masks: the share of attribution on the ball, the viewer, each occluder and the background, "
                       "and that share over the area share. Writes <out>/saliency/<decision maker>/ (read by vpt "
                       "report); a finished decision maker is skipped on a rerun, an interrupted one resumes.")
    _add_backbone_options(p, conflict=False)
    p.add_argument("--kind", choices=KINDS, default="probe",
                   help="probe (fitted here, features from the cache), finetune or scratch (the finished checkpoints "
                   "of vpt finetune / vpt train with the same options)")
    p.add_argument("--split", choices=SPLITS, default="human", help="the stimuli to attribute (default: the human "
                   "set; sweep: the sweep datasets)")
    p.add_argument("--limit", type=int, default=0, help="at most this many stimuli, evenly spaced (default: all)")
    p.add_argument("--methods", default="smoothgrad,ig", help="comma-separated: smoothgrad, ig (default both)")
    p.add_argument("--ig-steps", type=int, default=None, help="Integrated Gradients steps (default 32)")
    p.add_argument("--sg-samples", type=int, default=None, help="SmoothGrad noisy copies (default 16)")
    p.add_argument("--sg-noise", type=float, default=None, help="SmoothGrad noise SD, pixels in [0, 1] (default 0.15)")
    g = p.add_argument_group("probes (--kind probe)")
    g.add_argument("--head", choices=("linear", "3dpc"), default="linear")
    g.add_argument("--layer", default=None, help="the probe's layer (one module name), as in vpt probe")
    g.add_argument("--cache", default=None, help="feature cache folder (default: .cache/vpt-features)")
    t = p.add_argument_group("fine-tuned and from-scratch models: the options they were trained with")
    t.add_argument("--blocks", default="all", help="as in vpt finetune (default all)")
    for name, typ in TRAINING:
        t.add_argument(f"--{name.replace('_', '-')}", type=typ, default=None,
                       help="default: vpt finetune's / vpt train's")
    t.add_argument("--work", default=None, help="checkpoint folder (default: .cache/vpt-finetune)")
    p.set_defaults(func=cmd_saliency)


def select_items(train, sweeps, split: str, limit: int):
    """The item table of ``split`` (with a ``dataset`` column), at most ``limit`` evenly spaced."""
    import numpy as np
    import pandas as pd

    from vpt.errors import UserError

    if split == "sweep":
        if not sweeps:
            raise UserError(f"--split sweep: no rendered sweep dataset beside {train.root}; name one with --sweeps")
        items = pd.concat([s.items.assign(dataset=s.name) for s in sweeps], ignore_index=True)
    elif split == "human":
        items = train.select("human").assign(dataset=train.name)
    else:
        items = train.items[train.items["split"] == split].assign(dataset=train.name)
    if items.empty:
        raise UserError(f"{train.root}: no stimuli in split {split!r}; choose from {', '.join(SPLITS)}")
    if limit and limit < 0:
        raise UserError(f"--limit {limit}: give a positive number (0 = all)")
    if limit and limit < len(items):
        items = items.iloc[np.unique(np.linspace(0, len(items) - 1, limit).round().astype(int))]
    return items.reset_index(drop=True)


def finished_nets(tuner):
    """task -> pixels-to-log-odds module of a finished fine-tuning / training; a one-line
    error when its checkpoints are missing or unfinished (nothing is trained here)."""
    import torch

    from vpt.deciders.vision.finetune import finished_like
    from vpt.deciders.vision.probe import TASKS
    from vpt.deciders.vision.saliency import net_model
    from vpt.errors import UserError

    verb = "finetune" if tuner.kind == "finetune" else "train"
    for task in TASKS:
        path = tuner.work / tuner.key() / f"{task}.pt"
        done = path.exists() and torch.load(path, map_location="cpu", weights_only=False)["state"].get("done")
        if not done:
            like = finished_like(tuner)
            hint = (f"; runs of it there differ in: {' | '.join(like)}: pass those options to use one"
                    if like else f"; run vpt {verb} with the same options first")
            raise UserError(f"{tuner.decision_maker}: no finished `vpt {verb}` checkpoint for {task} under "
                            f"{tuner.work} with these options ({path.name} in {path.parent.name}){hint}")
    return {task: net_model(net, tuner.backbone.preprocessing) for task, (net, _) in tuner.fit().items()}


def cmd_saliency(args: argparse.Namespace) -> int:
    from vpt.extras import require

    require("vpt saliency", "torch", "timm", "captum")
    from vpt.deciders.vision.finetune import DEFAULT_WORK, FineTuner, ScratchTrainer
    from vpt.deciders.vision.saliency import METHODS, markdown, probe_model, run_saliency, slug
    from vpt.errors import UserError

    names = checked_names(args)
    if args.layer and "," in args.layer:
        raise UserError(f"--layer {args.layer}: one layer per saliency run")
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not methods or any(m not in METHODS for m in methods):
        raise UserError(f"--methods {args.methods!r}: choose from {', '.join(METHODS)}")
    settings = {k: v for k, v in (("ig_steps", args.ig_steps), ("sg_samples", args.sg_samples),
                                  ("sg_noise", args.sg_noise)) if v is not None}
    if any(v <= 0 for v in settings.values()):
        raise UserError("--ig-steps, --sg-samples and --sg-noise must be positive")
    train, sweeps, _ = datasets_for(args)
    items = select_items(train, sweeps, args.split, args.limit)
    training = {k: getattr(args, k) for k, _ in TRAINING if getattr(args, k) is not None}
    cache = None
    summaries = []
    import pandas as pd

    for name in names:
        opts = backbone_options(args, name)
        if args.kind == "probe":
            from vpt.deciders.vision.features import DEFAULT_CACHE, FeatureCache
            from vpt.deciders.vision.probe import VisionProbe

            cache = cache or FeatureCache(args.cache or DEFAULT_CACHE)
            decider = VisionProbe({**opts, "layer": args.layer}, train, args.head, args.seed, cache, args.batch_size,
                                  progress=not args.quiet)

            def build(d=decider):
                return {task: probe_model(d.backbone, head) for task, (head, _) in d.fit().items()}
        else:
            common = {"seed": args.seed, "work": args.work or DEFAULT_WORK, "progress": not args.quiet,
                      "batch_size": args.batch_size, **training}
            decider = (ScratchTrainer(opts, train, **common) if args.kind == "scratch" else
                       FineTuner(opts, train, args.blocks, **common))

            def build(d=decider):
                return finished_nets(d)
        dm = decider.decision_maker
        folder = Path(args.out) / "saliency" / slug(f"{dm}__{train.name}__{args.split}")
        folder, kept = run_saliency(build, dm, args.kind, items, folder, decider.describe(), methods, settings,
                                    args.seed, progress=not args.quiet, force=args.force)
        summaries.append(pd.read_parquet(folder / "attribution.parquet"))
        print(f"{dm}: {'kept (finished earlier)' if kept else 'written'} -> {folder}/")
    if cache is not None:
        cache.close()
    print("\nshare of |attribution| per region (share / area share):\n")
    print(markdown(pd.concat(summaries, ignore_index=True)))
    return 0
