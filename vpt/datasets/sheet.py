"""Contact sheets and render summaries for dataset cards."""

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


def _tile(path: Path, caption: str) -> Image.Image:
    img = Image.open(path).convert("RGB").resize((TILE, TILE), Image.Resampling.LANCZOS)
    tile = Image.new("RGB", (TILE, TILE + CAPTION), "white")
    tile.paste(img, (0, CAPTION))
    ImageDraw.Draw(tile).text((2, 1), caption, fill="black")
    return tile


def contact_sheet(root: Path, df: pd.DataFrame, per_row: int = 4) -> Path | None:
    """A PNG with example images: for binary items one row per (cell, VPT label), for sweeps
    one row per sweep (every step). Returns its path, or None without rendered images."""
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
    return "\n".join(lines) + "\n"
