"""Contact sheets and render summaries for dataset cards.

``contact_sheet.png`` gives the card a few examples per cell; ``contact_sheets/`` holds one
sheet per split and per sweep in which every image sits beside a zoomed crop of its viewer
(located by the mask), captioned with its labels and hidden reason.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from vpt.fileio import atomic_write_bytes

TILE = 112
CAPTION = 14
IMG_PX = 128  # per-split and per-sweep sheets: the image at this size ...
ZOOM_PX = 64  # ... with the viewer, cropped by its mask and enlarged, beside it
LINE_PX = 11
SHEETS_DIR = "contact_sheets"
MAX_SPLIT_TILES = 64


def _tile(path: Path, caption: str) -> Image.Image:
    img = Image.open(path).convert("RGB").resize((TILE, TILE), Image.Resampling.LANCZOS)
    tile = Image.new("RGB", (TILE, TILE + CAPTION), "white")
    tile.paste(img, (0, CAPTION))
    ImageDraw.Draw(tile).text((2, 1), caption, fill="black")
    return tile


def _labels(r: Any) -> list[str]:
    """Caption lines of one index row: VPT label and hidden reason, depth label and its
    meaning, where the stimulus sits (cell or sweep step), its number."""
    if pd.isna(r.vpt_label):  # a sweep step partly visible to the viewer
        first = "vpt=partial"
    else:
        first = f"vpt={r.vpt_label}" + (f" ({r.hidden_reason})" if r.vpt_label == 0 and r.hidden_reason else " (sees it)")
    if pd.isna(r.depth_label):  # a sweep step inside the minimum depth gap
        depth = "depth=ambiguous"
    else:
        depth = f"depth={r.depth_label} ({'ball' if r.depth_label == 1 else 'viewer'} nearer)"
    ident = str(r.scene_id).rsplit("-", 1)[-1]
    if r.sweep_id:
        return [first, depth, f"step {r.sweep_step}: {r.sweep_step_label}"[:34], ident]
    cell = str(r.cell).replace("ball-", "ball ").replace("facing-", "faces ").replace("overlap-", "overlap ")
    return [first, depth, cell.replace("/", ", ")[:34], ident]


def labelled_tile(root: Path, r: Any) -> Image.Image:
    """The image beside a zoomed crop of its viewer (located by the mask), captioned with
    its labels and hidden reason."""
    from vpt.datasets.legibility import crop_viewer

    img = Image.open(root / r.image).convert("RGB")
    lines = _labels(r)
    tile = Image.new("RGB", (IMG_PX + ZOOM_PX + 2, IMG_PX + LINE_PX * 3 + 4), "white")
    tile.paste(img.resize((IMG_PX, IMG_PX), Image.Resampling.LANCZOS), (0, 0))
    draw = ImageDraw.Draw(tile)
    if getattr(r, "mask", ""):
        crop = crop_viewer(np.asarray(img), np.asarray(Image.open(root / r.mask)), size=ZOOM_PX)
        if crop is not None:
            tile.paste(Image.fromarray(crop), (IMG_PX + 2, 0))
            draw.text((IMG_PX + 4, ZOOM_PX + 2), "viewer", fill=(90, 90, 90))
    draw.text((IMG_PX + 4, ZOOM_PX + 2 + LINE_PX), lines[3], fill=(90, 90, 90))
    draw.text((2, IMG_PX + 2), lines[0], fill=(170, 0, 0) if lines[0].startswith("vpt=0") else (0, 0, 0))
    for k, line in enumerate(lines[1:3], start=1):
        draw.text((2, IMG_PX + 2 + k * LINE_PX), line, fill="black")
    return tile


def _grid(root: Path, title: str, rows: list[Any], per_row: int = 6) -> Image.Image:
    tiles = [labelled_tile(root, r) for r in rows]
    tw, th = tiles[0].size
    head = 18
    cols = min(per_row, len(tiles))
    nrows = (len(tiles) + cols - 1) // cols
    sheet = Image.new("RGB", (cols * (tw + 4) + 4, head + nrows * (th + 4) + 4), (225, 225, 225))
    ImageDraw.Draw(sheet).text((4, 3), title, fill="black")
    for k, t in enumerate(tiles):
        sheet.paste(t, (4 + (k % cols) * (tw + 4), head + (k // cols) * (th + 4)))
    return sheet


def _spread(g: pd.DataFrame, n: int) -> pd.DataFrame:
    """Up to ``n`` rows, taken round-robin over (cell, vpt, depth, hidden reason) groups."""
    groups = [grp for _, grp in g.groupby(["cell", "vpt_label", "depth_label", "hidden_reason"], sort=True)]
    picked, k = [], 0
    while len(picked) < min(n, len(g)):
        for grp in groups:
            if k < len(grp) and len(picked) < n:
                picked.append(grp.iloc[k])
        k += 1
    return pd.DataFrame(picked).sort_values(["cell", "vpt_label", "depth_label", "scene_id"])


def split_and_sweep_sheets(root: Path, df: pd.DataFrame, max_tiles: int = MAX_SPLIT_TILES) -> list[Path]:
    """One PNG per split (up to ``max_tiles`` images spread over cells and labels) and one
    per sweep (every step), in ``contact_sheets/``: each image with its labels, hidden
    reason and a zoomed crop of the viewer. Returns the paths written."""
    df = df[df["image"] != ""]
    out_dir = root / SHEETS_DIR
    jobs: list[tuple[str, str, list[Any]]] = []
    for split, g in df[df["sweep_id"] == ""].groupby("split", sort=True):
        pick = _spread(g, max_tiles)
        note = f" ({len(pick)} of {len(g)}, spread over cells and labels)" if len(pick) < len(g) else ""
        jobs.append((f"split-{split}", f"{root.name} / {split}{note}", list(pick.itertuples())))
    for sid, g in df[df["sweep_id"] != ""].groupby("sweep_id", sort=True):
        g = g.sort_values("sweep_step")
        jobs.append((f"sweep-{sid}", f"{root.name} / sweep {sid} ({g['sweep_kind'].iloc[0]}, {len(g)} steps)",
                     list(g.itertuples())))
    written: list[Path] = []
    for name, title, rows in jobs:
        buf = io.BytesIO()
        _grid(root, title, rows).save(buf, format="PNG")
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"{name}.png"
        atomic_write_bytes(path, buf.getvalue())
        written.append(path)
    keep = {p.name for p in written}
    for old in sorted(out_dir.glob("*.png")) if out_dir.exists() else []:
        if old.name not in keep:  # a split or sweep no longer in the recipe
            old.unlink()
    return written


def contact_sheet(root: Path, df: pd.DataFrame, per_row: int = 4) -> Path | None:
    """A PNG with example images: for binary items one row per (cell, VPT label), for sweeps
    one row per sweep (every step). Returns its path, or None without rendered images.
    Also writes the per-split and per-sweep sheets (:func:`split_and_sweep_sheets`)."""
    df = df[df["image"] != ""]
    if df.empty:
        return None
    rows: list[tuple[str, list[tuple[Path, str]]]] = []
    binary = df[df["sweep_id"] == ""]
    for (cell, vpt), g in binary.groupby(["cell", "vpt_label"], sort=True):
        pick = g.iloc[np.linspace(0, len(g) - 1, min(per_row, len(g))).round().astype(int)]
        rows.append((f"{cell}  vpt={vpt}", [(root / r.image, f"vpt={r.vpt_label} d={r.depth_label} {r.hidden_reason[:8]}")
                                          for r in pick.itertuples()]))
    for sid, g in df[df["sweep_id"] != ""].groupby("sweep_id", sort=True):
        g = g.sort_values("sweep_step")
        rows.append((sid, [(root / r.image, f"{r.sweep_step}: {r.sweep_step_label}") for r in g.itertuples()]))
    cols = max(len(t) for _, t in rows)
    label_h = 14
    sheet = Image.new("RGB", (cols * TILE, len(rows) * (TILE + CAPTION + label_h)), (235, 235, 235))
    draw = ImageDraw.Draw(sheet)
    for i, (title, tiles) in enumerate(rows):
        y = i * (TILE + CAPTION + label_h)
        draw.text((2, y + 1), title, fill="black")
        for j, (path, cap) in enumerate(tiles):
            sheet.paste(_tile(path, cap), (j * TILE, y + label_h))
    buf = io.BytesIO()
    sheet.save(buf, format="PNG")
    out = root / "contact_sheet.png"
    atomic_write_bytes(out, buf.getvalue())
    split_and_sweep_sheets(root, df)
    return out


def render_summary(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Timings and settings over the stimuli rendered in this dataset."""
    rendered = [r["render"] for r in records if r.get("render")]
    if not rendered:
        return {}
    t = pd.DataFrame([r["timings"] for r in rendered])
    total = float(t["total"].sum())
    render_call = float(t["render"].sum())
    return {
        "images": len(rendered),
        "settings": rendered[0]["settings"],
        "seconds_per_image": total / len(rendered),
        "render_call_seconds_per_image": render_call / len(rendered),
        "images_per_hour": 3600.0 * len(rendered) / total if total else None,
        "share_outside_render_call": 1.0 - render_call / total if total else None,
        "peak_worker_rss_mb": float(max(r.get("rss_mb") or 0 for r in rendered)),
    }


