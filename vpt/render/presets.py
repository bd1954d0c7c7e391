"""Render presets and the settings record (pure Python; applied to Blender by :mod:`build`).

``preview`` is for checking a scene in seconds (no denoiser), ``draft`` for iterating on a
recipe (as cheap as ``preview``, far less noisy, below the quality floor), ``standard`` (the
default) is the cheapest setting tried that meets the quality floor of docs/rendering.md,
``paper`` is for figures. Every value
that reaches Blender is listed by :func:`render_settings`, and that dict is what the scene
JSON records.

Colour management: the *Standard* view transform (sRGB display, look None, exposure 0),
not Blender's default AgX. AgX compresses and desaturates bright, saturated primaries
towards white, so a lit red ball drifts to salmon/orange and the green viewer to mint;
Standard keeps the albedo's hue, so the ball reads as a named red and the viewer as a
named green (checked by ``tests/test_render_end_to_end.py``).
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from vpt.scene.spec import SceneSpec

COLOR_MANAGEMENT: dict[str, Any] = {
    "display_device": "sRGB",
    "view_transform": "Standard",
    "look": "None",
    "exposure": 0.0,
    "gamma": 1.0,
}

# Cycles settings every preset shares unless it names its own (Blender's defaults, except
# where a comment says otherwise); :func:`preset_values` merges them under each preset.
COMMON: dict[str, Any] = {
    "adaptive_min_samples": 0,  # 0: Cycles picks (with adaptive sampling on)
    "denoise_passes": "RGB_ALBEDO_NORMAL",
    "denoise_quality": "HIGH",
    "filter_glossy": 1.0,
    "clamp_direct": 0.0,
    "clamp_indirect": 10.0,
    "caustics": False,
    "light_tree": False,  # a handful of lights: the tree costs ~20 % and buys nothing
    "light_threshold": 0.01,
    "tile_size": 2048,  # one tile: our images are 512 px or less
    "persistent_data": False,  # keep Cycles' session from scene to scene in one worker
    "bump": True,  # the catalogue's bump maps (False: flat shading normals, cheaper shaders)
}
PRESETS: dict[str, dict[str, Any]] = {
    "preview": {
        "samples": 4,
        "adaptive_threshold": None,
        "denoiser": None,
        "denoise_prefilter": None,
        "bounces": {"max": 2, "diffuse": 1, "glossy": 1, "transmission": 0, "transparent": 2, "volume": 0},
    },
    # measured by benchmarks/render_quality.py against a 1,024-sample reference on 12 scenes
    # at 256 px (docs/rendering.md, "The quality floor"): `standard` is the cheapest setting
    # tried that meets the floor; `draft` is below it, for recipe iteration. Bump maps cost
    # 7 % of the CPU time and change no PSNR/SSIM at 256 px; keeping Blender's session
    # between scenes changes no pixel; fewer light bounces save nothing measurable and lose
    # the indirect light of rooms.
    "draft": {
        "samples": 4,
        "adaptive_threshold": None,
        "denoiser": "OPENIMAGEDENOISE",
        "denoise_prefilter": "FAST",
        "bounces": {"max": 4, "diffuse": 2, "glossy": 2, "transmission": 0, "transparent": 2, "volume": 0},
        "bump": False,
        "persistent_data": True,
    },
    # 2026-12-08: 7 samples and OIDN guided by the albedo alone (the normal pass's prefilter
    # cost as much as two samples and bought less than one; benchmarks/render_quality.py,
    # 24 scenes: 0.78x the CPU of the 8-sample, albedo-and-normal setting, still above the floor)
    "standard": {
        "samples": 7,
        "adaptive_threshold": None,
        "denoiser": "OPENIMAGEDENOISE",
        "denoise_prefilter": "ACCURATE",
        "denoise_quality": "BALANCED",
        "denoise_passes": "RGB_ALBEDO",
        "bounces": {"max": 4, "diffuse": 2, "glossy": 2, "transmission": 0, "transparent": 2, "volume": 0},
        "bump": False,
        "persistent_data": True,
    },
    "paper": {
        "samples": 256,
        "adaptive_threshold": 0.01,
        "denoiser": "OPENIMAGEDENOISE",
        "denoise_prefilter": "ACCURATE",
        "bounces": {"max": 8, "diffuse": 4, "glossy": 4, "transmission": 0, "transparent": 4, "volume": 0},
    },
}
DEFAULT_PRESET = "standard"
# Exposure (EV) per scene style, like a photographer's setting for the light at hand: lamps
# in the studio and room light the scene about twice as strongly as the sun outdoors.
STYLE_EXPOSURE: dict[str, float] = {"studio": -1.0, "room": -1.5, "outdoor": 0.0}
PIXEL_FILTER_WIDTH_PX = 1.5  # Blackman-Harris, Blender's default


def check_preset(preset: str) -> dict[str, Any]:
    """The preset's settings, or a ValueError naming the valid presets."""
    if preset not in PRESETS:
        raise ValueError(f"unknown render preset {preset!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[preset]


def preset_values(preset: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every Cycles value of ``preset``: :data:`COMMON`, then the preset, then ``overrides``
    (used by ``benchmarks/render_quality.py`` to try candidate settings); an override of a
    key no preset has is a ValueError naming the known keys."""
    values = {**COMMON, **check_preset(preset)}
    for key, value in (overrides or {}).items():
        if key not in values:
            raise ValueError(f"unknown render setting {key!r}; known: {sorted(values)}")
        values[key] = dict(value) if isinstance(value, dict) else value
    return values


def render_seed(spec: SceneSpec | None) -> int:
    """Cycles' sampling seed, a stable hash of (dataset seed, scene index)."""
    if spec is None:
        return 0
    digest = hashlib.sha256(f"{spec.seed}:{spec.index}:render".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def render_settings(preset: str = DEFAULT_PRESET, spec: SceneSpec | None = None, device: str = "cpu",
                    threads: int | None = None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every render setting as a flat, JSON-ready dict (what the scene JSON records).

    ``device`` is what was asked for; :func:`vpt.render.build.apply_render_settings`
    overwrites it with the device actually used (and adds ``bpy_version``). ``overrides``
    (see :func:`preset_values`) are recorded under ``overrides`` as well.
    """
    p = preset_values(preset, overrides)
    res = [spec.observer.width, spec.observer.height] if spec is not None else None
    return {
        "preset": preset,
        "engine": "CYCLES",
        "samples": p["samples"],
        "adaptive_threshold": p["adaptive_threshold"],
        "denoiser": p["denoiser"],
        "denoise_prefilter": p["denoise_prefilter"],
        **COLOR_MANAGEMENT,
        "exposure": STYLE_EXPOSURE.get(spec.appearance.style, 0.0) if spec is not None else 0.0,
        "style_exposure": dict(STYLE_EXPOSURE),
        "resolution": res,
        "resolution_percentage": 100,
        "pixel_filter": "BLACKMAN_HARRIS",
        "pixel_filter_width_px": PIXEL_FILTER_WIDTH_PX,
        "light_bounces": dict(p["bounces"]),
        **{k: p[k] for k in COMMON},
        "threads": threads if threads is not None else (os.cpu_count() or 1),
        "device": device.upper(),
        "seed": render_seed(spec),
        "image_format": "PNG RGB 8-bit",
        "mask": "PNG 8-bit grey, Cycles IndexOB pass (one value per pixel, not anti-aliased)",
        "depth": "npy float32, observer z-depth in metres along the optical axis, inf = no hit",
        **({"overrides": dict(overrides)} if overrides else {}),
    }
