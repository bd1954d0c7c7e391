"""Features extracted once and cached on disk.

The cache is one SQLite file (``<cache>/features.sqlite``, WAL): a row per (backbone key,
image hash) holding the float32 feature vector. The backbone key is a hash of the backbone's
identity (model, source, weights tag, layer, preprocessing); the image hash is the SHA-256 of
the image file's bytes. Each batch is committed in one transaction, so an interrupted
extraction keeps what it finished and the next one computes only the rest; a second probe on
the same images runs no forward pass at all.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from vpt.errors import UserError

DEFAULT_CACHE = Path(".cache") / "vpt-features"
DB = "features.sqlite"


def backbone_key(identity: dict) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:24]


def image_hashes(paths: Sequence[str]) -> list[str]:
    out = []
    for p in paths:
        try:
            out.append(hashlib.sha256(Path(p).read_bytes()).hexdigest())
        except OSError as err:
            raise UserError(f"{p}: cannot read the image ({err.strerror}); render the dataset with `vpt scenes`") \
                from None
    return out


class FeatureCache:
    """Feature vectors by (backbone key, image hash) in one SQLite file."""

    def __init__(self, root: str | Path = DEFAULT_CACHE) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.path = self.root / DB
        self._db = sqlite3.connect(self.path)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS backbones (key TEXT PRIMARY KEY, identity TEXT NOT NULL)")
        self._db.execute("CREATE TABLE IF NOT EXISTS features (key TEXT NOT NULL, image TEXT NOT NULL, "
                         "dim INTEGER NOT NULL, vec BLOB NOT NULL, PRIMARY KEY (key, image))")
        self._db.commit()

    def get(self, key: str, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        """The cached vectors of ``hashes`` (missing ones absent)."""
        out: dict[str, np.ndarray] = {}
        wanted = list(dict.fromkeys(hashes))
        for i in range(0, len(wanted), 500):
            chunk = wanted[i:i + 500]
            q = f"SELECT image, vec FROM features WHERE key = ? AND image IN ({','.join('?' * len(chunk))})"
            for image, vec in self._db.execute(q, [key, *chunk]):
                out[image] = np.frombuffer(vec, dtype=np.float32)
        return out

    def put(self, key: str, identity: dict, vectors: dict[str, np.ndarray]) -> None:
        """Store vectors in one transaction."""
        with self._db:
            self._db.execute("INSERT OR IGNORE INTO backbones VALUES (?, ?)", (key, json.dumps(identity, sort_keys=True)))
            self._db.executemany("INSERT OR REPLACE INTO features VALUES (?, ?, ?, ?)",
                                 [(key, h, int(v.size), np.ascontiguousarray(v, np.float32).tobytes())
                                  for h, v in vectors.items()])

    def count(self, key: str | None = None) -> int:
        q, a = ("SELECT COUNT(*) FROM features WHERE key = ?", (key,)) if key else ("SELECT COUNT(*) FROM features", ())
        return int(self._db.execute(q, a).fetchone()[0])

    def close(self) -> None:
        self._db.close()


def prefetch_helps(device: str) -> bool:
    """Whether decoding the next batch in a thread while the network runs saves time: on a GPU,
    or when torch leaves a CPU core free. When torch's threads use every core, a decoding
    thread beside them stalls the whole forward pass (its threads wait for the one that lost
    its core): measured on 2 cores with tf_efficientnet_lite0, 1.38x the bare forward pass
    with the thread against 1.1x decoding in turn."""
    import os

    import torch

    return device != "cpu" or torch.get_num_threads() < (os.cpu_count() or 1)


def batches(prep, paths: Sequence[str], batch_size: int, prefetch: bool = True):
    """``prep.load`` of consecutive chunks of ``paths``; with ``prefetch`` the next one is
    decoded in a thread while the caller runs the network on the current one (PIL releases the
    GIL while it decodes and resizes); yields (start index, batch)."""
    from concurrent.futures import ThreadPoolExecutor

    starts = list(range(0, len(paths), batch_size))
    if not starts:
        return
    if not prefetch:
        for start in starts:
            yield start, prep.load(list(paths[start:start + batch_size]))
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="vpt-load") as pool:
        nxt = pool.submit(prep.load, list(paths[:batch_size]))
        for k, start in enumerate(starts):
            batch = nxt.result()
            if k + 1 < len(starts):
                s = starts[k + 1]
                nxt = pool.submit(prep.load, list(paths[s:s + batch_size]))
            yield start, batch


def extract(backbone, paths: Sequence[str], cache: FeatureCache | None = None, batch_size: int = 32,
            progress: bool = True) -> np.ndarray:
    """Features (N, D) float32 of the images at ``paths``, in order: read from ``cache``
    where present, otherwise computed in batches (on the backbone's device) and stored."""
    from tqdm import tqdm

    hashes = image_hashes(paths)
    key = backbone_key(backbone.identity())
    have = cache.get(key, hashes) if cache is not None else {}
    todo: dict[str, str] = {}
    for p, h in zip(paths, hashes):
        if h not in have and h not in todo:
            todo[h] = p
    if todo:
        items = list(todo.items())
        bar = tqdm(total=len(items), desc=f"features {backbone.tag}", unit="img", disable=not progress,
                   file=sys.stderr)
        for i, x in batches(backbone.preprocessing, [p for _, p in items], batch_size,
                            prefetch_helps(backbone.device)):
            chunk = items[i:i + batch_size]
            feats = backbone.features(x).numpy()
            new = {h: f for (h, _), f in zip(chunk, feats)}
            if cache is not None:
                cache.put(key, backbone.identity(), new)
            have.update(new)
            bar.update(len(chunk))
        bar.close()
    return np.stack([have[h] for h in hashes]).astype(np.float32)


def extract_layers(backbone, layers: Sequence[str], paths: Sequence[str], cache: FeatureCache,
                   batch_size: int = 32, progress: bool = True) -> int:
    """Fill ``cache`` with the pooled features of every layer in ``layers`` for the images at
    ``paths`` in one forward pass per batch (a hook per layer), under the keys that
    ``backbone`` read at each layer would use; images cached for every layer are skipped.
    Returns the number of images run. A per-layer curve then costs one pass, not one per layer."""
    import dataclasses

    import torch
    from tqdm import tqdm

    from vpt.deciders.vision.backbones import _pool

    views = {layer: dataclasses.replace(backbone, layer=layer) for layer in layers}
    keys = {layer: backbone_key(v.identity()) for layer, v in views.items()}
    hashes = image_hashes(paths)
    have = {layer: set(cache.get(keys[layer], hashes)) for layer in layers}
    todo: dict[str, str] = {}
    for p, h in zip(paths, hashes):
        if h not in todo and any(h not in have[layer] for layer in layers):
            todo[h] = p
    if not todo:
        return 0
    modules = dict(backbone.module.named_modules())
    items = list(todo.items())
    bar = tqdm(total=len(items), desc=f"features {backbone.tag} x {len(layers)} layers", unit="img",
               disable=not progress, file=sys.stderr)
    captured: dict[str, torch.Tensor] = {}

    def keep(layer: str):
        def hook(module, inputs, output) -> None:  # returns None: the output passes on unchanged
            captured.setdefault(layer, _pool(output).float().cpu())
        return hook

    handles = [modules[layer].register_forward_hook(keep(layer)) for layer in layers]
    try:
        for i, x in batches(backbone.preprocessing, [p for _, p in items], batch_size,
                            prefetch_helps(backbone.device)):
            chunk = items[i:i + batch_size]
            captured.clear()
            backbone.forward_calls += 1
            with torch.inference_mode():
                backbone._forward(x.to(backbone.device, memory_format=torch.channels_last), pooled=False)
            for layer in layers:  # each batch is committed, so an interrupted run keeps what it finished
                cache.put(keys[layer], views[layer].identity(),
                          {h: f for (h, _), f in zip(chunk, captured[layer].numpy())})
            bar.update(len(chunk))
    finally:
        for h in handles:
            h.remove()
        bar.close()
    return len(items)
