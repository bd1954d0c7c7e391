"""The report's figures (matplotlib, Agg backend). Each function returns a Figure or None
when its data is absent; `save` writes PNG and SVG and returns the SVG text for inlining."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from vpt.metrics.frame import HUMANS, is_label_rule  # noqa: E402

SPLIT_ORDER = ("test", "ood", "human", "sweep", "val", "warmup", "train")
KIND_COLORS = {"baseline": "#7f7f7f", "probe": "#1f77b4", "finetune": "#d62728", "scratch": "#9467bd",
               "vlm": "#ff7f0e", "human": "#2ca02c"}
plt.rcParams.update({"svg.fonttype": "none", "font.size": 10, "legend.fontsize": 10, "axes.spines.top": False, "axes.spines.right": False,
                     "svg.hashsalt": "vpt-report"})


def ordered_splits(splits: pd.Series | list[str]) -> list[str]:
    present = list(pd.unique(pd.Series(list(splits))))
    return [s for s in SPLIT_ORDER if s in present] + sorted(s for s in present if s not in SPLIT_ORDER)


def save(fig: Figure, out: Path, name: str) -> str:
    """Write `name`.png and `name`.svg into `out`; return the SVG markup (no XML prolog)."""
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / f"{name}.png", dpi=110, bbox_inches="tight")
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    svg = buf.getvalue()
    (out / f"{name}.svg").write_text(svg, encoding="utf-8")
    return svg[svg.index("<svg"):]


def shortcut_floor(acc: pd.DataFrame) -> pd.Series:
    """The shortcut floor's accuracy per (task, split) (:func:`vpt.report.summary.shortcut_floor_table`)."""
    from vpt.report.summary import shortcut_floor_table

    t = shortcut_floor_table(acc)
    return pd.Series(t["accuracy"].to_numpy(float), index=pd.MultiIndex.from_frame(t[["task", "split"]]),
                     dtype=float)


# the floor of each cue family (vpt.report.summary.family_floor_table), drawn beside the
# shortcut floor: colour, line style and the short name written in the panel
FAMILY_STYLE = {"nuisance": ("#17becf", (0, (5, 2, 1, 2)), "nuisance"),
                "image-plane": ("#e377c2", (0, (1, 1.5)), "image-plane"),
                "depth": ("#637939", (0, (6, 3)), "depth cues")}
FLOOR_COLOR = "#8c564b"


def family_floors(acc: pd.DataFrame) -> dict[tuple[str, str], dict[str, float]]:
    """(task, split) -> family -> the family's floor (best on val among its baselines)."""
    from vpt.report.summary import family_floor_table

    out: dict[tuple[str, str], dict[str, float]] = {}
    for r in family_floor_table(acc).itertuples(index=False):
        out.setdefault((r.task, r.split), {})[r.family] = float(r.accuracy)
    return out


def draw_floors(ax, floor: float | None, families: dict[str, float]) -> None:
    """The shortcut floor and each family's floor as lines across the panel, and their
    values written in its lower left corner (one line each, in the line's colour)."""
    rows = []
    if floor is not None and np.isfinite(floor):
        ax.axhline(floor, color=FLOOR_COLOR, ls="--", lw=1.1, label="shortcut floor (all baselines)")
        rows.append((FLOOR_COLOR, f"floor, all cues {100 * floor:.1f} %"))
    for fam, (color, ls, name) in FAMILY_STYLE.items():
        v = families.get(fam)
        if v is None or not np.isfinite(v):
            continue
        ax.axhline(v, color=color, ls=ls, lw=1.3, label=f"floor: {name}")
        rows.append((color, f"{name} {100 * v:.1f} %"))
    for i, (color, text) in enumerate(reversed(rows)):
        ax.text(0.02, 0.02 + 0.075 * i, text, transform=ax.transAxes, color=color, fontsize=MIN_FONT, va="bottom",
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 0.5})


