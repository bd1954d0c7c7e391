"""Which optional extra (``pyproject.toml`` ``[project.optional-dependencies]``) installs the
third-party modules a command needs, and the one-line error that names it.

``make scenes`` installs vpt with the ``render`` extra only, so an evaluator command can run
where torch, an API SDK or the web server is missing. Each such command calls :func:`require`
before any work, and ``vpt``'s entry point turns a ``ModuleNotFoundError`` raised deeper down
into the same message (:func:`missing_extra`).
"""

from __future__ import annotations

import importlib.util

from vpt.errors import UserError

# module (or package prefix) -> the extra that installs it
EXTRA_OF: dict[str, str] = {
    "bpy": "render",
    "torch": "eval", "torchvision": "eval", "timm": "eval", "transformers": "eval", "captum": "eval",
    "ray": "cluster",
    "openai": "vlm", "anthropic": "vlm", "google.genai": "vlm", "httpx2": "vlm",
    "fastapi": "human", "uvicorn": "human", "httpx": "human",
}


class MissingExtra(UserError):
    """A command needs a module that an optional extra installs, and it is not installed."""

    def __init__(self, command: str, module: str, extra: str):
        self.command, self.module, self.extra = command, module, extra
        super().__init__(f"{command} needs {module}, which is not installed here; install vpt's {extra!r} extra: "
                         f"pip install 'vpt[{extra}]' (in a checkout: pip install -e '.[{extra}]')")


def extra_of(module: str) -> str | None:
    """The extra that installs ``module`` (``torch``, ``torch.nn``, ``google.genai.types``), or None."""
    for name, extra in EXTRA_OF.items():
        if module == name or module.startswith(name + "."):
            return extra
    return None


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or a module set to None
        return False


def require(command: str, *modules: str) -> None:
    """Raise :class:`MissingExtra` for the first of ``modules`` (each a key of :data:`EXTRA_OF`)
    that is not installed, naming the extra that installs it; ``command`` as the user typed it."""
    for module in modules:
        if module not in EXTRA_OF:
            raise ValueError(f"{module!r} is not a module of an extra; add it to vpt.extras.EXTRA_OF")
        if not _installed(module):
            raise MissingExtra(command, module, EXTRA_OF[module])


def missing_extra(err: ModuleNotFoundError, command: str) -> MissingExtra | None:
    """The :class:`MissingExtra` for ``err`` when an extra installs the missing module, else None."""
    extra = extra_of(err.name or "")
    return MissingExtra(command, err.name, extra) if extra else None
