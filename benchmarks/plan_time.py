"""How long `vpt scenes RECIPE --plan-only` takes (plan, files and the plan-time audit), its
peak resident memory, and its audit's figures; optionally beside another checkout's
(`make bench`, `make bench-plan`).

    python benchmarks/plan_time.py [--recipe depth-vpt] [--scale paper] [--before /work/main]

The command runs in a fresh process from this checkout (and, with ``--before``, from the
other one, one after the other on the same machine), so the two times are comparable only
when the load did not change in between: note the load average printed with each.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# the audit's headline figures (audit.json keys): lower is better for every one of them
FIGURES = {
    "vpt_max_single": "largest single-cue accuracy, VPT label",
    "permutation_null_max.vpt_label": "  its shuffled-label maximum (chance level)",
    "combined_vpt.boosted trees.test": "all cues together (boosted trees), test",
    "combined_vpt.logistic.test": "all cues together (logistic), test",
    "combined_vpt.boosted trees.ood": "all cues together (boosted trees), ood",
}


def _children(pid: int) -> list[int]:
    """``pid`` and all its descendants (from /proc)."""
    parent: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
                parent[int(d.name)] = int(fields[1])
            except (OSError, IndexError, ValueError):
                continue
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(c for c, pp in parent.items() if pp == p)
    return out


def _rss_mb(pids: list[int]) -> float:
    total = 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def _cpu_s(pids: list[int]) -> dict[int, float]:
    """User and system CPU seconds so far of each of ``pids`` (from /proc; gone ones left out)."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            out[p] = (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            continue
    return out


def plan_once(checkout: Path, recipe: str, scale: str | None, out: Path) -> dict:
    """Run the planner of ``checkout``; wall seconds, peak resident MB (the process and its
    workers together, polled every 0.2 s), and the audit's figures."""
    cmd = [sys.executable, "-m", "vpt.cli", "scenes", recipe, "--plan-only", "--out", str(out), "--quiet"]
    if scale:
        cmd += ["--scale", scale]
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=checkout, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = 0.0
    per_process: dict[int, float] = {}  # CPU seconds of each process, as last seen
    while proc.poll() is None:
        pids = _children(proc.pid)
        peak = max(peak, _rss_mb(pids))
        per_process.update(_cpu_s(pids))
        time.sleep(0.2)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the command and its workers, once waited for
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    log = proc.stdout.read() if proc.stdout else ""
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} (in {checkout}) failed with exit status {proc.returncode}:\n{log}")
    name = Path(recipe).stem
    audit = json.loads((out / name / "audit.json").read_text(encoding="utf-8"))
    stages = json.loads((out / name / "timings.json").read_text(encoding="utf-8")).get("stage_seconds", {})
    return {"wall_s": wall, "cpu_s": cpu, "per_process": per_process, "peak_rss_mb": peak, "load": load, "audit": audit, "stages": stages}


def figure(audit: dict, key: str) -> float | None:
    value: object = audit
    for part in key.split(".", 2):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return float(value) if isinstance(value, (int, float)) else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python benchmarks/plan_time.py", description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", default="depth-vpt", help="a recipe file or a packaged recipe's name (default depth-vpt)")
    ap.add_argument("--scale", default=None, help="a scale of the recipe (e.g. paper); default: the default size")
    ap.add_argument("--before", type=Path, default=None, help="another checkout to plan the same recipe with, for comparison")
    ap.add_argument("--out", type=Path, default=None, help="where to write the plans (default: a temporary folder)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="vpt-plan-time-") as tmp:
        out = args.out or Path(tmp)
        runs = {"this checkout": plan_once(ROOT, args.recipe, args.scale, out / "new")}
        if args.before:
            runs[f"before ({args.before})"] = plan_once(args.before.resolve(), args.recipe, args.scale, out / "before")
    size = args.scale or "default size"
    workers = os.environ.get("VPT_PLAN_WORKERS", f"one per core ({os.cpu_count()})")
    print(f"vpt scenes {args.recipe} --plan-only ({size}; plan workers: {workers}; {os.cpu_count()} cores)")
    for name, r in runs.items():
        print(f"  {name}: {r['wall_s']:.1f} s wall, peak resident {r['peak_rss_mb']:,.0f} MB "
              f"(all processes), load average {r['load']:.1f} at the start")
        print(f"    CPU time of all its processes {r['cpu_s']:.1f} s (user and system; on a busy machine this, "
              f"not the wall clock, compares two runs); stages (wall s): "
              + ", ".join(f"{k} {v}" for k, v in r["stages"].items() if k != "render"))
        procs = sorted(r["per_process"].values(), reverse=True)
        print(f"    CPU s per process (the command and its planning workers, largest first; as last seen, polled every 0.2 s): "
              + ", ".join(f"{c:.1f}" for c in procs if c >= 0.5))
    limit = 180.0 if args.scale == "paper" else 30.0 if args.scale is None else None
    if limit is not None:
        wall = runs["this checkout"]["wall_s"]
        print(f"criterion: at most {limit:.0f} s for the {size}: {'met' if wall <= limit else 'NOT met'}")
    if args.scale == "paper":
        peak = runs["this checkout"]["peak_rss_mb"]
        print(f"criterion: under 4 GB resident at paper scale: {'met' if peak < 4096 else 'NOT met'}")
    print("shortcut audit of the plan (lower is better; " + " | ".join(runs) + "):")
    for key, label in FIGURES.items():
        vals = [figure(r["audit"], key) for r in runs.values()]
        print(f"  {label:<55} " + " | ".join("-" if v is None else f"{v:.3f}" for v in vals))
    print("  worst single cue: " + " | ".join(str(r["audit"].get("vpt_worst_cue")) for r in runs.values())
          + "; passed: " + " | ".join(str(r["audit"].get("passed")) for r in runs.values()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
