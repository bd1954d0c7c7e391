"""The conflict set's criteria (issue 26), computed from a dataset folder, never typed: the card
section ``vpt scenes`` writes for a ``kind: conflict`` recipe, and ``conflict_criteria.json``.

    python -m vpt.datasets.conflict_card DATASET [--basic FOLDER] [--strict]

The cues are the audit's (:mod:`vpt.datasets.cues`: from the rendered masks and images, or the
analytic projection of a folder that was only planned) plus the two analytic image-plane
values of :mod:`vpt.scene.imageplane` (``angle_2d``, ``coverage_2d``, from each scene JSON's
spec). They fall in three families:

* **image-plane line of sight**: the two rules' graded values and their pixel forms (the 2D
  angle between the viewer's facing and the ball, the occluder share of the lens-ball and
  body-ball segments, the gap from the segment to the nearest occluder pixel);
* **depth**: the ball's and the viewer's image size and height, and their ratio and offset;
* **nuisance**: every other cue (positions, directions, the viewer's silhouette, occluder
  pixels away from the line of sight, brightness and colour).

Reported and judged:

* each image-plane cue's ROC AUC against the VPT label and its standardised mean difference
  (label 1 minus label 0, over the pooled SD), over the whole set and per hidden reason (the
  pairs whose hidden half is occluded, the pairs whose hidden half is out of view): AUC
  within 0.50 +/- :data:`AUC_BAND`, |SMD| at most :data:`MAX_SMD`;
* the single-cue maximum (the audit's largest single-cue accuracy, cross-validated and train
  -> test, over every cue): at most :data:`SINGLE_CUE_LIMIT`;
* each family's cues together (logistic regression and boosted trees, trained on this set's
  train split, tested on its test split): nuisance at most :data:`COMBINED_LIMIT`;
* boosted trees over all cues trained on the *basic* set's train split (a binary dataset
  beside this one, the recipe's ``conflict.basic``), tested on this set's test split: at
  most :data:`COMBINED_LIMIT`, where that folder exists;
* the depth cues against the depth label, over the whole set and on the pairs of kind
  ``depth`` (where the solver makes them: image height and size AUC within the band there).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vpt.datasets.cues import GEOMETRY_CUES, RGB_CUES
from vpt.datasets.index import ALL_TASKS, is_dataset, read_index
from vpt.errors import UserError
from vpt.fileio import atomic_write_text

AUC_BAND = 0.03
MAX_SMD = 0.1
SINGLE_CUE_LIMIT = 0.58
COMBINED_LIMIT = 0.60
ANALYTIC = {"angle_2d": "2D facing angle (analytic)", "coverage_2d": "2D coverage of the lens-ball segment (analytic)"}
IMAGE_PLANE = ("facing_ball_angle", "facing_ball_cos", "cover_lens_1", "cover_lens_5", "cover_lens_11",
               "cover_body_1", "cover_body_5", "cover_body_11", "segment_gap")
DEPTH = ("ball_area", "ball_y", "viewer_area", "viewer_y", "size_ratio", "dy", "depth_label_cue")
DEPTH_JUDGED = ("ball_y", "dy", "ball_area", "size_ratio")  # image height and image size
FAMILIES = ("image-plane", "depth", "nuisance")
CRITERIA_FILE = "conflict_criteria.json"


def family(cue: str) -> str:
    if cue in ANALYTIC or cue in IMAGE_PLANE:
        return "image-plane"
    return "depth" if cue in DEPTH else "nuisance"


def cue_table(root: Path) -> tuple[pd.DataFrame, str]:
    """The cue table of a dataset folder (the audit's, plus ``angle_2d``, ``coverage_2d``,
    ``pair`` and ``kind``) and its source (``images`` or ``analytic``)."""
    from vpt.datasets.audit import dataset_table
    from vpt.datasets.conflict_set import pair_id
    from vpt.scene.imageplane import facing_angle_2d, segment_coverage_2d
    from vpt.scene.spec import scene_from_dict

    root = Path(root)
    table, _, source = dataset_table(root)
    index = read_index(root)
    specs = [scene_from_dict(json.loads((root / p).read_text(encoding="utf-8"))["spec"]) for p in index["scene_json"]]
    extra = pd.DataFrame({"scene_id": index["scene_id"], "angle_2d": facing_angle_2d(specs),
                          "coverage_2d": segment_coverage_2d(specs)})
    table = table.merge(extra, on="scene_id", how="left")
    table["pair"] = table["scene_id"].map(pair_id)
    table["kind"] = table["cell"].fillna("").astype(str)
    return table, source


def auc(x: np.ndarray, y: np.ndarray) -> float:
    """ROC AUC of ``x`` for ``y == 1`` (Mann-Whitney; ties, after rounding to 6 decimals, count half)."""
    from scipy.stats import rankdata

    keep = ~np.isnan(x)
    x, y = np.round(x[keep], 6), y[keep]
    n1, n0 = int((y == 1).sum()), int((y == 0).sum())
    if not n1 or not n0:
        return math.nan
    r = rankdata(x)
    return float((r[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def smd(x: np.ndarray, y: np.ndarray) -> float:
    keep = ~np.isnan(x)
    a, b = x[keep][y[keep] == 1], x[keep][y[keep] == 0]
    if len(a) < 2 or len(b) < 2:
        return math.nan
    sd = math.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2)
    return float((a.mean() - b.mean()) / sd) if sd > 0 else 0.0


def groups(table: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The whole set and, per hidden reason, the pairs whose hidden half has that reason."""
    out = {"all": table}
    hidden = table[table["vpt_label"] == 0].drop_duplicates("pair").set_index("pair")["hidden_reason"]
    for reason in sorted(r for r in hidden.unique() if r):
        out[f"visible vs {reason.replace('_', ' ')}"] = table[table["pair"].map(hidden) == reason]
    return out


