"""Where one image's render time goes: ``python benchmarks/render_profile.py --specs DIR -n 20``.

For each preset asked for, renders the same scenes in this one Blender process through the
production path (:func:`vpt.render.output.render`: build, ray cast, Blender's render call,
mask and image writes) and splits the time of an image into

* **build**: the scene made from its spec (Python, bpy data blocks), the worker's timing;
* **ray cast**: the label of record (rays from the viewer's eye), the worker's timing;
* **sync + mask pass**: Blender's render call on the same scene at 8 x 8 px, one sample,
  no denoiser: Cycles' scene sync, shaders, BVH, the compositor's mask (IndexOB) output;
* **sampling**: the render call without the denoiser, less the above;
* **denoise**: the render call with the denoiser, less the one without;
* **write**: decoding the mask pass, encoding and writing the mask and image PNGs;

and, once per run, **process start**: a fresh worker process (``python -m
vpt.render.worker``) until it answers, and its first image's extra time over the same image
rendered again by that worker (Blender's kernels and the denoiser loaded).

Wall seconds and CPU seconds (all threads of this process) are printed; on a shared machine
the CPU seconds are the comparable figure (say what the load was: it is printed). The
differences are taken per scene and averaged, so they carry the noise of two timings each.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from render_quality import pick_specs, resized  # noqa: E402  (a sibling script)

from vpt.render.examples import load_specs  # noqa: E402
from vpt.scene.spec import SceneSpec, to_dict  # noqa: E402

NO_DENOISER = {"denoiser": None, "denoise_prefilter": None}
PARTS = ("build", "ray cast", "sync + mask pass", "sampling", "denoise", "write")


def timed_render(spec: SceneSpec, stem: Path, preset: str, overrides: dict[str, Any]) -> dict[str, float]:
    """The worker's timings of one image (wall seconds), with CPU seconds of each stage."""
    from vpt.render import output

    cpu: dict[str, float] = {}

    def clocked(name: str, fn: Any) -> Any:
        def run(*a: Any, **kw: Any) -> Any:
            c = time.process_time()
            try:
                return fn(*a, **kw)
            finally:
                cpu[name] = time.process_time() - c
        return run

    build, raycast = output.build_scene, output.raycast_viewer_visibility
    output.build_scene, output.raycast_viewer_visibility = clocked("build", build), clocked("raycast", raycast)
    try:
        c0, t0 = time.process_time(), time.perf_counter()
        res = output.render(spec, stem, preset=preset, overrides=overrides or None)
        t = dict(res["timings"])
        t["wall"], t["cpu"] = time.perf_counter() - t0, time.process_time() - c0
    finally:
        output.build_scene, output.raycast_viewer_visibility = build, raycast
    t["build_cpu"], t["raycast_cpu"] = cpu["build"], cpu["raycast"]
    t["write_cpu"] = t["cpu"] - cpu["build"] - cpu["raycast"] - t["render_cpu"]  # pass setup and writes
    return t


def tiny(spec: SceneSpec) -> SceneSpec:
    return dataclasses.replace(spec, observer=dataclasses.replace(spec.observer, width=8, height=8))


def profile_scene(spec: SceneSpec, folder: Path, preset: str,
                  overrides: dict[str, Any] | None = None) -> dict[str, dict[str, float]]:
    """{part: {"wall": s, "cpu": s}} for one scene (see the module docstring); ``overrides``
    change preset values (:func:`vpt.render.presets.preset_values`)."""
    from vpt.render.presets import preset_values

    ov = dict(overrides or {})
    full = timed_render(spec, folder / "full", preset, ov)
    denoised = preset_values(preset, ov)["denoiser"] is not None
    plain = timed_render(spec, folder / "plain", preset, ov | NO_DENOISER) if denoised else full
    fixed = timed_render(tiny(spec), folder / "tiny", preset, ov | NO_DENOISER | {"samples": 1})
    out = {}
    for clock in ("wall", "cpu"):
        def call(t: dict[str, float]) -> float:
            return t["render"] if clock == "wall" else t["render_cpu"]
        sfx = "" if clock == "wall" else "_cpu"
        out[clock] = {"build": full["build" + sfx], "ray cast": full["raycast" + sfx], "write": full["write" + sfx],
                      "sync + mask pass": call(fixed), "sampling": call(plain) - call(fixed),
                      "denoise": call(full) - call(plain), "total": full[clock]}
    return {part: {clock: out[clock][part] for clock in out} for part in (*PARTS, "total")}


