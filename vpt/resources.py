"""The declarative inputs vpt reads, found the same way in a checkout and in an installed
wheel: the asset catalogues (``assets/*.yaml``), the default recipes (``scenes/*.yaml``) and
the evaluators' inputs (``evaluation/``: model lists, prompts, prices, reference data). They
live at the top level of a checkout; the wheel carries them as ``vpt/_data/`` (pyproject.toml
maps the three folders into the package). Every reader finds them through this module.

User files always win: :func:`resolve` returns a path that exists as typed, and only
otherwise looks the same relative path up in vpt's own folders, so ``vpt scenes
scenes/depth-vpt.yaml`` or ``--model evaluation/models/default.yaml`` work from any folder.
Recipes are also found by name (``vpt scenes depth-vpt``).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from vpt.errors import UserError

KINDS = ("assets", "scenes", "evaluation")
INSTALLED = "_data"  # the folder inside the installed package that holds KINDS


def data_dir() -> Path:
    """The folder holding ``assets/``, ``scenes/`` and ``evaluation/``: ``vpt/_data`` in an
    installed wheel, else the checkout ``vpt`` is imported from (editable installs included)."""
    package = resources.files("vpt")
    if not isinstance(package, Path):
        raise UserError(f"vpt is installed as a zip ({package}); its data files need a real folder: reinstall "
                        "vpt with `pip install` from a wheel or a checkout")
    for root in (package / INSTALLED, package.parent):
        if all((root / kind).is_dir() for kind in KINDS):
            return root
    raise UserError(f"vpt's data folders ({', '.join(KINDS)}) are missing from {package / INSTALLED} and "
                    f"{package.parent}; reinstall vpt (`pip install` a wheel, or `pip install -e .` in a checkout)")


def data_path(*parts: str) -> Path:
    """A path inside vpt's data folders, e.g. ``data_path("evaluation", "prices", "prices.yaml")``."""
    return data_dir().joinpath(*parts)


def asset(name: str) -> Path:
    """An asset catalogue (``assets/NAME.yaml``): ``occluders``, ``styles`` or ``materials``."""
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
