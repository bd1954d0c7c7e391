"""The `vpt` command line. Every subcommand's --help works without Blender or torch."""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import sys
from pathlib import Path

from vpt.render.presets import PRESETS  # plain Python: no Blender

EXIT_USER_ERROR = 2

# The evaluator half adds its subcommands from its own packages: each module has
# `add_parser(sub)` that registers one or more subcommands with `set_defaults(func=...)`.
# Those modules import nothing heavy at module level (torch, SDKs, web frameworks load
# inside the command), so `vpt --help` stays fast and works without them.
EVALUATOR_COMMANDS: tuple[str, ...] = ("vpt.deciders.cli", "vpt.report.cli", "vpt.deciders.human.cli",
                                       "vpt.deciders.vlm.cli", "vpt.deciders.vision.cli",
                                       "vpt.deciders.vision.saliency_cli")


def _seed(text: str) -> int:
    """A recipe seed from the command line, in the range the recipe schema allows."""
    from vpt.datasets.recipe import BINARY_SCHEMA

    lo, hi = BINARY_SCHEMA["seed"][2]
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not lo <= value <= hi:
        raise argparse.ArgumentTypeError(f"{value} is outside {lo} .. {hi}, the range of a recipe seed")
    return value


def _fail(msg: str) -> int:
    print(f"vpt: error: {msg}", file=sys.stderr)
    return EXIT_USER_ERROR


def cmd_scenes(args: argparse.Namespace) -> int:
    from vpt.datasets.pipeline import build_dataset
    from vpt.datasets.recipe import find_recipes

    recipes = [r for target in args.recipes for r in find_recipes(target)]
    renderer, render_key, bpy_version = None, None, None
    if not args.plan_only:
        from vpt.datasets.render_stage import RenderOptions, make_renderer  # Blender runs in workers

        renderer, render_key, bpy_version = make_renderer(RenderOptions.from_args(args))
    for recipe in recipes:
        build_dataset(recipe, Path(args.out), scale=args.scale, renderer=renderer, render_key=render_key,
                      bpy_version=bpy_version, progress=not args.quiet, human_renders=args.human_renders)
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from vpt.datasets.audit import audit_dataset, audit_plan, sweep_folders_beside, write_audit
    from vpt.datasets.index import is_dataset

    target = Path(args.target)
    if is_dataset(target):
        if args.seed is not None:
            return _fail(f"{target}: --seed re-plans a recipe; a rendered dataset is audited as it is (pass the "
                         f"recipe instead, e.g. `vpt audit depth-vpt --seed {args.seed}`)")
        sweeps = [Path(p) for p in args.sweeps] if args.sweeps else sweep_folders_beside(target)
        result = audit_dataset(target, sweeps, folds=args.folds)
        write_audit(result, target)
        print(result.to_markdown())
        print(f"saved {target / 'audit.md'} and {target / 'audit.json'}")
        return 0 if result.passed() or not args.strict else 1
    from vpt.resources import resolve_recipe

    recipe_path = resolve_recipe(target)  # a file, a folder of recipes, or a packaged name (depth-vpt)
    if recipe_path.suffix in (".yaml", ".yml") or (recipe_path.is_dir() and any(recipe_path.glob("*.yaml"))):
        from vpt.datasets.build import plan_recipe
        from vpt.datasets.recipe import find_recipes

        recipes = find_recipes(recipe_path)
        if args.seed is not None:  # another draw of the same recipe: does it pass in general, not for one seed?
            recipes = [dataclasses.replace(r, config={**r.config, "seed": args.seed}) for r in recipes]
        binary = [r for r in recipes if r.kind == "binary"]
        if not binary:
            return _fail(f"{target}: no binary recipe to audit (sweeps carry no balanced labels)")
        sweep_items = [it for r in recipes if r.kind == "sweeps" for it in plan_recipe(r, args.scale, progress=True).items]
        failed = False
        for recipe in binary:
            plan = plan_recipe(recipe, args.scale, progress=True)
            result = audit_plan(plan.items, sweep_items, folds=args.folds, progress=True)
            print(f"# {recipe.name} (seed {recipe.config['seed']})\n\n{result.to_markdown()}")
            failed |= not result.passed()
        return 1 if failed and args.strict else 0
    from vpt.resources import recipe_names

    return _fail(f"{target}: not a dataset folder (with index.parquet) nor a recipe (.yaml); run `vpt scenes` "
                 f"first, or pass scenes/<recipe>.yaml or a packaged recipe ({', '.join(recipe_names())})")


