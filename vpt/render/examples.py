"""Hand-made canonical scenes for render tests and benchmarks (pure Python, no Blender), and
the specs of a folder of scene JSON files (what the render benchmarks in ``benchmarks/`` time).

The viewer stands at the origin facing +X; the ball is 2.4 m in front of its eye; the
observer looks at the pair from the side (-Y). Variants put a wall in front of the ball,
half across it, the ball behind the viewer, or out of its field of view.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np

from vpt.scene import geometry as geo
from vpt.scene.primitives import occluder_rows
from vpt.scene.spec import (AppearanceSpec, BallSpec, LightSpec, ObserverSpec, OccluderSpec, SceneSpec,
                            ViewerSpec, scene_from_dict)

STYLE_DEFAULTS = {
    "studio": ("matte_grey", "backdrop_white"),
    "room": ("wood_planks", "brick"),
    "outdoor": ("paving_stones", "sky"),
}


def lights_for(style: str) -> tuple[LightSpec, ...]:
    """A plausible light rig per style (units as in :mod:`vpt.render.build`)."""
    centre = (1.2, 0.0, 0.4)
    if style == "outdoor":
        return (LightSpec("sun", (4.0, -6.0, 8.0), centre, 3.5, (1.0, 0.97, 0.92), 0.02),)
    if style == "room":
        return (LightSpec("area", (1.2, 0.5, 3.4), centre, 700.0, (1.0, 1.0, 1.0), 3.0),
                LightSpec("point", (-1.0, -1.5, 2.4), centre, 200.0, (1.0, 0.9, 0.78), 0.2))
    return (LightSpec("area", (0.0, -4.0, 4.0), centre, 700.0, (1.0, 1.0, 1.0), 2.0),
            LightSpec("area", (3.0, -2.0, 2.5), centre, 250.0, (1.0, 1.0, 1.0), 3.0))


def example_spec(case: str = "plain", style: str = "studio", model: str = "camera", size: int = 256,
                 occluder_material: str = "painted_blue") -> SceneSpec:
    """A canonical scene. ``case``: plain | wall | half | behind | outside_fov | shapes."""
    viewer = ViewerSpec(model=model, position=(0.0, 0.0, 0.6), yaw_deg=0.0, pitch_deg=-6.0, hfov_deg=70.0,
                        vfov_deg=60.0, scale=1.0, color="green", stand=True)
    eye = viewer.eye
    ball_pos = (float(eye[0]) + 2.4, 0.0, 0.16)
    occluders: list[OccluderSpec] = []
    wall_x = float(eye[0]) + 1.3
    if case == "wall":
        occluders.append(OccluderSpec(0, "wall", "box", (wall_x, 0.0, 0.6), (0.1, 1.2, 1.2), 0.0, occluder_material))
    elif case == "half":
        # the wall's edge lies on the plane through the eye and the ball centre (y = 0)
        occluders.append(OccluderSpec(0, "wall", "box", (wall_x, 0.7, 0.6), (0.1, 1.4, 1.2), 0.0, occluder_material))
    elif case == "behind":
        ball_pos = (-2.2, 0.1, 0.16)
    elif case == "outside_fov":
        ball_pos = (0.8, 2.2, 0.16)  # about 70 deg to the viewer's left
    elif case == "shapes":
        occluders += [
            OccluderSpec(0, "box", "box", (1.3, 1.3, 0.35), (0.6, 0.5, 0.7), 30.0, "wood"),
            OccluderSpec(1, "pillar", "cylinder", (2.0, -1.2, 0.6), (0.4, 0.4, 1.2), 0.0, "concrete"),
            OccluderSpec(2, "boulder", "sphere", (3.6, 1.1, 0.4), (0.8, 0.8, 0.8), 0.0, "stone"),
        ]
    elif case != "plain":
        raise ValueError(f"unknown example case {case!r}")
    floor, wall = STYLE_DEFAULTS[style]
    observer = ObserverSpec(position=(1.5, -5.2, 2.9), look_at=(1.3, 0.0, 0.35), hfov_deg=50.0, width=size, height=size)
    app = AppearanceSpec(style=style, floor_material=floor, wall_material=wall, background=(0.6, 0.6, 0.6),
                         sun_elevation_deg=50.0, sun_azimuth_deg=120.0)
    return SceneSpec(scene_id=f"example-{case}-{style}-{model}", recipe="examples", split="test", seed=1, index=0,
                     observer=observer, viewer=viewer, ball=BallSpec(ball_pos, 0.16), occluders=tuple(occluders),
                     lights=lights_for(style), appearance=app)


LAYOUTS = ("shapes", "half", "wall", "plain")
STYLES = ("studio", "room", "outdoor")


def example_specs(n: int, size: int = 256) -> list[SceneSpec]:
    """``n`` canonical scenes, taking every style in turn and several layouts."""
    return [example_spec(LAYOUTS[(i // len(STYLES)) % len(LAYOUTS)], STYLES[i % len(STYLES)], size=size)
            for i in range(n)]


def load_specs(folder: Path) -> list[SceneSpec]:
    """The specs of the ``*.json`` files in ``folder``, in name order: each file a
    ``to_dict(spec)``, or a scene JSON with the spec under ``"spec"``."""
    specs = []
    for p in sorted(Path(folder).glob("*.json")):
        data = json.loads(p.read_text())
        specs.append(scene_from_dict(data.get("spec", data)))
    return specs


def with_ball(spec: SceneSpec, position: tuple[float, float, float]) -> SceneSpec:
    return replace(spec, ball=replace(spec.ball, position=position))


def analytic_visible_fraction(spec: SceneSpec, n_rays: int = 4096) -> float:
    """The analytic visible fraction of the true ball from the viewer's eye: inside its
    frustum, not blocked by occluders or the floor (``vpt.scene.geometry``)."""
    v = spec.viewer
    f, r, u = v.basis()
    rows = occluder_rows(spec, 0)
    one = lambda x: np.asarray([x], dtype=float)  # noqa: E731
    q = geo.ConeQueries(
        eye=one(v.eye), center=one(spec.ball.position), radius=one(spec.ball.radius), dilate=one(1.0),
        forward=one(f), right=one(r), up=one(u), half_h=one(math.radians(v.hfov_deg) / 2),
        half_v=one(math.radians(v.vfov_deg) / 2), margin=one(0.0), has_frustum=np.array([True]),
        floor=np.array([True]), occluders=geo.Primitives.from_rows(rows))
    return float(geo.cone_visibility(q, n_rays).visible_fraction[0])
