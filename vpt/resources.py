"""The data that ships inside the package, found the same way in a checkout and in an installed
wheel: the asset catalogues (``assets/*.yaml``), the default recipes (``scenes/*.yaml``) and
the evaluators' inputs (``evaluation/``: model lists, prompts, prices, reference data). They
live in ``vpt/data/`` and every reader finds them through this module.

User files always win: :func:`resolve` returns a path that exists as typed, and only
otherwise looks the same relative path up in the packaged data, so ``vpt scenes
scenes/depth-vpt.yaml`` or ``--model evaluation/models/default.yaml`` work from any folder.
Recipes are also found by name (``vpt scenes depth-vpt``).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from vpt.errors import UserError

KINDS = ("assets", "scenes", "evaluation")


def data_dir() -> Path:
    """The packaged data folder, as a real directory (the package must be installed as files)."""
    root = resources.files("vpt") / "data"
    path = Path(str(root))
    if not isinstance(root, Path) or not path.is_dir():
        raise UserError(f"vpt's packaged data is missing ({root}); reinstall vpt with `pip install` "
                        "from a wheel or a checkout (not as a zip)")
    return path


def data_path(*parts: str) -> Path:
    """A path inside the packaged data, e.g. ``data_path("evaluation", "prices", "prices.yaml")``."""
    return data_dir().joinpath(*parts)


def asset(name: str) -> Path:
    """A packaged asset catalogue: ``occluders``, ``styles`` or ``materials``."""
    return data_path("assets", f"{name}.yaml")


def recipes_dir() -> Path:
    """The folder of the default recipes (what ``vpt scenes`` renders without arguments)."""
    return data_path("scenes")


def recipe_names() -> list[str]:
    return sorted(p.stem for p in recipes_dir().glob("*.yaml"))


def resolve(path: str | Path) -> Path:
    """A user's path if it exists; else the packaged file or folder at the same relative path
    (``scenes/x.yaml``, ``evaluation/models/default.yaml``); else the path unchanged, for the
    caller to report as missing."""
    p = Path(path)
    if p.exists() or p.is_absolute() or not p.parts or p.parts[0] not in KINDS:
        return p
    packaged = data_path(*p.parts)
    return packaged if packaged.exists() else p


def resolve_recipe(target: str | Path) -> Path:
    """A recipe file or folder: as :func:`resolve`, and a bare name (``depth-vpt`` or
    ``depth-vpt.yaml``) that is not a file here names a packaged recipe."""
    p = resolve(target)
    if p.exists() or len(p.parts) != 1:
        return p
    packaged = recipes_dir() / (p.name if p.suffix in (".yaml", ".yml") else f"{p.name}.yaml")
    return packaged if packaged.is_file() else p
