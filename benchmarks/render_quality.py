"""Render speed against quality: ``python benchmarks/render_quality.py --specs DIR``.

Renders the same scenes with every candidate setting and with a high-sample reference, in
this one Blender process (the same ``render`` call a worker makes: build, ray cast, render,
write), and prints one table row per candidate: images per hour, seconds per image inside
and outside Blender's render call, CPU seconds per image (all threads; steadier than wall
time on a shared machine), and PSNR and SSIM against the reference (scikit-image, on the
8-bit sRGB images), paired differences against the baseline, and the number of mask
pixels that differ from the baseline's.

Scenes are taken from DIR (scene JSONs, as ``make bench-render`` plans them), styles in
turn. Candidates are rendered scene by scene in a rotating order, so a change in the
machine's load falls on all of them alike. Reference images are cached in ``--cache``
under a hash of the spec, the reference settings and Blender's version: a rerun renders
only the missing ones, and an interrupted run loses at most the image in progress.
``--quick`` renders 8 scenes at 128 px (for trying settings; the README table uses 24
scenes at 256 px).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from vpt.render.examples import load_specs
from vpt.scene.spec import SceneSpec, to_dict

# The reference: the ``paper`` preset (bounces 8/4/4, the accurate denoiser) with up to
# 1,024 samples per pixel (adaptive sampling: a pixel stops once its noise is below 0.02,
# after at least 32 samples; on a 2-core machine Blender's 0.01 costs several minutes an
# image), glossy filter and clamping off.
REFERENCE: dict[str, Any] = {
    "samples": 1024,
    "adaptive_threshold": 0.02,
    "adaptive_min_samples": 32,
    "denoiser": "OPENIMAGEDENOISE",
    "denoise_prefilter": "ACCURATE",
    "denoise_quality": "HIGH",
    "bounces": {"max": 8, "diffuse": 4, "glossy": 4, "transmission": 0, "transparent": 4, "volume": 0},
    "filter_glossy": 0.0,
    "clamp_direct": 0.0,
    "clamp_indirect": 0.0,
}
# ``standard`` as it was until 2026-12-02 (16 samples, OIDN with the fast prefilter,
# bounces 4/2/2): the baseline every candidate is compared with.
BASELINE: dict[str, Any] = {
    "samples": 16, "adaptive_threshold": None, "denoiser": "OPENIMAGEDENOISE", "denoise_prefilter": "FAST",
    "denoise_quality": "HIGH", "adaptive_min_samples": 0,
    "bounces": {"max": 4, "diffuse": 2, "glossy": 2, "transmission": 0, "transparent": 2, "volume": 0},
}
# Candidates: overrides of the baseline (None: the current preset as it is). A ``seed``
# entry adds to the render seed (the noise floor: the same setting, other random numbers).
# ``persistent_data`` is not a row: it changes no pixel (tests/test_render_quality.py) and
# pays only from one scene to the next in a worker, so ``benchmarks/render_speed.py`` measures it.
CANDIDATES: dict[str, dict[str, Any] | None] = {
    "baseline": {},
    "standard": None,  # the preset as it is now, no overrides
    "baseline, other seed": {"seed": 1},
    "balanced denoiser": {"denoise_quality": "BALANCED"},
    "accurate prefilter": {"denoise_prefilter": "ACCURATE"},
    "12 samples": {"samples": 12},
    "12 samples, accurate prefilter": {"samples": 12, "denoise_prefilter": "ACCURATE"},
    "10 samples, accurate prefilter": {"samples": 10, "denoise_prefilter": "ACCURATE"},
    "8 samples, accurate prefilter": {"samples": 8, "denoise_prefilter": "ACCURATE"},
    "adaptive 0.02, min 8": {"adaptive_threshold": 0.02, "adaptive_min_samples": 8},
    "adaptive 0.05, min 4": {"adaptive_threshold": 0.05, "adaptive_min_samples": 4},
    "bounces 3/1/1": {"bounces": {"max": 3, "diffuse": 1, "glossy": 1, "transmission": 0, "transparent": 2,
                                  "volume": 0}},
    "clamp indirect 3": {"clamp_indirect": 3.0},
    "no bump maps": {"bump": False},
}


def pick_specs(specs: list[SceneSpec], n: int) -> list[SceneSpec]:
    """``n`` specs taking the styles in turn (sorted order inside a style)."""
    by_style: dict[str, list[SceneSpec]] = {}
    for s in specs:
        by_style.setdefault(s.appearance.style, []).append(s)
    out: list[SceneSpec] = []
    queues = [by_style[k] for k in sorted(by_style)]
    i = 0
    while len(out) < n and any(queues):
        q = queues[i % len(queues)]
        if q:
            out.append(q.pop(0))
        i += 1
    if len(out) < n:
        raise ValueError(f"only {len(out)} scene specs found, {n} asked for; plan more (make bench-render plans "
                         "them) or pass a smaller -n")
    return out


def resized(spec: SceneSpec, size: int | None) -> SceneSpec:
    """``spec`` rendered at ``size`` px wide (height in proportion); None keeps its size."""
    ob = spec.observer
    if size is None or size == ob.width:
        return spec
    h = max(1, round(ob.height * size / ob.width))
    return dataclasses.replace(spec, observer=dataclasses.replace(ob, width=size, height=h))


def reference_key(spec: SceneSpec) -> str:
    import bpy

    blob = json.dumps({"spec": to_dict(spec), "reference": REFERENCE, "bpy": bpy.app.version_string},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def render_one(spec: SceneSpec, stem: Path, overrides: dict[str, Any], preset: str) -> dict[str, Any]:
    """Render through the production path, with the seed offset applied when asked for."""
    from vpt.render import output

    overrides = dict(overrides)
    seed_offset = int(overrides.pop("seed", 0))
    if seed_offset:
        spec = dataclasses.replace(spec, index=spec.index + 100_000 * seed_offset)
    c0, t0 = time.process_time(), time.perf_counter()
    res = output.render(spec, stem, preset=preset, overrides=overrides)
    res["timings"]["total"] = time.perf_counter() - t0
    res["timings"]["cpu"] = time.process_time() - c0
    return res


def ensure_reference(spec: SceneSpec, cache: Path, log: Any) -> tuple[Path, Path]:
    """(image, mask) of the cached reference for ``spec``, rendered when missing."""
    key = reference_key(spec)
    image, mask = cache / f"{key}.png", cache / f"{key}_mask.png"
    if image.exists() and mask.exists():
        return image, mask
    t0 = time.perf_counter()
    render_one(spec, cache / key, REFERENCE, "paper")  # every file lands atomically
    print(f"reference {spec.scene_id} ({spec.appearance.style}): {time.perf_counter() - t0:.1f} s, "
          f"load {os.getloadavg()[0]:.2f}", file=log, flush=True)
    return image, mask


def quality(img: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    psnr = float(peak_signal_noise_ratio(ref, img, data_range=255))
    ssim = float(structural_similarity(ref, img, channel_axis=2, data_range=255))
    return psnr, ssim


def row_key(spec: SceneSpec, overrides: dict[str, Any]) -> str:
    """Cache key of one candidate's result on one scene: the reference key, the candidate's
    full settings (the current ``standard`` under its overrides) and the row format."""
    from vpt.render.presets import preset_values

    values = preset_values("standard", {k: v for k, v in overrides.items() if k != "seed"})
    blob = json.dumps({"ref": reference_key(spec), "values": values, "seed": overrides.get("seed", 0), "v": 1},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def run(specs: list[SceneSpec], candidates: dict[str, dict[str, Any] | None], cache: Path,
        log: Any = sys.stderr) -> dict[str, Any]:
    """Render every candidate on every spec; returns per-candidate summaries and raw rows.

    Each (scene, candidate) result is kept in ``cache/rows`` (its metrics, timings, the
    load it ran under and its mask), so an interrupted run resumes where it stopped and a
    new candidate costs only its own renders."""
    from vpt.fileio import atomic_write_bytes, atomic_write_text, encode_png, read_png

    rows_dir = cache / "rows"
    rows_dir.mkdir(parents=True, exist_ok=True)
    names = list(candidates)
    rows: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    with tempfile.TemporaryDirectory() as tmp:
        for i, spec in enumerate(specs):
            order = names[i % len(names):] + names[: i % len(names)]
            fresh = []
            masks: dict[str, np.ndarray] = {}
            for name in order:
                ov = {} if candidates[name] is None else BASELINE | candidates[name]
                key = row_key(spec, ov)
                if (rows_dir / f"{key}.json").exists() and (rows_dir / f"{key}_mask.png").exists():
                    masks[name] = read_png(rows_dir / f"{key}_mask.png")
                    continue
                stem = Path(tmp) / f"{i:03d}-{key}"
                res = render_one(spec, stem, ov, "standard")
                masks[name] = read_png(res["files"]["mask"]["path"])
                fresh.append((name, key, read_png(res["files"]["image"]["path"]), res["timings"], os.getloadavg()[0]))
            if fresh:
                ref = read_png(ensure_reference(spec, cache, log)[0])  # after the candidates: see --reverse
            for name, key, img, timings, load in fresh:
                psnr, ssim = quality(img, ref)
                row = {"scene": spec.scene_id, "style": spec.appearance.style, "psnr": psnr, "ssim": ssim,
                       "load_1min": load, **timings}
                atomic_write_bytes(rows_dir / f"{key}_mask.png", encode_png(masks[name]))
                atomic_write_text(rows_dir / f"{key}.json", json.dumps(row))
            for name in names:
                ov = {} if candidates[name] is None else BASELINE | candidates[name]
                row = json.loads((rows_dir / f"{row_key(spec, ov)}.json").read_text())
                base = masks.get("baseline")
                row["mask_px_diff"] = int(np.count_nonzero(masks[name] != base)) if base is not None else None
                rows[name].append(row)
            print(f"scene {i + 1}/{len(specs)} {spec.appearance.style}: {len(fresh)} rendered, "
                  f"load {os.getloadavg()[0]:.2f}", file=log, flush=True)
    load = [r["load_1min"] for rs in rows.values() for r in rs]
    summary = {n: summarize(rows[n], rows.get("baseline")) for n in names}
    return {"summary": summary, "rows": rows,
            "load_1min": {"min": min(load), "mean": statistics.fmean(load), "max": max(load)}}


def paired(rows: list[dict[str, Any]], base: list[dict[str, Any]] | None, key: str) -> tuple[float, float]:
    """Mean and standard error over scenes of ``key`` minus the baseline's on the same scene."""
    if not base or len(base) != len(rows):
        return float("nan"), float("nan")
    d = [r[key] - b[key] for r, b in zip(rows, base, strict=True)]
    se = statistics.stdev(d) / len(d) ** 0.5 if len(d) > 1 else float("nan")
    return statistics.fmean(d), se


