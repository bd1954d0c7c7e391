"""The figure of docs/conflict.md: the two halves of one look-alike pair of a rendered
conflict set side by side, each captioned with its label and its image-plane values.

    python tools/conflict_figure.py data/conflict conflict-test-20000000-facing docs/img/conflict-pair-facing.png

Uses the human-resolution image where the pair is in the human set, else the model's.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from PIL import Image, ImageDraw

from vpt.scene.imageplane import facing_angle_2d, segment_coverage_2d
from vpt.scene.spec import scene_from_dict

SIDE = 300  # px per half in the figure
CAPTION = 44


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    root, pair, out = Path(argv[0]), argv[1], Path(argv[2])
    halves = []
    for half in ("a", "b"):
        recs = list((root / "scenes").glob(f"*/{pair}-{half}.json"))
        if not recs:
            print(f"{root}: no scene {pair}-{half}; pass a pair id (a scene id without -a / -b)", file=sys.stderr)
            return 2
        rec = json.loads(recs[0].read_text(encoding="utf-8"))
        files = rec["files"]
        img = Image.open(root / (files.get("human_image") or files["image"])["path"]).convert("RGB")
        spec = scene_from_dict(rec["spec"])
        lab = rec["labels"]
        what = "sees the ball" if lab["vpt_label"] == 1 else f"cannot see it ({lab['hidden_reason'].replace('_', ' ')})"
        if pair.endswith("-depth"):  # depth pairs: the depth label flips too
            what += ", ball " + ("closer than" if lab["depth_label"] == 1 else "farther than") + " the viewer"
        text = (f"{half}: {what}\n2D angle {facing_angle_2d([spec])[0]:.1f} deg, "
                f"segment covered {segment_coverage_2d([spec])[0]:.2f}")
        halves.append((img.resize((SIDE, SIDE), Image.LANCZOS), text))
    fig = Image.new("RGB", (2 * SIDE + 8, SIDE + CAPTION), "white")
    draw = ImageDraw.Draw(fig)
    for k, (img, text) in enumerate(halves):
        fig.paste(img, (k * (SIDE + 8), 0))
        draw.multiline_text((k * (SIDE + 8) + 6, SIDE + 4), text, fill="black", spacing=4)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(out, optimize=True)  # small in the repo
    print(f"saved {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
