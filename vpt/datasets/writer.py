"""Dataset files: one JSON per stimulus (written last, the completion marker), an index
(CSV and Parquet) with everything an evaluator needs, and a dataset card.

Every file is written atomically (a temporary file in the same folder, then ``os.replace``),
so an interrupted run never leaves a half-written file behind.
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from collections import Counter
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import vpt
from vpt.datasets import index as dataset_index
from vpt.fileio import atomic_write_text
from vpt.datasets.build import DatasetItem, DatasetPlan
from vpt.datasets.datasheet import datasheet_md
from vpt.scene.batch import BLOCK, GENERATOR_VERSION
from vpt.scene.labels import __doc__ as LABELS_DOC
from vpt.scene.spec import to_dict

PIXEL_CONVENTION = ("pixel (u, v): u right, v down, origin at the top-left corner of the top-left pixel; "
                    "pixel centres at half-integers; principal point (W/2, H/2)")
POLARITY = {
    "vpt_label": "1 = the viewer can see the ball; 0 = it cannot (hidden_reason: occluded | out_of_view)",
    "depth_label": "1 = the ball is closer to the observer camera than the viewer; 0 = the viewer is closer",
}


def git_commit() -> str:
    """The commit of the checkout vpt runs from; "unknown" for an installed package (the folder
    above it is not vpt's work tree, and may be another project's) or where git is missing."""
    root = Path(vpt.__file__).resolve().parents[1]
    if not (root / ".git").exists():
        return "unknown"
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=root)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def versions(bpy_version: str | None = None) -> dict[str, Any]:
    return {"schema": vpt.SCHEMA_VERSION, "vpt": vpt.__version__, "numpy": np.__version__,
            "python": platform.python_version(), "git": git_commit(), "bpy": bpy_version}


def spec_hash(item: DatasetItem, plan: DatasetPlan, render_key: dict[str, Any] | None) -> str:
    """What a stimulus depends on: its spec, the label settings and the render settings. A
    finished stimulus whose hash matches is kept on a re-run."""
    blob = json.dumps({"spec": to_dict(item.spec), "labels": plan.recipe.config["labels"], "render": render_key},
                      sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()


def seeds_record(s: Any) -> dict[str, Any]:
    """Where a scene's random draws come from: the dataset seed, its index and its streams.
    A binary item's layout is candidate ``scene_index`` of the batched sampler, generator
    version :data:`vpt.scene.batch.GENERATOR_VERSION` (stream per block of
    :data:`~vpt.scene.batch.BLOCK` candidates); a sweep step's layout is the sweep's own."""
    if s.sweep is not None:
        layout = f"{s.recipe}/sweep/{s.sweep.kind}"
    else:
        layout = f"{s.recipe}/{s.split}/layout-v{GENERATOR_VERSION} (block {s.index // BLOCK}, row {s.index % BLOCK})"
    return {"dataset_seed": s.seed, "scene_index": s.index, "generator_version": GENERATOR_VERSION,
            "streams": [layout, f"{s.recipe}/{s.split}/appearance"]}


def _observer_camera(obs: Any) -> dict[str, Any]:
    return {"K": obs.intrinsics(), "width": obs.width, "height": obs.height, "hfov_deg": obs.hfov_deg,
            "vfov_deg": obs.vfov_deg, "world_to_camera_opencv": obs.world_to_cv(),
            "camera_to_world_blender": obs.blender_matrix_world(), "pixel_convention": PIXEL_CONVENTION}


def scene_record(item: DatasetItem, plan: DatasetPlan, vers: dict[str, Any], hash_: str,
                 render: dict[str, Any] | None = None, files: dict[str, Any] | None = None,
                 model_hash: str | None = None) -> dict[str, Any]:
    """The scene JSON (docs/dataset.md and docs/architecture.md: versions, seeds, cameras, objects,
    visibility, depths, cell, sweep, render settings, file hashes). Items also rendered for
    people carry ``cameras.observer_human`` (same pose and field of view, more pixels: K
    scaled) and the files ``human_image``/``human_mask``; ``spec_hash`` then covers the
    human resolution too, ``model_spec_hash`` only the model-resolution render."""
    s, lab = item.spec, item.labels
    obs = s.observer
    human_res = ((render or {}).get("human") or {}).get("resolution")
    cameras: dict[str, Any] = {}
    if human_res:
        cameras["observer_human"] = _observer_camera(replace(obs, width=int(human_res[0]), height=int(human_res[1])))
    return to_dict({
        "schema_version": vpt.SCHEMA_VERSION,
        "scene_id": s.scene_id,
        "split": item.split,
        "versions": vers,
        "recipe": {"name": plan.recipe.name, "path": plan.recipe.path, "config_hash": plan.recipe.config_hash,
                   "scale": plan.scale},
        "seeds": seeds_record(s),
        "spec_hash": hash_,
        "model_spec_hash": model_hash or hash_,
        "label_config": asdict(plan.recipe.labels),
        "spec": s,
        "cameras": {
            "observer": _observer_camera(obs),
            **cameras,
            "viewer": {"eye": s.viewer.eye, "forward": s.viewer.forward, "hfov_deg": s.viewer.hfov_deg,
                       "vfov_deg": s.viewer.vfov_deg, "model": s.viewer.model},
        },
        "labels": {"vpt_label": lab.vpt_label, "hidden_reason": lab.hidden_reason,
                   "depth_label": lab.depth_label, "polarity": POLARITY},
        "visibility": {
            "viewer": {"analytic_fraction": lab.viewer_visible_fraction,
                       "in_view_fraction": lab.viewer_in_view_fraction,
                       "unoccluded_fraction": lab.viewer_unoccluded_fraction,
                       "blocking_occluders": lab.blocking_occluders, "floor_blocks": lab.floor_blocks,
                       "raycast_fraction": (render or {}).get("raycast", {}).get("visible_fraction")},
            "observer": {"ball_visible_fraction": lab.observer_ball_visible_fraction,
                         "viewer_visible_fraction": lab.observer_viewer_visible_fraction},
        },
        "depths": lab.depth,
        "image": lab.image,
        "counterbalancing": {"cell": item.cell, "ball_side": lab.ball_side, "viewer_facing": lab.viewer_facing,
                             "viewer_facing_angle_deg": lab.viewer_facing_angle_deg,
                             "occluder_overlaps_segment": lab.occluder_overlaps_segment,
                             "segment_occluders": lab.segment_occluders},
        "sweep": item.sweep,
        "flags": {"human_set": item.human_set, "warmup": item.warmup},
        "render": render,
        "files": files or {},
    })


def index_row(item: DatasetItem, rec: dict[str, Any], root: Path, json_path: Path) -> dict[str, Any]:
    lab, s = item.labels, item.spec
    sw = item.sweep or {}
    files = rec.get("files") or {}
    return {
        "scene_id": s.scene_id, "recipe": s.recipe, "split": item.split,
        "image": files.get("image", {}).get("path", ""), "mask": files.get("mask", {}).get("path", ""),
        "depth_map": files.get("depth", {}).get("path", ""),
        "human_image": files.get("human_image", {}).get("path", ""),
        "human_mask": files.get("human_mask", {}).get("path", ""),
        "scene_json": str(json_path.relative_to(root)),
        "vpt_label": lab.vpt_label, "hidden_reason": lab.hidden_reason or "", "depth_label": lab.depth_label,
        "cell": item.cell or "", "tasks": item.tasks, "ball_side": lab.ball_side, "viewer_facing": lab.viewer_facing,
        "viewer_facing_right": int(lab.viewer_facing == "right"),
        "viewer_facing_angle_deg": lab.viewer_facing_angle_deg,
        "occluder_overlaps_segment": int(lab.occluder_overlaps_segment), "n_occluders": len(s.occluders),
        "ball_x_px": lab.image.ball_center_px[0], "ball_y_px": lab.image.ball_center_px[1],
        "ball_radius_px": lab.image.ball_radius_px,
        "viewer_x_px": lab.image.viewer_center_px[0], "viewer_y_px": lab.image.viewer_center_px[1],
        "viewer_radius_px": lab.image.viewer_radius_px, "segment_length_px": lab.image.segment_length_px,
        "viewer_visible_fraction": lab.viewer_visible_fraction,
        "style": s.appearance.style if s.appearance else "", "viewer_model": s.viewer.model,
        "occluder_shapes": ",".join(o.shape for o in s.occluders),
        "human_set": item.human_set, "warmup": item.warmup,
        "sweep_id": sw.get("sweep_id", ""), "sweep_kind": sw.get("kind", ""), "sweep_step": sw.get("step", -1),
        "sweep_parameter": sw.get("parameter", ""), "sweep_value": sw.get("value", np.nan),
        "sweep_step_label": sw.get("step_label", ""), "rendered": bool(files.get("image")),
    }


def write_index(rows: list[dict[str, Any]], folder: Path) -> pd.DataFrame:
    """The index, checked against its declaration (:mod:`vpt.datasets.index`), as CSV and Parquet."""
    return dataset_index.write_index(rows, folder)


def counts_table(df: pd.DataFrame) -> str:
    """Markdown counts per split and cell, by (VPT, depth)."""
    binary = df[df["sweep_id"] == ""]
    if binary.empty:
        return "(no binary items)\n"
    lines = ["| split | cell | vpt=1 depth=1 | vpt=1 depth=0 | vpt=0 depth=1 | vpt=0 depth=0 | occluded | out of view |",
             "|---|---|---|---|---|---|---|---|"]
    for (split, cell), g in binary.groupby(["split", "cell"], sort=True):
        c = Counter(zip(g["vpt_label"], g["depth_label"]))
        r = Counter(g["hidden_reason"])
        lines.append(f"| {split} | {cell} | {c[(1, 1)]} | {c[(1, 0)]} | {c[(0, 1)]} | {c[(0, 0)]} | "
                     f"{r['occluded']} | {r['out_of_view']} |")
    return "\n".join(lines) + "\n"


def sweep_table(df: pd.DataFrame) -> str:
    sw = df[df["sweep_id"] != ""]
    if sw.empty:
        return ""
    lines = ["Ball side and viewer facing are in the image, at the first and the last step; "
             "ball - viewer x is the ball's image x minus the viewer's, in pixels.\n",
             "| sweep | kind | steps | parameter: first -> last | ball side | viewer facing | ball - viewer x (px) "
             "| labels along the sweep |", "|---|---|---|---|---|---|---|---|"]
    for sid, g in sw.groupby("sweep_id", sort=True):
        g = g.sort_values("sweep_step")
        a, b = g.iloc[0], g.iloc[-1]
        ends = "" if "ball_x_px" not in g else f"{a.ball_x_px - a.viewer_x_px:+.0f} -> {b.ball_x_px - b.viewer_x_px:+.0f}"
        lines.append(f"| {sid} | {a.sweep_kind} | {len(g)} | {a.sweep_parameter}: {a.sweep_value:.3g} -> "
                     f"{b.sweep_value:.3g} | {a.ball_side} -> {b.ball_side} | {a.viewer_facing} -> {b.viewer_facing} "
                     f"| {ends} | {' '.join(g['sweep_step_label'])} |")
    kinds = sw.groupby("sweep_kind")["sweep_id"].nunique()
    lines += ["", "Sweeps per kind: " + ", ".join(f"{k} {n}" for k, n in kinds.items()) + "."]
    return "\n".join(lines) + "\n"


def viewer_size_md(plan: DatasetPlan, df: pd.DataFrame) -> str:
    """The minimum viewer size and the measured projected viewer sizes (image radius of the
    viewer's proxy sphere) at the model resolution and, for people, at the human resolution."""
    c = plan.recipe.config
    (w, h), hr = c["resolution"], c.get("human_resolution")
    lab = c["labels"]
    people = df[df["human_set"] | df["warmup"]] if {"human_set", "warmup"} <= set(df.columns) else df.iloc[0:0]
    hr = hr if len(people) else None  # no human set or warm-up here (e.g. sweeps)
    lines = [f"Minimum viewer size (`labels.min_viewer_px`): an image radius of {lab['min_viewer_px']:g} px for the "
             f"viewer's proxy sphere at {w}x{h}"
             + (f" ({lab['min_viewer_px'] * hr[0] / w:g} px at the human resolution {hr[0]}x{hr[1]})" if hr else "")
             + "; smaller viewers are rejected when sampling. Measured image radius of the viewer (px; its width "
             "is about twice that):\n",
             "| items | resolution | n | min | median | max |", "|---|---|---|---|---|---|"]

    def row(name: str, g: pd.DataFrame, res: list[int], factor: float) -> None:
        r = g["viewer_radius_px"].astype(float) * factor
        if len(r):
            lines.append(f"| {name} | {res[0]}x{res[1]} | {len(r)} | {r.min():.1f} | {r.median():.1f} | {r.max():.1f} |")

    row("all", df, [w, h], 1.0)
    row("human set + warm-up", people, [w, h], 1.0)
    if hr:
        row("human set + warm-up (shown to people)", people, hr, hr[0] / w)
    return "\n".join(lines) + "\n"


def dataset_card(plan: DatasetPlan, df: pd.DataFrame, audit_md: str | None, render_md: str = "") -> str:
    r = plan.recipe
    split_counts = df.groupby("split").size().to_dict()
    parts = [
        f"# Dataset card: {r.name}\n",
        f"{r.config.get('description', '')}\n",
        f"Generated by vpt {vpt.__version__} (git {git_commit()[:12]}) from `{r.path}` "
        f"(config hash `{r.config_hash}`, seed {r.config['seed']}, scale {plan.scale or 'default'}, "
        f"sampler generator version {GENERATOR_VERSION}: plans differ from those of earlier versions).\n",
        "## Labels\n",
        *(f"- `{k}`: {v}\n" for k, v in POLARITY.items()),
        "\nPartly visible balls never appear in binary items; in sweeps they are marked `partial`. "
        "Depth labels need a relative gap of at least "
        f"{r.config['labels']['min_depth_gap']:.0%} in both Euclidean and z depth.\n",
        "\n## Splits\n",
        *(f"- {k}: {v}\n" for k, v in sorted(split_counts.items())),
        f"- human set (from test): {int(df['human_set'].sum())}; warm-up (from train): {int(df['warmup'].sum())}\n",
        "\nSplits are disjoint by scene (each split draws from its own seeded streams).",
    ]
    if r.kind == "binary":
        parts.append(f" The `ood` split uses occluder shapes {r.config['ood']['occluder_shapes']} and styles "
                     f"{r.config['ood']['styles']}; train uses {r.config['occluders']['shapes']} and {r.config['styles']}.\n")
    parts.append(datasheet_md(r.config, df, r.kind))
    parts += ["\n## Counts per cell\n", counts_table(df)]
    if not df.empty and "viewer_radius_px" in df.columns:
        parts += ["\n## Viewer size\n", viewer_size_md(plan, df)]
    sw = sweep_table(df)
    if sw:
        parts += ["\n## Sweeps\n", sw]
    parts += ["\n## Sampling\n", "```\n" + "\n".join(plan.reports) + "\n```\n"]
    if audit_md:
        parts += ["\n## Shortcut audit\n", audit_md]
    if render_md:
        parts += ["\n## Rendering\n", render_md]
    parts += ["\n## Label definitions\n", "```\n" + (LABELS_DOC or "").strip() + "\n```\n"]
    return "".join(parts)


def write_scene_json(path: Path, record: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(record, sort_keys=True, indent=2) + "\n")

