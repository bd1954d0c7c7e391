"""Show the conflict: build look-alike pairs from a recipe and measure what the image-plane
cues say about the VPT label across them.

    python -m vpt.datasets.conflict [--recipe depth-vpt] [--pairs 100] [--kinds facing,cover,depth]
                                    [--start 0] [--json out.json]

Pairs come from :func:`vpt.scene.conflict.build_pairs`. For each cue the script prints the ROC
AUC against the pair's label and the standardised mean difference (SMD): the VPT label over
all pairs and per kind (``facing`` and ``depth``: visible against out of view; ``cover``:
visible against occluded), and the depth label over the ``depth`` pairs (group ``depth
order``: ball closer against viewer closer). The cues are

* the analytic graded values of the two rules (:mod:`vpt.scene.imageplane`), which the VPT
  pairs are solved to match (targets: AUC 0.50 +/- 0.03, |SMD| <= 0.1);
* every geometry cue of the project's cue table (:data:`vpt.datasets.cues.GEOMETRY_CUES`,
  ``px:`` names), measured from pixels on the analytic object-index mask as the plan-time
  audit measures them: the two rules as the audit reads them (``facing_ball_angle``,
  ``cover_lens_1``), positions, sizes, the viewer's silhouette, occluder pixels. A single
  cue's best accuracy is at most ``max(AUC, 1 - AUC)`` of a threshold on it; the criterion
  for every single cue is at most :data:`MAX_SINGLE` (58 %).

It also prints how often solving succeeds per kind, why it fails, and which cues miss.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import Counter
from typing import Any, Sequence

import numpy as np

from vpt.datasets.cues import GEOMETRY_CUES, image_cues
from vpt.datasets.recipe import load_catalogue, load_recipe
from vpt.scene.conflict import KINDS, ConflictPair, build_pairs, cue_balance
from vpt.scene.raster import analytic_mask

PIXEL_CUES = {"facing_ball_angle": "2D facing angle (pixels)", "cover_lens_1": "2D coverage (pixels)"}
OTHER_CUES = tuple(n for n in GEOMETRY_CUES if n not in PIXEL_CUES)
DEPTH_CUES = {"dy": "image height (ball y minus viewer y)", "ball_y": "ball height in the image",
              "size_ratio": "image size (ball / viewer)", "ball_area": "ball image size"}
TARGET_AUC, AUC_TOL, MAX_SMD = 0.5, 0.03, 0.1
MAX_SINGLE = 0.58  # every single cue: at most this accuracy (max(AUC, 1 - AUC)) on its label


def pixel_cue_values(pairs: Sequence[ConflictPair], names: Sequence[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Cue ``names`` of :func:`vpt.datasets.cues.image_cues` on the analytic masks of both
    halves of every pair: name -> (values of the ``a`` halves, of the ``b`` halves)."""
    out: dict[str, tuple[list[float], list[float]]] = {n: ([], []) for n in names}
    for p in pairs:
        for half, spec, lab in ((0, p.a, p.labels_a), (1, p.b, p.labels_b)):
            cues = image_cues(analytic_mask(spec), None, tuple(lab.image.viewer_eye_px))
            for n in names:
                out[n][half].append(float(cues.get(n, math.nan)))
    return {n: (np.array(a), np.array(b)) for n, (a, b) in out.items()}


def conflict_summary(recipe: str = "depth-vpt", n_pairs: int = 100, start: int = 0,
                     kinds: Sequence[str] = ("facing", "cover")) -> dict[str, Any]:
    """Build ``n_pairs`` pairs of ``kinds`` from ``recipe`` and measure them (see the module
    docstring)."""
    r = load_recipe(recipe)
    shapes = list(r.config["occluders"]["shapes"])
    t0 = time.perf_counter()
    pairs, rep = build_pairs(r.sampling, r.labels, r.name, shapes, load_catalogue("occluders"), n_pairs, start,
                             kinds=kinds)
    solve_s = time.perf_counter() - t0
    pix = pixel_cue_values(pairs, list(PIXEL_CUES) + list(OTHER_CUES))
    rows = cue_balance(pairs, {f"px:{n}": v for n, v in pix.items()})
    return {"recipe": r.name, "n_pairs": len(pairs), "start": start, "solve_seconds": solve_s,
            "attempts": dict(rep.attempts), "successes": dict(rep.successes), "no_base": rep.no_base,
            "why": dict(rep.why.most_common()), "rows": rows,
            "kinds": dict(Counter(p.kind for p in pairs)),
            "cover_where": dict(Counter(p.detail.get("where") for p in pairs if p.kind == "cover")),
            "facing_visible_nearer": dict(Counter(str(p.detail.get("visible_nearer")) for p in pairs
                                                  if p.kind == "facing")),
            "depth_labels": dict(Counter(f"{p.labels_a.depth_label}/{p.labels_b.depth_label}" for p in pairs
                                         if p.kind == "depth"))}


