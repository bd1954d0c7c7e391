"""Do the audit's cue models read the invariance sweeps? (issue 26)

    python benchmarks/invariance_cues.py [--sweeps 40] [--steps 9] [--first N]
    python benchmarks/invariance_cues.py --rendered BASIC_DIR SWEEPS_DIR [--first N]

Planned (default, no render): plans the default binary recipe (depth-vpt) and ``--sweeps``
invariance sweeps of the default sweep recipe (vpt-strategy, the other kinds left out) and
computes the audit's cues from the analytic projection of both. Rendered (``--rendered``): the
cues of a rendered basic set and a rendered sweep set, from the pixels, as ``vpt audit``
computes them. ``--first N`` keeps invariance sweeps 0 to N-1 only (the sweeps a recipe with
``count: N`` has: a sweep's plan does not depend on the count). Runs the audit (models trained
on the basic train split) and prints, for the invariance steps: every cue model's accuracy
(all cues, each family, the thumbnail), the image-plane rules' accuracy (planned: 2D facing
angle and 2D coverage from the geometry with the rules' default thresholds; rendered: the
rules read off the masks, ``image_plane_rule``), both per target of the sweep (visible,
occluded, out of view), with the number of sweeps behind each figure, and 95 % intervals that
resample whole look-alike pairs of sweeps. Planning takes minutes.
"""

from __future__ import annotations

import argparse
import copy
import time

