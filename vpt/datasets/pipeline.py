"""`vpt scenes`: recipes in, a finished benchmark folder out.

For each recipe: plan (sample, label, balance), then for every stimulus either keep it (its
scene JSON exists and its ``spec_hash`` matches: same spec, same label and render settings)
or (re)make it, writing the scene JSON last. Then the index, the audit and the dataset card.
An interrupted run keeps every finished stimulus; the next run redoes only the rest.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from vpt.datasets.audit import audit_dataset, audit_plan, write_audit
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

if TYPE_CHECKING:
    from vpt.datasets.render_stage import HumanTarget

# A renderer takes (items needing a render, their output stems or None where only the
# human-resolution render is needed) and, as keywords, ``human`` (scene_id -> HumanTarget:
# the items also rendered at the human resolution) and ``root``; it yields, per item in any
# order, (item, render dict, files dict) or (item, None, reason) when the render was rejected.
WRITE_THREADS = 8  # threads writing the scene JSONs of a plan-only run (each write waits on its fsync)

Renderer = Callable[..., Iterable[tuple[DatasetItem, dict[str, Any] | None, Any]]]


def scene_json_path(root: Path, item: DatasetItem) -> Path:
    return root / "scenes" / item.split / f"{item.spec.scene_id}.json"


def image_stem(root: Path, item: DatasetItem) -> Path:
    return root / "images" / item.split / item.spec.scene_id


def human_stem(root: Path, item: DatasetItem) -> Path:
    """The human set and the warm-up at the human resolution: ``images/human/<scene_id>``."""
    return root / "images" / "human" / item.spec.scene_id


def human_resolution(recipe: Recipe, item: DatasetItem) -> list[int] | None:
    """[width, height] of the item's render for people, or None (not in the human set or the
    warm-up, or switched off in the recipe)."""
    res = recipe.config.get("human_resolution")
    return list(res) if res and (item.human_set or item.warmup) else None


def with_human(hash_: str, resolution: list[int] | None) -> str:
    """The spec hash of a stimulus that is also rendered at ``resolution`` for people."""
    if resolution is None:
        return hash_
    return hashlib.sha256(json.dumps({"spec_hash": hash_, "human_resolution": resolution}).encode()).hexdigest()


def _read(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def _existing(path: Path, hash_: str, need_render: bool, need_human: bool = False) -> dict[str, Any] | None:
    rec = _read(path)
    if rec is None or rec.get("spec_hash") != hash_:
        return None
    if need_render and not rec.get("files", {}).get("image"):
        return None
    if need_human and not rec.get("files", {}).get("human_image"):
        return None
    return rec


def _model_part_current(path: Path, model_hash: str) -> dict[str, Any] | None:
    """An earlier record whose model-resolution render is still current (only its
    human-resolution part changed), so that only that part is redone."""
    rec = _read(path)
    if rec is None or rec.get("model_spec_hash", rec.get("spec_hash")) != model_hash:
        return None
    if not rec.get("files", {}).get("image") or not rec.get("render"):
        return None
    return rec


@dataclass(slots=True)
class ItemState:
    """What :func:`build_dataset` knows about one planned item on its way to a scene JSON.

    ``model_hash`` is the spec hash of its model-resolution render, ``hash`` the one its
    scene JSON carries (with the human resolution, when it is rendered for people too, at
    ``human``). ``record`` is its scene JSON record once kept from an earlier run or written
    now; ``earlier``, an earlier record whose model-resolution part is still current, so
    only the human-resolution part is redone."""

    item: DatasetItem
    model_hash: str
    hash: str
    human: HumanTarget | None = None
    record: dict[str, Any] | None = None
    earlier: dict[str, Any] | None = None


def build_dataset(recipe: Recipe, out: Path, scale: str | None = None, renderer: Renderer | None = None,
                  render_key: dict[str, Any] | None = None, bpy_version: str | None = None,
                  progress: bool = True, log: Callable[[str], None] = print,
                  human_renders: bool = True) -> dict[str, Any]:
    """Plan one recipe and write its dataset under ``out/<recipe name>``. Returns a summary.

    ``human_renders``: also render the human set and the warm-up at the recipe's
    ``human_resolution``; when False those renders are neither made nor removed (an item
    that has them keeps them), and the items get their model-resolution render only.
    The seconds of each stage go to ``timings.json`` in the dataset folder."""
    t0 = time.perf_counter()
    plan = plan_recipe(recipe, scale, progress=progress)
    t_plan = time.perf_counter() - t0
    root = Path(out) / recipe.name
    root.mkdir(parents=True, exist_ok=True)
    vers = versions(bpy_version)
    states: dict[str, ItemState] = {}  # by scene id, in plan order
    todo: list[ItemState] = []
    for item in plan.items:
        res = human_resolution(recipe, item) if renderer is not None else None
        h = spec_hash(item, plan, render_key)
        if res is not None and not human_renders:
            res = res if _existing(scene_json_path(root, item), with_human(h, res), True, True) else None
        st = states[item.spec.scene_id] = ItemState(item, h, with_human(h, res))
        if res is not None:
            from vpt.datasets.render_stage import HumanTarget  # plain Python: no Blender here

            st.human = HumanTarget(human_stem(root, item), res[0], res[1])
        st.record = _existing(scene_json_path(root, item), st.hash, renderer is not None, res is not None)
        if st.record is not None:
            continue
        st.earlier = _model_part_current(scene_json_path(root, item), h) if renderer is not None else None
        todo.append(st)
    kept = len(states) - len(todo)
    rejected: list[tuple[str, str]] = []
    t_render = time.perf_counter()

    def write(st: ItemState, render: dict[str, Any] | None = None, files: dict[str, Any] | None = None) -> None:
        st.record = scene_record(st.item, plan, vers, st.hash, render, files,
                                 model_hash=st.model_hash if render is not None else None)
        write_scene_json(scene_json_path(root, st.item), st.record)  # written last: the completion marker

    if renderer is None:  # plan only: the files are written (and synced) by a few threads at once
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(WRITE_THREADS) as pool:
            for fut in [pool.submit(write, st) for st in todo]:
                fut.result()
    else:
        for st in todo:
            if st.earlier is not None and st.human is None:
                # only the human-resolution files went away (switched off): keep the render, drop them
                write(st, {k: v for k, v in st.earlier["render"].items() if k != "human"},
                      {k: v for k, v in st.earlier["files"].items() if not k.startswith("human_")})
        todo = [st for st in todo if st.record is None]
    if renderer is not None and todo:
        stems = [None if st.earlier is not None else image_stem(root, st.item) for st in todo]
        human = {st.item.spec.scene_id: st.human for st in todo if st.human is not None}
        for item, render, files in renderer([st.item for st in todo], stems, human=human, root=root):
            st = states[item.spec.scene_id]
            if render is None:
                rejected.append((item.spec.scene_id, str(files)))
                continue
            if st.earlier is not None:  # only the human-resolution part was rendered now
                render = {**{k: v for k, v in st.earlier["render"].items() if k != "human"}, **render}
                files = {**{k: v for k, v in st.earlier["files"].items() if not k.startswith("human_")}, **files}
            write(st, render, files)
    t_render = time.perf_counter() - t_render if renderer is not None else 0.0  # plan only: files
    records = {sid: st.record for sid, st in states.items() if st.record is not None}
    stale = _remove_stale(root, {it.spec.scene_id for it in plan.items})
    if renderer is not None:
        stale += _remove_unrecorded_human(root, records)
    rows = [index_row(it, records[it.spec.scene_id], root, scene_json_path(root, it))
            for it in plan.items if it.spec.scene_id in records]
    df = write_index(rows, root)
    audit_md = None
    t_audit = time.perf_counter()
    if recipe.kind in ("binary", "conflict"):
        try:
            if renderer is not None:
                result = audit_dataset(root)
            else:
                result = audit_plan(plan.items)
        except UserError as err:  # too few items: say so in the card, keep the dataset
            audit_md = f"Audit skipped: {err}.\n"
            log(f"{recipe.name}: audit skipped: {err}")
        else:
            write_audit(result, root)
            audit_md = result.to_markdown()
            if recipe.kind == "conflict":  # the conflict set's own criteria, before the general audit
                from vpt.datasets.conflict_card import conflict_section

                audit_md = (conflict_section(root, result, recipe.config["conflict"]["basic"])
                            + "\n### Every cue (the basic set's audit)\n\n" + audit_md)
    t_audit = time.perf_counter() - t_audit
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
               "human_only": sum(st.earlier is not None and st.record is not None for st in states.values()),
               "plan_seconds": round(t_plan, 2), "seconds": round(time.perf_counter() - t0, 2)}
    summary["stage_seconds"] = {"plan": round(t_plan, 2), "render": round(t_render, 2), "audit": round(t_audit, 2),
                                "files": round(summary["seconds"] - t_plan - t_render - t_audit, 2)}
    atomic_write_text(root / "timings.json", json.dumps({**summary, "human_renders": human_renders}, indent=1) + "\n")
    redone = f" ({summary['human_only']} of them only at the human resolution)" if summary["human_only"] else ""
    log(f"{recipe.name}: {summary['items']} stimuli in {root} ({kept} kept from an earlier run, "
        f"{summary['written']} written{redone}, {len(rejected)} rejected at render, {stale} stale files removed)")
    return summary


def _remove_unrecorded_human(root: Path, records: dict[str, dict[str, Any]]) -> int:
    """Delete human-resolution files no scene JSON records (an item left the human set or
    the warm-up, or the human resolution was switched off)."""
    folder = root / "images" / "human"
    if not folder.exists():
        return 0
    keep = {(root / f["path"]).resolve() for rec in records.values()
            for k, f in (rec.get("files") or {}).items() if k.startswith("human_")}
    n = 0
    for f in folder.iterdir():
        if f.is_file() and not f.name.startswith(".") and f.resolve() not in keep:
            f.unlink()
            n += 1
    return n


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
