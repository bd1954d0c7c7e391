"""Render a few conflict pairs with raised balls and check that Blender draws the stands and
agrees with the analytic labels (issue 26).

    python benchmarks/conflict_render_check.py [--pairs 2] [--preset preview] [--out /tmp/conflict-render]

Builds ``--pairs`` facing pairs and as many depth pairs from the default recipe
(:func:`vpt.scene.conflict.build_pairs`), dresses them (styles, materials, lights) and renders
both halves of each with :func:`vpt.render.output.render`. For every half it prints:

* the stand's pixels in the rendered mask and in the analytic mask
  (:func:`vpt.scene.raster.analytic_mask`), and their intersection over union;
* the ball's rendered centroid and pixel count (the halves of a pair should agree: the ball is
  solved to the same pixel and image size);
* the Blender ray cast's visible fraction of the ball from the viewer against the analytic
  one of the labels (:func:`vpt.scene.labels.label_scenes`), and the occluders the ray cast
  found blocking (a stand among them would be listed by its id).

Exits 1 when a stand is missing from a render, the stand's masks overlap less than
``--min-iou``, or a ray-cast fraction differs from the analytic one by more than the render
worker's tolerance. Needs the render extra (bpy). Small on purpose: a few images.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, default=2, help="facing pairs and depth pairs, each (default 2)")
    ap.add_argument("--preset", default="preview")
    ap.add_argument("--out", default="/tmp/conflict-render")
    ap.add_argument("--min-iou", type=float, default=0.5)
    a = ap.parse_args(argv)

    from vpt.datasets.recipe import load_catalogue, load_recipe
    from vpt.fileio import read_png
    from vpt.render.output import render
    from vpt.render.worker import FRACTION_TOLERANCE
    from vpt.scene.conflict import build_pairs
    from vpt.scene.conflict_parts import is_stand
    from vpt.scene.raster import OCCLUDER_BASE, analytic_mask
    from vpt.scene.sampling import dress

    r = load_recipe("depth-vpt")
    shapes = list(r.config["occluders"]["shapes"])
    styles, style_cat = list(r.config["styles"]), load_catalogue("styles")
    pairs, _ = build_pairs(r.sampling, r.labels, r.name, shapes, load_catalogue("occluders"), 2 * a.pairs,
                           kinds=("facing", "depth"))
    out = Path(a.out)
    bad = 0
    print("| pair | half | label | stand px (render / analytic) | stand IoU | ball px | ball centre | "
          "visible fraction (ray cast / analytic) | blocked by |")
    print("|---|---|---|---|---|---|---|---|---|")
    for k, p in enumerate(pairs):
        for tag, spec, lab in (("a", p.a, p.labels_a), ("b", p.b, p.labels_b)):
            spec = dress(spec, styles, style_cat)
            res = render(spec, out / f"{k:02d}-{p.kind}-{tag}", preset=a.preset)
            mask = read_png(res["files"]["mask"]["path"])
            ana = analytic_mask(spec)
            sid = OCCLUDER_BASE + next(o.id for o in spec.occluders if is_stand(o))
            rs, as_ = mask == sid, ana == sid
            iou = float((rs & as_).sum() / max((rs | as_).sum(), 1))
            ys, xs = np.nonzero(mask == 1)
            rc = res["raycast"] or {}
            frac, ana_frac = float(rc.get("visible_fraction", 0.0)), lab.viewer_visible_fraction
            ok = rs.sum() > 0 and iou >= a.min_iou and abs(frac - ana_frac) <= FRACTION_TOLERANCE
            bad += not ok
            label = f"vpt {lab.vpt_label} depth {lab.depth_label}"
            centre = f"({xs.mean() + 0.5:.1f}, {ys.mean() + 0.5:.1f})" if len(xs) else "-"
            print(f"| {k} {p.kind} | {tag} | {label} | {int(rs.sum())} / {int(as_.sum())} | {iou:.2f} | {len(xs)} | "
                  f"{centre} | {frac:.3f} / {ana_frac:.3f} | {rc.get('blocked_by', {})} |" + ("" if ok else " FAIL"))
    print(f"\n{len(pairs)} pairs, {2 * len(pairs)} renders in {out}; failures: {bad}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
