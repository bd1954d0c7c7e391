"""Independent check of a VPT label: render what the viewer itself sees.

:func:`render_viewer_index` puts a Blender camera at the viewer's eye with the viewer's
own field of view (horizontal ``hfov_deg`` over ``size`` pixels, vertical ``vfov_deg``),
hides the viewer's own parts from camera rays, and renders one Cycles sample per pixel of
the object-index pass (box filter of 0.01 px: each pixel is sampled at its centre). Ball
pixels (index 1) appear exactly when some of the ball is in the viewer's field of view and
unblocked; ``vpt verify`` compares that with the label.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from vpt.render.blender import require_bpy
from vpt.render.build import BuiltScene, add_camera, build_scene
from vpt.render.output import _find, read_exr_channel, setup_pass_outputs
from vpt.scene.spec import SceneSpec

bpy = require_bpy()


@contextlib.contextmanager
def blender_output_silenced():
    """Send Blender's per-render chatter on the C-level stdout to /dev/null."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def viewer_camera_matrix(spec: SceneSpec) -> np.ndarray:
    """Blender camera-to-world matrix of a camera at the viewer's eye, looking its way."""
    f, r, u = spec.viewer.basis()
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2] = r, u, -f
    m[:3, 3] = spec.viewer.eye
    return m


def render_viewer_index(spec: SceneSpec, size: int = 128, built: BuiltScene | None = None) -> dict[str, Any]:
    """Render the object index from the viewer's eye; returns ball pixel count and more."""
    t0 = time.perf_counter()
    if built is None:
        built = build_scene(spec, "preview")
    scene = built.scene
    v = spec.viewer
    width = int(size)
    height = max(1, int(round(size * math.tan(math.radians(v.vfov_deg) / 2) / math.tan(math.radians(v.hfov_deg) / 2))))
    cam = add_camera("viewer_eye", viewer_camera_matrix(spec), v.hfov_deg, width, height)
    cam.data.clip_start = 1e-3
    scene.camera = cam
    for part in built.viewer_parts:
        part.visible_camera = False
    r, c = scene.render, scene.cycles
    r.resolution_x, r.resolution_y, r.resolution_percentage = width, height, 100
    c.samples, c.use_denoising, c.use_adaptive_sampling = 1, False, False
    c.max_bounces = 0
    c.pixel_filter_type, c.filter_width = "BOX", 0.01
    tmp = Path(tempfile.mkdtemp(prefix="vpt-verify-"))
    try:
        setup_pass_outputs(scene, tmp, depth=False)
        r.use_file_extension = False
        r.filepath = str(tmp / "unused")
        scene.frame_set(1)
        with blender_output_silenced():
            bpy.ops.render.render(write_still=False)
        mask = np.clip(np.rint(read_exr_channel(_find(tmp, "index_"))), 0, 255).astype(np.uint8)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ids, counts = np.unique(mask, return_counts=True)
    return {
        "ball_px": int(np.count_nonzero(mask == 1)),
        "ball_visible": bool(np.any(mask == 1)),
        "viewer_px": int(np.count_nonzero(mask == 2)),  # should be 0: the viewer's own parts are hidden
        "index_px": {int(i): int(n) for i, n in zip(ids, counts, strict=True)},
        "size": [width, height],
        "seconds": time.perf_counter() - t0,
        "pid": os.getpid(),
    }
