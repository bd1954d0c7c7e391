"""The Blender render backend: build a scene from a spec, render it, ray-cast labels.

Only this package imports ``bpy``, and only lazily: importing :mod:`vpt.render` (or
:mod:`vpt.render.executor`, which runs Blender in a worker process) never loads Blender.
The functions that need Blender are re-exported here and load it on first use; when it is
missing they raise :class:`RenderUnavailable` with the command that installs it.

Modules: ``build`` (scene from a spec), ``materials`` (procedural materials from
``assets/materials.yaml``), ``viewer_models``, ``meshes``, ``raycast`` (label of record),
``output`` (render to files), ``verify`` (the viewer's own view), ``presets`` (settings),
``jobs`` (the typed records a render job and its result are), ``worker`` / ``executor``
(processes, shards), ``ray_executor`` (shards as Ray tasks), ``factory`` (picks the executor
by name), ``examples`` (canonical test scenes). The render benchmarks are scripts in the
checkout's ``benchmarks/`` folder.

Public API::

    build_scene(spec, preset="standard") -> BuiltScene
    render(spec, out_stem, preset="standard", device="cpu", depth=False) -> dict
    raycast_viewer_visibility(spec, built=None) -> dict
    render_viewer_index(spec, size=128) -> dict            (vpt.render.verify)
    render_jobs(jobs, preset, workers=1, ...) -> Iterator[RenderResult]   (vpt.render.executor)
    render_settings(preset, spec=None, device="cpu") -> dict      (vpt.render.presets)
"""

from __future__ import annotations

from typing import Any

from vpt.render.blender import RenderUnavailable, bpy_available, require_bpy
from vpt.render.presets import PRESETS, render_settings

__all__ = [
    "PRESETS",
    "RenderUnavailable",
    "build_scene",
    "bpy_available",
    "raycast_viewer_visibility",
    "render",
    "render_jobs",
    "render_settings",
    "render_viewer_index",
    "require_bpy",
]

_LAZY = {
    "build_scene": "vpt.render.build",
    "render": "vpt.render.output",
    "raycast_viewer_visibility": "vpt.render.raycast",
    "render_viewer_index": "vpt.render.verify",
    "render_jobs": "vpt.render.executor",
}


def __getattr__(name: str) -> Any:
    """Load the Blender-side modules on first use (PEP 562)."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vpt.render' has no attribute {name!r}")
