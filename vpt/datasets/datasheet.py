"""The dataset card's datasheet sections: what defines the labels and what could confound them,
computed from the recipe, the asset catalogue and the index (never typed by hand), plus the
intended uses and known limitations of a vpt stimulus set."""

from __future__ import annotations

from typing import Any

import pandas as pd

from vpt.datasets.recipe import load_catalogue


def _deg(value: Any) -> str:
    """A recipe angle, fixed (70) or drawn from a range ([60, 80])."""
    if isinstance(value, (list, tuple)):
        lo, hi = value
        return f"{lo:g} degrees" if lo == hi else f"{lo:g} to {hi:g} degrees (drawn per scene)"
    return f"{value:g} degrees"


def label_definition_md(config: dict[str, Any]) -> str:
    """What "can see" and "closer" mean for this recipe, with its field of view and margins."""
    v, lab = config.get("viewer", {}), config["labels"]
    h, w = v.get("hfov_deg"), v.get("vfov_deg")
    fov = f"{_deg(h)} wide and {_deg(w)} high" if h and w else "the recipe's field of view"
    return (
        f"- **Can see** (`vpt_label` = 1): the viewer's camera sees {fov}, from its lens along its facing. The ball, "
        f"enlarged by {lab['ball_margin']:.0%} of its radius, lies entirely inside that field of view shrunk by "
        f"{lab['fov_margin_deg']:g} degrees on every side, and no occluder crosses any sampled line of sight from the "
        "lens to it.\n"
        f"- **Cannot see** (`vpt_label` = 0): either *out of view* (the enlarged ball lies entirely outside the field "
        f"of view grown by {lab['fov_margin_deg']:g} degrees) or *occluded* (clearly inside the field of view, every "
        "line of sight blocked). Anything in between is *partial* and never enters a binary set, so no label rests "
        "on a near miss.\n"
        f"- **Closer** (`depth_label` = 1: the ball is closer to the observer camera than the viewer's body): the "
        f"relative gap must be at least {lab['min_depth_gap']:.0%} in Euclidean distance and in z depth, and the "
        "two must agree.\n"
        f"- The observer's picture shows the ball and the viewer at least {lab['min_observer_visible']:.0%} "
        "visible, and at least the minimum sizes below. The labels are the scene geometry's, checked against "
        "the rendered masks and the renderer's own ray casts (`vpt verify`).\n")


def sizes_md(df: pd.DataFrame, resolution: list[int]) -> str:
    """Ball and viewer image radii (px) per split: the sizes a model or a person must resolve."""
    cols = [c for c in ("ball_radius_px", "viewer_radius_px") if c in df.columns]
    if not cols or df.empty:
        return ""
    lines = [f"Image radius in pixels at {resolution[0]}x{resolution[1]} (the radius of a disc of the same area; "
             "diameters are twice that):\n", "| split | object | n | min | 10 % | median | 90 % | max |",
             "|---|---|---|---|---|---|---|---|"]
    for split, g in df.groupby("split", sort=True):
        for col in cols:
            r = g[col].astype(float).dropna()
            if len(r):
                q = r.quantile([0.1, 0.5, 0.9])
                lines.append(f"| {split} | {col.split('_')[0]} | {len(r)} | {r.min():.1f} | {q[0.1]:.1f} | "
                             f"{q[0.5]:.1f} | {q[0.9]:.1f} | {r.max():.1f} |")
    return "\n".join(lines) + "\n"


def hidden_by_overlap_md(df: pd.DataFrame) -> str:
    """How the hidden reason sits in the counterbalancing cells (occluder over the segment or not)."""
    need = {"vpt_label", "hidden_reason", "occluder_overlaps_segment"}
    hid = df[df["vpt_label"] == 0] if need <= set(df.columns) else df.iloc[0:0]
    if hid.empty:
        return ""
    t = pd.crosstab(hid["occluder_overlaps_segment"].map({1: "yes", 0: "no", True: "yes", False: "no"}),
                    hid["hidden_reason"])
    reasons = list(t.columns)
    lines = ["Hidden items (`vpt_label` = 0) by the cell's occluder-over-segment factor and hidden reason:\n",
             "| occluder over the viewer-ball segment | " + " | ".join(reasons) + " |",
             "|---|" + "---|" * len(reasons)]
    lines += [f"| {i} | " + " | ".join(str(int(t.loc[i, r])) for r in reasons) + " |" for i in t.index]
    notes = []
    if "no" in t.index and t.loc["no"].get("occluded", 0) == 0 and t.loc["no"].sum() > 0:
        notes.append("In the cells with no occluder over the segment every hidden item is out of view (nothing "
                     "lies on the line of sight to block it): there, \"cannot see\" means \"outside the field "
                     "of view\", and a model that reads only the viewer's facing in the image can be right on them.")
    if "yes" in t.index and "out_of_view" in t.columns and t.loc["yes", "out_of_view"] > 0:
        share = t.loc["yes", "out_of_view"] / t.loc["yes"].sum()
        notes.append(f"In the overlap cells {share:.0%} of the hidden items are out of view although an occluder "
                     "covers the segment in the image: the occluder's image overlap does not decide the label.")
    return "\n".join(lines) + "\n\n" + " ".join(notes) + ("\n" if notes else "")


