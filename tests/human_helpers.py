"""Shared by the tests of the human experiment: a small rendered-looking dataset (real PNGs,
a valid index) and a study opened on it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from PIL import Image

if TYPE_CHECKING:  # fastapi comes with the human extra; these helpers import without it
    from fastapi.testclient import TestClient

INSTRUCTIONS = """# The task

Each picture shows a **green camera** and a **red ball**.

Decide whether the green camera can see the red ball.
"""


def make_dataset(root: Path, n_human: int = 8, n_warmup: int = 4, n_train: int = 4, px: int = 256,
                 hfov_deg: float = 70.0, fov_margin_deg: float = 6.0) -> Path:
    """A dataset folder with ``n_human`` human-set items (test), ``n_warmup`` warm-up items and
    ``n_train`` other train items; each item has an ``image`` (64 px) and a ``human_image``
    (``px`` px, a distinct colour so a screenshot could tell them apart), and a scene file with
    the viewer's field of view and the label margin; hidden items alternate between occluded
    and out of view."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "images").mkdir(exist_ok=True)
    (root / "scenes").mkdir(exist_ok=True)
    rows = []
    rng = np.random.default_rng(0)
    specs = ([("test", True, False)] * n_human + [("train", False, True)] * n_warmup
             + [("train", False, False)] * n_train)
    for i, (split, human, warm) in enumerate(specs):
        sid = f"{split}-{i:04d}"
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        for size, name in ((64, f"{sid}.png"), (px, f"{sid}-human.png")):
            im = Image.new("RGB", (size, size), colour)
            im.paste((255, 255, 255), (0, 0, size // 4, size // 4))  # a corner mark: left and right differ
            im.save(root / "images" / name)
        (root / "scenes" / f"{sid}.json").write_text(json.dumps({
            "scene_id": sid, "label_config": {"fov_margin_deg": fov_margin_deg},
            "cameras": {"viewer": {"hfov_deg": hfov_deg, "vfov_deg": 60.0}}}))
        rows.append({"scene_id": sid, "split": split, "scene_json": f"scenes/{sid}.json",
                     "image": f"images/{sid}.png", "mask": f"images/{sid}.png",
                     "human_image": f"images/{sid}-human.png",
                     "vpt_label": i % 2, "depth_label": (i // 2) % 2, "hidden_reason": "" if i % 2 else ("occluded", "out_of_view")[(i // 2) % 2],
                     "cell": "c0", "human_set": human, "warmup": warm, "sweep_id": "", "sweep_kind": "",
                     "sweep_step": -1, "sweep_step_label": "", "rendered": True})
    pd.DataFrame(rows).to_parquet(root / "index.parquet", index=False)
    return root


def make_conflict_set(root: Path, n_pairs: int = 4, n_warmup_pairs: int = 1, n_train_pairs: int = 1,
                      px: int = 256) -> Path:
    """A conflict set folder laid out as `vpt scenes` writes one (recipe ``conflict``): look-alike
    pairs ``conflict-<split>-<n>-<kind>-a`` (the viewer sees the ball) and ``-b`` (it does not:
    out of view for ``facing`` pairs, occluded for ``cover`` pairs), ``n_pairs`` of them the
    human set (test), ``n_warmup_pairs`` warm-up pairs and ``n_train_pairs`` other train pairs;
    each half with a 64 px ``image`` and a ``px`` px ``human_image``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "images").mkdir(exist_ok=True)
    (root / "scenes").mkdir(exist_ok=True)
    rng = np.random.default_rng(1)
    specs = ([("test", True, False)] * n_pairs + [("train", False, True)] * n_warmup_pairs
             + [("train", False, False)] * n_train_pairs)
    rows = []
    for i, (split, human, warm) in enumerate(specs):
        kind = ("facing", "cover")[i % 2]
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        for half, vpt_label in (("a", 1), ("b", 0)):
            sid = f"conflict-{split}-{i:08d}-{kind}-{half}"
            for size, name in ((64, f"{sid}.png"), (px, f"{sid}-human.png")):
                im = Image.new("RGB", (size, size), colour)  # the halves of a pair look alike
                im.paste((255, 255, 255), (0, 0, size // 4, size // 4))
                im.save(root / "images" / name)
            (root / "scenes" / f"{sid}.json").write_text(json.dumps({
                "scene_id": sid, "label_config": {"fov_margin_deg": 6.0},
                "cameras": {"viewer": {"hfov_deg": 70.0, "vfov_deg": 60.0}}}))
            rows.append({"scene_id": sid, "recipe": "conflict", "split": split, "scene_json": f"scenes/{sid}.json",
                         "image": f"images/{sid}.png", "mask": f"images/{sid}.png",
                         "human_image": f"images/{sid}-human.png", "vpt_label": vpt_label,
                         "depth_label": i % 2,
                         "hidden_reason": "" if vpt_label else {"facing": "out_of_view", "cover": "occluded"}[kind],
                         "cell": kind, "human_set": human, "warmup": warm, "sweep_id": "", "sweep_kind": "",
                         "sweep_step": -1, "sweep_step_label": "", "rendered": True})
    pd.DataFrame(rows).to_parquet(root / "index.parquet", index=False)
    return root


def write_instructions(folder: Path) -> Path:
    p = folder / "vpt.md"
    p.write_text(INSTRUCTIONS, encoding="utf-8")
    return p


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def start(client: TestClient, **ids) -> dict:
    """A new session (Prolific ids as keyword arguments), consented; returns its JSON."""
    r = client.post("/api/session", json=ids)
    assert r.status_code == 200, r.text
    st = r.json()
    assert client.post("/api/event", json={"kind": "consent"}, headers=auth(st["token"])).status_code == 200
    return st
