"""Local executor against Ray on one plan: ``python benchmarks/ray_scaling.py -n 48 --preset preview``.

Renders the same jobs (the canonical example scenes, as ``benchmarks/render_speed.py`` does) with the
local executor and with the Ray executor (a local Ray started here, or ``--ray-address``),
alternating ``--repeats`` times, and prints images per hour for each, Ray's overhead per
image (the difference in wall time over the images) and the seconds Ray took to start,
which a run pays once. The load average is printed beside every timing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from vpt.render.examples import analytic_visible_fraction, example_specs
from vpt.render.executor import render_jobs
from vpt.render.ray_executor import connect, render_jobs_ray
from vpt.scene.spec import to_dict


def _jobs(n: int, size: int, out: Path) -> list[dict]:
    return [{"scene_id": f"{i:05d}-{s.scene_id}", "spec": to_dict(s), "out_stem": str(out / f"{i:05d}"),
             "analytic_fraction": analytic_visible_fraction(s), "depth": False}
            for i, s in enumerate(example_specs(n, size))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python benchmarks/ray_scaling.py", description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="preview")
    ap.add_argument("-n", type=int, default=48, help="images per run")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=1, help="runs of each executor, alternating")
    ap.add_argument("--ray-address", default=None)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    connect(args.ray_address)
    ray_start = time.perf_counter() - t0
    runs: dict[str, list[dict]] = {"local": [], "ray": []}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.repeats):
            for name in ("local", "ray") if rep % 2 == 0 else ("ray", "local"):
                out = Path(tmp) / f"{name}-{rep}"
                out.mkdir()
                run = render_jobs if name == "local" else render_jobs_ray
                t = time.perf_counter()
                results = list(run(_jobs(args.n, args.size, out), args.preset))
                wall = time.perf_counter() - t
                runs[name].append({"wall_s": round(wall, 2), "failed": sum(not r["ok"] for r in results),
                                   "images_per_hour": round(3600 * len(results) / wall),
                                   "load_1min": os.getloadavg()[0]})
                print(name, json.dumps(runs[name][-1]), flush=True)
    local = statistics.median(r["wall_s"] for r in runs["local"])
    ray = statistics.median(r["wall_s"] for r in runs["ray"])
    print(json.dumps({"preset": args.preset, "images": args.n, "size": args.size, "cpus": os.cpu_count(),
                      "local_images_per_hour": round(3600 * args.n / local),
                      "ray_images_per_hour": round(3600 * args.n / ray),
                      "ray_overhead_s_per_image": round((ray - local) / args.n, 3),
                      "ray_start_s": round(ray_start, 1), "runs": runs}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