SPLIT_TITLES = {"human": "human set", "ood": "OOD", "sweep": "sweeps", "val": "val", "test": "test"}
MIN_FONT = 10  # points; the report shows figures at <= 1.1x their natural width, so >= 11 px on screen
NAMED_PER_PANEL = 12  # a panel names every decision maker up to this many; beyond, the notable ones


def split_title(split: str) -> str:
    """A split as a panel title says it: "human set" is the stimulus set shown to participants."""
    return SPLIT_TITLES.get(split, split)


def drawn(fig: Figure, names) -> Figure:
    """Record on `fig` the decision makers it draws (the report writes them beside the figure)."""
    fig.vpt_drawn = sorted({str(n) for n in names})
    return fig


def notable(dms: pd.DataFrame) -> set[str]:
    """The decision makers a crowded panel names: the best of each kind and the pooled humans."""
    best = dms.sort_values(["accuracy", "decision_maker"], ascending=[False, True]).groupby("kind").head(1)
    return set(best["decision_maker"]) | ({HUMANS} & set(dms["decision_maker"]))


def accuracy_figures(acc: pd.DataFrame, ref_band: dict[tuple[str, str], tuple[float, float, float]]) -> dict[str, Figure]:
    """One figure per task: a panel per split (train left out), accuracy per decision maker with
    its 95 % CI, grouped by kind and sorted by accuracy within a kind; chance, the shortcut floor
    and the floor of each cue family with their values, and the human band (own participants, else the 3D-PC reference, labelled).
    Crowded panels name the best decision maker of each kind."""
    floor = shortcut_floor(acc)
    fam_floors = family_floors(acc)
    # the label rule is a check of the labels (the summary's "labels verified"), not a decision
    # maker; train is what the models were fitted on
    acc = acc[~acc["decision_maker"].map(is_label_rule) & (acc["split"] != "train")]
    out: dict[str, Figure] = {}
    for task in sorted(acc["task"].unique(), key=lambda t: (t != "vpt", t)):
        a = acc[acc["task"] == task]
        splits = ordered_splits(a["split"])
        ncol = min(3, len(splits))
        nrow = int(np.ceil(len(splits) / ncol))
        fig, axes = plt.subplots(nrow, ncol, figsize=(3.6 * ncol + 0.4, 3.0 * nrow), squeeze=False, sharey=True)
        names: set[str] = set()
        number: dict[str, int] = {}
        for ax, split in zip(axes.ravel(), splits):
            g = a[a["split"] == split]
            dms = g[(g["kind"] != "human") | (g["decision_maker"] == HUMANS)]
            own = dms[dms["decision_maker"] == HUMANS]
            dms = dms[dms["decision_maker"] != HUMANS]
            dms = dms.assign(_k=dms["kind"].map(lambda k: list(KIND_COLORS).index(k) if k in KIND_COLORS else 99))
            dms = dms.sort_values(["_k", "kind", "accuracy", "decision_maker"])
            names |= set(dms["decision_maker"]) | set(own["decision_maker"])
            x = np.arange(len(dms))
            for kind, sub in dms.groupby("kind", sort=False):
                xi = x[dms["kind"].to_numpy() == kind]
                ax.errorbar(xi, sub["accuracy"], yerr=[sub["accuracy"] - sub["accuracy_lo"],
                                                      sub["accuracy_hi"] - sub["accuracy"]],
                            fmt="o", ms=4, lw=0.9, color=KIND_COLORS.get(kind, "k"), label=kind)
            ax.axhline(0.5, color="k", ls=":", lw=0.9, label="chance")
            draw_floors(ax, floor[(task, split)] if (task, split) in floor.index else None,
                        fam_floors.get((task, split), {}))
            if len(own):
                h = own.iloc[0]
                ax.axhspan(h["accuracy_lo"], h["accuracy_hi"], color=KIND_COLORS["human"], alpha=0.2,
                           label="humans (95% CI)")
            elif (task, split) in ref_band:
                m, lo, hi = ref_band[(task, split)]
                ax.axhspan(lo, hi, color="#bcbd22", alpha=0.25, label="3D-PC humans, other stimuli (mean±SD)")
                ax.axhline(m, color="#bcbd22", lw=1)
            ax.set_ylim(0, 1.02)
            n = int(g["n_labelled"].max()) if len(g) else 0
            ax.set_title(f"{split_title(split)} (n = {n})")
            named = set(dms["decision_maker"]) if len(dms) <= NAMED_PER_PANEL else notable(dms)
            for i, r in enumerate(dms.itertuples()):  # named points carry a number; the key below names them
                if r.decision_maker in named:
                    k = number.setdefault(r.decision_maker, len(number) + 1)
                    ax.annotate(str(k), (i, r.accuracy_hi), xytext=(0, 2), textcoords="offset points", ha="center",
                                va="bottom", fontsize=MIN_FONT, fontweight="bold")
            ax.set_xticks([])
            ax.set_xlabel(f"{len(dms)} decision makers")
            ax.set_xlim(-0.8, max(len(dms), 1) - 0.2)
        for ax in axes[:, 0]:
            ax.set_ylabel("accuracy")
        for ax in axes.ravel()[len(splits):]:
            ax.axis("off")
        handles: dict = {}
        for ax in axes.ravel():
            for hnd, lab in zip(*ax.get_legend_handles_labels()):
                handles.setdefault(lab, hnd)
        fig.suptitle(f"{task}: accuracy per decision maker", fontsize=MIN_FONT + 2)
        key = [plt.Line2D([], [], ls="none", marker=f"${k}$", ms=7 + 3 * len(str(k)), color="k") for k in number.values()]
        style_rows, key_rows = int(np.ceil(len(handles) / 4)), int(np.ceil(len(key) / 2))
        extra = 0.3 * (style_rows + key_rows) + 0.3
        fig.set_size_inches(fig.get_size_inches()[0], 3.0 * nrow + extra)
        legend = fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=min(len(handles), 4),
                            frameon=False, bbox_to_anchor=(0.5, 0.3 * key_rows / (3.0 * nrow + extra)))
        if key:
            fig.add_artist(legend)
            fig.legend(key, list(number), loc="lower center", ncol=min(2, len(key)), frameon=False)
        fig.tight_layout(rect=(0, extra / (3.0 * nrow + extra), 1, 1))
        out[task] = drawn(fig, names)
    return out


