"""The bridge between planned datasets and the Blender backend (``vpt.render``).

:func:`make_renderer` turns ``vpt scenes`` options into a renderer for
:func:`vpt.datasets.pipeline.build_dataset`; :func:`verify_dataset` is ``vpt verify``.
This process never imports ``bpy`` for rendering: the executor runs Blender in worker
processes. Only the viewer-camera check of ``vpt verify`` loads Blender here.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd
from PIL import Image
from tqdm import tqdm

from vpt.datasets.build import DatasetItem
from vpt.fileio import atomic_write_text, sha256_file
from vpt.render.worker import FRACTION_TOLERANCE  # plain Python: no Blender here
from vpt.errors import UserError
from vpt.scene.labels import LabelConfig, label_scenes
from vpt.scene.spec import scene_from_dict, to_dict

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


def make_renderer(args: Any):
    """(renderer, render_key, bpy version) for ``vpt scenes`` options (preset, device, workers,
    recycle_every, depth, quiet)."""
    from vpt.render.blender import probe_bpy
    from vpt.render.executor import render_jobs

    version = probe_bpy()  # a clear error now rather than one per job from the workers

    key = render_key(args.preset, args.device, bool(args.depth))

    def renderer(items: list[DatasetItem], stems: list[Path | None], human: dict[str, HumanTarget] | None = None,
                 root: Path | None = None) -> Iterator[tuple[DatasetItem, Any, Any]]:
        """Render ``items`` to ``stems`` (None: the model-resolution files are current, only the
        human-resolution render is needed); items in ``human`` also get that render. Yields
        per item (item, render, files) or (item, None, reason)."""
        human = human or {}
        by_id = {it.spec.scene_id: it for it in items}
        jobs, expected = [], {}
        for it, stem in zip(items, stems):
            sid = it.spec.scene_id
            roles = []
            if stem is not None:
                jobs.append({"scene_id": sid, "role": "model", "spec": to_dict(it.spec), "out_stem": str(stem),
                             "analytic_fraction": it.labels["viewer_visible_fraction"], "depth": bool(args.depth)})
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
        got: dict[str, dict[str, Any]] = {}
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


def human_job(item: DatasetItem, target: HumanTarget) -> dict[str, Any]:
    """The render job of ``item`` at the human resolution: the same scene and camera (pose,
    field of view) with more pixels, so K scales with the width; no ray cast (the viewer's
    visible fraction does not depend on the observer's pixels)."""
    spec = item.spec
    big = replace(spec, observer=replace(spec.observer, width=int(target.width), height=int(target.height)))
    return {"scene_id": spec.scene_id, "role": "human", "spec": to_dict(big), "out_stem": str(target.stem),
            "analytic_fraction": None, "depth": False, "raycast": False}


def _relative(files: dict[str, Any] | None, root: Path, prefix: str = "") -> dict[str, Any]:
    return {prefix + k: {"path": str(Path(v["path"]).resolve().relative_to(root.resolve())), "sha256": v["sha256"]}
            for k, v in (files or {}).items() if v}


def _combine(item: DatasetItem, results: dict[str, dict[str, Any]], target: HumanTarget | None,
             root: Path) -> tuple[Any, Any]:
    """(render, files) of one item from its model and human renders, or (None, reason)."""
    radius = item.labels["image"]["viewer_radius_px"]
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


def observer_check(res: dict[str, Any], viewer_radius_px: float) -> tuple[bool, str | None]:
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


def _sample_rows(df: pd.DataFrame, n: int) -> pd.DataFrame:
    """``n`` rows spread evenly, half with each VPT label when possible (deterministic)."""
    if n <= 0 or df.empty:
        return df.iloc[0:0]
    parts = []
    for _, g in df.groupby(df["vpt_label"].fillna(-1)):
        k = max(1, round(n * len(g) / len(df)))
        idx = np.linspace(0, len(g) - 1, min(k, len(g))).round().astype(int)
        parts.append(g.iloc[np.unique(idx)])
    return pd.concat(parts).head(n)


# image files whose size must match a recorded camera
_SIZED = {"image": "observer", "mask": "observer", "human_image": "observer_human", "human_mask": "observer_human"}


def verify_dataset(root: Path, sample: int = 24, quiet: bool = False) -> int:
    """``vpt verify``: re-check every label, file (sha256; images and masks also their size,
    the human-resolution ones included) and ray cast; on a sample, render the
    viewer's own object-index image and confirm ball pixels appear exactly when the label
    says visible. Writes ``verify.json``; exit status 1 on any disagreement."""
    index = root / "index.parquet"
    if not index.exists():
        raise UserError(f"{root}: no index.parquet here; pass a dataset folder such as data/depth-vpt")
    df = pd.read_parquet(index)
    problems: list[str] = []
    records = {}
    specs, cfgs = [], []
    for row in df.itertuples(index=False):
        path = root / row.scene_json
        if not path.exists():
            problems.append(f"{row.scene_id}: scene JSON missing ({row.scene_json})")
            continue
        rec = json.loads(path.read_text(encoding="utf-8"))
        records[row.scene_id] = rec
        for col, key in (("vpt_label", "vpt_label"), ("depth_label", "depth_label")):
            a, b = getattr(row, col), rec["labels"][key]
            if (pd.isna(a) and b is not None) or (not pd.isna(a) and a != b):
                problems.append(f"{row.scene_id}: index {col}={a} but scene JSON says {b}")
        for kind, f in (rec.get("files") or {}).items():
            p = root / f["path"]
            if not p.exists():
                problems.append(f"{row.scene_id}: {kind} file missing ({f['path']})")
            elif sha256_file(p) != f["sha256"]:
                problems.append(f"{row.scene_id}: {kind} file changed since it was written (sha256)")
            elif kind in _SIZED and _SIZED[kind] in rec.get("cameras", {}):
                cam = rec["cameras"][_SIZED[kind]]
                with Image.open(p) as im:
                    if im.size != (cam["width"], cam["height"]):
                        problems.append(f"{row.scene_id}: {kind} is {im.size[0]}x{im.size[1]} px, its camera "
                                        f"{cam['width']}x{cam['height']}")
        rc = rec["visibility"]["viewer"].get("raycast_fraction")
        an = rec["visibility"]["viewer"]["analytic_fraction"]
        tol = (rec.get("render") or {}).get("tolerance") or FRACTION_TOLERANCE
        if rc is not None and abs(rc - an) > tol:
            problems.append(f"{row.scene_id}: ray-cast fraction {rc:.3f} vs analytic {an:.3f}")
        specs.append(scene_from_dict(rec["spec"]))
        cfgs.append(LabelConfig(**rec["label_config"]))
    # recompute the analytic labels from the stored specs
    for cfg in {c for c in cfgs}:
        chosen = [s for s, c in zip(specs, cfgs) if c == cfg]
        for s, lab in zip(chosen, label_scenes(chosen, cfg)):
            rec = records[s.scene_id]
            if lab["vpt_label"] != rec["labels"]["vpt_label"] or lab["depth_label"] != rec["labels"]["depth_label"]:
                problems.append(f"{s.scene_id}: recomputed labels ({lab['vpt_label']}, {lab['depth_label']}) differ "
                                f"from the stored ({rec['labels']['vpt_label']}, {rec['labels']['depth_label']})")
    viewer_checks = []
    rendered = df[df["rendered"]] if "rendered" in df.columns else df.iloc[0:0]
    if sample and not rendered.empty:
        from vpt.render.verify import render_viewer_index  # imports bpy, with a clear error if missing

        rows = _sample_rows(rendered[rendered["vpt_label"].notna()], sample)
        for row in tqdm(list(rows.itertuples(index=False)), desc="viewer renders", disable=quiet):
            spec = scene_from_dict(records[row.scene_id]["spec"])
            t0 = time.perf_counter()
            out = render_viewer_index(spec)
            seen = int(out["ball_px"]) > 0
            agree = seen == bool(row.vpt_label)
            viewer_checks.append({"scene_id": row.scene_id, "vpt_label": int(row.vpt_label),
                                  "ball_px": int(out["ball_px"]), "agrees": agree,
                                  "seconds": round(time.perf_counter() - t0, 3)})
            if not agree:
                problems.append(f"{row.scene_id}: label {int(row.vpt_label)} but the viewer's own render shows "
                                f"{int(out['ball_px'])} ball pixels")
    report = {"items": int(len(df)), "viewer_renders": viewer_checks, "disagreements": problems,
              "passed": not problems}
    atomic_write_text(root / "verify.json", json.dumps(report, indent=2, sort_keys=True) + "\n")
    print(f"{root}: {len(df)} stimuli re-checked (labels, files, ray casts); {len(viewer_checks)} rendered from the "
          f"viewer's own camera; {len(problems)} disagreements")
    for p in problems[:20]:
        print(f"  {p}")
    return 0 if not problems else 1