def summarize(rows: list[dict[str, Any]], base: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Means over scenes; ``base`` (the baseline's rows, same scenes) adds paired differences."""
    total = statistics.fmean(r["total"] for r in rows)
    render = statistics.fmean(r["render"] for r in rows)
    return {
        "images": len(rows),
        "images_per_hour": 3600.0 / total,
        "s_per_image": total,
        "render_call_s": render,
        "outside_render_s": total - render,
        "cpu_s_per_image": statistics.fmean(r["cpu"] for r in rows),
        "psnr_db": statistics.fmean(r["psnr"] for r in rows),
        "psnr_db_min": min(r["psnr"] for r in rows),
        "ssim": statistics.fmean(r["ssim"] for r in rows),
        "mask_px_diff": sum(r["mask_px_diff"] or 0 for r in rows),
        "d_psnr_db": paired(rows, base, "psnr"),
        "d_ssim": paired(rows, base, "ssim"),
        "cpu_ratio": statistics.fmean(r["cpu"] for r in rows) / statistics.fmean(b["cpu"] for b in base)
        if base else float("nan"),
    }


def table(result: dict[str, Any]) -> str:
    """The summary as a Markdown table."""
    head = ("| setting | images/hour | s/image | in render call | outside | CPU s/image (vs baseline) "
            "| PSNR dB (min) | ΔPSNR vs baseline ± SE | SSIM | ΔSSIM | mask px differing |")
    lines = [head, "|" + "---|" * 11]
    for name, s in result["summary"].items():
        (dp, dpse), (ds, _) = s["d_psnr_db"], s["d_ssim"]
        lines.append(f"| {name} | {s['images_per_hour']:,.0f} | {s['s_per_image']:.2f} | {s['render_call_s']:.2f} | "
                     f"{s['outside_render_s']:.2f} | {s['cpu_s_per_image']:.2f} ({s['cpu_ratio']:.2f}) | "
                     f"{s['psnr_db']:.2f} ({s['psnr_db_min']:.1f}) | {dp:+.2f} ± {dpse:.2f} | {s['ssim']:.4f} | "
                     f"{ds:+.4f} | {s['mask_px_diff']} |")
    ld = result["load_1min"]
    lines.append(f"\n{next(iter(result['summary'].values()))['images']} scenes; 1-minute load average "
                 f"{ld['min']:.2f}-{ld['max']:.2f} (mean {ld['mean']:.2f}); {os.cpu_count()} CPUs.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python benchmarks/render_quality.py", description=__doc__.splitlines()[0])
    ap.add_argument("--specs", type=Path, required=True, help="folder of scene JSON files (make bench-render plans them)")
    ap.add_argument("-n", type=int, help="number of scenes (default 24, with --quick 8)")
    ap.add_argument("--size", type=int, help="render width in px (default: the specs' own, 256)")
    ap.add_argument("--quick", action="store_true", help="8 scenes at 128 px, for trying settings")
    ap.add_argument("--candidates", nargs="+", metavar="NAME", help=f"subset of: {', '.join(CANDIDATES)}")
    ap.add_argument("--cache", type=Path, default=Path(".bench/reference"), help="reference image cache")
    ap.add_argument("--json", type=Path, help="also write the summary and per-scene rows here")
    ap.add_argument("--references-only", action="store_true", help="render the missing references and stop")
    ap.add_argument("--reverse", action="store_true",
                    help="scenes last to first (to share the cache with a concurrent --references-only run)")
    args = ap.parse_args(argv)
    if not args.specs.is_dir():
        ap.error(f"--specs {args.specs}: no such folder; run `make bench-render` (it plans the scenes) or point "
                 "it at a folder of scene JSON files")
    names = args.candidates or list(CANDIDATES)
    unknown = [n for n in names if n not in CANDIDATES]
    if unknown:
        ap.error(f"unknown candidate(s) {unknown}; choose from {list(CANDIDATES)}")
    if "baseline" not in names:
        names = ["baseline", *names]
    n = args.n or (8 if args.quick else 24)
    size = args.size or (128 if args.quick else None)
    try:
        specs = [resized(s, size) for s in pick_specs(load_specs(args.specs), n)]
    except ValueError as exc:
        ap.error(str(exc))
    if args.references_only:
        for s in specs:
            ensure_reference(s, args.cache, sys.stderr)
        return 0
    if args.reverse:
        specs = specs[::-1]
    result = run(specs, {k: CANDIDATES[k] for k in names}, args.cache)
    print(table(result))
    if args.json:
        from vpt.fileio import atomic_write_text

        atomic_write_text(args.json, json.dumps(result, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