def balance_rows(table: pd.DataFrame, cues: list[str], label: str = "vpt_label", by_reason: bool = True
                 ) -> list[dict[str, Any]]:
    rows = []
    for name, g in (groups(table) if by_reason else {"all": table}).items():
        y = g[label].to_numpy(int)
        for cue in cues:
            x = g[cue].to_numpy(float)
            a, d = auc(x, y), smd(x, y)
            rows.append({"cue": cue, "family": family(cue), "group": name, "n": len(g), "auc": a, "smd": d,
                         "pass": bool(abs(a - 0.5) <= AUC_BAND and abs(d) <= MAX_SMD)})
    return rows


def _models():
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return {"logistic": make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
            "boosted trees": HistGradientBoostingClassifier(random_state=0)}


def _fit_score(train: pd.DataFrame, test: pd.DataFrame, cues: list[str], models: tuple[str, ...] | None = None
               ) -> dict[str, float]:
    x_tr, x_te = train[cues].to_numpy(float), test[cues].to_numpy(float)
    fill = np.nan_to_num(np.nanmedian(x_tr, axis=0))
    x_tr, x_te = np.where(np.isnan(x_tr), fill, x_tr), np.where(np.isnan(x_te), fill, x_te)
    out = {}
    for name, m in _models().items():
        if models and name not in models:
            continue
        m.fit(x_tr, train["vpt_label"].to_numpy(int))
        out[name] = float(np.mean(m.predict(x_te) == test["vpt_label"].to_numpy(int)))
    return out


def combined_rows(table: pd.DataFrame, cues: list[str]) -> dict[str, dict[str, float]]:
    """Each family's cues (and all cues) together: trained on train, accuracy on test."""
    train, test = table[table["split"] == "train"], table[table["split"] == "test"]
    if train["vpt_label"].nunique() < 2 or test.empty:
        return {}
    fams = {f: [c for c in cues if family(c) == f] for f in FAMILIES}
    fams["all cues"] = list(cues)
    return {f: _fit_score(train, test, cs) for f, cs in fams.items() if cs}


def basic_transfer(table: pd.DataFrame, basic_root: Path, cues: list[str]) -> dict[str, Any] | None:
    """Boosted trees over all cues trained on the basic set's train split, accuracy on this
    set's test split; None where no such folder exists."""
    from vpt.datasets.audit import dataset_table

    if not is_dataset(basic_root):
        return None
    basic, _, source = dataset_table(basic_root)
    train = basic[(basic["split"] == "train") & (basic["sweep_id"].fillna("") == "")]
    shared = [c for c in cues if c in train.columns]
    test = table[table["split"] == "test"]
    if train.empty or test.empty:
        return None
    return {"folder": str(basic_root), "source": source, "n_train": len(train), "n_test": len(test),
            **_fit_score(train, test, shared, ("boosted trees",))}


