"""A tiny rendered benchmark for the vision tests: 64 px binary dataset with every split and a
rendered sweep dataset beside it (Blender's preview preset)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from tests.conftest import recipe_dict

SMALL_LABELS = {"min_ball_px": 1.2, "min_viewer_px": 2.2}  # 64 px images


def _no_audit(*args, **kwargs):
    from vpt.errors import UserError

    raise UserError("skipped in the vision tests")


def tiny_recipes() -> list[dict]:
    d = copy.deepcopy(recipe_dict("depth-vpt"))
    d["balance"]["pool"] = 2
    d.update(name="vis-tiny", splits={"train": 16, "val": 8, "test": 8, "ood": 8}, human_set=4, warmup=0,
             resolution=[64, 64])
    d["labels"].update(SMALL_LABELS)
    d.pop("human_resolution", None)
    s = copy.deepcopy(recipe_dict("vpt-strategy"))
    s.update(name="vis-sweeps", resolution=[64, 64])
    s.setdefault("labels", {}).update(SMALL_LABELS)
    s.pop("human_resolution", None)
    s["sweeps"] = {"occluder_slide": {"count": 1, "steps": 5}, "viewer_turn": {"count": 0, "steps": 5},
                   "depth_pass": {"count": 0, "steps": 5}, "occluder_move": {"count": 0, "steps": 5},
                   "invariance": {"count": 0, "steps": 5}, "max_attempts": 300}
    return [d, s]


_RENDERED: dict[str, Path] = {}


def render_tiny(out: Path) -> Path:
    """Render the tiny benchmark into ``out`` (once per test process: later calls return the
    first folder; tests must not modify it); returns the binary dataset's folder."""
    pytest.importorskip("bpy", reason="rendering needs Blender's Python module (pip install -e '.[render]')")
    if "tiny" in _RENDERED:
        return _RENDERED["tiny"]
    from vpt.datasets import pipeline
    from vpt.datasets.recipe import parse_recipe
    from vpt.datasets.render_stage import RenderOptions, make_renderer

    args = RenderOptions(preset="preview", workers=1, device="cpu", recycle_every=100, depth=False, quiet=True)
    renderer, key, bpy_version = make_renderer(args)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pipeline, "audit_plan", _no_audit)
        mp.setattr(pipeline, "audit_dataset", _no_audit)
        for d in tiny_recipes():
            pipeline.build_dataset(parse_recipe(d), out, renderer=renderer, render_key=key, bpy_version=bpy_version,
                                   progress=False, log=lambda msg: None)
    _RENDERED["tiny"] = out / "vis-tiny"
    return out / "vis-tiny"
