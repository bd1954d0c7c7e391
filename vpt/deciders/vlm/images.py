"""Images as sent: lossless PNG at a pinned resolution, with the controls applied, encoded once.

Controls on the image: ``mirror`` flips left-right. Mirroring the picture is the same as
mirroring the world about the vertical plane through the observer's optical axis; a mirror
keeps every distance and every straight line of sight (and the viewer's field of view is
symmetric about its own axis, vpt/scene/labels.py), so both labels are unchanged: VPT stays,
depth stays. (The counterbalancing cells "ball left/right" and "viewer facing left/right"
swap.) ``blank`` replaces the picture by a uniform mid-grey image of the same size: the
baseline of a model that answers from the words alone.
"""

from __future__ import annotations

import base64
import hashlib
import io
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from vpt.errors import UserError

IMAGE_CONTROLS = ("none", "mirror", "blank")


# Encoded bytes are kept in one LRU bounded by size, so a long run neither re-encodes a picture
# (exemplars recur in every call) nor holds every PNG of a large split in memory at once.
BYTES_BUDGET = 1 << 30
_LRU: "OrderedDict[tuple[str, int, str], bytes]" = OrderedDict()
_LRU_LOCK = threading.Lock()
_lru_bytes = 0
ENCODINGS = [0]  # PNG encodings done in this process (the benchmark checks each picture is encoded once)


def _png_bytes(path: str, size: int, control: str) -> tuple[bytes, bool]:
    """PNG bytes of (path, size, control) and whether they were encoded now (False: from the LRU)."""
    global _lru_bytes
    key = (path, size, control)
    with _LRU_LOCK:
        hit = _LRU.get(key)
        if hit is not None:
            _LRU.move_to_end(key)
            return hit, False
    png = _encode(path, size, control)
    with _LRU_LOCK:
        ENCODINGS[0] += 1
        if key not in _LRU:
            _LRU[key] = png
            _lru_bytes += len(png)
            while _lru_bytes > BYTES_BUDGET and len(_LRU) > 1:
                _, old = _LRU.popitem(last=False)
                _lru_bytes -= len(old)
    return png, True


@dataclass(frozen=True)
class Image:
    """One picture as sent: SHA-256 and pixel size of its PNG; the bytes come from the LRU
    (re-encoded, identically, if they were evicted; a changed file on disk is an error)."""

    sha256: str
    width: int
    height: int
    source: str  # file name (no folders) and control, for the call log
    path: str = ""
    size: int = 0
    control: str = "none"

    @property
    def png(self) -> bytes:
        data, fresh = _png_bytes(self.path, self.size, self.control)
        if fresh and hashlib.sha256(data).hexdigest() != self.sha256:
            raise UserError(f"{self.path}: the image changed on disk while the run was being built; rerun")
        return data

    @property
    def b64(self) -> str:
        return base64.b64encode(self.png).decode("ascii")

    @property
    def data_url(self) -> str:
        return "data:image/png;base64," + self.b64


def _encode(path: str | Path, size: int, control: str = "none") -> bytes:
    """Read ``path``, resize so the longer side is ``size`` pixels (Lanczos; unchanged if it
    already is), apply ``control``, encode as RGB PNG."""
    from PIL import Image as PILImage, ImageOps

    if control not in IMAGE_CONTROLS:
        raise ValueError(f"unknown image control {control!r}")
    try:
        with PILImage.open(path) as im:
            im = im.convert("RGB")
    except (OSError, ValueError) as err:
        raise UserError(f"{path}: cannot read the image ({err}); render the dataset with `make scenes`") from None
    w, h = im.size
    scale = size / max(w, h)
    if scale != 1:
        im = im.resize((max(1, round(w * scale)), max(1, round(h * scale))), PILImage.LANCZOS)
    if control == "mirror":
        im = ImageOps.mirror(im)
    elif control == "blank":
        im = PILImage.new("RGB", im.size, (128, 128, 128))
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()


def encode(path: str | Path, size: int, control: str = "none") -> Image:
    """The picture at ``path`` as sent (see :func:`_encode`)."""
    png, _ = _png_bytes(str(path), size, control)
    from PIL import Image as PILImage

    with PILImage.open(io.BytesIO(png)) as im:
        w, h = im.size
    return Image(hashlib.sha256(png).hexdigest(), w, h, f"{Path(path).name}:{control}", str(path), size, control)


class ImageCache:
    """One :class:`Image` per (path, size, control) per run (hashed once)."""

    def __init__(self) -> None:
        self._done: dict[tuple[str, int, str], Image] = {}
        self._lock = threading.Lock()
        self.encoded = 0

    def get(self, path: str | Path, size: int, control: str = "none") -> Image:
        key = (str(path), size, control)
        with self._lock:
            hit = self._done.get(key)
        if hit is not None:
            return hit
        img = encode(path, size, control)
        with self._lock:
            if key not in self._done:
                self._done[key] = img
                self.encoded += 1
            return self._done[key]