def measure(root: Path, audit: Any = None, basic_root: Path | None = None) -> dict[str, Any]:
    """Every figure of the section, as a JSON-ready dict."""
    table, source = cue_table(root)
    binary = table[table["vpt_label"].notna()]
    cues = [c for c in [*ANALYTIC, *GEOMETRY_CUES, *RGB_CUES] if c in binary.columns
            and binary[c].notna().any() and binary[c].nunique() > 1]
    plane = [c for c in cues if family(c) == "image-plane"]
    out: dict[str, Any] = {"source": source, "n_items": len(binary), "n_pairs": int(binary["pair"].nunique()),
                           "kinds": {k: int(v) for k, v in binary.drop_duplicates("pair")["kind"].value_counts().items()},
                           "image_plane": balance_rows(binary, plane),
                           "depth_vs_vpt": balance_rows(binary.assign(depth_label_cue=binary["depth_label"]),
                                                        [c for c in cues if family(c) == "depth"] + ["depth_label_cue"]),
                           "combined_test": combined_rows(binary, cues)}
    if "tasks" in binary.columns:
        out["tasks"] = {str(k): sorted(set(g.fillna(ALL_TASKS).astype(str))) for k, g in binary.groupby("kind")["tasks"]}
    dl = binary[binary["depth_label"].notna()]
    judged = [c for c in DEPTH_JUDGED if c in cues]
    out["depth_vs_depth"] = balance_rows(dl, judged, "depth_label", by_reason=False)
    depth_items = dl[dl["kind"] == "depth"]
    out["depth_items"] = balance_rows(depth_items, judged, "depth_label", by_reason=False) if len(depth_items) else []
    if audit is not None:
        out["single_max"] = {"accuracy": audit.max_single("vpt_label"), "cue": audit.worst_cue("vpt_label"),
                             "null_max": audit.null_max.get("vpt_label")}
    if basic_root is not None:
        out["basic_transfer"] = basic_transfer(binary, Path(basic_root), [c for c in cues if c not in ANALYTIC])
    plane_ok = all(r["pass"] for r in out["image_plane"])
    nuis = out["combined_test"].get("nuisance", {})
    out["verdict"] = {
        "image_plane_at_chance": plane_ok,
        "single_cue_at_most_58": (out["single_max"]["accuracy"] <= SINGLE_CUE_LIMIT) if audit is not None else None,
        "nuisance_combined_at_most_60": (max(nuis.values()) <= COMBINED_LIMIT) if nuis else None,
        "basic_trained_at_most_60": ((out["basic_transfer"] or {}).get("boosted trees", math.inf) <= COMBINED_LIMIT
                                     if out.get("basic_transfer") else None),
        "depth_items_at_chance": (all(r["pass"] for r in out["depth_items"]) if out["depth_items"] else None),
    }
    return out


def _ok(v: bool | None) -> str:
    return "not measured" if v is None else ("PASS" if v else "FAIL")


def _balance_md(rows: list[dict[str, Any]], descriptions: dict[str, str]) -> list[str]:
    names = list(dict.fromkeys(r["group"] for r in rows))
    lines = ["| cue | " + " | ".join(f"{g}: AUC / SMD" for g in names) + " | within the band |",
             "|---|" + "---|" * (len(names) + 1)]
    for cue in dict.fromkeys(r["cue"] for r in rows):
        mine = {r["group"]: r for r in rows if r["cue"] == cue}
        cells = [f"{mine[g]['auc']:.3f} / {mine[g]['smd']:+.3f} (n {mine[g]['n']})" if g in mine else "-" for g in names]
        ok = all(r["pass"] for r in mine.values())
        lines.append(f"| {descriptions.get(cue, cue)} (`{cue}`) | " + " | ".join(cells) + f" | {'yes' if ok else 'NO'} |")
    return lines


