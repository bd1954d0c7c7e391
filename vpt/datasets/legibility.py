"""Viewer legibility: can the viewer's facing be read from the image alone?

A benchmark whose viewer cannot be read measures eyesight, not perspective taking. This
module crops the viewer out of every rendered image (located with the object-index mask
only: the bounding box of the viewer's body in ``mask == 2``, its stand left out, padded to
a square and resized to ``CROP_PX``)
and trains a simple, seeded classifier (logistic regression on HOG features of the crop and
of the viewer's silhouette in the mask, plus a small colour thumbnail) on the ``train``
split to predict the viewer's facing four ways:

* left / right in the image: ``viewer_facing`` of the labels;
* toward / away from the observer: the sign of the viewer's forward vector along the
  direction from the viewer's body centre to the observer camera (toward = its front
  faces the observer).

Training sees every crop also mirrored (left and right swap) and at two other paddings;
``val`` picks the regularisation, then the model is refitted on train and val. Accuracy is
reported on ``test`` and ``ood`` per viewer model and per class, with the crops it gets wrong. Viewers turned less than
``SIDE_ON_DEG`` from side-on are reported apart as well: there toward and away differ by
a few degrees and no one can tell them apart.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from vpt.errors import UserError
from vpt.fileio import atomic_write_bytes, atomic_write_text

VIEWER_INDEX = 2
CROP_PX = 48
PAD = 0.2  # of the bounding box's longer side, on each side
TRAIN_PADS = (PAD, 0.1, 0.3)  # training also sees each crop a little larger and smaller
SIDE_ON_DEG = 10.0
BODY_ROW_SHARE = 0.35  # a row of the body holds at least this share of the widest row's viewer pixels
CLASSES = ("left-toward", "left-away", "right-toward", "right-away")
C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0)
SEED = 0


# ---------------------------------------------------------------------------- crops
def body_bbox(mask: np.ndarray, index: int = VIEWER_INDEX) -> tuple[int, int, int, int] | None:
    """The bounding box of the viewer's body without its stand, from the mask only: the
    rows of ``mask == index`` that hold at least :data:`BODY_ROW_SHARE` of the widest row's
    pixels, from the topmost such row down to the first row that falls short (the pole and
    the tripod's legs are a few pixels wide; a body turned end-on is still several times
    wider). A viewer on a tall stand otherwise fills its square crop with the stand and
    leaves the body a few pixels across. None when the mask shows no viewer."""
    m = np.asarray(mask) == index
    counts = m.sum(axis=1)
    if not counts.any():
        return None
    body = counts >= max(1.0, BODY_ROW_SHARE * counts.max())
    y0 = int(np.argmax(body))
    y1 = y0
    while y1 < len(counts) and body[y1]:
        y1 += 1
    xs = np.nonzero(m[y0:y1].any(axis=0))[0]
    return int(xs.min()), y0, int(xs.max()) + 1, y1


def crop_viewer(image: np.ndarray, mask: np.ndarray, size: int = CROP_PX, pad: float = PAD) -> np.ndarray | None:
    """The viewer cut from ``image`` (H x W x 3, uint8): a square around the bounding box of
    its body in ``mask == 2`` (:func:`body_bbox`: without the stand), padded by ``pad`` of
    its side (beyond the image edge: edge pixels), resized to ``size`` x ``size``. None when
    the mask shows no viewer."""
    box = body_bbox(mask)
    if box is None:
        return None
    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0) * (1.0 + 2.0 * pad)
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    a0, b0 = int(math.floor(cx - side / 2.0)), int(math.floor(cy - side / 2.0))
    n = max(2, int(math.ceil(side)))
    img = np.asarray(image)[..., :3]
    h, w = img.shape[:2]
    margin = n + 1
    padded = np.pad(img, ((margin, margin), (margin, margin), (0, 0)), mode="edge")
    cut = padded[b0 + margin:b0 + margin + n, a0 + margin:a0 + margin + n]
    return np.asarray(Image.fromarray(cut).resize((size, size), Image.Resampling.BILINEAR))


def facing_class(scene: dict[str, Any]) -> tuple[str, float]:
    """(class, turn in degrees) of a scene JSON: the class is ``<left|right>-<toward|away>``;
    the turn is the elevation of the viewer's forward vector above the plane normal to the
    direction to the observer (positive = toward; 0 = seen exactly side-on)."""
    spec = scene["spec"]
    fwd = np.asarray(scene["cameras"]["viewer"]["forward"], float)
    to_obs = np.subtract(spec["observer"]["position"], spec["viewer"]["position"])
    c = float(np.dot(fwd / np.linalg.norm(fwd), to_obs / np.linalg.norm(to_obs)))
    turn = math.degrees(math.asin(max(-1.0, min(1.0, c))))
    side = scene["counterbalancing"]["viewer_facing"]
    return f"{side}-{'toward' if c > 0 else 'away'}", turn


def features(crops: np.ndarray) -> np.ndarray:
    """HOG of each crop (gradients over the colour channels), an 8 x 8 colour thumbnail, and,
    for crops with a fourth channel (the viewer's silhouette: its visible pixels in the mask,
    see :func:`load_crops`), the HOG of that silhouette: the outline of lens barrel and body
    without the background's texture."""
    from skimage.feature import hog

    out = []
    for c in crops:
        rgb = np.ascontiguousarray(c[..., :3])
        parts = [hog(rgb, orientations=9, pixels_per_cell=(6, 6), cells_per_block=(2, 2), channel_axis=-1,
                     feature_vector=True),
                 np.asarray(Image.fromarray(rgb).resize((8, 8), Image.Resampling.BOX), float).ravel() / 255.0]
        if c.shape[-1] > 3:
            parts.append(hog(c[..., 3], orientations=9, pixels_per_cell=(6, 6), cells_per_block=(2, 2),
                             feature_vector=True))
        out.append(np.concatenate(parts))
    return np.asarray(out, float)


