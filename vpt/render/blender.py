"""The one place that imports ``bpy``, lazily, with a clear error when it is missing."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from types import ModuleType

from vpt.errors import UserError

BPY_PIN = "4.5.15"
INSTALL_HINT = f"pip install 'bpy=={BPY_PIN}'  (or, in a checkout: pip install -e '.[render]')"


class RenderUnavailable(UserError, RuntimeError):
    """Blender's Python module (``bpy``) cannot be imported, so nothing can be rendered."""


def _unavailable(reason: str) -> RenderUnavailable:
    return RenderUnavailable(
        f"Rendering needs Blender's Python module bpy {BPY_PIN}, which could not be imported "
        f"({reason}). Install it with:\n    {INSTALL_HINT}\n"
        "bpy wheels exist for CPython 3.11 only (64-bit Linux, macOS, Windows)."
    )


def bpy_available() -> bool:
    """Whether ``bpy`` looks importable, without importing it."""
    return importlib.util.find_spec("bpy") is not None


def require_bpy() -> ModuleType:
    """Import and return ``bpy``; raise :class:`RenderUnavailable` with the fix if it fails."""
    try:
        import bpy  # noqa: PLC0415 (lazy on purpose: only the render stage needs Blender)
    except ImportError as exc:  # also covers a bpy wheel built for another Python
        raise _unavailable(str(exc)) from exc
    return bpy


def bpy_version() -> str:
    """Blender's version string, e.g. ``'4.5.15 LTS'``."""
    return require_bpy().app.version_string


def probe_bpy() -> str:
    """Blender's version as the render workers will see it: ``bpy`` is imported in a child
    process (this one stays free of Blender); raises :class:`RenderUnavailable` if it fails."""
    if not bpy_available():
        raise _unavailable("No module named 'bpy'")
    out = subprocess.run([sys.executable, "-c", "import bpy; print(bpy.app.version_string)"],
                         capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        lines = [ln for ln in out.stderr.strip().splitlines() if ln.strip()]
        raise _unavailable(lines[-1] if lines else f"exit status {out.returncode}")
    return out.stdout.strip().splitlines()[-1]