def to_markdown(m: dict[str, Any]) -> str:
    desc = {**ANALYTIC, **GEOMETRY_CUES, **RGB_CUES, "depth_label_cue": "the depth label itself"}
    v = m["verdict"]
    src = "rendered masks and images" if m["source"] == "images" else "analytic projection (not rendered)"
    lines = ["### Conflict criteria\n",
             f"{m['n_items']} items in {m['n_pairs']} look-alike pairs ("
             + ", ".join(f"{k} {n}" for k, n in sorted(m["kinds"].items())) + f"); pixel cues from the {src}, "
             "`angle_2d` and `coverage_2d` from each scene's geometry (vpt.scene.imageplane). Computed by "
             "`vpt.datasets.conflict_card` when the set was written; rerun with `python -m vpt.datasets.conflict_card "
             "<folder>`.\n",
             *([("**Tasks**: " + "; ".join(f"{k} pairs serve {' and '.join(' + '.join(t.split(',')) for t in ts)}"
                                          for k, ts in sorted(m["tasks"].items()))
                 + ". Every pair serves VPT (its halves have opposite VPT labels and the same image-plane values); "
                   "only depth pairs serve the depth task (evaluators score an item only on its tasks, index column "
                   "`tasks`).\n")] if m.get("tasks") else []),
             f"**Image-plane cues against the VPT label** (ROC AUC within 0.50 +/- {AUC_BAND}, |SMD| at most "
             f"{MAX_SMD}; whole set, and the pairs of each hidden reason): **{_ok(v['image_plane_at_chance'])}**\n"]
    lines += _balance_md(m["image_plane"], desc)
    if "single_max" in m:
        s = m["single_max"]
        lines += ["", f"**Single-cue maximum** (the audit below: every cue alone, cross-validated and train -> test): "
                      f"{s['accuracy']:.3f} (`{s['cue']}`; limit {SINGLE_CUE_LIMIT:.2f}: "
                      f"**{_ok(v['single_cue_at_most_58'])}**; shuffled-label maximum {s['null_max']:.3f})."]
    if m["combined_test"]:
        lines += ["", "**Cue families together** (trained on this set's train split, accuracy on its test split; "
                      f"nuisance limit {COMBINED_LIMIT:.2f}: **{_ok(v['nuisance_combined_at_most_60'])}**):\n",
                  "| family | " + " | ".join(next(iter(m["combined_test"].values()))) + " |",
                  "|---|" + "---|" * len(next(iter(m["combined_test"].values())))]
        lines += [f"| {f} | " + " | ".join(f"{a:.3f}" for a in r.values()) + " |" for f, r in m["combined_test"].items()]
    bt = m.get("basic_transfer")
    if bt:
        lines += ["", f"**Trained on the basic set**: boosted trees over all cues, trained on the {bt['n_train']} train "
                      f"items of `{bt['folder']}` ({bt['source']}), accuracy on this set's {bt['n_test']} test items: "
                      f"{bt['boosted trees']:.3f} (limit {COMBINED_LIMIT:.2f}: "
                      f"**{_ok(v['basic_trained_at_most_60'])}**)."]
    elif "basic_transfer" in m:
        lines += ["", "**Trained on the basic set**: not measured (no basic dataset folder beside this one; write it "
                      "with `make scenes`)."]
    lines += ["", "**Depth cues against the VPT label** (reported; the pairs are matched on the image-plane cues, not "
                  "on these):\n"]
    lines += _balance_md(m["depth_vs_vpt"], desc)
    lines += ["", "**Image height and size against the depth label**, every item, including those that do not serve "
                  "the depth task (reported: in facing and cover pairs the depth order shows in the picture, as on any "
                  "floor):\n"]
    lines += _balance_md(m["depth_vs_depth"], desc)
    if m["depth_items"]:
        lines += ["", f"**Depth pairs** (kind `depth`, the items that serve the depth task): image height and size "
                      f"against the depth label: "
                      f"**{_ok(v['depth_items_at_chance'])}**\n"]
        lines += _balance_md(m["depth_items"], desc)
    else:
        lines += ["", "No pairs of kind `depth` in this set: the depth criterion (image height and size at chance "
                      "on the depth label) is not measured."]
    return "\n".join(lines) + "\n"


def write_criteria(m: dict[str, Any], root: Path) -> None:
    atomic_write_text(Path(root) / CRITERIA_FILE, json.dumps(m, indent=2, sort_keys=True, default=float) + "\n")


def conflict_section(root: Path, audit: Any = None, basic: str | None = None) -> str:
    """Measure a conflict dataset folder, write ``conflict_criteria.json`` there and return the
    card section (``basic``: the name of the basic dataset folder beside it, or None)."""
    root = Path(root)
    m = measure(root, audit, root.parent / basic if basic else None)
    write_criteria(m, root)
    return to_markdown(m)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Measure the conflict set's criteria on a dataset folder.")
    ap.add_argument("dataset", help="a conflict dataset folder (data/conflict)")
    ap.add_argument("--basic", default="depth-vpt", help="the basic dataset beside it ('' for none)")
    ap.add_argument("--no-audit", action="store_true", help="skip the single-cue audit (its maximum)")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a measured criterion fails")
    a = ap.parse_args(argv)
    root = Path(a.dataset)
    if not is_dataset(root):
        print(f"vpt: error: {root}: not a dataset folder (no index.parquet); write it with `make scenes`",
              file=sys.stderr)
        return 2
    audit = None
    if not a.no_audit:
        from vpt.datasets.audit import audit_dataset

        try:
            audit = audit_dataset(root)
        except UserError as err:
            print(f"audit skipped: {err}", file=sys.stderr)
    print(conflict_section(root, audit, a.basic or None))
    print(f"saved {root / CRITERIA_FILE}")
    verdict = json.loads((root / CRITERIA_FILE).read_text(encoding="utf-8"))["verdict"]
    failed = [k for k, v in verdict.items() if v is False]
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed and a.strict else 0


if __name__ == "__main__":
    sys.exit(main())
