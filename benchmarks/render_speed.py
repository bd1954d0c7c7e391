"""Render benchmark: ``python benchmarks/render_speed.py --preset standard -n 24``.

Renders the canonical example scenes (every style, several layouts) through the local
executor, as ``make scenes`` does, and reports seconds per image, images per hour, the
CPU seconds per image of the workers (their user and system time: the figure to compare on a
busy machine; ``--workers 2 --threads 1`` against ``--workers 1`` shows what splitting the
cores between processes buys), the
share of per-scene time spent outside Blender's render call (scene build, ray casts,
writes) and the workers' memory. Pass ``--specs DIR`` to time scene JSON files instead
(each file a ``to_dict(spec)``, or a scene JSON with the spec under ``"spec"``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from vpt.render.examples import analytic_visible_fraction, example_specs, load_specs
from vpt.render.executor import DEFAULT_RECYCLE_EVERY, render_jobs
from vpt.render.presets import preset_values
from vpt.scene.spec import to_dict


def summarize(results: list[dict[str, Any]], wall: float) -> dict[str, Any]:
    t = [r["timings"] for r in results]
    total = sum(x["total"] for x in t)
    render = sum(x["render"] for x in t)
    return {
        "images": len(results),
        "failed": sum(not r["ok"] for r in results),
        "wall_s": wall,
        "s_per_image_wall": wall / len(results),
        "images_per_hour": 3600.0 * len(results) / wall,
        "render_call_s_median": statistics.median(x["render"] for x in t),
        "outside_render_share": (total - render) / total,
        "outside_render_s_mean": {k: statistics.fmean(x[k] for x in t) for k in ("build", "raycast", "write")},
        "rss_mb_max": max(r["rss_mb"] for r in results),
        # memory trend: the first and the last ten renders (flat memory: these agree)
        "rss_mb_first10_mean": statistics.fmean(r["rss_mb"] for r in results[:10]),
        "rss_mb_last10_mean": statistics.fmean(r["rss_mb"] for r in results[-10:]),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python benchmarks/render_speed.py", description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="standard")
    ap.add_argument("-n", type=int, default=12, help="number of scenes")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--threads", type=int, default=None,
                    help="Cycles threads per worker (default: the cores divided among the workers)")
    ap.add_argument("--device", default="cpu", choices=["cpu", "gpu"])
    ap.add_argument("--recycle-every", type=int, default=DEFAULT_RECYCLE_EVERY)
    ap.add_argument("--specs", type=Path, help="folder of scene JSON files to render instead of the examples")
    ap.add_argument("--out", type=Path, help="keep the images here (default: a temporary folder)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                    help="override one preset value, e.g. --set persistent_data=true --set samples=12")
    args = ap.parse_args(argv)
    overrides = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        try:
            overrides[key] = json.loads(value) if sep else None
        except json.JSONDecodeError:
            ap.error(f"--set {item}: the value must be JSON (true, 12, 0.05, \"FAST\", null)")
        if not sep:
            ap.error(f"--set {item}: write KEY=VALUE")
    try:
        preset_values(args.preset, overrides)
    except ValueError as exc:
        ap.error(str(exc))
    specs = load_specs(args.specs)[: args.n] if args.specs else example_specs(args.n, args.size)
    if args.specs and len(specs) < args.n:  # cycle the folder's scenes to reach n renders
        specs = [specs[i % len(specs)] for i in range(args.n)]
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        jobs = [{"scene_id": f"{i:05d}-{s.scene_id}", "spec": to_dict(s), "out_stem": str(out / f"{i:05d}"),
                 "analytic_fraction": analytic_visible_fraction(s), "depth": False,
                 **({"overrides": overrides} if overrides else {})} for i, s in enumerate(specs)]
        cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        results = list(render_jobs(jobs, args.preset, workers=args.workers, device=args.device,
                                   recycle_every=args.recycle_every, threads=args.threads))
        wall = time.perf_counter() - t0
        cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)  # the workers have exited by now
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    summary = {"preset": args.preset, "overrides": overrides, "load_1min": os.getloadavg()[0], "workers": args.workers,
               "threads_per_worker": results[0]["settings"]["threads"], "device": results[0]["settings"]["device"],
               "cpu_s_per_image": cpu / len(results), **summarize(results, wall)}
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
