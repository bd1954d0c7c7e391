"""Scene specifications: plain data that says what a stimulus contains.

Coordinate convention (the same as Blender's world, so nothing is converted):

* right-handed, metres, ``+Z`` up; the floor is the plane ``z = 0``;
* a yaw angle turns about ``+Z``, counter-clockwise seen from above, 0 deg facing ``+X``;
* a pitch angle tilts the facing direction up (positive) or down (negative);
* cameras have no roll. The *observer* camera renders the image; the *viewer* is the
  camera (or head, or figure) inside the scene whose line of sight the VPT label is about.

Image convention: pixel ``(u, v)`` has ``u`` to the right and ``v`` down, origin at the
top-left *corner* of the top-left pixel, so pixel centres sit at half-integers. The
OpenCV camera frame is ``x`` right, ``y`` down, ``z`` forward; Blender's camera frame is
``x`` right, ``y`` up, looking down ``-z``.

Specs are frozen dataclasses; :func:`to_json` writes them canonically (sorted keys, floats
rounded to 6 decimals) so the same seed gives byte-identical JSON.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from functools import cached_property
from typing import Any

import numpy as np

from vpt import SCHEMA_VERSION

Vec3 = tuple[float, float, float]

PRIMITIVES = ("box", "cylinder", "sphere")
VIEWER_MODELS = ("camera", "head", "figure")

# Viewer body dimensions per model, in metres at scale 1: (depth along facing, width, height),
# the distance from the body centre to the eye (lens front / eyes), and the radius of a
# proxy sphere (centred ``proxy_offset`` ahead of the body centre) that encloses the model.
VIEWER_GEOMETRY: dict[str, dict[str, float]] = {
    "camera": {"depth": 0.28, "width": 0.20, "height": 0.16, "eye": 0.24, "proxy_offset": 0.05, "proxy_radius": 0.22},
    "head": {"depth": 0.24, "width": 0.20, "height": 0.28, "eye": 0.12, "proxy_offset": 0.0, "proxy_radius": 0.19},
    "figure": {"depth": 0.24, "width": 0.20, "height": 0.28, "eye": 0.12, "proxy_offset": 0.0, "proxy_radius": 0.19},
}


def unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.where(n == 0, 1.0, n)


def direction_from_angles(yaw_deg: float, pitch_deg: float) -> np.ndarray:
    """Unit facing vector for a yaw about +Z (0 = +X) and a pitch (positive = up)."""
    y, p = math.radians(yaw_deg), math.radians(pitch_deg)
    return np.array([math.cos(p) * math.cos(y), math.cos(p) * math.sin(y), math.sin(p)])


def camera_basis(forward: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(forward, right, up) for a camera with no roll looking along ``forward``."""
    fx, fy, fz = (float(c) for c in forward)
    n = math.sqrt(fx * fx + fy * fy + fz * fz)
    fx, fy, fz = fx / n, fy / n, fz / n
    rx, ry = fy, -fx  # forward x (0, 0, 1)
    rn = math.hypot(rx, ry)
    if rn < 1e-9:  # looking straight up or down: pick +X as right
        rx, ry, rn = 1.0, 0.0, 1.0
    rx, ry = rx / rn, ry / rn
    up = (ry * fz, -rx * fz, rx * fy - ry * fx)  # right x forward
    return np.array([fx, fy, fz]), np.array([rx, ry, 0.0]), np.array(up)


