"""The bridge between planned datasets and the Blender backend (``vpt.render``).

:func:`make_renderer` turns ``vpt scenes`` options into a renderer for
:func:`vpt.datasets.pipeline.build_dataset` (``vpt verify`` is :mod:`vpt.datasets.verify`).
This process never imports ``bpy``: the executor runs Blender in worker processes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Iterator

from tqdm import tqdm

from vpt.datasets.build import DatasetItem
from vpt.render.jobs import RenderJob, RenderResult  # typed dicts, plain Python: no Blender
from vpt.scene.spec import to_dict

# In the observer's rendered mask, the ball must cover at least this share of its analytic
# disc, and the viewer at least this share of the disc of its proxy sphere (the body fills
# about half of it).
MIN_BALL_SHARE_IN_MASK = 0.6
MIN_VIEWER_SHARE_IN_MASK = 0.2


@dataclass(frozen=True)
class HumanTarget:
    """Where and at what size an item is also rendered for people (the human set, the warm-up)."""

    stem: Path
    width: int
    height: int


def render_key(preset: str, device: str, depth: bool) -> dict[str, Any]:
    """The render settings a stimulus depends on (part of its spec hash)."""
    from vpt.render.presets import render_settings

    s = render_settings(preset, None, device)
    s = {k: v for k, v in s.items() if k not in ("threads", "bpy_version", "seed")}
    return {"preset": preset, "device": device, "depth": depth, "settings": s}


@dataclass(frozen=True)
class RenderOptions:
    """How ``vpt scenes`` renders: the preset, the device, the number of Blender workers and
    how many scenes each renders before it is recycled (None: the executor's default), depth
    maps, no progress bar (``quiet``), and the executor (``local`` or ``ray``, with the Ray
    cluster's address)."""

    preset: str = "standard"
    device: str = "cpu"
    workers: int = 1
    recycle_every: int | None = None
    depth: bool = False
    quiet: bool = False
    executor: str = "local"
    ray_address: str | None = None

    @classmethod
    def from_args(cls, ns: Any) -> "RenderOptions":
        """The options of a parsed command line (attributes of the same names; missing ones
        keep their defaults)."""
        return cls(**{f.name: getattr(ns, f.name) for f in fields(cls) if hasattr(ns, f.name)})


def make_renderer(options: RenderOptions):
    """(renderer, render_key, bpy version) for these render options."""
    from vpt.render.blender import probe_bpy
    from vpt.render.executor import DEFAULT_RECYCLE_EVERY
    from vpt.render.factory import make_executor

    if not isinstance(options, RenderOptions):
        raise TypeError(f"make_renderer takes RenderOptions, not {type(options).__name__} "
                        "(RenderOptions.from_args turns parsed arguments into them)")
    args = replace(options, recycle_every=options.recycle_every or DEFAULT_RECYCLE_EVERY)
    # Ray installed and its cluster reachable (for --executor ray), before any planning
    render_jobs = make_executor(args.executor, args.ray_address)
    version = probe_bpy()  # a clear error now rather than one per job from the workers

    key = render_key(args.preset, args.device, bool(args.depth))

    def renderer(items: list[DatasetItem], stems: list[Path | None], human: dict[str, HumanTarget] | None = None,
                 root: Path | None = None) -> Iterator[tuple[DatasetItem, Any, Any]]:
        """Render ``items`` to ``stems`` (None: the model-resolution files are current, only the
        human-resolution render is needed); items in ``human`` also get that render. Yields
        per item (item, render, files) or (item, None, reason)."""
        human = human or {}
        by_id = {it.spec.scene_id: it for it in items}
        jobs: list[RenderJob] = []
        expected: dict[str, set[str]] = {}
        for it, stem in zip(items, stems):
            sid = it.spec.scene_id
            roles = []
            if stem is not None:
                jobs.append(RenderJob(scene_id=sid, role="model", spec=to_dict(it.spec), out_stem=str(stem),
                                      analytic_fraction=it.labels.viewer_visible_fraction, depth=bool(args.depth)))
                roles.append("model")
            if sid in human:  # the same job at more pixels; the ray cast does not depend on them
                jobs.append(human_job(it, human[sid]))
                roles.append("human")
            expected[sid] = set(roles)
        if not jobs:
            return
        if root is None:
            root = Path(jobs[0]["out_stem"]).parents[2]
        (root / "logs").mkdir(parents=True, exist_ok=True)
        bar = tqdm(total=len(jobs), desc=f"rendering {items[0].spec.recipe}", unit="img", disable=args.quiet)
        got: dict[str, dict[str, RenderResult]] = {}
        try:
            for res in render_jobs(jobs, preset=args.preset, workers=args.workers, device=args.device,
                                   recycle_every=args.recycle_every, log_dir=root / "logs"):
                bar.update(1)
                sid = res["scene_id"]
                got.setdefault(sid, {})[res.get("role") or "model"] = res
                if set(got[sid]) != expected[sid]:
                    continue  # the other render of this scene is still on its way
                yield by_id[sid], *_combine(by_id[sid], got.pop(sid), human.get(sid), root)
        finally:
            bar.close()

    return renderer, key, version


def human_job(item: DatasetItem, target: HumanTarget) -> RenderJob:
    """The render job of ``item`` at the human resolution: the same scene and camera (pose,
    field of view) with more pixels, so K scales with the width; no ray cast (the viewer's
    visible fraction does not depend on the observer's pixels)."""
    spec = item.spec
    big = replace(spec, observer=replace(spec.observer, width=int(target.width), height=int(target.height)))
    return RenderJob(scene_id=spec.scene_id, role="human", spec=to_dict(big), out_stem=str(target.stem),
                     analytic_fraction=None, depth=False, raycast=False)


def _relative(files: dict[str, Any] | None, root: Path, prefix: str = "") -> dict[str, Any]:
    return {prefix + k: {"path": str(Path(v["path"]).resolve().relative_to(root.resolve())), "sha256": v["sha256"]}
            for k, v in (files or {}).items() if v}


def _combine(item: DatasetItem, results: dict[str, RenderResult], target: HumanTarget | None,
             root: Path) -> tuple[Any, Any]:
    """(render, files) of one item from its model and human renders, or (None, reason)."""
    radius = item.labels.image.viewer_radius_px
    render: dict[str, Any] = {}
    files: dict[str, Any] = {}
    reasons = []
    model = results.get("model")
    if model is not None:
        ok, reason = model.get("ok", False), model.get("reason")
        if ok:
            ok, reason = observer_check(model, radius)
        if not ok:
            reasons.append(reason)
        files.update(_relative(model.get("files"), root))
        render = {k: model.get(k) for k in ("settings", "timings", "raycast", "observer", "rss_mb",
                                            "analytic_fraction", "tolerance")}
    high = results.get("human")
    if high is not None:
        assert target is not None
        ok, reason = high.get("ok", False), high.get("reason")
        if ok:
            ok, reason = observer_check(high, radius * target.width / item.spec.observer.width)
        if not ok:
            reasons.append(f"at {target.width}x{target.height} px: {reason}")
        files.update(_relative(high.get("files"), root, "human_"))
        render["human"] = {"resolution": [int(target.width), int(target.height)],
                           **{k: high.get(k) for k in ("timings", "observer", "rss_mb")}}  # settings: the model's
    if reasons:
        for k, f in files.items():  # a rejected item keeps no high-resolution files
            if k.startswith("human_"):
                (root / f["path"]).unlink(missing_ok=True)
        return None, "; ".join(str(r) for r in reasons)
    return render, files


def observer_check(res: RenderResult | dict[str, Any], viewer_radius_px: float) -> tuple[bool, str | None]:
    """Both the ball and the viewer must be clearly visible in the rendered mask."""
    obs = res.get("observer") or {}
    share = obs.get("ball_visible_share", 0.0)
    if share < MIN_BALL_SHARE_IN_MASK:
        return False, f"the ball covers only {share:.0%} of its disc in the rendered image"
    disc = math.pi * viewer_radius_px**2
    vshare = obs.get("viewer_px", 0) / disc if disc > 0 else 0.0
    if vshare < MIN_VIEWER_SHARE_IN_MASK:
        return False, (f"the viewer covers only {obs.get('viewer_px', 0)} pixels ({vshare:.0%} of its proxy disc) "
                       f"in the rendered image")
    return True, None
