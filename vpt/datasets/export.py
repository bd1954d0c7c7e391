"""Sharing: export a rendered dataset as a Hugging Face ``datasets`` image folder.

The export is made from the same files (hard links where the file system allows, copies
otherwise): one folder per split with its images and a ``metadata.csv`` (``file_name`` plus
every index column an evaluator needs), object-index masks under ``masks/``, and a
``README.md`` whose YAML header maps folders to splits, so that
``datasets.load_dataset("path/to/export")`` loads every split, ``ood`` and ``strategy``
included. The human set and the warm-up at the human resolution (``images/human/``) form a
second config, ``human`` (splits ``human_set`` and ``warmup``):
``datasets.load_dataset("path/to/export", "human")``.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from vpt.datasets.index import read_index
from vpt.fileio import atomic_write_text
from vpt.errors import UserError

METADATA_COLUMNS = ["scene_id", "vpt_label", "hidden_reason", "depth_label", "cell", "ball_side", "viewer_facing",
                    "occluder_overlaps_segment", "n_occluders", "style", "viewer_model", "occluder_shapes", "human_set",
                    "warmup", "sweep_id", "sweep_kind", "sweep_step", "sweep_parameter", "sweep_value",
                    "sweep_step_label", "mask_file"]


@dataclass(frozen=True)
class Export:
    """What :func:`export_imagefolder` wrote: ``images`` files in the ``splits`` of the default
    config, and the ``human`` splits of the ``human`` config (none when not rendered)."""

    out: Path
    images: int
    splits: list[str]
    human: list[str]

    def summary(self) -> str:
        text = (f"exported {self.images} images in splits {', '.join(self.splits)} to {self.out} "
                f"(load with datasets.load_dataset({str(self.out)!r}))")
        if self.human:
            text += (f"\n  and the human-resolution images of {' and '.join(self.human)} "
                     f"(datasets.load_dataset({str(self.out)!r}, 'human'))")
        return text


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists():
        dst.unlink()
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _export_human(root: Path, df: pd.DataFrame, out: Path) -> list[str]:
    """The human set and the warm-up at the human resolution, as splits ``human_set`` and
    ``warmup`` of the config ``human`` (folders ``human/<split>/``); returns those splits."""
    for folder in (out / "human", out / "masks" / "human"):
        shutil.rmtree(folder, ignore_errors=True)
    if "human_image" not in df.columns:
        return []
    done = []
    for split, flag in (("human_set", "human_set"), ("warmup", "warmup")):
        g = df[(df["human_image"] != "") & df[flag].astype(bool)]
        if g.empty:
            continue
        _write_folder(root, g, out, out / "human" / split, "human_image", "human_mask", "masks/human",
                      lambda row: {"split_of_origin": row.split})
        done.append(split)
    return done


def _write_folder(root: Path, g: pd.DataFrame, out: Path, folder: Path, image_col: str, mask_col: str,
                  mask_dir: str, extra) -> None:
    """Link the images (and masks) of rows ``g`` into ``folder`` and write its metadata.csv."""
    rows = []
    for row in g.itertuples(index=False):
        name = Path(getattr(row, image_col)).name
        _link(root / getattr(row, image_col), folder / name)
        mask = ""
        if getattr(row, mask_col):
            mask = f"{mask_dir}/{Path(getattr(row, mask_col)).name}"
            _link(root / getattr(row, mask_col), out / mask)
        tasks = {"tasks": row.tasks} if hasattr(row, "tasks") else {}  # the tasks the item serves (newer indexes)
        rows.append({"file_name": name, **extra(row), **{c: getattr(row, c) for c in METADATA_COLUMNS if c != "mask_file"},
                     **tasks, "mask_file": mask})
    atomic_write_text(folder / "metadata.csv", pd.DataFrame(rows).to_csv(index=False))


def export_imagefolder(root: Path, out: Path) -> Export:
    """Write the image-folder export of dataset ``root`` into ``out``; returns what was written."""
    df = read_index(root)
    df = df[df["image"] != ""]
    if df.empty:
        raise UserError(f"{root}: no rendered images to export; run `vpt scenes` without --plan-only first")
    out.mkdir(parents=True, exist_ok=True)
    splits = []
    for split, g in df.groupby("split", sort=True):
        folder = out / split
        if folder.exists():
            shutil.rmtree(folder)
        _write_folder(root, g, out, folder, "image", "mask", f"masks/{split}", lambda row: {})
        splits.append(split)
    human = _export_human(root, df, out)
    header = "---\nconfigs:\n- config_name: default\n  data_files:\n" + "".join(
        f"  - split: {s}\n    path: \"{s}/*\"\n" for s in splits)
    if human:
        header += "- config_name: human\n  data_files:\n" + "".join(
            f"  - split: {s}\n    path: \"human/{s}/*\"\n" for s in human)
    header += "---\n"
    card = (root / "card.md").read_text(encoding="utf-8") if (root / "card.md").exists() else ""
    atomic_write_text(out / "README.md", header + "\n" + card)
    return Export(out, len(df), splits, human)
