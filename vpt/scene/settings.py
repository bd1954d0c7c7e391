"""Typed settings for the scene sampler: the recipe sections it reads, as frozen dataclasses.

These classes *are* the schema of those recipe sections: each field carries its validation
leaf ``(type, default, constraint)`` in its metadata (:func:`leaf`), and
:mod:`vpt.datasets.recipe` derives its validation table from them (:func:`schema_section`),
so a key is declared once. They live here, in the scene layer, because the sampler
(:mod:`vpt.scene.sampling`) reads them and the scene layer never imports ``vpt.datasets``.
Ranges are ``(low, high)`` tuples (a single number in a recipe becomes ``(x, x)``).

Leaf types (checked by :mod:`vpt.datasets.recipe`): ``int``, ``float``, ``range`` (a
number or ``[lo, hi]``), ``list[int]`` (a size in pixels), ``list[str]`` (names from a
catalogue); constraints are ``(lo, hi)`` bounds, or the catalogue a name must come from.
The recipe's other sections (splits, balance, sweeps, ...) are declared in its table only.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

from vpt.scene.labels import LabelConfig

Range = tuple[float, float]
T = TypeVar("T")
SCHEMA = "recipe"  # the metadata key of a field's validation leaf


def leaf(kind: str, default: Any, constraint: Any = None) -> Any:
    """A settings field that is also a recipe key, with its validation leaf (type, default
    in the recipe, constraint). The dataclass itself has no default: its values always come
    from a validated recipe, which fills in the defaults."""
    return field(metadata={SCHEMA: (kind, default, constraint)})


def schema_leaf(cls: type, name: str) -> tuple[str, Any, Any]:
    """The validation leaf of one field of a settings class."""
    return next(f.metadata[SCHEMA] for f in fields(cls) if f.name == name)


def schema_section(cls: type) -> dict[str, tuple[str, Any, Any]]:
    """The recipe section a settings class declares: field name -> validation leaf, in field
    order (the order of the validated config)."""
    return {f.name: f.metadata[SCHEMA] for f in fields(cls)}


def _frozen(value: Any) -> Any:
    return tuple(_frozen(v) for v in value) if isinstance(value, list) else value


def from_section(cls: type[T], section: dict[str, Any]) -> T:
    """``cls`` from a validated recipe section (lists become tuples); a key the class does not
    declare, or a declared field the section lacks, is a programming error (TypeError)."""
    return cls(**{k: _frozen(v) for k, v in section.items()})


@dataclass(frozen=True)
class ObserverSettings:
    distance: Range = leaf("range", [5.5, 7.0], (1.0, 100.0))
    height: Range = leaf("range", [2.6, 3.8], (0.1, 50.0))
    hfov_deg: Range = leaf("range", [46.0, 52.0], (5.0, 120.0))
    look_jitter: float = leaf("float", 0.25, (0.0, 5.0))


@dataclass(frozen=True)
class ViewerSettings:
    models: tuple[str, ...] = leaf("list[str]", ["camera"], "viewers")
    hfov_deg: Range = leaf("range", 60.0, (10.0, 150.0))
    vfov_deg: Range = leaf("range", 60.0, (10.0, 150.0))
    height: Range = leaf("range", [0.35, 0.75], (0.1, 3.0))
    pitch_deg: Range = leaf("range", [-18.0, -4.0], (-60.0, 60.0))
    facing_offset_deg: Range = leaf("range", [0.0, 60.0], (0.0, 80.0))
    scale: Range = leaf("range", [0.9, 1.1], (0.2, 5.0))
    area_x: Range = leaf("range", [-1.6, 1.6], (-20.0, 20.0))
    area_y: Range = leaf("range", [-0.8, 1.4], (-20.0, 20.0))


@dataclass(frozen=True)
class BallSettings:
    radius: Range = leaf("range", [0.12, 0.19], (0.02, 2.0))
    distance: Range = leaf("range", [1.1, 3.0], (0.2, 30.0))


@dataclass(frozen=True)
class OccluderSettings:
    shapes: tuple[str, ...] = leaf("list[str]", ["wall", "box", "slab", "pillar"], "occluders")
    count: Range = leaf("range", [1, 3], (0, 8))


@dataclass(frozen=True)
class LabelSettings:
    """The recipe's ``labels:`` section: the label thresholds plus the ray count used while
    steering the sampler (``steer_rays``)."""

    ball_margin: float = leaf("float", 0.15, (0.0, 1.0))
    fov_margin_deg: float = leaf("float", 6.0, (0.0, 30.0))
    min_depth_gap: float = leaf("float", 0.10, (0.0, 0.9))
    min_observer_visible: float = leaf("float", 0.9, (0.0, 1.0))
    min_ball_px: float = leaf("float", 5.0, (0.0, 1000.0))
    min_viewer_px: float = leaf("float", 9.0, (0.0, 1000.0))
    n_rays: int = leaf("int", 2048, (64, 65536))
    steer_rays: int = leaf("int", 256, (64, 65536))

    def config(self) -> LabelConfig:
        """The thresholds :func:`vpt.scene.labels.label_scenes` takes."""
        return LabelConfig(**{f.name: getattr(self, f.name) for f in fields(LabelConfig)})


@dataclass(frozen=True)
class SamplingSettings:
    """Everything the sampler reads from a recipe."""

    seed: int = leaf("int", 0, (0, 2**32 - 1))
    resolution: tuple[int, int] = leaf("list[int]", [256, 256], (32, 4096))
    observer: ObserverSettings
    viewer: ViewerSettings
    ball: BallSettings
    occluders: OccluderSettings
    labels: LabelSettings

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "SamplingSettings":
        """From a validated recipe config (:attr:`vpt.datasets.recipe.Recipe.config`)."""
        return cls(seed=int(config["seed"]), resolution=tuple(config["resolution"]),
                   observer=from_section(ObserverSettings, config["observer"]),
                   viewer=from_section(ViewerSettings, config["viewer"]),
                   ball=from_section(BallSettings, config["ball"]),
                   occluders=from_section(OccluderSettings, config["occluders"]),
                   labels=from_section(LabelSettings, config["labels"]))
