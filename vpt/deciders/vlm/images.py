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
from dataclasses import dataclass
from pathlib import Path

from vpt.errors import UserError

IMAGE_CONTROLS = ("none", "mirror", "blank")


@dataclass(frozen=True)
class Image:
    """One encoded picture: PNG bytes, their SHA-256 and the pixel size sent."""

    png: bytes
    sha256: str
    width: int
    height: int
    source: str  # file name (no folders) and control, for the call log

    @property
    def b64(self) -> str:
        return base64.b64encode(self.png).decode("ascii")

    @property
    def data_url(self) -> str:
        return "data:image/png;base64," + self.b64


def encode(path: str | Path, size: int, control: str = "none") -> Image:
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
    png = buf.getvalue()
    return Image(png, hashlib.sha256(png).hexdigest(), im.size[0], im.size[1], f"{Path(path).name}:{control}")


class ImageCache:
    """Encodes each (path, size, control) once per process (exemplars recur in every call)."""

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