def short(name: str, width: int = 28) -> str:
    """A decision maker's name cut to fit under a panel (the full name is in the tables)."""
    name = str(name)
    return name if len(name) <= width else name[: width - 1] + "…"


def main_split(acc: pd.DataFrame) -> str | None:
    """The split the summary figures use: test when present, else the one most decision makers have."""
    if acc.empty:
        return None
    return "test" if (acc["split"] == "test").any() else acc["split"].value_counts().idxmax()


def dissociation_figure(acc: pd.DataFrame, ref: dict | None) -> Figure | None:
    """VPT against depth accuracy per decision maker (the 3D-PC dissociation plot)."""
    own = acc[(acc["decision_maker"] == HUMANS) & (acc["split"] == "human")]
    split = "human" if own["task"].nunique() == 2 else main_split(acc)
    if split is None or not {"vpt", "depth"} <= set(acc["task"]):
        return None
    g = acc[(acc["split"] == split) & ((acc["kind"] != "human") | (acc["decision_maker"] == HUMANS))
            & ~acc["decision_maker"].map(is_label_rule)]  # the label rule checks the labels: not drawn
    w = g.pivot_table(index=["decision_maker", "kind"], columns="task",
                      values=["accuracy", "accuracy_lo", "accuracy_hi"]).dropna().reset_index()
    if w.empty:
        return None
    fig, ax = plt.subplots(figsize=(5.2, 5))
    for kind, sub in w.groupby("kind"):
        dx, dy = sub[("accuracy", "depth")], sub[("accuracy", "vpt")]
        ax.errorbar(dx, dy, xerr=[dx - sub[("accuracy_lo", "depth")], sub[("accuracy_hi", "depth")] - dx],
                    yerr=[dy - sub[("accuracy_lo", "vpt")], sub[("accuracy_hi", "vpt")] - dy], fmt="o", ms=3.5,
                    lw=0.6, alpha=0.8, color=KIND_COLORS.get(kind, "k"), label=kind)
    if not (w["decision_maker"] == HUMANS).any() and ref is not None:
        hum = {h["task"]: h for h in ref["humans"]}
        if "depth" in hum and "vpt" in hum:
            d, v = hum["depth"], hum["vpt"]
            ax.errorbar([d["mean"] / 100], [v["mean"] / 100], xerr=[[(d["sd"] or 0) / 100]], yerr=[[(v["sd"] or 0) / 100]],
                        fmt="*", ms=11, color="#bcbd22", label="3D-PC humans, other stimuli (mean±SD)")
    ax.plot([0, 1], [0, 1], color="k", lw=0.6, ls="--", label="vpt = depth")
    ax.axhline(0.5, color="k", ls=":", lw=0.7)
    ax.axvline(0.5, color="k", ls=":", lw=0.7)
    flat = pd.DataFrame({"decision_maker": w["decision_maker"], "kind": w["kind"],
                         "accuracy": (w[("accuracy", "depth")] + w[("accuracy", "vpt")]) / 2})
    names = sorted(notable(flat))
    for k, name in enumerate(names, 1):  # the best of each kind carries a number; the key names it
        r = w[w["decision_maker"] == name].iloc[0]
        ax.annotate(str(k), (r[("accuracy", "depth")], r[("accuracy", "vpt")]), xytext=(4, 4),
                    textcoords="offset points", fontsize=MIN_FONT, fontweight="bold")
    ax.set(xlim=(0.3, 1.02), ylim=(0.3, 1.02), xlabel=f"depth accuracy ({split_title(split)})",
           ylabel=f"VPT accuracy ({split_title(split)})", title="VPT against depth order")
    handles, labels = ax.get_legend_handles_labels()
    key = [plt.Line2D([], [], ls="none", marker=f"${k}$", ms=7 + 3 * len(str(k)), color="k") for k in range(1, len(names) + 1)]
    legend_in = 0.24 * (len(handles) + len(key)) + 0.15  # the legend's height below the axes
    fig.set_size_inches(6.4, 5.2 + legend_in)
    fig.legend(handles + key, labels + names, loc="lower center", ncol=1, frameon=False)
    fig.tight_layout(rect=(0, legend_in / (5.2 + legend_in), 1, 1))
    return drawn(fig, w["decision_maker"])


