"""Attribution maps (captum) of vision decision makers, scored against the rendered masks.

Every decision maker is made differentiable end to end from the stimulus pixels, at the
image's own resolution, to one number, the log-odds of answer 1:

* a probe: resize (torch, antialiased) -> normalise -> backbone -> pooled features (or one
  layer's, pooled) -> the fitted head: the linear probe's StandardScaler and logistic
  regression as ``(x - mean) / scale @ coef + intercept``; the 3D-PC head in eval mode,
  ``logit_1 - logit_0``;
* a fine-tuned or from-scratch network (its finished checkpoint from ``vpt finetune`` /
  ``vpt train``): resize -> normalise -> network, ``logit_1 - logit_0``.

So a map has the image's shape and lines up with its object-index mask pixel for pixel.
(The cached probe features were computed with PIL's resize; the torch resize here differs from
it by interpolation rounding only.)

Methods: ``smoothgrad`` (captum ``NoiseTunnel(Saliency)``: the mean absolute gradient over
``sg_samples`` copies with Gaussian noise of standard deviation ``sg_noise`` in pixel units,
pixels in [0, 1]) and ``ig`` (``IntegratedGradients`` from a black image, ``ig_steps`` steps).
A map is the absolute attribution summed over the colour channels. The noise is drawn from
(seed, stimulus), so a rerun gives the same maps.

Scores (:func:`score_map`): the share of the map on each object of the mask (0 background,
1 ball, 2 viewer, 10 + k occluder k; any other index counts as background), its area share
(pixels / all pixels), and ``ratio = share / area_share`` (1: no preference; NaN where the
object has no pixels). The regions ``ball``, ``viewer``, ``occluders`` (all occluders) and
``background`` partition the image: their shares sum to 1.

Files of one decision maker (:func:`run_saliency`), in ``<out>/saliency/<name>/``:

* ``config.json``: what was attributed (decision maker, model description, dataset hash,
  items, methods, settings) and its key; a rerun with other settings is refused without
  ``--force``;
* ``maps/<scene_id>.npz``: float32 arrays ``<task>__<method>`` (H x W), written atomically
  per stimulus (an interrupted run resumes at the next stimulus);
* ``overlays/<scene_id>.png``: the image beside each map over it (mask outlines in white);
* ``saliency.parquet`` (:data:`DETAIL_COLUMNS`): one row per stimulus, task, method and
  object;
* ``attribution.parquet`` (:data:`SUMMARY_COLUMNS`, written last: the run is finished when it
  exists): per task, method and region the mean share over stimuli, the mean area share, the
  mean ratio (over stimuli where the region has pixels) and the number of stimuli. ``vpt
  report`` reads it (columns ``decision_maker``, ``region``, ``share``, ``method``).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from vpt.errors import UserError

METHODS = ("smoothgrad", "ig")
REGIONS = ("ball", "viewer", "occluders", "background")
SETTINGS: dict[str, Any] = {"ig_steps": 32, "sg_samples": 16, "sg_noise": 0.15, "internal_batch": 8}
BALL_ID, VIEWER_ID, OCCLUDER_BASE = 1, 2, 10
DETAIL_COLUMNS = ("decision_maker", "kind", "method", "task", "dataset", "split", "scene_id", "label", "score",
                  "object", "region", "share", "area_share", "ratio")
SUMMARY_COLUMNS = ("decision_maker", "kind", "method", "task", "region", "share", "area_share", "ratio", "n")


# ------------------------------------------------------------------ differentiable models
def _resize_normalise(prep):
    import torch

    class Prep(torch.nn.Module):
        """Pixels in [0, 1] (B, 3, H, W) -> the network's input: resized (no crop), normalised."""

        def __init__(self) -> None:
            super().__init__()
            self.size = tuple(int(s) for s in prep.size)
            self.mode = prep.interpolation if prep.interpolation in ("nearest", "bilinear", "bicubic") else "bicubic"
            self.register_buffer("mean", torch.tensor(prep.mean, dtype=torch.float32).view(1, -1, 1, 1))
            self.register_buffer("std", torch.tensor(prep.std, dtype=torch.float32).view(1, -1, 1, 1))

        def forward(self, x):
            if tuple(x.shape[-2:]) != self.size:
                kw = {} if self.mode == "nearest" else {"align_corners": False, "antialias": True}
                x = torch.nn.functional.interpolate(x, size=self.size, mode=self.mode, **kw)
            return (x - self.mean) / self.std

    return Prep()