def criteria_met(rows: list[dict[str, Any]], cues: Sequence[str] = ("angle_2d", "coverage_2d"),
                 groups: Sequence[str] = ("all", "facing", "cover", "depth")) -> bool:
    """Whether every listed cue has AUC within the target band and |SMD| at most the maximum,
    in every listed group (by default the VPT pairs, overall and per kind)."""
    return all(abs(r["auc"] - TARGET_AUC) <= AUC_TOL and abs(r["smd"]) <= MAX_SMD
               for r in rows if r["cue"] in cues and r["group"] in groups)


def single_cue_misses(rows: list[dict[str, Any]], limit: float = MAX_SINGLE) -> list[dict[str, Any]]:
    """The rows whose cue would reach more than ``limit`` accuracy with a threshold
    (``max(AUC, 1 - AUC)``; NaN rows, cues without values, are left out)."""
    return [r for r in rows if r["auc"] == r["auc"] and max(r["auc"], 1 - r["auc"]) > limit]


def format_summary(s: dict[str, Any]) -> str:
    lines = [f"# conflict pairs from {s['recipe']}: {s['n_pairs']} pairs ({s['kinds']}), bases from index {s['start']}",
             "", "## solving", ""]
    for k in s["attempts"]:
        a, ok = s["attempts"][k], s["successes"][k]
        lines.append(f"- {k}: {ok} / {a} random base scenes solved ({100 * ok / a:.1f} %)" if a else f"- {k}: no attempts")
    lines.append(f"- bases the sampler could not build: {s['no_base']}; solve time {s['solve_seconds']:.0f} s")
    lines.append(f"- cover pairs' visible half: occluder moved {s['cover_where']}")
    lines.append(f"- facing pairs with the visible ball nearer the observer: {s['facing_visible_nearer']}")
    lines.append(f"- depth pairs' depth labels (visible half / hidden half): {s['depth_labels']}")
    lines += ["", "failure reasons (counted per try, a base may fail several ways):", ""]
    lines += [f"- {k}: {v}" for k, v in s["why"].items()]
    lines += ["", "## cues against the pair's label (AUC of the cue for label 1; SMD = label 1 minus label 0)", "",
              "VPT label in groups all, facing, cover and depth; depth label in group depth order.", "",
              "| cue | group | label | pairs | AUC | SMD |", "|---|---|---|---|---|---|"]
    for r in s["rows"]:
        lines.append(f"| {r['cue']} | {r['group']} | {r['label']} | {r['n_pairs']} | {r['auc']:.3f} | {r['smd']:+.3f} |")
    rows = s["rows"]
    ok = criteria_met(rows)
    okp = criteria_met(rows, [f"px:{n}" for n in PIXEL_CUES])
    lines += ["", f"VPT pairs, analytic rule values within AUC {TARGET_AUC} +/- {AUC_TOL} and |SMD| <= {MAX_SMD}, "
                  f"overall and per kind: {'yes' if ok else 'NO'}; the same two rules from pixels: {'yes' if okp else 'NO'}"]
    if any(r["group"] == "depth order" for r in rows):
        okd = criteria_met(rows, [f"px:{n}" for n in DEPTH_CUES], ["depth order"])
        lines.append(f"depth pairs, image height and size cues ({', '.join(DEPTH_CUES)}) within AUC {TARGET_AUC} +/- "
                     f"{AUC_TOL} and |SMD| <= {MAX_SMD}: {'yes' if okd else 'NO'}")
    miss = single_cue_misses(rows)
    lines.append(f"single cues above {MAX_SINGLE:.0%} accuracy (max(AUC, 1 - AUC)), any group: "
                 + (", ".join(f"{r['cue']} ({r['group']}, AUC {r['auc']:.3f})" for r in miss) if miss else "none"))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--recipe", default="depth-vpt")
    ap.add_argument("--pairs", type=int, default=100)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--kinds", default="facing,cover",
                    help="comma-separated pair kinds: facing, cover, depth (default facing,cover)")
    ap.add_argument("--json", default=None, help="also write the summary as JSON here")
    a = ap.parse_args(argv)
    kinds = [k.strip() for k in a.kinds.split(",") if k.strip()]
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        ap.error(f"--kinds: unknown kind(s) {bad or kinds}; use a comma-separated list of {', '.join(KINDS)}")
    if a.pairs < 1:
        ap.error("--pairs must be at least 1")
    s = conflict_summary(a.recipe, a.pairs, a.start, kinds)
    print(format_summary(s))
    if a.json:
        with open(a.json, "w", encoding="utf-8") as fh:
            json.dump(s, fh, indent=2, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
