"""The tutorial page shown before the warm-up: how wide the camera sees (a top-down diagram of
its viewing cone, drawn from the field of view the scenes were rendered with) and labelled
example pictures taken from the warm-up set (train split: never a test item).

The field of view and the margin come from the scene files of the warm-up items
(``cameras.viewer.hfov_deg`` and ``label_config.fov_margin_deg``, written from the recipe's
``viewer.hfov_deg`` and ``labels.fov_margin_deg``); a dataset without them gets the examples
and no diagram.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

from vpt.deciders.human.protocol import Stimuli, examples


def field_of_view(stimuli: Stimuli) -> tuple[list[float], float] | None:
    """(the distinct horizontal fields of view of the viewer in degrees, the label margin in
    degrees) over the warm-up and human-set scenes; None when their scene files do not say."""
    fovs: set[float] = set()
    margin = None
    for s in [*stimuli.warmup, *stimuli.test]:
        p = Path(s.scene_json) if s.scene_json else None
        if p is None or not p.is_file():
            continue
        try:
            scene = json.loads(p.read_text(encoding="utf-8"))
            fovs.add(round(float(scene["cameras"]["viewer"]["hfov_deg"]), 1))
            margin = float(scene["label_config"]["fov_margin_deg"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    if not fovs or margin is None:
        return None
    return sorted(fovs), margin


def cone_svg(hfov_deg: float, margin_deg: float) -> str:
    """A top-down diagram: the green camera, its viewing cone of ``hfov_deg`` (the band of
    ``margin_deg`` on each edge marked as never asked about), a ball it sees, one outside the
    cone and one behind a wall."""
    half = hfov_deg / 2
    R, cx = 250.0, 70.0
    top = R * math.sin(math.radians(min(half + margin_deg + 25, 90))) + 30
    cy, height, width = top, 2 * top, cx + R + 250

    def pt(deg: float, r: float) -> tuple[float, float]:
        a = math.radians(deg)
        return cx + r * math.cos(a), cy - r * math.sin(a)

    def sector(a0: float, a1: float, cls: str) -> str:
        (x0, y0), (x1, y1) = pt(a0, R), pt(a1, R)
        large = 1 if abs(a1 - a0) > 180 else 0
        return (f'<path class="{cls}" d="M{cx:.1f},{cy:.1f} L{x0:.1f},{y0:.1f} '
                f'A{R:.0f},{R:.0f} 0 {large} 0 {x1:.1f},{y1:.1f} Z"/>')

    seen = pt(-half / 3, 190)
    out = pt(-min(half + margin_deg + 30, 150), 150)
    wall_a, wall_r = half / 2, 120
    wx, wy = pt(wall_a, wall_r)
    nx, ny = math.sin(math.radians(wall_a)), math.cos(math.radians(wall_a))  # along the wall
    blocked = pt(wall_a, 200)
    lx, ly = pt(half, R + 16)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="vpt-cone" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'role="img" aria-label="The camera sees {hfov_deg:g} degrees wide" data-hfov="{hfov_deg:g}" '
        f'data-margin="{margin_deg:g}">',
        sector(half - margin_deg, half + margin_deg, "vpt-cone-edge"),
        sector(-half - margin_deg, -half + margin_deg, "vpt-cone-edge"),
        sector(-half + margin_deg, half - margin_deg, "vpt-cone-in"),
        f'<line class="vpt-cone-line" x1="{cx}" y1="{cy:.1f}" x2="{pt(half, R)[0]:.1f}" y2="{pt(half, R)[1]:.1f}"/>',
        f'<line class="vpt-cone-line" x1="{cx}" y1="{cy:.1f}" x2="{pt(-half, R)[0]:.1f}" y2="{pt(-half, R)[1]:.1f}"/>',
        f'<text x="{lx:.1f}" y="{ly:.1f}" class="vpt-cone-label">{hfov_deg:g}° wide</text>',
        f'<rect class="vpt-cam" x="{cx - 34}" y="{cy - 14:.1f}" width="30" height="28" rx="3"/>',
        f'<rect class="vpt-cam" x="{cx - 5}" y="{cy - 8:.1f}" width="12" height="16"/>',
        f'<line class="vpt-wall" x1="{wx - 40 * nx:.1f}" y1="{wy - 40 * ny:.1f}" x2="{wx + 40 * nx:.1f}" '
        f'y2="{wy + 40 * ny:.1f}"/>',
    ]
    for (x, y), text in ((seen, "sees it"), (out, "out of view"), (blocked, "blocked by a wall")):
        parts.append(f'<circle class="vpt-ball" cx="{x:.1f}" cy="{y:.1f}" r="11"/>')
        parts.append(f'<text x="{x + 16:.1f}" y="{y + 9:.1f}" class="vpt-cone-text">{text}</text>')
    parts.append("</svg>")
    return "".join(parts)


def tutorial_html(stimuli: Stimuli, task: str, src: str = "/stimuli/{key}.png") -> str:
    """The tutorial page's HTML (``src`` formats an example's image URL from its key)."""
    e = html.escape
    parts = ['<div class="vpt-message vpt-tutorial" id="vpt-tutorial">']
    fov = field_of_view(stimuli) if task == "vpt" else None
    if task == "vpt":
        parts.append("<h2>How the camera sees</h2>")
        if fov is not None:
            fovs, margin = fov
            wide = f"{fovs[0]:g} degrees" if len(fovs) == 1 else f"between {fovs[0]:g} and {fovs[-1]:g} degrees"
            parts.append(f"<p>The green camera sees what lies in front of its lens, {wide} wide (the drawing "
                         "shows it from above). It cannot see a ball outside that cone, nor a ball hidden behind something. Balls "
                         f"close to the edge of the cone (within {margin:g} degrees) never appear.</p>")
            parts.append(cone_svg(fovs[0], margin))
        else:
            parts.append("<p>The green camera sees what lies in front of its lens. It cannot see a ball outside "
                         "its view, nor a ball hidden behind something.</p>")
    else:
        parts.append("<h2>Which is closer to you?</h2>")
    ex = examples(stimuli, task)
    if ex:
        parts.append("<p>Some examples (you will see them again in the practice):</p><div class=\"vpt-examples\">")
        for s, kind, caption in ex:
            parts.append(f'<figure class="vpt-example" data-kind="{kind}"><img src="{e(src.format(key=s.key))}" '
                         f'alt="" draggable="false"><figcaption>{e(caption)}</figcaption></figure>')
        parts.append("</div>")
    parts.append("</div>")
    return "".join(parts)
