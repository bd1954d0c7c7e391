"""`vpt scenes`: recipes in, a finished benchmark folder out.

For each recipe: plan (sample, label, balance), then for every stimulus either keep it (its
scene JSON exists and its ``spec_hash`` matches: same spec, same label and render settings)
or (re)make it, writing the scene JSON last. Then the index, the audit and the dataset card.
An interrupted run keeps every finished stimulus; the next run redoes only the rest.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable, Iterable

from vpt.datasets.audit import audit_frame, write_audit
from vpt.datasets.build import DatasetItem, DatasetPlan, plan_recipe
from vpt.datasets.recipe import Recipe
from vpt.datasets.sheet import contact_sheet, render_markdown, render_summary
from vpt.errors import UserError
from vpt.datasets.writer import (
    atomic_write_text,
    dataset_card,
    index_row,
    scene_record,
    spec_hash,
    versions,
    write_index,
    write_scene_json,
)

# A renderer takes (items needing a render, their output stems) and yields, per item in any
# order, (item, render dict, files dict) or (item, None, reason) when the render was rejected.
Renderer = Callable[[list[DatasetItem], list[Path]], Iterable[tuple[DatasetItem, dict[str, Any] | None, Any]]]


def scene_json_path(root: Path, item: DatasetItem) -> Path:
    return root / "scenes" / item.split / f"{item.spec.scene_id}.json"


def image_stem(root: Path, item: DatasetItem) -> Path:
    return root / "images" / item.split / item.spec.scene_id


def _existing(path: Path, hash_: str, need_render: bool) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        rec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if rec.get("spec_hash") != hash_:
        return None
    if need_render and not rec.get("files", {}).get("image"):
        return None
    return rec


def build_dataset(recipe: Recipe, out: Path, scale: str | None = None, renderer: Renderer | None = None,
                  render_key: dict[str, Any] | None = None, bpy_version: str | None = None,
                  progress: bool = True, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Plan one recipe and write its dataset under ``out/<recipe name>``. Returns a summary."""
    t0 = time.perf_counter()
    plan = plan_recipe(recipe, scale, progress=progress)
    t_plan = time.perf_counter() - t0
    root = Path(out) / recipe.name
    root.mkdir(parents=True, exist_ok=True)
    vers = versions(bpy_version)
    records: dict[str, dict[str, Any]] = {}
    todo: list[DatasetItem] = []
    hashes = {}
    for item in plan.items:
        h = spec_hash(item, plan, render_key)
        hashes[item.spec.scene_id] = h
        rec = _existing(scene_json_path(root, item), h, renderer is not None)
        if rec is not None:
            records[item.spec.scene_id] = rec
        else:
            todo.append(item)
    kept = len(records)
    rejected: list[tuple[str, str]] = []
    if renderer is None:
        for item in todo:
            rec = scene_record(item, plan, vers, hashes[item.spec.scene_id])
            write_scene_json(scene_json_path(root, item), rec)
            records[item.spec.scene_id] = rec
    elif todo:
        stems = [image_stem(root, it) for it in todo]
        for item, render, files in renderer(todo, stems):
            if render is None:
                rejected.append((item.spec.scene_id, str(files)))
                continue
            rec = scene_record(item, plan, vers, hashes[item.spec.scene_id], render, files)
            write_scene_json(scene_json_path(root, item), rec)  # written last: the completion marker
            records[item.spec.scene_id] = rec
    stale = _remove_stale(root, {it.spec.scene_id for it in plan.items})
    rows = [index_row(it, records[it.spec.scene_id], root, scene_json_path(root, it))
            for it in plan.items if it.spec.scene_id in records]
    df = write_index(rows, root)
    audit_md = None
    if recipe.kind == "binary":
        try:
            result = audit_frame(df)
        except UserError as err:  # too few items: say so in the card, keep the dataset
            audit_md = f"Audit skipped: {err}.\n"
            log(f"{recipe.name}: audit skipped: {err}")
        else:
            write_audit(result, root)
            audit_md = result.to_markdown()
    (root / "render_rejections.json").unlink(missing_ok=True)
    if rejected:
        atomic_write_text(root / "render_rejections.json", json.dumps(dict(rejected), indent=2, sort_keys=True) + "\n")
        log(f"{recipe.name}: {len(rejected)} stimuli rejected at render (reasons in {root / 'render_rejections.json'}), "
            f"for example {rejected[0][0]}: {rejected[0][1]}")
    render_md = ""
    if renderer is not None:
        ordered = [records[it.spec.scene_id] for it in plan.items if it.spec.scene_id in records]
        render_md = render_markdown(render_summary(ordered), contact_sheet(root, df))
    atomic_write_text(root / "card.md", dataset_card(plan, df, audit_md, render_md))
    summary = {"recipe": recipe.name, "folder": str(root), "items": len(plan.items), "kept": kept,
               "written": len(records) - kept, "rejected": len(rejected), "stale_removed": stale,
               "plan_seconds": round(t_plan, 2), "seconds": round(time.perf_counter() - t0, 2)}
    log(f"{recipe.name}: {summary['items']} stimuli in {root} ({kept} kept from an earlier run, "
        f"{summary['written']} written, {len(rejected)} rejected at render, {stale} stale files removed)")
    return summary


def _remove_stale(root: Path, current: set[str]) -> int:
    """Delete files of stimuli no longer in the recipe (a changed recipe re-plans them)."""
    n = 0
    for folder in (root / "scenes", root / "images"):
        if not folder.exists():
            continue
        for f in folder.rglob("*"):
            if f.is_file():
                sid = f.name.split(".")[0]
                for suffix in ("_mask", "_depth"):
                    sid = sid[: -len(suffix)] if sid.endswith(suffix) else sid
                if sid not in current:
                    f.unlink()
                    n += 1
    return n