def probe_model(backbone, head):
    """The probe on ``backbone`` with a fitted ``head`` (the linear pipeline or a Head3DPC) as
    one torch module: pixels -> log-odds of class 1."""
    import torch

    from vpt.deciders.vision.backbones import _hooked, _pool

    if hasattr(head, "net"):  # Head3DPC
        lin, mean, scale, head_net = None, None, None, head.net.eval()
    else:
        scaler, lr = head[0], head[-1]
        if list(lr.classes_) != [0, 1]:
            raise ValueError(f"a binary probe was expected, classes {list(lr.classes_)}")
        lin = torch.nn.Linear(lr.coef_.shape[1], 1)
        with torch.no_grad():
            lin.weight.copy_(torch.as_tensor(lr.coef_, dtype=torch.float32))
            lin.bias.copy_(torch.as_tensor(lr.intercept_, dtype=torch.float32))
        mean = torch.as_tensor(scaler.mean_, dtype=torch.float32)
        scale = torch.as_tensor(scaler.scale_, dtype=torch.float32)
        head_net = None

    class Probe(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.prep = _resize_normalise(backbone.preprocessing)
            self.body = backbone.module
            self.lin, self.head_net = lin, head_net
            if mean is not None:
                self.register_buffer("mean", mean)
                self.register_buffer("scale", scale)

        def forward(self, x):
            x = self.prep(x)
            if backbone.layer is not None:
                f = _pool(_hooked(self.body, backbone.layer, lambda: backbone._forward(x, pooled=False)))
            else:
                f = _pool(backbone._forward(x, pooled=True))
            if self.lin is not None:
                return self.lin((f - self.mean) / self.scale)[:, 0]
            z = self.head_net(f)
            return z[:, 1] - z[:, 0]

    return _frozen(Probe().to(backbone.device))


def net_model(net, prep):
    """A two-class network (fine-tuned, from scratch) as pixels -> logit_1 - logit_0."""
    import torch

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.prep, self.net = _resize_normalise(prep), net

        def forward(self, x):
            z = self.net(self.prep(x))
            return z[:, 1] - z[:, 0]

    dev = next(net.parameters()).device
    return _frozen(Net().to(dev))


def _frozen(module):
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module


# ------------------------------------------------------------------ attribution and scores
def attribute(model, pixels, method: str, settings: dict[str, Any] = SETTINGS, seed: int = 0) -> np.ndarray:
    """The absolute attribution of ``model``'s output to ``pixels`` (1, 3, H, W), summed over
    channels: an (H, W) float32 map."""
    import torch
    from captum.attr import IntegratedGradients, NoiseTunnel, Saliency

    s = {**SETTINGS, **settings}
    x = pixels.detach().to(_device(model)).float().clone().requires_grad_(True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if method == "smoothgrad":
            att = NoiseTunnel(Saliency(model)).attribute(x, nt_type="smoothgrad", nt_samples=int(s["sg_samples"]),
                                                         nt_samples_batch_size=int(s["internal_batch"]),
                                                         stdevs=float(s["sg_noise"]))
        elif method == "ig":
            att = IntegratedGradients(model).attribute(x, baselines=torch.zeros_like(x), n_steps=int(s["ig_steps"]),
                                                       internal_batch_size=int(s["internal_batch"]))
        else:
            raise UserError(f"unknown attribution method {method!r}; choose from {', '.join(METHODS)}")
    return att.detach().abs().sum(1)[0].float().cpu().numpy()


def region_of(index: int) -> tuple[str, str]:
    """(object, region) of a mask index."""
    if index == BALL_ID:
        return "ball", "ball"
    if index == VIEWER_ID:
        return "viewer", "viewer"
    if index >= OCCLUDER_BASE:
        return f"occluder-{index - OCCLUDER_BASE}", "occluders"
    return "background", "background"


def score_map(amap: np.ndarray, mask: np.ndarray) -> list[dict[str, Any]]:
    """Share, area share and share / area share of ``amap`` on each object of ``mask``
    (ball, viewer and background always, one row per occluder present)."""
    amap, mask = np.asarray(amap, np.float64), np.asarray(mask)
    if amap.shape != mask.shape:
        raise ValueError(f"map {amap.shape} and mask {mask.shape} differ in shape")
    total, n = float(amap.sum()), mask.size
    acc: dict[str, list[float]] = {"ball": [0.0, 0], "viewer": [0.0, 0], "background": [0.0, 0]}
    regions = {"ball": "ball", "viewer": "viewer", "background": "background"}
    for idx in np.unique(mask):
        obj, region = region_of(int(idx))
        sel = mask == idx
        a = acc.setdefault(obj, [0.0, 0])
        a[0] += float(amap[sel].sum())
        a[1] += int(sel.sum())
        regions[obj] = region
    rows = []
    for obj, (mass, pixels) in acc.items():
        share = mass / total if total > 0 else float("nan")
        area = pixels / n
        rows.append({"object": obj, "region": regions[obj], "share": share, "area_share": area,
                     "ratio": share / area if area > 0 else float("nan")})
    return rows


def region_rows(detail: pd.DataFrame) -> pd.DataFrame:
    """Per stimulus, task and method the four regions (objects summed), with the ratio."""
    keys = ["decision_maker", "kind", "method", "task", "dataset", "scene_id"]
    r = detail.groupby(keys + ["region"], observed=True)[["share", "area_share"]].sum().reset_index()
    r["ratio"] = np.where(r["area_share"] > 0, r["share"] / r["area_share"].where(r["area_share"] > 0), np.nan)
    return r


def summarise(detail: pd.DataFrame) -> pd.DataFrame:
    """:data:`SUMMARY_COLUMNS`: mean share, area share and ratio per region over stimuli."""
    r = region_rows(detail)
    keys = ["decision_maker", "kind", "method", "task", "region"]
    out = r.groupby(keys, observed=True).agg(share=("share", "mean"), area_share=("area_share", "mean"),
                                             ratio=("ratio", "mean"), n=("scene_id", "nunique")).reset_index()
    out["region"] = pd.Categorical(out["region"], REGIONS)
    return out.sort_values(keys).reset_index(drop=True)[list(SUMMARY_COLUMNS)].astype({"region": str})


# ------------------------------------------------------------------ images and overlays
def load_pixels(path: str):
    import torch
    from PIL import Image

    with Image.open(path) as im:
        arr = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0).contiguous()


def load_mask(path: str | None, shape: tuple[int, int], scene_id: str) -> np.ndarray:
    from PIL import Image

    if not path or not Path(path).is_file():
        raise UserError(f"{scene_id}: no object-index mask ({path}); re-render the dataset with `vpt scenes`")
    mask = np.asarray(Image.open(path))
    if mask.ndim != 2 or mask.shape != tuple(shape):
        raise UserError(f"{path}: mask of shape {mask.shape}, image {tuple(shape)}; re-render the dataset with "
                        "`vpt scenes`")
    return mask


def overlay(pixels, mask: np.ndarray, maps: dict[str, np.ndarray], min_side: int = 160):
    """A PIL image: the stimulus, then each map over its grey version with the mask outlines."""
    from matplotlib import colormaps
    from PIL import Image, ImageDraw

    rgb = pixels[0].permute(1, 2, 0).numpy()
    h, w = mask.shape
    edge = np.zeros_like(mask, bool)
    edge[:-1] |= mask[:-1] != mask[1:]
    edge[:, :-1] |= mask[:, :-1] != mask[:, 1:]
    grey = rgb.mean(2, keepdims=True).repeat(3, 2)
    cmap = colormaps["inferno"]
    panels = [rgb]
    for m in maps.values():
        top = float(np.percentile(m, 99.5)) or float(m.max()) or 1.0
        heat = cmap(np.clip(m / top, 0, 1))[..., :3]
        p = 0.4 * grey + 0.6 * heat
        p[edge] = 1.0
        panels.append(p)
    scale = max(1, -(-min_side // min(h, w)))
    label_h = 14
    sheet = Image.new("RGB", (len(panels) * w * scale, h * scale + label_h), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (p, name) in enumerate(zip(panels, ["image", *maps])):
        im = Image.fromarray((np.clip(p, 0, 1) * 255).astype(np.uint8)).resize((w * scale, h * scale), Image.NEAREST)
        sheet.paste(im, (i * w * scale, label_h))
        draw.text((i * w * scale + 3, 1), name.replace("__", " "), fill="black")
    return sheet


def _atomic(path: Path, write: Callable[[Any], None]) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as fh:
        write(fh)
    os.replace(tmp, path)


def slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.@" else "_" for c in name.replace("/", "__"))


# ------------------------------------------------------------------ one decision maker
def run_saliency(models: dict[str, Any], decision_maker: str, kind: str, items: pd.DataFrame, folder: str | Path,
                 description: dict[str, Any], methods: Sequence[str] = METHODS,
                 settings: dict[str, Any] | None = None, seed: int = 0, progress: bool = True,
                 force: bool = False) -> tuple[Path, bool]:
    """Maps, overlays and scores of ``models`` (task -> pixels-to-log-odds module) on the
    ``items`` (an item table: ``scene_id``, ``image``, ``mask``, ``split``, ``dataset``,
    labels). Returns (folder, kept): kept when a finished run with the same configuration
    was found and nothing was computed. ``models`` may be a callable returning the dict, so
    a finished run loads no model."""
    from tqdm import tqdm

    from vpt.trials.items import labels

    s = {**SETTINGS, **(settings or {})}
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise UserError(f"--methods: unknown {', '.join(bad) or '(none given)'}; choose from {', '.join(METHODS)}")
    if items.empty:
        raise UserError("no stimuli to attribute (an empty split?)")
    folder = Path(folder)
    config = {"decision_maker": decision_maker, "kind": kind, "description": description, "methods": list(methods),
              "settings": {k: s[k] for k in ("ig_steps", "sg_samples", "sg_noise")}, "seed": seed,
              "items": sorted(f"{d}/{i}" for d, i in zip(items["dataset"], items["scene_id"]))}
    key = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]
    cfg_path = folder / "config.json"
    if cfg_path.exists():
        old = json.loads(cfg_path.read_text(encoding="utf-8"))
        if old.get("key") != key:
            if not force:
                raise UserError(f"{folder}: holds attributions of {old.get('decision_maker')} with other settings, "
                                "items or weights; pass --force to replace them, or another --out")
            shutil.rmtree(folder)
        elif force:
            shutil.rmtree(folder)
        elif (folder / "attribution.parquet").exists():
            return folder, True
    models = models() if callable(models) else models  # before any file: a model that fails to load leaves none
    (folder / "maps").mkdir(parents=True, exist_ok=True)
    (folder / "overlays").mkdir(exist_ok=True)
    cfg_path.write_text(json.dumps({**config, "key": key}, indent=1, sort_keys=True, default=str), encoding="utf-8")
    tasks = list(models)
    rows: list[dict[str, Any]] = []
    bar = tqdm(items.to_dict("records"), desc=f"saliency {decision_maker}", unit="img", disable=not progress,
               file=sys.stderr)
    for n, it in enumerate(bar):
        pixels = load_pixels(it["image"])
        mask = load_mask(it.get("mask"), tuple(pixels.shape[-2:]), it["scene_id"])
        path = folder / "maps" / f"{slug(str(it['dataset']))}__{slug(str(it['scene_id']))}.npz"
        maps: dict[str, np.ndarray] = {}
        scores: dict[str, float] = {}
        if path.exists():
            with np.load(path) as z:
                maps = {k: z[k] for k in z.files if "__" in k and not k.startswith("score__")}
                scores = {k[len("score__"):]: float(z[k]) for k in z.files if k.startswith("score__")}
        if set(maps) != {f"{t}__{m}" for t in tasks for m in methods}:
            import torch

            maps, scores = {}, {}
            pix_seed = int(hashlib.sha256(f"{seed}/{it['dataset']}/{it['scene_id']}".encode()).hexdigest()[:8], 16)
            for task in tasks:
                with torch.no_grad():
                    scores[task] = float(torch.sigmoid(models[task](pixels.to(_device(models[task]))))[0])
                for m in methods:
                    maps[f"{task}__{m}"] = attribute(models[task], pixels, m, s, pix_seed)
            arrays = {**maps, **{f"score__{t}": np.float64(v) for t, v in scores.items()}}
            _atomic(path, lambda fh: np.savez_compressed(fh, **arrays))
            sheet = overlay(pixels, mask, maps)
            buf = io.BytesIO()
            sheet.save(buf, format="PNG")
            _atomic(folder / "overlays" / f"{path.stem}.png", lambda fh: fh.write(buf.getvalue()))
        for name, amap in maps.items():
            task, method = name.split("__")
            lab = labels(pd.DataFrame([it]), task).iloc[0]
            for r in score_map(amap, mask):
                rows.append({"decision_maker": decision_maker, "kind": kind, "method": method, "task": task,
                             "dataset": it["dataset"], "split": it["split"], "scene_id": it["scene_id"],
                             "label": None if pd.isna(lab) else int(lab), "score": scores.get(task), **r})
    bar.close()
    detail = pd.DataFrame(rows, columns=list(DETAIL_COLUMNS)).astype({"label": "Int64"})
    _atomic(folder / "saliency.parquet", lambda fh: detail.to_parquet(fh, index=False))
    summary = summarise(detail)
    _atomic(folder / "attribution.parquet", lambda fh: summary.to_parquet(fh, index=False))
    return folder, False


def _device(module):
    """The device of a model built by :func:`probe_model` / :func:`net_model` (its resize buffers)."""
    return next(module.buffers()).device


def markdown(summary: pd.DataFrame) -> str:
    """Share (and share / area share) per region, one line per decision maker, task and method."""
    lines = ["| decision maker | task | method | " + " | ".join(REGIONS) + " |", "|---|---|---|" + "---|" * len(REGIONS)]
    for (dm, task, method), g in summary.groupby(["decision_maker", "task", "method"], sort=True):
        cells = []
        for region in REGIONS:
            r = g[g["region"] == region]
            cells.append("-" if r.empty else f"{float(r['share'].iloc[0]):.3f} ({float(r['ratio'].iloc[0]):.2f}x)")
        lines.append(f"| {dm} | {task} | {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
