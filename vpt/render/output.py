"""Render one scene to disk: RGB image, object-index mask, optional depth, all atomic.

Files for ``out_stem`` (a path without extension):

* ``<stem>.png``: the image, 8-bit RGB, sRGB display with the Standard view transform;
* ``<stem>_mask.png``: 8-bit single-channel object index (0 background, 1 ball, 2 viewer,
  10 + k occluder k), from Cycles' IndexOB pass: one object per pixel, never blended;
* ``<stem>_depth.npy`` (``depth=True``): float32 (H, W), row 0 at the top, the observer's
  z-depth in metres (distance along the optical axis, Cycles' Depth pass), ``inf`` where a
  ray hits nothing.

Blender writes the image and the raw passes (OpenEXR, through a compositor File Output
node) into a private temporary folder next to the outputs; the mask and depth are encoded
here, and each file is moved into place with ``os.replace``, so an interrupted render never
leaves a partial file under a final name.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from vpt.render.blender import require_bpy
from vpt.render.build import BuiltScene, build_scene
from vpt.fileio import atomic_save_npy, atomic_write_bytes, encode_png, sha256_bytes
from vpt.render.raycast import observer_pixel_counts, raycast_viewer_visibility
from vpt.scene.spec import SceneSpec

bpy = require_bpy()
NO_HIT_DEPTH = 1e9  # Cycles' Depth pass reports about 1e10 where a ray escapes
ACTIVE_TEMP: set[Path] = set()  # temporary folders in use, removed by the worker on SIGTERM


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_critical_chunks(blob: bytes) -> bytes:
    """Blender's PNG with only its critical chunks (IHDR, PLTE, IDAT, IEND): the pixels as
    encoded, without the text, EXIF and resolution chunks Blender adds (the date and render
    time among them), so identical pixels give identical bytes, without decoding and
    re-encoding the image (which cost about 30 ms of CPU an image)."""
    if not blob.startswith(PNG_SIGNATURE):
        raise ValueError("Blender's image is not a PNG (no PNG signature); is the output format PNG?")
    out, i = [PNG_SIGNATURE], len(PNG_SIGNATURE)
    while i + 12 <= len(blob):
        size = int.from_bytes(blob[i:i + 4], "big")
        end = i + 12 + size
        kind = blob[i + 4:i + 8]
        if end > len(blob):
            break
        if kind[:1].isupper():  # critical chunk: keep (ancillary chunks start lower case)
            out.append(blob[i:end])
        if kind == b"IEND":
            return b"".join(out)
        i = end
    raise ValueError(f"Blender's PNG is truncated or malformed (no IEND chunk within {len(blob)} bytes)")


def setup_pass_outputs(scene: Any, folder: Path, depth: bool) -> None:
    """Enable IndexOB (+ Depth) and write them as float EXR into ``folder`` on render."""
    vl = scene.view_layers[0]
    vl.use_pass_object_index = True
    vl.use_pass_z = depth
    scene.use_nodes = True
    nt = scene.node_tree
    for node in list(nt.nodes):
        nt.nodes.remove(node)
    rl = nt.nodes.new("CompositorNodeRLayers")
    comp = nt.nodes.new("CompositorNodeComposite")
    nt.links.new(rl.outputs["Image"], comp.inputs["Image"])
    fo = nt.nodes.new("CompositorNodeOutputFile")
    fo.base_path = str(folder)
    fo.format.file_format = "OPEN_EXR"
    fo.format.color_depth = "32"
    fo.format.color_mode = "RGB"
    fo.format.exr_codec = "NONE"
    fo.file_slots.clear()
    fo.file_slots.new("index_")
    nt.links.new(rl.outputs["IndexOB"], fo.inputs["index_"])
    if depth:
        fo.file_slots.new("depth_")
        nt.links.new(rl.outputs["Depth"], fo.inputs["depth_"])


def read_exr_channel(path: Path) -> np.ndarray:
    """First channel of a float EXR as (H, W) float32, row 0 at the top."""
    img = bpy.data.images.load(str(path), check_existing=False)
    try:
        img.colorspace_settings.name = "Non-Color"
        w, h = img.size
        buf = np.empty(w * h * img.channels, np.float32)
        img.pixels.foreach_get(buf)
        return np.flipud(buf.reshape(h, w, img.channels)[:, :, 0]).copy()
    finally:
        bpy.data.images.remove(img)


def _find(folder: Path, prefix: str) -> Path:
    found = sorted(folder.glob(f"{prefix}*"))  # no extension: use_file_extension is off
    if not found:
        raise RuntimeError(f"Blender's compositor wrote no {prefix}*.exr into {folder}; "
                           "is the compositor disabled (scene.render.use_compositing)?")
    return found[0]


def render_built(built: BuiltScene, out_stem: Path, depth: bool = False) -> dict[str, Any]:
    """Render an already built scene to ``out_stem`` files (see the module docstring)."""
    out_stem = Path(out_stem)
    out_stem.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_stem.parent / f".tmp-{out_stem.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    ACTIVE_TEMP.add(tmp)
    try:
        scene = built.scene
        setup_pass_outputs(scene, tmp, depth)
        scene.render.use_compositing = True
        scene.render.use_file_extension = False
        scene.render.filepath = str(tmp / "image.png")
        fmt = scene.render.image_settings
        fmt.file_format, fmt.color_mode, fmt.color_depth, fmt.compression = "PNG", "RGB", "8", 15
        scene.frame_set(1)
        t0, c0 = time.perf_counter(), time.process_time()
        bpy.ops.render.render(write_still=True)
        t_render, c_render = time.perf_counter() - t0, time.process_time() - c0

        t0 = time.perf_counter()
        index = read_exr_channel(_find(tmp, "index_"))
        mask = np.clip(np.rint(index), 0, 255).astype(np.uint8)
        files: dict[str, dict[str, str]] = {}
        mask_bytes = encode_png(mask)
        mask_path = out_stem.with_name(out_stem.name + "_mask.png")
        atomic_write_bytes(mask_path, mask_bytes)
        files["mask"] = {"path": str(mask_path), "sha256": sha256_bytes(mask_bytes)}
        if depth:
            z = read_exr_channel(_find(tmp, "depth_"))
            z = np.where(z >= NO_HIT_DEPTH, np.inf, z).astype(np.float32)
            depth_path = out_stem.with_name(out_stem.name + "_depth.npy")
            files["depth"] = {"path": str(depth_path), "sha256": sha256_bytes(atomic_save_npy(depth_path, z))}
        image_path = out_stem.with_name(out_stem.name + ".png")
        image_bytes = png_critical_chunks((tmp / "image.png").read_bytes())
        atomic_write_bytes(image_path, image_bytes)
        files["image"] = {"path": str(image_path), "sha256": sha256_bytes(image_bytes)}
        t_write = time.perf_counter() - t0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        ACTIVE_TEMP.discard(tmp)
    return {"files": files, "observer": observer_pixel_counts(mask, built.spec),
            "timings": {"render": t_render, "write": t_write, "render_cpu": c_render}}


def render(spec: SceneSpec, out_stem: str | os.PathLike, preset: str = "standard", device: str = "cpu",
           depth: bool = False, raycast: bool = True, threads: int | None = None,
           overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build, ray-cast and render one scene; returns files (paths, sha256), render settings,
    timings (build, raycast, render, write: wall seconds; render_cpu: CPU seconds of all
    threads in Blender's render call), the ray-cast dict and observer pixel counts of the ball
    and viewer. ``overrides`` change preset values (benchmarks only)."""
    t0 = time.perf_counter()
    built = build_scene(spec, preset, device, threads, overrides)
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    rc = raycast_viewer_visibility(spec, built) if raycast else None
    t_raycast = time.perf_counter() - t0
    out = render_built(built, Path(out_stem), depth)
    out["timings"] = {"build": t_build, "raycast": t_raycast, **out["timings"]}
    out["settings"] = built.settings
    out["raycast"] = rc
    return out
