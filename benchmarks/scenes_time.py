"""Where the time of ``make scenes`` goes: ``python benchmarks/scenes_time.py --data data``.

Prints one row per stage: install, plan, audit, 256 px renders (the model images), 512 px
renders (the human set and the warm-up at the human resolution), sweeps (the renders of
sweep items), files (scene JSONs, index, card, contact sheet), and the total, with what the
total would be without the 512 px renders.

Two sources, both the pipeline's own timings:

* ``--data DIR``: a finished output folder (``make scenes OUT=DIR``). Each dataset folder's
  ``timings.json`` (written by ``vpt scenes``) gives the seconds of planning, rendering, the
  audit and the files; the render seconds are split between 256 px, 512 px and sweep renders
  in proportion to the per-image timings each scene JSON records (``render.timings`` and
  ``render.human.timings``; Blender's worker time, build to write). A folder from before
  ``timings.json`` existed gives the render rows only (the sums of the per-image timings).
* ``--fresh-clone``: clones this checkout's HEAD (committed files only) into a temporary
  folder, times ``make .venv/.installed-render`` (the install; needs the network or a pip
  cache) and ``make scenes OUT=...`` there, then reads that output as above.

Timings depend on the machine and its load: compare runs made on the same machine, and say
how loaded it was (the 1-minute load average is printed).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

STAGES = ("install", "plan", "audit", "256 px renders", "512 px renders", "sweeps", "files")


def dataset_times(root: Path) -> dict[str, Any]:
    """Per-stage seconds of one dataset folder, from its ``timings.json`` and scene JSONs."""
    per_image: dict[str, list[float]] = {"256 px renders": [], "512 px renders": [], "sweeps": []}
    in_call: list[float] = []  # share of the worker's time spent in Blender's render call
    presets: dict[str, int] = {}
    for path in sorted((root / "scenes").glob("*/*.json")):
        rec = json.loads(path.read_text(encoding="utf-8"))
        render = rec.get("render") or {}
        if render.get("timings"):
            t = render["timings"]
            per_image["sweeps" if rec.get("sweep") else "256 px renders"].append(float(t["total"]))
            if t.get("render") and t.get("total"):
                in_call.append(float(t["render"]) / float(t["total"]))
            s = render.get("settings") or {}
            if s.get("preset"):
                name = f"{s['preset']} ({s.get('samples')} samples)"
                presets[name] = presets.get(name, 0) + 1
        if (render.get("human") or {}).get("timings"):
            per_image["512 px renders"].append(float(render["human"]["timings"]["total"]))
    sums = {k: sum(v) for k, v in per_image.items()}
    out: dict[str, Any] = {"recipe": root.name, "images": {k: len(v) for k, v in per_image.items()},
                           "median_s": {k: statistics.median(v) for k, v in per_image.items() if v},
                           "stages": dict(sums), "recorded": False, "presets": presets,
                           "render_call_share": statistics.fmean(in_call) if in_call else None}
    tfile = root / "timings.json"
    if tfile.exists():
        t = json.loads(tfile.read_text(encoding="utf-8"))
        st = t["stage_seconds"]
        total = sum(sums.values())
        for k in per_image:  # the render wall time, split by the per-image timings
            out["stages"][k] = st["render"] * sums[k] / total if total else 0.0
        out["stages"].update(plan=st["plan"], audit=st["audit"], files=st["files"])
        out["recorded"] = True
        out["written"], out["kept"] = t.get("written"), t.get("kept")
    return out


def breakdown(data: Path, install_s: float | None = None) -> dict[str, Any]:
    """Per-stage seconds summed over every dataset folder in ``data``."""
    roots = sorted(p.parent for p in data.glob("*/index.parquet"))
    if not roots:
        raise SystemExit(f"{data}: no dataset folders (with index.parquet) here; run `make scenes OUT={data}` "
                         "first, or pass the folder it wrote")
    per = [dataset_times(r) for r in roots]
    stages = {k: None for k in STAGES}
    stages["install"] = install_s
    for d in per:
        for k, v in d["stages"].items():
            stages[k] = (stages[k] or 0.0) + v
    return {"datasets": per, "stages": stages}


def table(result: dict[str, Any]) -> str:
    st = result["stages"]
    total = sum(v for v in st.values() if v is not None)
    n = {k: sum(d["images"].get(k, 0) for d in result["datasets"]) for k in ("256 px renders", "512 px renders",
                                                                           "sweeps")}
    med = {k: statistics.median([d["median_s"][k] for d in result["datasets"] if k in d["median_s"]])
           for k in n if n[k]}
    lines = ["| stage | minutes | share | images | median s/image (worker) |", "|---|---|---|---|---|"]
    for k in STAGES:
        v = st[k]
        if v is None:
            lines.append(f"| {k} | not measured | | | |")
            continue
        lines.append(f"| {k} | {v / 60:.1f} | {v / total:.0%} | {n.get(k, '')} | "
                     f"{f'{med[k]:.2f}' if k in med else ''} |")
    lines.append(f"| **total** | **{total / 60:.1f}** | | | |")
    lines.append(f"\nWithout the 512 px renders: {(total - (st['512 px renders'] or 0)) / 60:.1f} min.")
    for d in result["datasets"]:
        if d.get("presets") or d.get("render_call_share") is not None:
            share = d.get("render_call_share")
            lines.append(f"{d['recipe']}: " + ", ".join(f"{k} x {v}" for k, v in sorted(d.get("presets", {}).items()))
                         + (f"; Blender's render call (sampling, denoising) {share:.0%} of the worker's time per image"
                            if share is not None else ""))
    missing = [d["recipe"] for d in result["datasets"] if not d["recorded"]]
    if missing:
        lines.append(f"No timings.json in {', '.join(missing)} (a run from before `vpt scenes` wrote it): the render "
                     "rows there are sums of the per-image worker timings; plan, audit and files are not known.")
    lines.append(f"1-minute load average now {os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs.")
    return "\n".join(lines)


def fresh_clone(args: argparse.Namespace) -> tuple[Path, float]:
    """Clone HEAD, time the install and ``make scenes``; returns (output folder, install seconds)."""
    repo = Path(__file__).resolve().parents[1]
    work = Path(tempfile.mkdtemp(prefix="vpt-scenes-time-"))
    clone = work / "vpt"
    subprocess.run(["git", "clone", "--quiet", str(repo), str(clone)], check=True)
    make = ["make", "-C", str(clone), f"PYTHON={args.python}"]
    t0 = time.perf_counter()
    subprocess.run([*make, ".venv/.installed-render"], check=True)
    install = time.perf_counter() - t0
    out = work / "data"
    t0 = time.perf_counter()
    subprocess.run([*make, "scenes", f"OUT={out}", f"PRESET={args.preset}", f"ARGS={args.args}"], check=True)
    print(f"make scenes: {(time.perf_counter() - t0) / 60:.1f} min after {install / 60:.1f} min installing "
          f"(in {work})", flush=True)
    return out, install


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python benchmarks/scenes_time.py", description=__doc__.splitlines()[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", type=Path, help="output folder of a finished `make scenes` run")
    src.add_argument("--fresh-clone", action="store_true", help="clone HEAD, install and run `make scenes` there")
    ap.add_argument("--install-seconds", type=float, help="with --data: the install time, measured elsewhere")
    ap.add_argument("--python", default="python3.11", help="with --fresh-clone: the Python 3.11 to install with")
    ap.add_argument("--preset", default="standard", help="with --fresh-clone: PRESET for make scenes")
    ap.add_argument("--args", default="", help="with --fresh-clone: ARGS for make scenes (e.g. --human-renders)")
    ap.add_argument("--json", type=Path, help="also write the breakdown here")
    args = ap.parse_args(argv)
    if args.data is not None:
        if not args.data.is_dir():
            ap.error(f"--data {args.data}: no such folder; pass the OUT folder of a `make scenes` run")
        data, install = args.data, args.install_seconds
    else:
        data, install = fresh_clone(args)
    result = breakdown(data, install)
    print(f"{shlex.join(sys.argv)}\n{data}\n")
    print(table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