def imagenet_figure(acc: pd.DataFrame, meta: pd.DataFrame, corr: pd.DataFrame) -> Figure | None:
    """Accuracy against ImageNet top-1 per task, markers by family, Spearman rho in titles."""
    split = main_split(acc)
    if split is None or meta.empty or meta["imagenet_top1"].notna().sum() == 0:
        return None
    m = acc[acc["split"] == split].merge(meta.dropna(subset=["imagenet_top1"]), on="decision_maker")
    if m.empty:
        return None
    tasks = sorted(m["task"].unique())
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.6 * len(tasks), 3.8), squeeze=False)
    markers = dict(zip(sorted(m["family"].unique()), "osD^vP*X"))
    for ax, task in zip(axes[0], tasks):
        g = m[m["task"] == task]
        for (kind, fam), sub in g.groupby(["kind", "family"]):
            ax.scatter(sub["imagenet_top1"], sub["accuracy"], marker=markers.get(fam, "o"), s=30,
                       c=KIND_COLORS.get(kind, "k"), label=f"{kind}, {fam}")
        c = corr[(corr["task"] == task) & (corr["split"] == split)] if len(corr) else corr
        rho = "; ".join(f"{r.kind if 'kind' in c else 'all'} ρ = {r.spearman_rho:.2f} (n={int(r.n_models)})"
                        for r in c.itertuples())
        ax.axhline(0.5, color="k", ls=":", lw=0.7)
        ax.set(xlabel="ImageNet top-1 (%)", ylabel=f"{task} accuracy ({split})",
               title=f"{task}" + (f": Spearman {rho}" if rho else ""))
        ax.legend(title="kind, family")
    fig.tight_layout()
    return fig