def _mirror(cls: str) -> str:
    side, way = cls.split("-")
    return f"{'right' if side == 'left' else 'left'}-{way}"


# ---------------------------------------------------------------------------- data
def load_crops(root: Path, size: int = CROP_PX, human: bool = False) -> tuple[pd.DataFrame, np.ndarray]:
    """One row per rendered stimulus with a visible viewer (scene_id, split, model, class,
    turn_deg, image, sha256), and its crops (N x len(TRAIN_PADS) x size x size x 4, uint8:
    RGB and the viewer's silhouette, 255 where the mask shows the viewer; ``[:, 0]`` at
    ``PAD``, the one that is tested). Reads the scene JSONs (the completion
    markers), so a dataset still being rendered can be measured too. ``human``: the images
    rendered for people instead (human set and warm-up at their own resolution); none is no
    error then (an empty table)."""
    root = Path(root)
    paths = sorted((root / "scenes").glob("*/*.json"))
    if not paths:
        raise UserError(f"{root}: no scenes/<split>/<id>.json; render a dataset first (`vpt scenes`)")
    image_key, mask_key = ("human_image", "human_mask") if human else ("image", "mask")
    rows, crops = [], []
    for path in paths:
        scene = json.loads(path.read_text())
        files = scene.get("files") or {}
        if not files.get(image_key) or not files.get(mask_key):
            continue
        img = np.asarray(Image.open(root / files[image_key]["path"]).convert("RGB"))
        mask = np.asarray(Image.open(root / files[mask_key]["path"]))
        crop = [crop_viewer(img, mask, size, pad) for pad in TRAIN_PADS]
        if crop[0] is None:
            continue
        sil = np.repeat((mask == VIEWER_INDEX).astype(np.uint8)[..., None] * 255, 3, axis=2)
        crop = [np.concatenate([c, crop_viewer(sil, mask, size, pad)[..., :1]], axis=-1)
                for c, pad in zip(crop, TRAIN_PADS)]
        cls, turn = facing_class(scene)
        rows.append({"scene_id": scene["scene_id"], "split": scene["split"], "model": scene["spec"]["viewer"]["model"],
                     "cls": cls, "turn_deg": turn, "image": files[image_key]["path"],
                     "sha256": files[image_key].get("sha256", "")})
        crops.append(crop)
    if not rows and human:
        return pd.DataFrame(columns=["scene_id", "split", "model", "cls", "turn_deg", "image", "sha256"]), \
            np.zeros((0, len(TRAIN_PADS), size, size, 4), np.uint8)
    if not rows:
        raise UserError(f"{root}: no rendered images (a --plan-only dataset); render it first")
    return pd.DataFrame(rows), np.asarray(crops, np.uint8).reshape(-1, len(TRAIN_PADS), size, size, 4)