def process_start(spec: SceneSpec, folder: Path, preset: str) -> dict[str, float]:
    """Seconds until a fresh worker answers, and its first image's extra time."""
    from vpt.render.executor import WorkerProcess

    t0 = time.perf_counter()
    w = WorkerProcess(preset)
    try:
        w.call({"op": "ping"})
        ready = time.perf_counter() - t0
        times = []
        for k in range(2):
            job = {"scene_id": spec.scene_id, "spec": to_dict(spec), "out_stem": str(folder / f"start{k}")}
            t1 = time.perf_counter()
            res = w.call(job)
            if not res.get("ok", False) and "error" in str(res.get("reason")):
                raise RuntimeError(f"the worker failed: {res.get('reason')}")
            times.append(time.perf_counter() - t1)
    finally:
        w.close()
    return {"start_to_ready_s": ready, "first_image_extra_s": times[0] - times[1]}


def table(name: str, rows: list[dict[str, dict[str, float]]]) -> str:
    mean = {p: {c: statistics.fmean(r[p][c] for r in rows) for c in ("wall", "cpu")} for p in (*PARTS, "total")}
    lines = [f"**{name}** ({len(rows)} images)", "", "| part | wall s / image | share | CPU s / image | share |",
             "|---|---|---|---|---|"]
    for p in PARTS:
        lines.append(f"| {p} | {mean[p]['wall']:.3f} | {mean[p]['wall'] / mean['total']['wall']:.0%} | "
                     f"{mean[p]['cpu']:.3f} | {mean[p]['cpu'] / mean['total']['cpu']:.0%} |")
    lines.append(f"| **total** | **{mean['total']['wall']:.3f}** | | **{mean['total']['cpu']:.3f}** | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python benchmarks/render_profile.py", description=__doc__.splitlines()[0])
    ap.add_argument("--specs", type=Path, required=True, help="folder of scene JSON files (make bench-render plans them)")
    ap.add_argument("-n", type=int, default=20, help="number of scenes (styles in turn)")
    ap.add_argument("--size", type=int, help="render width in px (default: the specs' own)")
    ap.add_argument("--presets", nargs="+", default=["standard"], help="presets to profile, in turn per scene")
    ap.add_argument("--row", nargs=3, action="append", default=[], metavar=("LABEL", "PRESET", "JSON"),
                    help='also profile PRESET with overrides, e.g. --row before standard \'{"samples": 8}\'')
    ap.add_argument("--no-process-start", action="store_true", help="skip timing a fresh worker")
    ap.add_argument("--json", type=Path, help="also write the per-scene parts here")
    args = ap.parse_args(argv)
    if not args.specs.is_dir():
        ap.error(f"--specs {args.specs}: no such folder; run `make bench-render` (it plans the scenes) or point "
                 "it at a folder of scene JSON files")
    from vpt.render.presets import preset_values

    settings: dict[str, tuple[str, dict[str, Any]]] = {p: (p, {}) for p in args.presets}
    for label, preset, blob in args.row:
        try:
            settings[label] = (preset, json.loads(blob))
        except json.JSONDecodeError as exc:
            ap.error(f"--row {label}: the overrides must be a JSON object ({exc})")
    for label, (preset, ov) in settings.items():
        try:
            preset_values(preset, ov)
        except ValueError as exc:
            ap.error(f"{label}: {exc}")
    try:
        specs = [resized(s, args.size) for s in pick_specs(load_specs(args.specs), args.n)]
    except ValueError as exc:
        ap.error(str(exc))
    names = list(settings)
    rows: dict[str, list[dict[str, dict[str, float]]]] = {n: [] for n in names}
    # Blender prints its render log on the C stdout: send it to /dev/null, keep ours
    sys.stdout.flush()
    sys.stdout = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        start = None if args.no_process_start else process_start(specs[0], folder, settings[names[0]][0])
        timed_render(specs[0], folder / "warm", *settings[names[0]])  # this process's kernels loaded
        for i, spec in enumerate(specs):
            for k in range(len(names)):  # settings in turn, rotating: load changes fall on all
                n = names[(i + k) % len(names)]
                rows[n].append(profile_scene(spec, folder, *settings[n]))
            loads.append(os.getloadavg()[0])
            print(f"scene {i + 1}/{len(specs)}: load {loads[-1]:.2f}", file=sys.stderr, flush=True)
    for n in names:
        preset, ov = settings[n]
        print(table(n if not ov else f"{n}: {preset} with {json.dumps(ov)}", rows[n]) + "\n")
    if start:
        print(f"process start ({names[0]}): {start['start_to_ready_s']:.2f} s until the worker answers, "
              f"first image {start['first_image_extra_s']:+.2f} s over the same image rendered again")
    print(f"1-minute load average {min(loads):.2f}-{max(loads):.2f} (mean {statistics.fmean(loads):.2f}); "
          f"{os.cpu_count()} CPUs.")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "process_start": start, "load": loads}, indent=1) + "\n",
                             encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