def render_markdown(summary: dict[str, Any], sheet: Path | None) -> str:
    if not summary:
        return "Not rendered yet (`vpt scenes --plan-only`).\n"
    s = summary["settings"]
    lines = [
        f"- {summary['images']} images; {summary['seconds_per_image']:.2f} s per image in the worker "
        f"({summary['render_call_seconds_per_image']:.2f} s in Blender's render call), "
        f"{summary['images_per_hour']:,.0f} images per hour per worker",
        f"- share of worker time outside the render call (build, ray casts, writes): "
        f"{summary['share_outside_render_call']:.1%}",
        f"- peak worker memory: {summary['peak_worker_rss_mb']:.0f} MiB",
        "- settings: " + ", ".join(f"{k}={v}" for k, v in sorted(s.items()) if not isinstance(v, dict)),
    ]
    if sheet is not None:
        lines.append(f"\n![contact sheet]({sheet.name})")
        sheets = sorted((sheet.parent / SHEETS_DIR).glob("*.png"))
        if sheets:
            lines.append("\nPer split and per sweep, every image with its labels, hidden reason and a zoomed crop "
                         "of the viewer: " + ", ".join(f"[{p.stem}]({SHEETS_DIR}/{p.name})" for p in sheets))
    text = "\n".join(lines) + "\n"
    if sheet is not None and (sheet.parent / "scenes" / "train").is_dir():  # sweeps have nothing to train on
        from vpt.datasets.legibility import CARD_SECTION, current_report

        report = current_report(sheet.parent)
        text += f"\n{CARD_SECTION}\n\n" + (report or "Not measured for these images yet: run `vpt legibility "
                                              f"{sheet.parent}` (it fills in this section).\n")
    return text
