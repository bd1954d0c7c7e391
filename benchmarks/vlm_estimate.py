"""What the default benchmark costs per model, without rendering it.

    python benchmarks/vlm_estimate.py [--recipe depth-vpt] [--planned DIR] [--work DIR] -- ESTIMATE-ARGS

Plans the recipe (``vpt scenes RECIPE --plan-only``; or takes an already planned dataset with
``--planned``), gives every item a stand-in PNG of the recipe's render size (a flat grey picture:
the three providers' image-token rules depend on the pixel size only, and the harness sends
every picture at ``--image-size``), and runs ``vpt vlm estimate`` on that copy with the
arguments after ``--`` (e.g. ``--split test ood --models all``). Nothing is sent; no key is
needed. The dollars are the price table's (evaluation/prices/prices.yaml) at its dates.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def stand_in(planned: Path, dest: Path, size: tuple[int, int]) -> Path:
    """A copy of ``planned`` with one grey PNG of ``size`` per item; returns the copy."""
    import pandas as pd
    from PIL import Image

    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(planned, dest)
    index = pd.read_parquet(dest / "index.parquet")
    (dest / "images").mkdir(exist_ok=True)
    grey = Image.new("RGB", size, (128, 128, 128))
    paths = []
    for sid in index["scene_id"]:
        rel = f"images/{sid}.png"
        grey.save(dest / rel)
        paths.append(rel)
    index["image"] = paths
    index.to_parquet(dest / "index.parquet", index=False)
    return dest


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    rest = argv[argv.index("--") + 1:] if "--" in argv else []
    own = argv[:argv.index("--")] if "--" in argv else argv
    ap = argparse.ArgumentParser(prog="python benchmarks/vlm_estimate.py", description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", default="depth-vpt", help="a packaged recipe name (default depth-vpt)")
    ap.add_argument("--planned", default=None, help="an already planned dataset folder of that recipe")
    ap.add_argument("--work", default=None, help="where the plan and the stand-in copy go (default: a temp dir)")
    args = ap.parse_args(own)
    import yaml

    from vpt.resources import recipes_dir

    recipe = yaml.safe_load((recipes_dir() / f"{args.recipe}.yaml").read_text())
    size = tuple(recipe["resolution"])
    work = Path(args.work or tempfile.mkdtemp(prefix="vlm-estimate-"))
    planned = Path(args.planned) if args.planned else None
    if planned is None:
        subprocess.run([sys.executable, "-m", "vpt.cli", "scenes", args.recipe, "--plan-only", "--quiet", "--out",
                        str(work / "plan")], check=True)
        planned = work / "plan" / recipe["name"]
    data = stand_in(planned, work / f"{recipe['name']}-stand-in", size)
    print(f"{args.recipe}: {len(__import__('pandas').read_parquet(data / 'index.parquet'))} planned items, stand-in "
          f"images {size[0]}x{size[1]} px (the recipe's render size)\n", flush=True)
    import vpt.cli

    return vpt.cli.main(["vlm", "estimate", str(data), "--out", str(work / "results"), *rest])


if __name__ == "__main__":
    raise SystemExit(main())