# ---------------------------------------------------------------------------- result
@dataclass
class LegibilityResult:
    dataset: str
    crop_px: int
    classifier: str
    fingerprint: str = ""  # of the measured images (see :func:`images_fingerprint`)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def accuracy(self, model: str, split: str = "test") -> float | None:
        return self.models.get(model, {}).get("splits", {}).get(split, {}).get("accuracy")

    def to_markdown(self) -> str:
        lines = [f"Viewer legibility of `{self.dataset}`: {self.classifier} on {self.crop_px} px crops of the viewer "
                 f"(located by the mask only), trained on train and val, four classes (left/right in the image x "
                 f"toward/away from the observer); chance is 25 %. The human-set row applies the same "
                 f"classifier to the human set's images as rendered for people (their own resolution).", "",
                 "| viewer | split | n | accuracy | " + " | ".join(CLASSES) + f" | turned >= {SIDE_ON_DEG:g} deg "
                 "from side-on |", "|---|---|---|---|" + "---|" * len(CLASSES) + "---|"]
        for model, m in sorted(self.models.items()):
            for split, s in m["splits"].items():
                per = " | ".join("-" if s["per_class"].get(c) is None else f"{s['per_class'][c]:.1%}" for c in CLASSES)
                turned = "-" if s["turned_accuracy"] is None else f"{s['turned_accuracy']:.1%} (n={s['turned_n']})"
                lines.append(f"| {model} | {split} | {s['n']} | **{s['accuracy']:.1%}** | {per} | {turned} |")
        lines.append("")
        for model, m in sorted(self.models.items()):
            val = f" chosen on val ({m['val_accuracy']:.1%} when trained on train only)" if m.get(
                "val_accuracy") is not None else ""
            lines.append(f"- {model}: trained on {m['n_train']} crops of train and val (each also mirrored and at "
                         f"{len(TRAIN_PADS)} paddings), C={m['C']}{val}")
        lines.append(f"\n{len(self.errors)} crops misclassified in test and ood"
                     + (" (in `legibility_errors.png`)." if self.errors else "."))
        return "\n".join(lines) + "\n"


HUMAN_ROW = "human set (as shown to people)"


def _split_report(y: np.ndarray, pred: np.ndarray, turn: np.ndarray) -> dict[str, Any]:
    ok = y == pred
    turned = np.abs(turn) >= SIDE_ON_DEG
    return {
        "n": int(len(y)), "accuracy": float(ok.mean()) if len(y) else None,
        "per_class": {c: (float(ok[y == c].mean()) if (y == c).any() else None) for c in CLASSES},
        "class_n": {c: int((y == c).sum()) for c in CLASSES},
        "turned_n": int(turned.sum()), "turned_accuracy": float(ok[turned].mean()) if turned.any() else None,
        "confusion": {t: {p: int(((y == t) & (pred == p)).sum()) for p in CLASSES} for t in CLASSES},
    }