def pick_curves(fits: pd.DataFrame, acc: pd.DataFrame, limit: int = 8) -> list[str]:
    """Decision makers drawn on sweep curves: humans, the best shortcut baseline, then the
    models most accurate on sweeps (all of them are in the CSV). The label rule is not drawn:
    it checks the labels, and the flip it defines is the curves' zero."""
    chosen: list[str] = []
    names = set(fits["decision_maker"]) if len(fits) else set()
    if HUMANS in names:
        chosen.append(HUMANS)
    sw = acc[acc["split"] == "sweep"].groupby(["decision_maker", "kind"])["accuracy"].mean().reset_index()
    base = sw[(sw["kind"] == "baseline") & ~sw["decision_maker"].map(is_label_rule)].sort_values("accuracy")
    if len(base):
        chosen.append(base["decision_maker"].iloc[-1])
    rest = sw[~sw["kind"].isin(["baseline", "human"])].sort_values("accuracy", ascending=False)
    chosen += [d for d in rest["decision_maker"] if d not in chosen][: max(limit - len(chosen), 0)]
    return chosen


def sweep_figure(fits: pd.DataFrame, curves: pd.DataFrame, acc: pd.DataFrame) -> Figure | None:
    """One panel per (task, sweep kind): P(response 1) against the distance to the flip with
    the fitted logistic (partial steps hollow, not fitted), or accuracy per step where the
    kind never flips."""
    if curves.empty:
        return None
    panels = curves[["task", "sweep_kind"]].drop_duplicates().sort_values(["task", "sweep_kind"]).values.tolist()
    who = pick_curves(fits, acc)
    ncol = min(3, len(panels))
    nrow = int(np.ceil(len(panels) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.6 * ncol, 3.0 * nrow + 0.6), squeeze=False)
    colors = plt.get_cmap("tab10")
    for ax, (task, kind) in zip(axes.ravel(), panels):
        cg = curves[(curves["task"] == task) & (curves["sweep_kind"] == kind)]
        for i, dm in enumerate(who):
            d = cg[cg["decision_maker"] == dm].sort_values("x")
            if d.empty:
                continue
            col = colors(i % 10)
            fitted = d[d["fitted"]] if d["measure"].iloc[0] == "p_response_1" else d
            ax.plot(fitted["x"], fitted["y"], "o", ms=3, color=col, label=dm)
            part = d[~d["fitted"]] if d["measure"].iloc[0] == "p_response_1" else d.iloc[0:0]
            ax.plot(part["x"], part["y"], "o", ms=5, mfc="none", color=col)
            f = fits[(fits["decision_maker"] == dm) & (fits["task"] == task) & (fits["sweep_kind"] == kind)]
            if d["measure"].iloc[0] == "p_response_1" and len(f):
                xs = np.linspace(cg["x"].min(), cg["x"].max(), 100)
                t, s = f["threshold"].iloc[0], f["slope"].iloc[0]
                if np.isfinite(s):
                    a = -t * s if np.isfinite(t) else 0.0
                    ax.plot(xs, 1 / (1 + np.exp(-(a + s * xs))), "-", lw=1, color=col)
            elif d["measure"].iloc[0] == "accuracy":
                ax.plot(d["x"], d["y"], "-", lw=0.8, color=col)
        measure = cg["measure"].iloc[0]
        if measure == "p_response_1":
            ax.axvline(0, color="k", lw=0.6, ls="--")
            ax.set(xlabel=f"to the flip: {cg['variable'].iloc[0]}",
                   ylabel="P(response = 1)")
        else:
            ax.set(xlabel="step (no flip in this kind)", ylabel="accuracy")
        ax.axhline(0.5, color="k", ls=":", lw=0.6)
        ax.set_ylim(-0.03, 1.03)
        ax.set_title(f"{task} · {kind}")
    for ax in axes.ravel()[len(panels):]:
        ax.axis("off")
    handles = {}
    for ax in axes.ravel():
        for hnd, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, hnd)
    cols = 2 if max(map(len, handles), default=0) <= 60 else 1
    legend_in = 0.24 * np.ceil(len(handles) / cols) + 0.15
    height = 3.0 * nrow + legend_in
    fig.set_size_inches(3.6 * ncol, height)
    fig.legend(handles.values(), list(handles), loc="lower center", ncol=cols, frameon=False)
    fig.tight_layout(rect=(0, legend_in / height, 1, 1))
    return drawn(fig, who)


