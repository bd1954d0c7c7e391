"""Render speed against quality: ``python benchmarks/render_quality.py --specs DIR``.

Renders the same scenes with every candidate setting and with a high-sample reference, in
this one Blender process (the same ``render`` call a worker makes: build, ray cast, render,
write), and prints one table row per candidate: images per hour, seconds per image inside
and outside Blender's render call, CPU seconds per image (all threads; steadier than wall
time on a shared machine), and PSNR and SSIM against the reference (scikit-image, on the
8-bit sRGB images), paired differences against the baseline, the number of mask
pixels that differ from the reference's, how far the shortcut audit's colour cues move
(:func:`cue_shift`), and whether the setting meets the quality floor (:data:`FLOOR`,
docs/rendering.md).

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
# ``standard`` as it was from 2026-12-02 to 2026-12-07 (16 samples, OIDN with the fast
# prefilter, bounces 4/2/2, no bump maps): the baseline every candidate is compared with.
BASELINE: dict[str, Any] = {
    "samples": 16, "adaptive_threshold": None, "denoiser": "OPENIMAGEDENOISE", "denoise_prefilter": "FAST",
    "denoise_quality": "HIGH", "adaptive_min_samples": 0, "bump": False, "denoise_passes": "RGB_ALBEDO_NORMAL",
    "bounces": {"max": 4, "diffuse": 2, "glossy": 2, "transmission": 0, "transparent": 2, "volume": 0},
}
# Candidates: overrides of the baseline (None: a preset as it is, named by ``PRESET_ROWS``).
# Benchmark-only keys (:data:`SCENE_KEYS`): ``seed`` adds to the render seed (the noise
# floor: the same setting, other random numbers); ``lights`` keeps only the strongest N of
# a scene's lights; ``backdrop_steps`` is the number of segments of the studio backdrop's
# curve (``vpt.render.build.BACKDROP_CURVE_STEPS``).
# ``persistent_data`` is not a row: it changes no pixel (tests/test_render_quality.py) and
# pays only from one scene to the next in a worker, so ``benchmarks/render_speed.py`` measures it.
NO_BUMP: dict[str, Any] = {"bump": False}  # the bump maps are off in `standard` since 2026-12-02
BOUNCES_311 = {"max": 3, "diffuse": 1, "glossy": 1, "transmission": 0, "transparent": 2, "volume": 0}
BOUNCES_211 = {"max": 2, "diffuse": 1, "glossy": 1, "transmission": 0, "transparent": 2, "volume": 0}
PRESET_ROWS = {"standard": "standard", "draft": "draft", "preview": "preview"}
# ``standard`` as it was from 2026-12-07 (8 samples, the accurate prefilter, OIDN balanced): the
# rows of 2026-12-08 change one thing of it at a time
STANDARD_1207: dict[str, Any] = {"samples": 8, "denoise_prefilter": "ACCURATE", "denoise_quality": "BALANCED"}

CANDIDATES: dict[str, dict[str, Any] | None] = {
    "baseline": {},
    "standard": None,  # the preset as it is now, no overrides
    "draft": None,
    "preview": None,
    "baseline, other seed": {"seed": 1},
    "balanced denoiser": {"denoise_quality": "BALANCED"},
    "accurate prefilter": {"denoise_prefilter": "ACCURATE"},
    "12 samples": {"samples": 12},
    "10 samples": {"samples": 10},
    "6 samples": {"samples": 6},
    "2 samples": {"samples": 2},
    "16 samples, OIDN fast quality": {"denoise_quality": "FAST"},
    "12 samples, OIDN balanced": {"samples": 12, "denoise_quality": "BALANCED"},
    "8 samples, fast prefilter, OIDN balanced": {"samples": 8, "denoise_quality": "BALANCED"},
    "12 samples, accurate prefilter": {"samples": 12, "denoise_prefilter": "ACCURATE"},
    "8 samples, fast prefilter": NO_BUMP | {"samples": 8},
    "8 samples, accurate prefilter": NO_BUMP | {"samples": 8, "denoise_prefilter": "ACCURATE"},
    "8 samples, no prefilter": NO_BUMP | {"samples": 8, "denoise_prefilter": "NONE"},
    "6 samples, accurate prefilter": NO_BUMP | {"samples": 6, "denoise_prefilter": "ACCURATE"},
    "4 samples, fast prefilter": NO_BUMP | {"samples": 4},
    "4 samples, accurate prefilter": NO_BUMP | {"samples": 4, "denoise_prefilter": "ACCURATE"},
    "4 samples, no prefilter": NO_BUMP | {"samples": 4, "denoise_prefilter": "NONE"},
    "2 samples, accurate prefilter": NO_BUMP | {"samples": 2, "denoise_prefilter": "ACCURATE"},
    "16 samples, no denoiser": NO_BUMP | {"denoiser": None, "denoise_prefilter": None},
    "8 samples, accurate, bounces 3/1/1": NO_BUMP | {"samples": 8, "denoise_prefilter": "ACCURATE",
                                                      "bounces": BOUNCES_311},
    "8 samples, accurate, bounces 2/1/1": NO_BUMP | {"samples": 8, "denoise_prefilter": "ACCURATE",
                                                      "bounces": BOUNCES_211},
    "4 samples, accurate, bounces 2/1/1": NO_BUMP | {"samples": 4, "denoise_prefilter": "ACCURATE",
                                                      "bounces": BOUNCES_211},
    "8 samples, accurate, OIDN fast quality": NO_BUMP | {"samples": 8, "denoise_prefilter": "ACCURATE",
                                                          "denoise_quality": "FAST"},
    "8 samples, accurate, OIDN balanced": {"samples": 8, "denoise_prefilter": "ACCURATE",
                                           "denoise_quality": "BALANCED"},
    "6 samples, accurate, OIDN fast quality": {"samples": 6, "denoise_prefilter": "ACCURATE", "denoise_quality": "FAST"},
    "4 samples, accurate, OIDN fast quality": {"samples": 4, "denoise_prefilter": "ACCURATE", "denoise_quality": "FAST"},
    "8 samples, accurate, one light": NO_BUMP | {"samples": 8, "denoise_prefilter": "ACCURATE", "lights": 1},
    "8 samples, accurate, backdrop curve 4 steps": NO_BUMP | {"samples": 8, "denoise_prefilter": "ACCURATE",
                                                               "backdrop_steps": 4},
    "adaptive 0.02, min 8": {"adaptive_threshold": 0.02, "adaptive_min_samples": 8},
    "adaptive 0.05, min 4": {"adaptive_threshold": 0.05, "adaptive_min_samples": 4},
    "bounces 3/1/1": {"bounces": BOUNCES_311},
    "clamp indirect 3": {"clamp_indirect": 3.0},
    "bump maps (standard until 2026-12-02)": {"bump": True},
    "standard of 2026-12-07": STANDARD_1207,
    "8 accurate, light tree": STANDARD_1207 | {"light_tree": True},
    "6 accurate": STANDARD_1207 | {"samples": 6},
    "7 accurate": STANDARD_1207 | {"samples": 7},
    "5 accurate": STANDARD_1207 | {"samples": 5},
    "7 accurate, albedo only": STANDARD_1207 | {"samples": 7, "denoise_passes": "RGB_ALBEDO"},
    "6 accurate, albedo only": STANDARD_1207 | {"samples": 6, "denoise_passes": "RGB_ALBEDO"},
    "8 accurate, albedo only": STANDARD_1207 | {"denoise_passes": "RGB_ALBEDO"},
    "8 accurate, adaptive 0.05 min 4": STANDARD_1207 | {"adaptive_threshold": 0.05, "adaptive_min_samples": 4},
}
# 2026-12-08, later: one change at a time to the 7-sample, albedo-guided `standard` (S7A)
S7A: dict[str, Any] = STANDARD_1207 | {"samples": 7, "denoise_passes": "RGB_ALBEDO"}
CANDIDATES.update({"6 albedo, OIDN high": S7A | {"samples": 6, "denoise_quality": "HIGH"},
                   "7 albedo, OIDN fast": S7A | {"denoise_quality": "FAST"},
                   "8 samples, no guide": S7A | {"samples": 8, "denoise_passes": "RGB"},
                   **{f"{n} albedo, {'fast prefilter, ' * f}clamp indirect {c:g}": S7A | {
                       "samples": n, "clamp_indirect": c, **({"denoise_prefilter": "FAST"} if f else {})}
                      for n in (5, 6, 7) for c in (1.0, 3.0, 10.0) for f in (0, 1)}})
SCENE_KEYS = ("seed", "lights", "backdrop_steps")
# The rows run by default (the 2026-12-07 record); the others are kept by name for reruns
# of earlier records (--candidates).
DEFAULT_CANDIDATES: list[str] = [
    "baseline",
    "standard",
    "draft",
    "preview",
    "baseline, other seed",
    "16 samples, OIDN fast quality",
    "12 samples",
    "12 samples, accurate prefilter",
    "10 samples",
    "8 samples, fast prefilter",
    "8 samples, no prefilter",
    "8 samples, accurate prefilter",
    "8 samples, accurate, OIDN balanced",
    "8 samples, accurate, OIDN fast quality",
    "6 samples",
    "6 samples, accurate prefilter",
    "6 samples, accurate, OIDN fast quality",
    "4 samples, fast prefilter",
    "4 samples, no prefilter",
    "4 samples, accurate prefilter",
    "4 samples, accurate, OIDN fast quality",
    "2 samples",
    "2 samples, accurate prefilter",
    "16 samples, no denoiser",
    "8 samples, accurate, bounces 3/1/1",
    "8 samples, accurate, bounces 2/1/1",
    "4 samples, accurate, bounces 2/1/1",
    "8 samples, accurate, one light",
    "8 samples, accurate, backdrop curve 4 steps",
]
# The quality floor (docs/rendering.md): what a setting must keep, against the reference,
# to be the default. Mean PSNR and SSIM; no scene below ``psnr_db_min`` (a wrong image, such
# as a room that lost its indirect light, not noise: the reference has no clamping and no
# glossy filter, so even 16 samples stay near 34 dB on the worst scene); masks identical to
# the reference's (the object-index mask is what labels, render checks and geometric cues
# read); the colour cues of the shortcut audit (vpt.datasets.cues.RGB_CUES and the 8 x 8
# thumbnail) moved by at most this share of their spread between scenes.
FLOOR: dict[str, float] = {"psnr_db": 38.0, "psnr_db_min": 30.0, "ssim": 0.97, "mask_px_diff_ref": 0,
                           "cue_shift_sd": 0.1}


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


def scene_variant(spec: SceneSpec, extra: dict[str, Any]) -> SceneSpec:
    """``spec`` with the benchmark-only changes of :data:`SCENE_KEYS` that act on the spec:
    a seed offset (other random numbers) and fewer lights (the strongest kept)."""
    seed_offset = int(extra.get("seed", 0))
    if seed_offset:
        spec = dataclasses.replace(spec, index=spec.index + 100_000 * seed_offset)
    n_lights = extra.get("lights")
    if n_lights is not None and len(spec.lights) > n_lights:
        kept = sorted(spec.lights, key=lambda ls: -float(ls.energy))[: int(n_lights)]
        spec = dataclasses.replace(spec, lights=type(spec.lights)(kept))
    return spec


def render_one(spec: SceneSpec, stem: Path, overrides: dict[str, Any], preset: str) -> dict[str, Any]:
    """Render through the production path, with the benchmark-only keys applied."""
    from vpt.render import build, output

    overrides = dict(overrides)
    extra = {k: overrides.pop(k) for k in SCENE_KEYS if k in overrides}
    spec = scene_variant(spec, extra)
    steps = build.BACKDROP_CURVE_STEPS
    build.BACKDROP_CURVE_STEPS = int(extra.get("backdrop_steps", steps))
    try:
        c0, t0 = time.process_time(), time.perf_counter()
        res = output.render(spec, stem, preset=preset, overrides=overrides)
    finally:
        build.BACKDROP_CURVE_STEPS = steps
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


def row_key(spec: SceneSpec, overrides: dict[str, Any], preset: str = "standard") -> str:
    """Cache key of one candidate's result on one scene: the reference key, the candidate's
    full settings (``preset`` under its overrides) and the row format."""
    from vpt.render.presets import preset_values

    extra = {k: overrides[k] for k in SCENE_KEYS if k in overrides}
    values = preset_values(preset, {k: v for k, v in overrides.items() if k not in SCENE_KEYS})
    blob = json.dumps({"ref": reference_key(spec), "values": values, "seed": extra.pop("seed", 0), "v": 2,
                       **({"extra": extra} if extra else {})}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def colour_cues(mask: np.ndarray, rgb: np.ndarray) -> dict[str, float]:
    """The shortcut audit's colour cues of one image (``vpt.datasets.cues``: RGB_CUES and the
    64 values of the 8 x 8 thumbnail); the geometric cues are functions of the mask alone."""
    from vpt.datasets.cues import RGB_CUES, image_cues

    c = image_cues(mask, rgb)
    out = {k: float(c[k]) for k in RGB_CUES}
    out.update({f"thumb_{i}": float(v) for i, v in enumerate(c["thumbnail"])})
    return out


def setting(name: str, candidates: dict[str, dict[str, Any] | None]) -> tuple[dict[str, Any], str]:
    """(overrides, preset) of a candidate row."""
    if candidates[name] is None:
        return {}, PRESET_ROWS.get(name, "standard")
    return BASELINE | candidates[name], "standard"


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
                ov, preset = setting(name, candidates)
                key = row_key(spec, ov, preset)
                if (rows_dir / f"{key}.json").exists() and (rows_dir / f"{key}_mask.png").exists():
                    masks[name] = read_png(rows_dir / f"{key}_mask.png")
                    continue
                stem = Path(tmp) / f"{i:03d}-{key}"
                res = render_one(spec, stem, ov, preset)
                masks[name] = read_png(res["files"]["mask"]["path"])
                fresh.append((name, key, read_png(res["files"]["image"]["path"]), res["timings"], os.getloadavg()[0]))
            if fresh:
                ref_image, ref_mask = ensure_reference(spec, cache, log)  # after the candidates: see --reverse
                ref, ref_m = read_png(ref_image), read_png(ref_mask)
                ref_cues = colour_cues(ref_m, ref)
            for name, key, img, timings, load in fresh:
                psnr, ssim = quality(img, ref)
                row = {"scene": spec.scene_id, "style": spec.appearance.style, "psnr": psnr, "ssim": ssim,
                       "mask_px_diff_ref": int(np.count_nonzero(masks[name] != ref_m)),
                       "cues": colour_cues(masks[name], img), "cues_ref": ref_cues, "load_1min": load, **timings}
                atomic_write_bytes(rows_dir / f"{key}_mask.png", encode_png(masks[name]))
                atomic_write_text(rows_dir / f"{key}.json", json.dumps(row))
            for name in names:
                ov, preset = setting(name, candidates)
                row = json.loads((rows_dir / f"{row_key(spec, ov, preset)}.json").read_text())
                base = masks.get("baseline")
                row["mask_px_diff"] = int(np.count_nonzero(masks[name] != base)) if base is not None else None
                rows[name].append(row)
            print(f"scene {i + 1}/{len(specs)} {spec.appearance.style}: {len(fresh)} rendered, "
                  f"load {os.getloadavg()[0]:.2f}", file=log, flush=True)
    load = [r["load_1min"] for rs in rows.values() for r in rs]
    summary = {n: summarize(rows[n], rows.get("baseline")) for n in names}
    return {"summary": summary, "rows": rows,
            "load_1min": {"min": min(load), "mean": statistics.fmean(load), "max": max(load)}}


def cue_shift(rows: list[dict[str, Any]]) -> tuple[float, str]:
    """The largest scene-to-scene change of a colour cue against the reference, as a share of
    that cue's spread between scenes: max over cues of SD(candidate - reference) / SD(reference)
    (NaN with fewer than 3 scenes: then the setting does not meet the floor).
    A shift common to every image (a setting a little darker overall) changes no audit
    figure, so it is not counted; what is left is noise the setting adds to the cue."""
    worst, which, measured = 0.0, "", False
    for cue in rows[0]["cues_ref"]:
        pairs = [(r["cues"][cue], r["cues_ref"][cue]) for r in rows]
        pairs = [(a, b) for a, b in pairs if np.isfinite(a) and np.isfinite(b)]
        if len(pairs) < 3:
            continue
        spread = statistics.stdev(b for _, b in pairs)
        if spread <= 0:
            continue
        shift = statistics.stdev(a - b for a, b in pairs) / spread
        measured = True
        if shift > worst:
            worst, which = shift, cue
    return (worst, which) if measured else (float("nan"), "not measured: fewer than 3 scenes")


def meets_floor(s: dict[str, Any], floor: dict[str, float] = FLOOR) -> list[str]:
    """The parts of the quality floor a summary misses (empty: it passes)."""
    misses = []
    for key in ("psnr_db", "psnr_db_min", "ssim"):
        if not s[key] >= floor[key]:
            misses.append(f"{key} {s[key]:.3f} < {floor[key]}")
    if s["mask_px_diff_ref"] > floor["mask_px_diff_ref"]:
        misses.append(f"{s['mask_px_diff_ref']} mask px differ")
    if not s["cue_shift_sd"] <= floor["cue_shift_sd"]:
        misses.append(f"cue {s['cue_shift_cue']} moves {s['cue_shift_sd']:.3f} SD")
    return misses


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
    shift, cue = cue_shift(rows)
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
        "mask_px_diff_ref": sum(r["mask_px_diff_ref"] for r in rows),
        "cue_shift_sd": shift,
        "cue_shift_cue": cue,
        "d_psnr_db": paired(rows, base, "psnr"),
        "d_ssim": paired(rows, base, "ssim"),
        "cpu_ratio": statistics.fmean(r["cpu"] for r in rows) / statistics.fmean(b["cpu"] for b in base)
        if base else float("nan"),
    }


def table(result: dict[str, Any]) -> str:
    """The summary as a Markdown table, with the quality floor's verdict per setting."""
    head = ("| setting | s/image | CPU s/image (vs baseline) | PSNR dB (min) | ΔPSNR vs baseline ± SE | SSIM "
            "| mask px ≠ reference | colour-cue shift, SD (cue) | floor |")
    lines = [head, "|" + "---|" * 9]
    for name, s in result["summary"].items():
        (dp, dpse) = s["d_psnr_db"]
        misses = meets_floor(s)
        lines.append(f"| {name} | {s['s_per_image']:.2f} | {s['cpu_s_per_image']:.2f} ({s['cpu_ratio']:.2f}) | "
                     f"{s['psnr_db']:.2f} ({s['psnr_db_min']:.1f}) | {dp:+.2f} ± {dpse:.2f} | {s['ssim']:.4f} | "
                     f"{s['mask_px_diff_ref']} | {s['cue_shift_sd']:.3f} ({s['cue_shift_cue']}) | "
                     f"{'pass' if not misses else 'fail: ' + '; '.join(misses)} |")
    ld = result["load_1min"]
    f = FLOOR
    lines.append(f"\n{next(iter(result['summary'].values()))['images']} scenes; 1-minute load average "
                 f"{ld['min']:.2f}-{ld['max']:.2f} (mean {ld['mean']:.2f}); {os.cpu_count()} CPUs. Floor: mean PSNR "
                 f">= {f['psnr_db']} dB, every scene >= {f['psnr_db_min']} dB, mean SSIM >= {f['ssim']}, "
                 f"<= {f['mask_px_diff_ref']:.0f} mask pixels differing from the reference's, colour cues moved "
                 f"<= {f['cue_shift_sd']} SD.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python benchmarks/render_quality.py", description=__doc__.splitlines()[0])
    ap.add_argument("--specs", type=Path, required=True, help="folder of scene JSON files (make bench-render plans them)")
    ap.add_argument("-n", type=int, help="number of scenes (default 24, with --quick 8)")
    ap.add_argument("--size", type=int, help="render width in px (default: the specs' own, 256)")
    ap.add_argument("--quick", action="store_true", help="8 scenes at 128 px, for trying settings")
    ap.add_argument("--candidates", nargs="+", metavar="NAME", help=f"default: the {len(DEFAULT_CANDIDATES)} rows of the latest record; any of: {', '.join(CANDIDATES)}")
    ap.add_argument("--cache", type=Path, default=Path(".bench/reference"), help="reference image cache")
    ap.add_argument("--json", type=Path, help="also write the summary and per-scene rows here")
    ap.add_argument("--references-only", action="store_true", help="render the missing references and stop")
    ap.add_argument("--reverse", action="store_true",
                    help="scenes last to first (to share the cache with a concurrent --references-only run)")
    args = ap.parse_args(argv)
    if not args.specs.is_dir():
        ap.error(f"--specs {args.specs}: no such folder; run `make bench-render` (it plans the scenes) or point "
                 "it at a folder of scene JSON files")
    names = args.candidates or list(DEFAULT_CANDIDATES)
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
    # Blender prints its render log on the C stdout: send it to /dev/null, keep the table
    sys.stdout.flush()
    sys.stdout = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    result = run(specs, {k: CANDIDATES[k] for k in names}, args.cache)
    print(table(result))
    if args.json:
        from vpt.fileio import atomic_write_text

        atomic_write_text(args.json, json.dumps(result, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
