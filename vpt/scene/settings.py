"""Typed settings for the scene sampler: the recipe sections it reads, as frozen dataclasses.

The recipe schema (field names, types, defaults, bounds) lives in :mod:`vpt.datasets.recipe`,
which validates a recipe and builds these objects from it (``Recipe.sampling``). They are
declared here, in the scene layer, because the sampler (:mod:`vpt.scene.sampling`) reads
them and the scene layer never imports ``vpt.datasets``; a test checks that every class has
exactly the fields of its schema section. Ranges are ``(low, high)`` tuples (a single number
in a recipe becomes ``(x, x)``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, TypeVar

from vpt.scene.labels import LabelConfig

Range = tuple[float, float]
T = TypeVar("T")


def _frozen(value: Any) -> Any:
    return tuple(_frozen(v) for v in value) if isinstance(value, list) else value


def from_section(cls: type[T], section: dict[str, Any]) -> T:
    """``cls`` from a validated recipe section (lists become tuples); a key the class does not
    declare, or a declared field the section lacks, is a programming error (TypeError)."""
    return cls(**{k: _frozen(v) for k, v in section.items()})


@dataclass(frozen=True)
class ObserverSettings:
    distance: Range
    height: Range
    hfov_deg: Range
    look_jitter: float


@dataclass(frozen=True)
class ViewerSettings:
    models: tuple[str, ...]
    hfov_deg: Range
    vfov_deg: Range
    height: Range
    pitch_deg: Range
    facing_offset_deg: Range
    scale: Range
    area_x: Range
    area_y: Range


@dataclass(frozen=True)
class BallSettings:
    radius: Range
    distance: Range


@dataclass(frozen=True)
class OccluderSettings:
    shapes: tuple[str, ...]
    count: Range


@dataclass(frozen=True)
class LabelSettings:
    """The recipe's ``labels:`` section: the label thresholds plus the ray count used while
    steering the sampler (``steer_rays``)."""

    ball_margin: float
    fov_margin_deg: float
    min_depth_gap: float
    min_observer_visible: float
    min_ball_px: float
    min_viewer_px: float
    n_rays: int
    steer_rays: int

    def config(self) -> LabelConfig:
        """The thresholds :func:`vpt.scene.labels.label_scenes` takes."""
        return LabelConfig(**{f.name: getattr(self, f.name) for f in fields(LabelConfig)})


@dataclass(frozen=True)
class SamplingSettings:
    """Everything the sampler reads from a recipe."""

    seed: int
    resolution: tuple[int, int]
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
