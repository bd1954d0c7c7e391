"""The one place that imports ``bpy``, lazily, with a clear error when it is missing."""

from __future__ import annotations

import importlib.util
from types import ModuleType

BPY_PIN = "4.5.15"
INSTALL_HINT = f"pip install 'bpy=={BPY_PIN}'  (or, in a checkout: pip install -e '.[render]')"


class RenderUnavailable(RuntimeError):
    """Blender's Python module (``bpy``) cannot be imported, so nothing can be rendered."""


def bpy_available() -> bool:
    """Whether ``bpy`` looks importable, without importing it."""
    return importlib.util.find_spec("bpy") is not None


def require_bpy() -> ModuleType:
    """Import and return ``bpy``; raise :class:`RenderUnavailable` with the fix if it fails."""
    try:
        import bpy  # noqa: PLC0415 (lazy on purpose: only the render stage needs Blender)
    except ImportError as exc:  # also covers a bpy wheel built for another Python
        raise RenderUnavailable(
            f"Rendering needs Blender's Python module bpy {BPY_PIN}, which could not be imported "
            f"({exc}). Install it with:\n    {INSTALL_HINT}\n"
            "bpy wheels exist for CPython 3.11 only (64-bit Linux, macOS, Windows)."
        ) from exc
    return bpy


def bpy_version() -> str:
    """Blender's version string, e.g. ``'4.5.15 LTS'``."""
    return require_bpy().app.version_string
