"""Feature-extraction speed: images/s through :func:`extract` (file hashing, PNG decoding,
resize, normalise, forward) next to the bare forward pass on random tensors of the same
shape, per model; and a cached re-probe (features from the cache + a linear probe fit).

    .venv/bin/python benchmarks/vision_speed.py [--models tf_efficientnet_lite0,resnet18] [-n 256]
                                                [--dataset data/depth-vpt]

The cached re-probe runs on 1,000 feature vectors: with ``--dataset``, the real features of
tf_efficientnet_lite0 (its packaged ImageNet weights, ``vpt[weights]``) for the first 1,000
labelled images of the dataset and its sweeps (the VPT label, else the depth label) and their
scene groups
(extracted into a temporary cache first, untimed); without it, 1280-d Gaussian vectors with
random labels (a lower bound: real features are correlated, and their fits take longer).

Bare and extract alternate over ``--rounds`` rounds (medians reported), so that the load of
other jobs on the machine weighs on both alike. Images are 256 x 256 PNGs (the default
recipe's resolution) of smooth random colour fields, written to a temporary folder; networks
are randomly initialised (speed does not depend on the weights). Prints a Markdown table and
the load average.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_images(folder: Path, n: int, size: int = 256, seed: int = 0) -> list[str]:
    from PIL import Image

    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        img = Image.fromarray(small).resize((size, size), Image.BICUBIC)
        p = folder / f"img{i:05d}.png"
        img.save(p)
        paths.append(str(p))
    return paths


def bench_model(name: str, paths: list[str], batch_size: int, device: str | None, rounds: int = 3) -> dict:
    """Bare forward and ``extract`` rates, measured in alternating rounds (bare, extract, bare,
    ...) so that a change in the machine's load hits both alike; the medians are reported."""
    import torch

    from vpt.deciders.vision.backbones import load_backbone
    from vpt.deciders.vision.features import extract

    b = load_backbone(name, random_init=True, device=device)
    h, w = b.preprocessing.size
    x = torch.randn(batch_size, 3, h, w).contiguous(memory_format=torch.channels_last)  # as extract feeds it
    b.features(x)  # warm-up
    bare, full = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        n_bare = 0
        while n_bare < len(paths):
            b.features(x)
            n_bare += batch_size
        bare.append(n_bare / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        extract(b, paths, None, batch_size, progress=False)
        full.append(len(paths) / (time.perf_counter() - t0))
    bare_rate, full_rate = float(np.median(bare)), float(np.median(full))
    return {"model": name, "device": b.device, "input": f"{h}x{w}", "images": len(paths), "bare_per_s": bare_rate,
            "extract_per_s": full_rate, "ratio": bare_rate / full_rate}


def _real_features(dataset: str, n: int, cache, batch_size: int) -> tuple[str, list[str], np.ndarray, np.ndarray]:
    """(cache key, image hashes, labels, scene groups) of the first ``n`` labelled images of
    ``dataset`` and its sweep datasets, their lite0 features put in ``cache`` (untimed)."""
    import pandas as pd

    from vpt.deciders.vision.backbones import load_backbone
    from vpt.deciders.vision.features import backbone_key, extract, image_hashes
    from vpt.deciders.vision.probe import scene_groups
    from vpt.trials.items import labels, load_dataset, sweep_datasets_beside

    ds = load_dataset(dataset)
    items = pd.concat([ds.items, *[s.items for s in sweep_datasets_beside(ds.root) if s.rendered]], ignore_index=True)
    y = labels(items, "vpt").fillna(labels(items, "depth"))  # the VPT label, else the depth label
    items, y = items[y.notna().to_numpy()], y[y.notna()]
    first = ~items["image"].duplicated().to_numpy()
    items, y = items[first].head(n), y[first].head(n)
    lite0 = load_backbone("tf_efficientnet_lite0", allow_download=False)
    extract(lite0, list(items["image"]), cache, batch_size, progress=False)
    return backbone_key(lite0.identity()), image_hashes(list(items["image"])), y.to_numpy(int), scene_groups(items)


def bench_cached_probe(n: int, folder: Path, dataset: str | None = None, batch_size: int = 32) -> dict:
    """A cached re-probe over ``n`` images: features read from the cache, C chosen by CV, fit."""
    from vpt.deciders.vision.features import FeatureCache
    from vpt.deciders.vision.probe import fit_linear

    cache = FeatureCache(folder / "cache")
    if dataset:
        key, hashes, y, groups = _real_features(dataset, n, cache, batch_size)
        source = f"tf_efficientnet_lite0 features of {dataset}"
    else:
        rng = np.random.default_rng(0)
        hashes, key = [f"{i:064x}" for i in range(n)], "bench"
        cache.put(key, {"model": "bench"}, {h: rng.normal(size=1280).astype(np.float32) for h in hashes})
        y, groups, source = rng.integers(0, 2, n), np.array(hashes), "Gaussian vectors, random labels"
    t0 = time.perf_counter()
    got = cache.get(key, hashes)
    x = np.stack([got[h] for h in hashes])
    _, info = fit_linear(x, y, groups, seed=0)
    seconds = time.perf_counter() - t0
    cache.close()
    return {"images": len(hashes), "seconds": seconds, "source": source, "C": info["C"], "dim": x.shape[1]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python benchmarks/vision_speed.py", description="feature extraction speed")
    p.add_argument("--models", default="tf_efficientnet_lite0,resnet18")
    p.add_argument("-n", type=int, default=256, help="images per model")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--device", default=None)
    p.add_argument("--rounds", type=int, default=3, help="alternating bare/extract rounds; medians (default 3)")
    p.add_argument("--dataset", default=None, help="a rendered dataset whose real lite0 features the cached re-probe "
                   "uses (default: synthetic vectors)")
    a = p.parse_args(argv)
    import os

    import torch

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_images(Path(tmp), a.n)
        rows = [bench_model(m.strip(), paths, a.batch_size, a.device, a.rounds) for m in a.models.split(",")]
        probes = [bench_cached_probe(1000, Path(tmp) / "synthetic")]
        if a.dataset:
            probes.append(bench_cached_probe(1000, Path(tmp) / "real", a.dataset, a.batch_size))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; load average (1, 5, 15 min) before "
          f"{', '.join(f'{v:.1f}' for v in load_before)}, after {', '.join(f'{v:.1f}' for v in os.getloadavg())}; "
          f"medians of {a.rounds} alternating rounds")
    print("| model | device | input | images | bare forward img/s | extract img/s | bare/extract |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['device']} | {r['input']} | {r['images']} | {r['bare_per_s']:.1f} | "
              f"{r['extract_per_s']:.1f} | {r['ratio']:.2f} |")
    print()
    for probe in probes:
        print(f"cached re-probe over {probe['images']} images ({probe['source']}, {probe['dim']}-d; cache read + "
              f"grouped 5-fold CV over 7 C values + final fit, C = {probe['C']:g}): {probe['seconds']:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