@dataclass(frozen=True)
class ObserverSpec:
    """The camera that renders the image (pinhole, square pixels, principal point at centre)."""

    position: Vec3
    look_at: Vec3
    hfov_deg: float
    width: int
    height: int

    def basis(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self._basis

    @cached_property
    def _basis(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return camera_basis(np.subtract(self.look_at, self.position))

    @property
    def focal_px(self) -> float:
        return (self.width / 2.0) / math.tan(math.radians(self.hfov_deg) / 2.0)

    @property
    def vfov_deg(self) -> float:
        return math.degrees(2.0 * math.atan((self.height / 2.0) / self.focal_px))

    def intrinsics(self) -> np.ndarray:
        """OpenCV K; pixel centres at half-integers, so the principal point is (W/2, H/2)."""
        f = self.focal_px
        return np.array([[f, 0.0, self.width / 2.0], [0.0, f, self.height / 2.0], [0.0, 0.0, 1.0]])

    def world_to_cv(self) -> np.ndarray:
        """4x4 world-to-camera matrix in the OpenCV frame (x right, y down, z forward)."""
        return self._world_to_cv.copy()

    @cached_property
    def _world_to_cv(self) -> np.ndarray:
        f, r, u = self.basis()
        rot = np.stack([r, -u, f])
        m = np.eye(4)
        m[:3, :3] = rot
        m[:3, 3] = -rot @ np.asarray(self.position, dtype=float)
        return m

    def blender_matrix_world(self) -> np.ndarray:
        """4x4 camera-to-world matrix in Blender's frame (x right, y up, looking down -z)."""
        f, r, u = self.basis()
        m = np.eye(4)
        m[:3, 0], m[:3, 1], m[:3, 2] = r, u, -f
        m[:3, 3] = self.position
        return m

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixel coordinates (..., 2) and OpenCV z depth (...) of world points (..., 3)."""
        p = np.asarray(points, dtype=float)
        m = self._world_to_cv
        cam = p @ m[:3, :3].T + m[:3, 3]
        z = cam[..., 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            uv = self.focal_px * cam[..., :2] / z[..., None] + np.array([self.width / 2.0, self.height / 2.0])
        return uv, z


@dataclass(frozen=True)
class ViewerSpec:
    """The viewer whose line of sight defines the VPT label.

    ``position`` is the centre of the body; the eye (lens front for a camera) lies
    ``VIEWER_GEOMETRY[model]['eye'] * scale`` ahead of it. Its field of view is a
    rectangular frustum of ``hfov_deg`` x ``vfov_deg`` around the facing direction, no roll.
    """

    model: str
    position: Vec3
    yaw_deg: float
    pitch_deg: float
    hfov_deg: float
    vfov_deg: float
    scale: float = 1.0
    color: str = "green"
    stand: bool = True

    @cached_property
    def forward(self) -> np.ndarray:
        return direction_from_angles(self.yaw_deg, self.pitch_deg)

    def basis(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return camera_basis(self.forward)

    @cached_property
    def geometry(self) -> dict[str, float]:
        return {k: v * self.scale for k, v in VIEWER_GEOMETRY[self.model].items()}

    @cached_property
    def eye(self) -> np.ndarray:
        return np.asarray(self.position, dtype=float) + self.forward * self.geometry["eye"]

    @property
    def proxy_center(self) -> np.ndarray:
        return np.asarray(self.position, dtype=float) + self.forward * self.geometry["proxy_offset"]

    @property
    def proxy_radius(self) -> float:
        return self.geometry["proxy_radius"]


@dataclass(frozen=True)
class BallSpec:
    position: Vec3
    radius: float
    color: str = "red"


@dataclass(frozen=True)
class OccluderSpec:
    """An occluder. ``position`` is the centre of its bounding box; ``size`` its full
    extents (x, y, z) in its own frame before the yaw; a cylinder has size (2r, 2r, h) and a
    sphere (2r, 2r, 2r)."""

    id: int
    shape: str
    primitive: str
    position: Vec3
    size: Vec3
    yaw_deg: float
    material: str

    @property
    def bounding_radius(self) -> float:
        sx, sy, sz = self.size
        if self.primitive == "sphere":
            return sx / 2.0
        if self.primitive == "cylinder":
            return math.hypot(sx / 2.0, sz / 2.0)
        return math.sqrt(sx * sx + sy * sy + sz * sz) / 2.0


@dataclass(frozen=True)
class LightSpec:
    kind: str  # "sun" | "area" | "point"
    position: Vec3
    target: Vec3
    energy: float
    color: Vec3
    size: float = 1.0


@dataclass(frozen=True)
class AppearanceSpec:
    style: str
    floor_material: str
    wall_material: str
    background: Vec3
    sun_elevation_deg: float = 45.0
    sun_azimuth_deg: float = 30.0


@dataclass(frozen=True)
class SweepStep:
    sweep_id: str
    kind: str
    step: int
    n_steps: int
    parameter: str
    value: float


@dataclass(frozen=True)
class SceneSpec:
    scene_id: str
    recipe: str
    split: str
    seed: int
    index: int
    observer: ObserverSpec
    viewer: ViewerSpec
    ball: BallSpec
    occluders: tuple[OccluderSpec, ...]
    lights: tuple[LightSpec, ...] = ()
    appearance: AppearanceSpec | None = None  # None until dressed (labels never need it)
    sweep: SweepStep | None = None
    schema_version: str = field(default=SCHEMA_VERSION)


def _round(obj: Any, ndigits: int = 6) -> Any:
    if is_dataclass(obj) and not isinstance(obj, type):
        return _round(asdict(obj), ndigits)
    if isinstance(obj, float):
        r = round(obj, ndigits)
        return 0.0 if r == 0 else r  # no "-0.0"
    if isinstance(obj, (np.floating,)):
        return _round(float(obj), ndigits)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, np.ndarray):
        return [_round(x, ndigits) for x in obj.tolist()]
    if isinstance(obj, dict):
        return {k: _round(v, ndigits) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_round(x, ndigits) for x in obj]
    return obj


def to_dict(obj: Any) -> Any:
    """A JSON-ready dict of a spec (or any nested dataclass), floats rounded to 6 decimals."""
    if is_dataclass(obj):
        obj = asdict(obj)
    return _round(obj)


def to_json(obj: Any) -> str:
    """Canonical JSON: sorted keys, 2-space indent, rounded floats, trailing newline."""
    return json.dumps(to_dict(obj), sort_keys=True, indent=2) + "\n"


def _build(cls: type, data: dict[str, Any]) -> Any:
    kwargs = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        if isinstance(value, list) and f.name in {"position", "look_at", "target", "size", "color", "background"}:
            value = tuple(value)
        kwargs[f.name] = value
    return cls(**kwargs)


def scene_from_dict(data: dict[str, Any]) -> SceneSpec:
    """Rebuild a :class:`SceneSpec` from :func:`to_dict` output (or a scene JSON's ``spec``)."""
    return SceneSpec(
        scene_id=data["scene_id"],
        recipe=data["recipe"],
        split=data["split"],
        seed=data["seed"],
        index=data["index"],
        observer=_build(ObserverSpec, data["observer"]),
        viewer=_build(ViewerSpec, data["viewer"]),
        ball=_build(BallSpec, data["ball"]),
        occluders=tuple(_build(OccluderSpec, o) for o in data["occluders"]),
        lights=tuple(_build(LightSpec, o) for o in data["lights"]),
        appearance=_build(AppearanceSpec, data["appearance"]) if data.get("appearance") else None,
        sweep=_build(SweepStep, data["sweep"]) if data.get("sweep") else None,
        schema_version=data.get("schema_version", SCHEMA_VERSION),
    )