import numpy as np
import pandas as pd


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sweeps", type=int, default=40, help="invariance sweeps (default 40, as SCALE=paper)")
    ap.add_argument("--steps", type=int, default=9)
    ap.add_argument("--rendered", nargs=2, metavar=("BASIC_DIR", "SWEEPS_DIR"),
                    help="score a rendered basic set and sweep set (cues from the pixels) instead of planning")
    ap.add_argument("--first", type=int, default=None, help="keep invariance sweeps 0 to N-1 only")
    args = ap.parse_args(argv)

    from sklearn.base import clone

    from vpt.datasets import audit as A
    from vpt.datasets.build import plan_recipe
    from vpt.datasets.recipe import load_recipe, parse_recipe
    from vpt.resources import resolve_recipe
    from vpt.scene.imageplane import facing_angle_2d, image_plane_answer, segment_coverage_2d

    t0 = time.perf_counter()
    from vpt.datasets.sweeps import balance_of

    if args.rendered:
        from pathlib import Path

        table, thumbs, source = A.dataset_table(Path(args.rendered[0]), [Path(args.rendered[1])])
        specs_of = None
    else:
        basic = plan_recipe(load_recipe("depth-vpt"), progress=False)
        import yaml

        d = copy.deepcopy(yaml.safe_load(resolve_recipe("vpt-strategy").read_text()))
        for kind in list(d["sweeps"]):
            if isinstance(d["sweeps"][kind], dict):
                d["sweeps"][kind]["count"] = args.sweeps if kind == "invariance" else 0
                d["sweeps"][kind]["steps"] = args.steps if kind == "invariance" else d["sweeps"][kind]["steps"]
        sweeps = plan_recipe(parse_recipe(d), progress=False)
        table, thumbs = A.plan_table(basic.items, sweeps.items)
        specs_of, source = {it.spec.scene_id: it.spec for it in sweeps.items}, "analytic"
    t_plan = time.perf_counter() - t0
    number = table["sweep_id"].fillna("").map(lambda s: int(s.rsplit("-", 1)[1]) if s.startswith("invariance-") else -1)
    keep = ((table["sweep_kind"].fillna("") != "invariance") if "sweep_kind" in table.columns else True) | (
        number < (args.first if args.first is not None else 10**9))
    table, thumbs = table[keep].reset_index(drop=True), thumbs[keep.to_numpy()]
    res = A.audit_cues(table, thumbs, source, permutations=0)
    t_all = time.perf_counter() - t0

    inv = table[table["sweep_kind"] == "invariance"].copy()
    inv["label"] = inv["sweep_step_label"].astype(int)
    inv["target"] = [balance_of("invariance", int(s.rsplit("-", 1)[1]))["target"] for s in inv["sweep_id"]]
    if specs_of is None:  # the rules as read off the rendered masks
        rule = inv["image_plane_rule"].to_numpy(int)
    else:
        specs = [specs_of[s] for s in inv["scene_id"]]
        rule = image_plane_answer(facing_angle_2d(specs), segment_coverage_2d(specs))
    inv["rules"] = rule == inv["label"].to_numpy()

    # every cue model again, to score it per target
    binary = A._binary(table)
    train = binary[binary["split"] == "train"]
    used = list(res.single.index)
    from vpt.datasets.cues import family_cues

    # sweeps 2p and 2p + 1 are look-alike partners ("invariance-007" is pair 3): resample whole
    # pairs, so that a draw keeps each visible sweep with its hidden partner
    pair_ids = np.array([int(s.rsplit("-", 1)[1]) // 2 for s in inv["sweep_id"]])
    ids = np.unique(pair_ids)
    rng = np.random.default_rng(0)
    draws = rng.integers(0, len(ids), (2000, len(ids)))

    def row(ok: np.ndarray) -> dict[str, float]:
        per = np.array([ok[pair_ids == i].mean() for i in ids])
        lo, hi = np.quantile(per[draws].mean(axis=1), [0.025, 0.975])
        return {"all": ok.mean(), "95% CI (sweeps)": f"{lo:.3f}-{hi:.3f}",
                **{t: ok[(inv["target"] == t).to_numpy()].mean() for t in sorted(inv["target"].unique())}}

    groups = {"all cues": used, **{f: family_cues(f, used) for f in ("nuisance", "image-plane", "depth")}}
    styles = sorted(table["style"].fillna("").unique()) if "style" in table.columns else []

    def design(frame: pd.DataFrame, cols: list[str], style: bool) -> np.ndarray:
        """As the audit's: the cues, and the style one-hot for all cues and the nuisance family."""
        x = frame[cols].to_numpy(float)
        if style and styles:
            x = np.hstack([x, np.stack([(frame["style"].fillna("") == s).to_numpy(float) for s in styles], 1)])
        return x

    rows = {}
    for gname, cols in groups.items():
        style = gname in ("all cues", "nuisance")
        for mname, model in A._combined_models().items():
            m = clone(model).fit(design(train, cols, style), train["vpt_label"].to_numpy(int))
            ok = m.predict(design(inv, cols, style)) == inv["label"].to_numpy()
            rows[f"{gname} · {mname}"] = row(ok)
    rows["image-plane rules (" + ("read off the masks" if args.rendered else "thresholds 35 deg, 0.25") + ")"] = row(
        inv["rules"].to_numpy())
    out = pd.DataFrame.from_dict(rows, orient="index")
    n = inv.groupby("target")["sweep_id"].nunique()
    print(f"{inv['sweep_id'].nunique()} invariance sweeps, {len(inv)} steps "
          f"({', '.join(f'{t}: {k} sweeps' for t, k in n.items())}); basic: {len(binary)} items, "
          f"{len(train)} train; {'rendered, cues from the pixels' if args.rendered else 'planned, analytic cues'}")
    print("\n".join(A.frame_markdown(out.drop(columns=["95% CI (sweeps)"]), head="cue model")))
    print("\n95 % intervals of the first column, whole look-alike pairs of sweeps resampled:")
    print("\n".join(f"- {k}: {v}" for k, v in out["95% CI (sweeps)"].items()))
    print()
    print("The audit's own figures (test and invariance steps):")
    print("\n".join(A.frame_markdown(pd.concat([res.combined, res.family_vpt])[["test", "sweep invariance"]])))
    print()
    print("\n".join(f"- {c.name}: {c.value:.3f} ({c.limit}): {'PASS' if c.passed else 'FAIL'}" for c in res.checks()))
    print(f"\n{'reading' if args.rendered else 'planning'} {t_plan:.0f} s, total {t_all:.0f} s (shared 2-core machine under load: timings are rough)")


if __name__ == "__main__":
    main()