def cmd_legibility(args: argparse.Namespace) -> int:
    from vpt.datasets.legibility import load_crops, measure_legibility, write_legibility

    root = Path(args.dataset)
    result, wrong = measure_legibility(root, size=args.crop_px, human=load_crops(root, args.crop_px, human=True))
    write_legibility(result, wrong, root)
    print(result.to_markdown())
    print(f"saved {root / 'legibility.md'}, {root / 'legibility.json'} and {root / 'legibility_errors.png'}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from vpt.datasets.recipe import find_recipes

    for target in args.recipes:
        for r in find_recipes(target):
            print(f"{r.path}: ok ({r.kind}, config hash {r.config_hash})")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from vpt.datasets.verify import VerifyOptions, verify_dataset

    report = verify_dataset(Path(args.dataset), VerifyOptions(sample=args.sample, progress=not args.quiet))
    print(report.summary())
    return 0 if report.passed else 1


def cmd_export(args: argparse.Namespace) -> int:
    from vpt.datasets.export import export_imagefolder

    print(export_imagefolder(Path(args.dataset), Path(args.out)).summary())
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vpt", description="Generate and evaluate visual perspective taking and "
                                "depth-order benchmarks rendered with Blender.")
    from vpt import __version__

    p.add_argument("--version", action="version", version=f"vpt {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    from vpt.render.executor import DEFAULT_RECYCLE_EVERY  # plain Python: no Blender, no Ray
    from vpt.render.factory import EXECUTORS  # (Ray is imported only when chosen)

    s = sub.add_parser("scenes", help="plan, label, render and write benchmarks from recipes",
                       description="Sample, label, counterbalance and render every recipe; write images, masks, "
                       "scene JSON, index (CSV/Parquet), audit and dataset card. Re-running resumes: finished "
                       "stimuli whose spec and settings are unchanged are kept.")
    s.add_argument("recipes", nargs="*", default=["scenes"],
                   help="recipe files, folders or packaged recipe names such as depth-vpt (default: scenes/ here, "
                   "else the packaged recipes)")
    s.add_argument("--out", default="data", help="output folder (default: data/)")
    s.add_argument("--preset", default="standard", choices=list(PRESETS), help="render quality (docs/rendering.md)")
    s.add_argument("--scale", default=None, help="a named scale from the recipe's `scales` (e.g. paper)")
    s.add_argument("--plan-only", action="store_true", help="write specs, labels, index and audit; no rendering")
    s.add_argument("--workers", type=int, default=1, help="local Blender worker processes (default 1, using all "
                   "threads)")
    s.add_argument("--device", default="cpu", choices=["cpu", "gpu"], help="Cycles device (with Ray: one GPU a task)")
    s.add_argument("--recycle-every", type=int, default=DEFAULT_RECYCLE_EVERY,
                   help=f"restart each Blender worker after N scenes (default {DEFAULT_RECYCLE_EVERY})")
    s.add_argument("--executor", default="local", choices=list(EXECUTORS),
                   help="local: worker processes here; ray: shards as Ray tasks on a cluster (pip install "
                   "'vpt[cluster]'), one Blender worker per node using its cores")
    s.add_argument("--ray-address", default=None, metavar="ADDRESS",
                   help="the Ray head node, HOST:PORT (default: RAY_ADDRESS, else a new local Ray); the output "
                   "folder must be on a filesystem every node shares")
    s.add_argument("--depth", action="store_true", help="also write observer depth maps")
    s.add_argument("--human-renders", action="store_true",
                   help="also render the human set and the warm-up at the recipe's human_resolution (512 px), for "
                   "the browser experiment (`make human-set`); without it they are neither rendered nor removed, and "
                   "`vpt human` shows the model-resolution images")
    s.add_argument("--quiet", action="store_true", help="no progress bars")
    s.set_defaults(func=cmd_scenes)

    a = sub.add_parser("audit", help="shortcut audit of a dataset folder or a recipe",
                       description="Can a label be read off 2D image cues? Cues come from the rendered masks "
                       "and images of a dataset folder (saved there as audit.md/json), or, for a recipe, from the "
                       "analytic projection of the planned scenes (nothing rendered). Single cues: cross-validated "
                       "logistic regression and depth-2 tree, and train -> test, against a label-permutation null; "
                       "all cues together: logistic regression and boosted trees trained on train, tested on test, "
                       "ood, the human set and every sweep.")
    a.add_argument("target", help="a dataset folder (data/<recipe>) or a recipe (scenes/<recipe>.yaml)")
    a.add_argument("--folds", type=int, default=5)
    a.add_argument("--scale", default=None, help="recipe scale (recipes only)")
    a.add_argument("--strict", action="store_true", help="exit 1 if a single cue predicts VPT above 60 %%")
    a.add_argument("--seed", type=_seed, default=None,
                   help="plan the recipe from this seed instead of its own (recipes only): audit other draws of the "
                        "same recipe, to tell a leak from one draw's noise")
    a.add_argument("--sweeps", nargs="*", default=None,
                   help="sweep dataset folders to test on (default: rendered sweep datasets beside the target)")
    a.set_defaults(func=cmd_audit)

    lg = sub.add_parser("legibility", help="can the viewer's facing be read from the image? (per viewer model)",
                        description="Crops the viewer from every rendered image (located by the mask only), trains a "
                        "logistic regression on HOG features on train to predict its facing four ways (left/right x "
                        "toward/away from the observer) and reports test and ood accuracy per viewer model; writes "
                        "legibility.md, legibility.json and legibility_errors.png into the dataset folder.")
    lg.add_argument("dataset", help="a rendered dataset folder (data/<recipe>)")
    lg.add_argument("--crop-px", type=int, default=48, help="side of the resized viewer crop (default 48)")
    lg.set_defaults(func=cmd_legibility)

    c = sub.add_parser("check", help="validate recipes and print what is wrong")
    c.add_argument("recipes", nargs="*", default=["scenes"], help="as for `vpt scenes` (default: scenes/ here, "
                   "else the packaged recipes)")
    c.set_defaults(func=cmd_check)

    v = sub.add_parser("verify", help="re-check every label of a rendered dataset",
                       description="Re-checks every scene JSON against its index and files, and on a sample renders "
                       "an object-index image from the viewer's own camera: ball pixels must appear exactly when "
                       "the label says visible.")
    v.add_argument("dataset", help="a dataset folder (data/<recipe>)")
    v.add_argument("--sample", type=int, default=24, help="stimuli to re-render from the viewer (0 = none)")
    v.add_argument("--quiet", action="store_true")
    v.set_defaults(func=cmd_verify)

    e = sub.add_parser("export", help="export a rendered dataset as a Hugging Face `datasets` image folder")
    e.add_argument("dataset")
    e.add_argument("out")
    e.set_defaults(func=cmd_export)

    for name in dict.fromkeys(EVALUATOR_COMMANDS):  # each module once, in order
        importlib.import_module(name).add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from vpt.errors import UserError

    try:
        return int(args.func(args) or 0)
    except UserError as err:
        return _fail(str(err))
    except ModuleNotFoundError as err:  # a module of an optional extra: name the extra to install
        from vpt.extras import missing_extra

        missing = missing_extra(err, f"vpt {args.command}")
        if missing is None:
            raise
        return _fail(str(missing))
    except KeyboardInterrupt:
        print("\nvpt: interrupted; finished stimuli are kept and the next run resumes", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