def ood_md(config: dict[str, Any]) -> str:
    """What the OOD split changes, and what else changes with it."""
    ood = config.get("ood")
    if not ood:
        return ""
    cat = load_catalogue("occluders")
    train, new = list(config["occluders"]["shapes"]), list(ood.get("occluder_shapes", []))
    styles_same = sorted(ood.get("styles", config.get("styles", []))) == sorted(config.get("styles", []))
    text = (f"The `ood` split replaces the occluder shapes ({', '.join(train)}) by {', '.join(new)}"
            + (", with the same styles" if styles_same else f", and the styles by {', '.join(ood.get('styles', []))}")
            + ". Everything else (viewer, ball, layouts, counterbalancing) is drawn as in the other splits.")
    spheres = [s for s in new if cat.get(s, {}).get("primitive") == "sphere"]
    if spheres:
        text += (f" {', '.join(spheres).capitalize()} occluders are spheres, like the ball: the split changes the "
                 "occluders' shape *and* adds ball-like distractors at once, so a drop on `ood` cannot be put down to "
                 "shape alone (compare its items with and without a sphere, `occluder_shapes` in the index).")
    return text + "\n"


USES_MD = """**Intended uses.** Measuring whether a vision model, a multimodal model or a person judges
(a) which of two objects is closer to the camera and (b) whether a camera in the picture can see
the ball, on images whose 2D layout is counterbalanced and audited against image-cue shortcuts;
comparing decision makers on the same trials (accuracy with intervals, error consistency,
psychometric sweeps).

**Known limitations.** Synthetic studio, room and outdoor scenes with one viewer (a camera on a
stand), one red ball and simple occluders: results need not transfer to natural images. The
viewer is a camera, not a person, so "seeing" is defined by its lens and field of view, which a
participant must be taught. Depth order can be read from monocular image cues such as the
ball's height in the image (the audit's depth section says how far on this set), so the depth
task measures depth reading on these layouts, not 3D understanding. The shortcut audit
covers the cues it lists (see above); a cue it does not compute can still carry the label, and
at small sizes it can only rule out strong cues. Labels are exact for the scene's geometry;
whether a *person* can read the viewer's facing at the shown size is measured separately
(Viewer legibility).
"""


def conflict_pairs_md(df: pd.DataFrame) -> str:
    """The conflict set's pairs per split and kind, and how the two labels cross in each."""
    if df.empty or "cell" not in df.columns:
        return ""
    d = df.assign(pair=df["scene_id"].str.replace(r"-[ab]$", "", regex=True))
    lines = ["Items come in look-alike pairs (`cell` = the pair's kind; the ids end in `-a`, the visible half, and "
             "`-b`, the hidden one), both halves in the same split and dressed alike. Pairs per split and kind, "
             "and the items' depth label crossed with the VPT label:\n",
             "| split | kind | pairs | vpt=1 depth=1 | vpt=1 depth=0 | vpt=0 depth=1 | vpt=0 depth=0 | hidden reason |",
             "|---|---|---|---|---|---|---|---|"]
    for (split, kind), g in d.groupby(["split", "cell"], sort=True):
        c = g.groupby(["vpt_label", "depth_label"]).size()
        reasons = ", ".join(f"{r} {n}" for r, n in g.loc[g["vpt_label"] == 0, "hidden_reason"].value_counts().items())
        lines.append(f"| {split} | {kind} | {g['pair'].nunique()} | " + " | ".join(
            str(int(c.get((v, dl), 0))) for v, dl in ((1, 1), (1, 0), (0, 1), (0, 0))) + f" | {reasons} |")
    return "\n".join(lines) + "\n"


def datasheet_md(config: dict[str, Any], df: pd.DataFrame, kind: str) -> str:
    """The datasheet sections, in the card's Markdown."""
    parts = ["\n## What the labels mean\n", label_definition_md(config)]
    sizes = sizes_md(df, config["resolution"])
    if sizes:
        parts += ["\n## Sizes in the image\n", sizes]
    if kind == "conflict":
        pairs = conflict_pairs_md(df)
        if pairs:
            parts += ["\n## Look-alike pairs\n", pairs]
    if kind == "binary":
        hidden = hidden_by_overlap_md(df)
        if hidden:
            parts += ["\n## Hidden reason and the counterbalancing cells\n", hidden]
    ood = ood_md(config) if kind in ("binary", "conflict") else ""
    if ood:
        parts += ["\n## What the OOD split changes\n", ood]
    parts += ["\n## Intended uses and known limitations\n", USES_MD]
    return "".join(parts)