def kappa_by_kind(m: pd.DataFrame, kinds: dict[str, str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Mean Cohen's kappa between the decision makers of two kinds (a kind with itself: over
    its distinct pairs) and the number of pairs behind each mean."""
    ks = ordered_kinds(kinds.get(d, "") for d in m.index)
    mean = pd.DataFrame(np.nan, index=ks, columns=ks)
    count = pd.DataFrame(0, index=ks, columns=ks)
    for a in ks:
        ra = [d for d in m.index if kinds.get(d, "") == a]
        for b in ks:
            rb = [d for d in m.index if kinds.get(d, "") == b]
            vals = m.loc[ra, rb].to_numpy(dtype=float)
            if a == b:
                vals = vals[~np.eye(len(ra), dtype=bool)]
            vals = vals[np.isfinite(vals)]
            count.loc[a, b] = len(vals) // (2 if a == b else 1)
            mean.loc[a, b] = vals.mean() if len(vals) else np.nan
    return mean, count


def ordered_kinds(kinds) -> list[str]:
    present = set(kinds)
    return [k for k in KIND_COLORS if k in present] + sorted(present - set(KIND_COLORS))


def kappa_figure(mats: dict[str, pd.DataFrame], acc: pd.DataFrame, kinds: dict[str, str]) -> Figure | None:
    """Error consistency per task: the kappa matrix over named decision makers when they are
    few (grouped by kind, sorted by accuracy), else the mean kappa between kinds, with the
    number of pairs in each cell."""
    keep = {t: [d for d in m.index if not is_label_rule(d)] for t, m in mats.items()}  # it checks the labels
    mats = {t: m.loc[keep[t], keep[t]] for t, m in mats.items() if len(keep[t]) >= 2}
    if not mats:
        return None
    named = max(len(m) for m in mats.values()) <= NAMED_PER_PANEL * 2
    size = 5.2 if not named else min(5.4, 2.4 + 0.22 * max(len(m) for m in mats.values()))
    fig, axes = plt.subplots(1, len(mats), figsize=(size * len(mats) + 0.6, size), squeeze=False)
    mean_acc = acc.groupby("decision_maker")["accuracy"].mean()
    dms: set[str] = set()
    for ax, (task, m) in zip(axes[0], sorted(mats.items(), key=lambda kv: (kv[0] != "vpt", kv[0]))):
        if named:
            order = sorted(m.index, key=lambda d: (ordered_kinds(kinds.values()).index(kinds.get(d, "")) if kinds.get(d, "")
                                                   in KIND_COLORS else 99, -mean_acc.get(d, 0), d))
            mm = m.loc[order, order].to_numpy(dtype=float, copy=True)
            np.fill_diagonal(mm, np.nan)  # a decision maker with itself: 1 by definition, not shown
            labels = [short(d, 24) for d in order]
            dms |= set(order)
        else:
            mean, count = kappa_by_kind(m, kinds)
            mm, order = mean.to_numpy(dtype=float), list(mean.index)
            labels = [f"{k} ({sum(kinds.get(d, '') == k for d in m.index)})" for k in order]
            for i in range(len(order)):
                for j in range(len(order)):
                    if np.isfinite(mm[i, j]):
                        ax.text(j, i, f"{mm[i, j]:.2f}\n{int(count.iloc[i, j])} pairs", ha="center", va="center",
                                fontsize=MIN_FONT, color="white" if abs(mm[i, j]) > 0.6 else "black")
            dms |= set(m.index)
        im = ax.imshow(mm, cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
        ax.set_xticks(range(len(order)), labels, rotation=60, ha="right", rotation_mode="anchor")
        ax.set_yticks(range(len(order)), labels)
        ax.set_title(f"{task}: " + ("Cohen's kappa" if named else "mean Cohen's kappa by kind"))
        fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    return drawn(fig, dms)


def attribution_figure(att: pd.DataFrame) -> Figure | None:
    """Share of attribution per region (ball, viewer, occluders, rest) per decision maker."""
    if att is None or att.empty:
        return None
    keys = [c for c in ("decision_maker", "task", "method") if c in att.columns and att[c].notna().any()]
    w = att.pivot_table(index=keys, columns="region", values="share", aggfunc="mean").fillna(0)
    w.index = [" · ".join(map(str, k)) if isinstance(k, tuple) else str(k) for k in w.index]
    fig, ax = plt.subplots(figsize=(max(4, 0.35 * len(w) + 2), 3.4))
    bottom = np.zeros(len(w))
    for region in w.columns:
        ax.bar(range(len(w)), w[region], bottom=bottom, label=region)
        bottom += w[region].to_numpy()
    ax.set_xticks(range(len(w)), [short(i, 40) for i in w.index], rotation=60, ha="right", rotation_mode="anchor")
    ax.set(ylabel="attribution share", title="attribution share per region")
    ax.legend()
    fig.tight_layout()
    return fig


def layer_figure(curves: pd.DataFrame, split: str = "test") -> Figure | None:
    """Per-layer probe accuracy on one split: a panel per task, a line per backbone (model and
    weights; random-init twins dashed), the layers in network order on x; chance dotted."""
    if curves is None or curves.empty:
        return None
    c = curves[curves["split"] == split]
    if c.empty:
        split = str(curves["split"].iloc[0])
        c = curves[curves["split"] == split]
    tasks = sorted(c["task"].unique())
    fig, axes = plt.subplots(1, len(tasks), figsize=(6.0 * len(tasks), 4.2), squeeze=False, sharey=True)
    for ax, task in zip(axes[0], tasks):
        t = c[c["task"] == task]
        ticks: dict[int, str] = {}
        for curve, g in t.groupby("curve", sort=True):
            g = g.sort_values("position")
            ticks.update(zip(g["position"].astype(int), g["layer"].astype(str)))
            ax.plot(g["position"], g["accuracy"], marker="o", lw=1.6, label=curve,
                    ls="--" if "random-init" in curve else "-")
        ax.axhline(0.5, color="grey", lw=0.9, ls=":")
        ax.set_xticks(list(ticks), [ticks[k] for k in ticks], rotation=35, ha="right", fontsize=10)
        ax.set_title(f"{task}, {split} split", fontsize=12)
        ax.set_xlabel("layer (input to output)", fontsize=11)
        ax.set_ylim(0.3, 1.02)
        ax.tick_params(axis="y", labelsize=10)
    axes[0][0].set_ylabel("probe accuracy", fontsize=11)
    handles, names = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=min(2, len(names)), frameon=False)
    fig.tight_layout(rect=(0, 0.06 * ((len(names) + 1) // 2), 1, 1))
    return fig
