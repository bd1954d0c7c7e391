"""``vpt verify``: re-check a written dataset against its own records.

Every label is recomputed from the stored spec with the stored label settings, every file
is checked against its sha256 (images and masks also against their camera's size, the
human-resolution ones included), every ray cast against the analytic fraction it was
compared with; on a sample, the viewer's own object-index image is rendered and ball pixels
must appear exactly when the label says visible. The index is read through
:func:`vpt.datasets.index.read_index`, so a malformed one is refused first.

:func:`verify_dataset` returns a :class:`VerifyReport` and writes ``verify.json``; it prints
nothing (the CLI prints the report). Only the viewer renders load Blender, lazily, through
:mod:`vpt.render.verify`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image
from tqdm import tqdm

from vpt.datasets.index import read_index
from vpt.fileio import atomic_write_text, sha256_file
from vpt.render.worker import FRACTION_TOLERANCE  # plain Python: no Blender here
from vpt.scene.labels import LabelConfig, label_scenes
from vpt.scene.spec import scene_from_dict

REPORT_FILE = "verify.json"
# image files whose size must match a recorded camera
_SIZED = {"image": "observer", "mask": "observer", "human_image": "observer_human", "human_mask": "observer_human"}


@dataclass(frozen=True)
class VerifyOptions:
    """``sample``: how many rendered stimuli to render again from the viewer's camera (0:
    none); ``progress``: show a progress bar for those renders."""

    sample: int = 24
    progress: bool = True


@dataclass
class VerifyReport:
    root: Path
    items: int
    viewer_renders: list[dict[str, Any]] = field(default_factory=list)
    disagreements: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.disagreements

    def to_dict(self) -> dict[str, Any]:
        return {"items": self.items, "viewer_renders": self.viewer_renders, "disagreements": self.disagreements,
                "passed": self.passed}

    def summary(self, limit: int = 20) -> str:
        """What the CLI prints: one line of counts, then the first ``limit`` disagreements."""
        lines = [f"{self.root}: {self.items} stimuli re-checked (labels, files, ray casts); "
                 f"{len(self.viewer_renders)} rendered from the viewer's own camera; "
                 f"{len(self.disagreements)} disagreements"]
        lines += [f"  {p}" for p in self.disagreements[:limit]]
        if len(self.disagreements) > limit:
            lines.append(f"  ... and {len(self.disagreements) - limit} more (all in {self.root / REPORT_FILE})")
        return "\n".join(lines)


def sample_rows(df: pd.DataFrame, n: int) -> pd.DataFrame:
    """``n`` rows spread evenly, half with each VPT label when possible (deterministic)."""
    if n <= 0 or df.empty:
        return df.iloc[0:0]
    parts = []
    for _, g in df.groupby(df["vpt_label"].fillna(-1)):
        k = max(1, round(n * len(g) / len(df)))
        idx = np.linspace(0, len(g) - 1, min(k, len(g))).round().astype(int)
        parts.append(g.iloc[np.unique(idx)])
    return pd.concat(parts).head(n)


def _check_files(sid: str, rec: dict[str, Any], root: Path, problems: list[str]) -> None:
    for kind, f in (rec.get("files") or {}).items():
        p = root / f["path"]
        if not p.exists():
            problems.append(f"{sid}: {kind} file missing ({f['path']})")
        elif sha256_file(p) != f["sha256"]:
            problems.append(f"{sid}: {kind} file changed since it was written (sha256)")
        elif kind in _SIZED and _SIZED[kind] in rec.get("cameras", {}):
            cam = rec["cameras"][_SIZED[kind]]
            with Image.open(p) as im:
                if im.size != (cam["width"], cam["height"]):
                    problems.append(f"{sid}: {kind} is {im.size[0]}x{im.size[1]} px, its camera "
                                    f"{cam['width']}x{cam['height']}")


def verify_dataset(root: str | Path, options: VerifyOptions = VerifyOptions()) -> VerifyReport:
    """Re-check the dataset in ``root``; write ``verify.json`` and return the report."""
    root = Path(root)
    df = read_index(root)
    problems: list[str] = []
    records: dict[str, dict[str, Any]] = {}
    specs, cfgs = [], []
    for row in df.itertuples(index=False):
        path = root / row.scene_json
        if not path.exists():
            problems.append(f"{row.scene_id}: scene JSON missing ({row.scene_json})")
            continue
        rec = json.loads(path.read_text(encoding="utf-8"))
        records[row.scene_id] = rec
        for col in ("vpt_label", "depth_label"):
            a, b = getattr(row, col), rec["labels"][col]
            if (pd.isna(a) and b is not None) or (not pd.isna(a) and a != b):
                problems.append(f"{row.scene_id}: index {col}={a} but scene JSON says {b}")
        _check_files(row.scene_id, rec, root, problems)
        rc = rec["visibility"]["viewer"].get("raycast_fraction")
        an = rec["visibility"]["viewer"]["analytic_fraction"]
        tol = (rec.get("render") or {}).get("tolerance") or FRACTION_TOLERANCE
        if rc is not None and abs(rc - an) > tol:
            problems.append(f"{row.scene_id}: ray-cast fraction {rc:.3f} vs analytic {an:.3f}")
        specs.append(scene_from_dict(rec["spec"]))
        cfgs.append(LabelConfig(**rec["label_config"]))
    # recompute the analytic labels from the stored specs
    for cfg in set(cfgs):
        chosen = [s for s, c in zip(specs, cfgs) if c == cfg]
        for s, lab in zip(chosen, label_scenes(chosen, cfg)):
            stored = records[s.scene_id]["labels"]
            if lab.vpt_label != stored["vpt_label"] or lab.depth_label != stored["depth_label"]:
                problems.append(f"{s.scene_id}: recomputed labels ({lab.vpt_label}, {lab.depth_label}) differ "
                                f"from the stored ({stored['vpt_label']}, {stored['depth_label']})")
    viewer_checks = []
    rendered = df[df["rendered"] & df["scene_id"].isin(list(records))]
    if options.sample and not rendered.empty:
        from vpt.render.verify import render_viewer_index  # imports bpy, with a clear error if missing

        rows = sample_rows(rendered[rendered["vpt_label"].notna()], options.sample)
        for row in tqdm(list(rows.itertuples(index=False)), desc="viewer renders", disable=not options.progress):
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
    report = VerifyReport(root, int(len(df)), viewer_checks, problems)
    atomic_write_text(root / REPORT_FILE, json.dumps(report.to_dict(), indent=2, sort_keys=True) + "\n")
    return report