def measure_legibility(root: Path, size: int = CROP_PX, seed: int = SEED,
                       data: tuple[pd.DataFrame, np.ndarray] | None = None,
                       human: tuple[pd.DataFrame, np.ndarray] | None = None) -> tuple[LegibilityResult, np.ndarray]:
    """Train per viewer model on train, pick C on val, refit on both, report test and ood, and
    (``human``: :func:`load_crops` with ``human=True``) the human set's test items as rendered
    for people, at their own resolution. Returns the result and the misclassified test and ood
    crops (in the order of ``result.errors``)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rows, crops = data if data is not None else load_crops(root, size)
    res = LegibilityResult(dataset=Path(root).name, crop_px=size,
                           classifier="logistic regression on HOG (9 orientations, 6 px cells) of the crop"
                           + (" and of the viewer's silhouette" if crops.shape[-1] > 3 else "") + " + 8x8 colour",
                           fingerprint=_fingerprint(rows.get("sha256", pd.Series([], dtype=str)).tolist()))
    wrong: list[np.ndarray] = []
    for model in sorted(rows["model"].unique()):
        sel = (rows["model"] == model).to_numpy()
        tr = sel & (rows["split"] == "train").to_numpy()
        if tr.sum() < 8 or rows.loc[tr, "cls"].nunique() < 2:
            continue
        feats = features(crops[sel, 0])
        fidx = {int(i): k for k, i in enumerate(np.nonzero(sel)[0])}
        cls = rows["cls"].to_numpy()

        def augmented(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            """Features and classes of the crops ``idx`` at every padding, and mirrored."""
            xs, ys = [], []
            for k in range(crops.shape[1]):
                xs += [feats[[fidx[i] for i in idx]] if k == 0 else features(crops[idx, k]),
                       features(crops[idx, k][:, :, ::-1].copy())]
                ys += [cls[idx], np.array([_mirror(c) for c in cls[idx]])]
            return np.concatenate(xs), np.concatenate(ys)

        def fit(x: np.ndarray, y: np.ndarray, c: float) -> Any:
            clf = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=3000, random_state=seed))
            return clf.fit(x, y)

        tr_idx = np.nonzero(tr)[0]
        x_tr, y_tr = augmented(tr_idx)
        va_idx = np.nonzero(sel & (rows["split"] == "val").to_numpy())[0]
        best_c, best_acc = C_GRID[len(C_GRID) // 2], None
        if len(va_idx):
            x_va, y_va = feats[[fidx[i] for i in va_idx]], cls[va_idx]
            for c in C_GRID:
                acc = float((fit(x_tr, y_tr, c).predict(x_va) == y_va).mean())
                if best_acc is None or acc > best_acc + 1e-12:
                    best_c, best_acc = c, acc
            x_va_aug, y_va_aug = augmented(va_idx)
            x_tr, y_tr = np.concatenate([x_tr, x_va_aug]), np.concatenate([y_tr, y_va_aug])
        clf = fit(x_tr, y_tr, best_c)
        m: dict[str, Any] = {"n_train": int(len(tr_idx) + len(va_idx)), "C": best_c, "val_accuracy": best_acc,
                             "splits": {}}
        for split in ("test", "ood"):
            idx = np.nonzero(sel & (rows["split"] == split).to_numpy())[0]
            if not len(idx):
                continue
            y = cls[idx]
            pred = clf.predict(feats[[fidx[i] for i in idx]])
            m["splits"][split] = _split_report(y, pred, rows["turn_deg"].to_numpy()[idx])
            for i, t, p in zip(idx, y, pred, strict=True):
                if t != p:
                    r = rows.iloc[int(i)]
                    res.errors.append({"scene_id": r.scene_id, "split": split, "model": model, "true": t,
                                       "predicted": str(p), "turn_deg": round(float(r.turn_deg), 2)})
                    wrong.append(crops[int(i), 0])
        if human is not None and len(human[0]):  # test items only: the warm-up's were trained on
            hrows, hcrops = human
            hidx = np.nonzero(((hrows["model"] == model) & (hrows["split"] == "test")).to_numpy())[0]
            if len(hidx):
                m["splits"][HUMAN_ROW] = _split_report(hrows["cls"].to_numpy()[hidx], clf.predict(features(hcrops[hidx, 0])),
                                                       hrows["turn_deg"].to_numpy()[hidx])
        res.models[model] = m
    if not res.models:
        raise UserError(f"{root}: too few rendered training images with a visible viewer to measure legibility")
    return res, np.asarray(wrong, np.uint8).reshape(-1, size, size, crops.shape[-1])


def _fingerprint(hashes: list[str]) -> str:
    import hashlib

    return hashlib.sha256("".join(sorted(h for h in hashes if h)).encode()).hexdigest()[:16]


def images_fingerprint(root: Path) -> str:
    """A short hash over the sha256 of every rendered image of the dataset (from the scene
    JSONs): a stored legibility report is current when its fingerprint matches."""
    hashes = []
    for path in (Path(root) / "scenes").glob("*/*.json"):
        img = (json.loads(path.read_text()).get("files") or {}).get("image") or {}
        hashes.append(img.get("sha256", ""))
    return _fingerprint(hashes)


def current_report(root: Path) -> str | None:
    """The markdown of ``legibility.md`` when it measured exactly the images now in
    ``root`` (None when absent or stale)."""
    root = Path(root)
    try:
        stored = json.loads((root / "legibility.json").read_text())
        text = (root / "legibility.md").read_text()
    except (OSError, ValueError):
        return None
    if stored.get("fingerprint") != images_fingerprint(root):
        return None
    body = text.split("\n", 2)[-1] if text.startswith("# ") else text
    return body + "\n![misclassified viewer crops](legibility_errors.png)\n"


CARD_SECTION = "## Viewer legibility"


# ---------------------------------------------------------------------------- output
def error_sheet(result: LegibilityResult, crops: np.ndarray, zoom: int = 2, per_row: int = 8) -> Image.Image:
    """The misclassified crops, enlarged, each captioned true -> predicted and its turn."""
    tile = result.crop_px * zoom
    cap = 24
    n = max(1, len(crops))
    cols = min(per_row, n)
    rows = (n + cols - 1) // cols
    sheet = Image.new("RGB", (cols * tile, rows * (tile + cap)), "white")
    draw = ImageDraw.Draw(sheet)
    if not len(crops):
        draw.text((4, 4), "no errors", fill="black")
        return sheet
    for k, (err, crop) in enumerate(zip(result.errors, crops, strict=True)):
        x, y = (k % cols) * tile, (k // cols) * (tile + cap)
        rgb = np.ascontiguousarray(crop[..., :3])
        sheet.paste(Image.fromarray(rgb).resize((tile, tile), Image.Resampling.NEAREST), (x, y + cap))
        draw.text((x + 2, y), f"is {err['true']}", fill="black")
        draw.text((x + 2, y + 11), f"read {err['predicted']}", fill=(180, 0, 0))
        draw.text((x + tile - 30, y + cap + 2), f"{err['turn_deg']:+.0f}", fill=(255, 255, 0))
    return sheet


def write_legibility(result: LegibilityResult, crops: np.ndarray, root: Path) -> None:
    """``legibility.md``, ``legibility.json`` and ``legibility_errors.png`` in ``root``; a
    dataset card there (``card.md``) gets (or has replaced) its viewer legibility section."""
    root = Path(root)
    atomic_write_text(root / "legibility.md", "# Viewer legibility\n\n" + result.to_markdown())
    atomic_write_text(root / "legibility.json", json.dumps(result.to_dict(), indent=2, sort_keys=True) + "\n")
    buf = io.BytesIO()
    error_sheet(result, crops).save(buf, format="PNG")
    atomic_write_bytes(root / "legibility_errors.png", buf.getvalue())
    card = root / "card.md"
    if card.exists():
        text = card.read_text()
        section = f"{CARD_SECTION}\n\n{result.to_markdown()}\n![misclassified viewer crops](legibility_errors.png)\n"
        if CARD_SECTION in text:
            head, rest = text.split(CARD_SECTION, 1)
            tail = rest[rest.find("\n## "):] if "\n## " in rest else ""
            text = head + section + ("\n" + tail.lstrip("\n") if tail else "")
        elif "\n## Label definitions" in text:  # after the rendering section, as a fresh card has it
            head, tail = text.split("\n## Label definitions", 1)
            text = head.rstrip("\n") + "\n\n" + section + "\n## Label definitions" + tail
        else:
            text = text.rstrip("\n") + "\n\n" + section
        atomic_write_text(card, text)
