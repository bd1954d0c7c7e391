"""Build the report: every metric over the trial table, the figures, the CSVs and one
self-contained HTML file.

    DIR/report.html        opens from disk; figures inline as SVG, no external resource
    DIR/figures/*.png|svg  each figure
    DIR/tables/*.csv       every summary table
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from vpt.metrics.consistency import kappa_pairs, kappa_summary, noise_ceiling
from vpt.metrics.frame import HUMANS, Prepared, generator, prepare
from vpt.metrics.metadata import (group_scores, human_band, load_model_lists, load_reference, match_models,
                                  reference_table, top1_correlation)
from vpt.metrics.psychometric import sweep_fits
from vpt.metrics.scores import accuracy_table
from vpt.report import html as H
from vpt.report.load import DatasetInfo, Inputs, cost_table, sweep_index
from vpt.report.parsing import parse_table
from vpt.report.summary import SPLIT_ORDER, TASK_ORDER, display, floor_notes, ordered, task_summary
from vpt.trials import schema


@dataclass
class Results:
    """Every summary table of a report (each written as tables/<name>.csv)."""

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    kappa_matrices: dict[str, pd.DataFrame] = field(default_factory=dict)
    reference: dict[str, Any] | None = None
    timings: dict[str, float] = field(default_factory=dict)


def _timed(res: Results, name: str, t0: float) -> float:
    t = time.perf_counter()
    res.timings[name] = round(t - t0, 3)
    return t


def compute(trials: pd.DataFrame, index: pd.DataFrame | None = None, models: pd.DataFrame | None = None,
            reference: dict[str, Any] | None = None, seed: int = 0, n_boot: int = 1000, n_splits: int = 200
            ) -> Results:
    """All metrics for one trial table (conforming to vpt.trials.schema)."""
    res = Results(reference=reference)
    t = time.perf_counter()
    p: Prepared = prepare(trials)
    t = _timed(res, "prepare", t)
    acc = accuracy_table(p, generator(seed), n_boot=n_boot)
    res.tables["accuracy"] = acc
    t = _timed(res, "accuracy", t)
    pairs, mats = kappa_pairs(p)
    res.tables["kappa_pairs"], res.kappa_matrices = pairs, mats
    summ = kappa_summary(pairs)
    if reference is not None:
        summ = pd.concat([summ, pd.DataFrame([{"task": k["task"], "pair": "human-human, 3D-PC (other stimuli)",
                                               "kappa_mean": k["kappa"]} for k in reference["human_kappa"]])],
                         ignore_index=True)
    res.tables["kappa_summary"] = summ
    t = _timed(res, "kappa", t)
    ceil, cons = noise_ceiling(p, generator(seed + 1), n_splits=n_splits)
    res.tables["noise_ceiling"], res.tables["model_human_consistency"] = ceil, cons
    t = _timed(res, "ceiling", t)
    fits, curves = sweep_fits(p, generator(seed + 2), index=index, n_boot=n_boot)
    res.tables["psychometric_fits"], res.tables["sweep_curves"] = fits, curves
    t = _timed(res, "psychometric", t)
    meta = match_models(acc["decision_maker"], models) if models is not None and len(models) else pd.DataFrame()
    res.tables["model_metadata"] = meta
    res.tables["metadata_groups"] = group_scores(acc, meta)
    res.tables["imagenet_correlation"] = top1_correlation(acc, meta)
    if reference is not None:
        res.tables["reference_3dpc"] = reference_table(reference)
    variants = trials[trials["variant"] != "default"]
    if len(variants):
        v = variants[variants["label"].notna()].assign(ok=variants["correct"].fillna(False).astype(bool))
        res.tables["variants"] = v.groupby(["decision_maker", "variant", "task", "split"]).agg(
            n=("ok", "size"), accuracy=("ok", "mean"), invalid_rate=("response", lambda s: s.isna().mean())).reset_index()
    _timed(res, "metadata", t)
    return res


def _ref_bands(ref: dict[str, Any] | None, acc: pd.DataFrame) -> dict[tuple[str, str], tuple[float, float, float]]:
    if ref is None:
        return {}
    out = {}
    for task, split in acc[["task", "split"]].drop_duplicates().itertuples(index=False):
        band = human_band(ref, task, split)
        if band is not None:
            out[(task, split)] = band
    return out


def card_summary(d: DatasetInfo, trials: pd.DataFrame) -> str:
    """Title, description, provenance and splits of a dataset card, counts from its index,
    and whether the trials were made on this very index (hash)."""
    lines = [ln for ln in d.card.splitlines()]
    title = next((ln.lstrip("# ") for ln in lines if ln.startswith("# ")), d.name)
    paras = [ln for ln in lines if ln and not ln.startswith(("#", "-", "|", "`"))][:2]
    hashes = set(trials.loc[trials["dataset"] == d.name, "dataset_hash"].unique()) if len(trials) else set()
    match = ("" if not hashes or d.hash is None else
             f"<p class='note'>Index hash {H.esc(d.hash)}: "
             + ("matches the trial rows." if d.hash in hashes else f"differs from the trial rows' {H.esc(sorted(hashes))} "
                "(the runs read another version of this dataset).") + "</p>")
    idx = d.index
    counts = pd.DataFrame()
    if "split" in idx and "vpt_label" in idx:
        counts = idx.assign(vpt_label=idx["vpt_label"].astype("string"), depth_label=idx["depth_label"].astype("string")
                            ).groupby(["split", "vpt_label", "depth_label"], dropna=False).size().rename("items").reset_index()
    section = ""
    for name in ("Splits", "Labels", "What the labels mean", "What the OOD split changes",
                 "Intended uses and known limitations"):
        if f"## {name}" in d.card:
            part = d.card.split(f"## {name}", 1)[1].split("\n## ", 1)[0].strip()
            section += f"<h4>{name}</h4>" + (f"<pre class='card'>{H.esc(part)}</pre>" if name == "Splits"
                                              else H.prose(part))
    return (f"<h3>{H.esc(title)} <span class='note'>({H.esc(d.root)})</span></h3>"
            + "".join(f"<p>{H.inline(p)}</p>" for p in paras) + match + section
            + "<h4>Items per split and label (from index.parquet)</h4>" + H.table(counts)
            + f"<details><summary>Full dataset card</summary><pre class='card'>{H.esc(d.card)}</pre></details>")


METHODS = """<p>Accuracy counts an invalid answer (response null) as wrong and reports the share as
<code>invalid_rate</code>; rows without a label (partial or ambiguous sweep steps) are counted
(<code>n_unlabelled</code>) and never scored. Balanced accuracy is the mean of the two per-class accuracies.
95 % intervals are percentile bootstraps ({n_boot} resamples) at the unit that was sampled: scenes for models
and baselines (whole sweeps on the sweep split), shared by every decision maker of a (task, split) so that their
intervals are paired; for the pooled <code>humans</code> row (the mean of participants' accuracies)
participants are resampled first and then each drawn participant's trials. <code>perm_floor</code> is the
accuracy that 95 % of label permutations stay below for the decision maker's own answers (exact,
hypergeometric). d' and criterion use the valid answers with the log-linear correction (0.5 added to hits and
false alarms, 1 to each class's trials). Error consistency is Cohen's kappa on trial-wise correctness over
shared trials (task, scene, variant, repeat; train rows excluded), with kappa_max, the largest kappa the two
accuracies allow. The noise ceiling is the Spearman-Brown corrected split-half correlation of per-item human
accuracy over {n_splits} seeded random halves of the participants; models are correlated with the same halves
(<code>r_normalised</code> = r / sqrt(split-half r)). Psychometric fits: P(response = 1) as a logistic function
of the signed distance to the nearest label flip of each sweep (the sweep variable from the dataset index,
the step number where there is none or where the variable is circular); threshold = where the curve crosses
0.5 relative to the true flip, slope per unit of the variable; intervals resample whole sweeps.</p>"""


def render(res: Results, inputs: Inputs, out: Path, n_boot: int, n_splits: int = 200) -> Path:
    """Write figures, CSVs and report.html into `out`; returns the HTML path."""
    from vpt.report import figures as F

    out.mkdir(parents=True, exist_ok=True)
    figdir, tabdir = out / "figures", out / "tables"
    tabdir.mkdir(parents=True, exist_ok=True)
    extra = {"cost": cost_table(inputs.manifests)}
    if inputs.attribution is not None and len(inputs.attribution):
        from vpt.report.attribution import summary

        extra["attribution"] = summary(inputs.attribution)
    tables = {**res.tables, **{k: v for k, v in extra.items() if len(v)}}
    t = time.perf_counter()
    for name, df in tables.items():
        if df is not None and len(df):
            df.to_csv(tabdir / f"{name}.csv", index=False)
    res.timings["csv"] = round(time.perf_counter() - t, 3)
    acc = res.tables["accuracy"]
    trials = inputs.trials
    own_humans = (acc["decision_maker"] == HUMANS).any()
    kinds = dict(zip(acc["decision_maker"], acc["kind"]))
    sections: list[H.Section] = []
    t = time.perf_counter()

    def fig(name: str, f: Any, caption: str, after: str = "") -> str:
        if f is None:
            return ""
        return H.figure(F.save(f, figdir, name), name, caption, getattr(f, "vpt_drawn", None), after)

    ref_note = ("" if own_humans or res.reference is None else
                f"<p class='ref'>No human participants in these runs: human bands and points are the 3D-PC reference, "
                f"not humans on these stimuli. Stimuli: {H.esc(res.reference['stimulus_set'])}. Source: "
                f"{H.esc(res.reference['citation'])}</p>")
    cols = ["decision_maker", "kind", "task", "split", "n_labelled", "n_unlabelled", "invalid_rate", "accuracy",
            "accuracy_lo", "accuracy_hi", "balanced_accuracy", "balanced_accuracy_lo", "balanced_accuracy_hi",
            "majority_rate", "perm_floor", "dprime", "criterion", "unit", "n_units", "sd_participants"]
    if inputs.superseded:
        ref_note += (f"<p class='ref'>{len(inputs.superseded)} older run(s) answered the same trials as a newer run of "
                     "the same decision maker (a setting changed); only the newest rows count: "
                     + H.esc(", ".join(inputs.superseded)) + ".</p>")
    summary = task_summary(acc)
    summary.to_csv(tabdir / "summary.csv", index=False)
    body = ("<h3 id='summary'>Summary per task and split</h3>" + H.table(
        display(summary), max_rows=len(summary), note="Labels verified: the label rule (the line-of-sight and depth "
        "rules applied to each scene's geometry) answers every labelled item correctly. Chance: the majority "
        "answer's rate. Permutation floor: the accuracy that 95 % of label shuffles stay below for a decision "
        "maker's own answer rates (the largest over the decision makers). Shortcut floor: the baseline on 2D "
        "image cues that is best on val; a model that does not beat it has shown nothing the image cues do not "
        "give. Best of each kind: the one best on val "
        "(as the floor), with its 95 % CI on each split.")
        + ref_note)
    bands = {} if own_humans else _ref_bands(res.reference, acc)
    for task, f in F.accuracy_figures(acc, bands).items():
        notes = "<ul class='floors'>" + "".join(f"<li>{H.esc(n)}</li>" for n in floor_notes(summary, task)) + "</ul>"
        body += fig(f"accuracy-{task}", f, f"{task}: accuracy per decision maker with its 95 % bootstrap CI, one panel "
                    "per split (train and the label rule left out: the summary says whether the labels were verified), "
                    "grouped by kind and sorted by accuracy within a kind; numbered: every decision maker when a panel has "
                    f"{F.NAMED_PER_PANEL} or fewer, else the best of each kind on that split (named in the key); dotted: chance; dashed: the shortcut floor "
                    "(the baseline on 2D image cues, label rule excluded, that is best on val); coloured lines: the "
                    "floor of each cue family (nuisance, image-plane line of sight, depth cues: the same choice among "
                    "the baselines that read that family's cues only), their values written in each panel; band: human "
                    "participants (95 % CI) or, when there are none, the 3D-PC human mean ± SD from another "
                    "stimulus set.", notes)
    for task in ordered(acc["task"].unique(), TASK_ORDER):  # every row, grouped by task (VPT first)
        rows = acc[acc["task"] == task]
        rows = rows.assign(_s=rows["split"].map({s: i for i, s in enumerate(SPLIT_ORDER)}).fillna(len(SPLIT_ORDER)))
        rows = rows.sort_values(["_s", "split", "accuracy"], ascending=[True, True, False])[cols]
        body += (f"<details{' open' if len(rows) <= 60 else ''}><summary>All {len(rows)} rows of {H.esc(task)} "
                 f"(also in tables/accuracy.csv)</summary>" + H.table(rows, max_rows=len(rows)) + "</details>")
    sections.append(H.Section("accuracy", "Accuracy", body))
    f = F.dissociation_figure(acc, res.reference)
    if f is not None:
        sections.append(H.Section("dissociation", "VPT against depth", fig(
            "dissociation", f, "VPT against depth-order accuracy per decision maker (95% CIs) on the main split, "
            "coloured by kind; dotted: chance on each task; dashed: equal accuracy on both. The label rule is left "
            "out (it checks the labels; see the summary).")))
    f = F.imagenet_figure(acc, res.tables["model_metadata"], res.tables["imagenet_correlation"])
    if f is not None or len(res.tables["metadata_groups"]):
        body = fig("imagenet", f, "Accuracy against ImageNet top-1 of the backbone (model lists in evaluation/models)")
        body += "<h3>Rank correlation with ImageNet top-1</h3>" + H.table(res.tables["imagenet_correlation"])
        body += "<h3>By model metadata</h3>" + H.table(res.tables["metadata_groups"])
        sections.append(H.Section("metadata", "Model metadata", body))
    if inputs.layer_curves is not None and len(inputs.layer_curves):
        lc = inputs.layer_curves
        lc.to_csv(tabdir / "layer_curves.csv", index=False)
        body = fig("layers", F.layer_figure(lc), "Linear-probe accuracy on the test split at each layer read "
                   "(features averaged over space), per backbone: solid, ImageNet weights; dashed, the random-init "
                   "twin; dotted, chance. Every split is in tables/layer_curves.csv.")
        sections.append(H.Section("layers", "Per-layer probes", body))
    if len(res.tables["sweep_curves"]):
        f = F.sweep_figure(res.tables["psychometric_fits"], res.tables["sweep_curves"], acc)
        fits = res.tables["psychometric_fits"]
        drawn = F.pick_curves(fits, acc)
        body = fig("sweeps", f, "Sweeps: P(response = 1) against the signed distance to the nearest label flip (label-1 "
                   "side positive), binned, with the fitted logistic; hollow: partial or ambiguous steps (shown, not "
                   "fitted); kinds whose labels never flip show accuracy per step.")
        if len(fits):
            body += H.table(fits[fits["decision_maker"].isin(drawn)], note="Decision makers drawn above; all fits are "
                            "in tables/psychometric_fits.csv.")
        sections.append(H.Section("sweeps", "Sweeps", body))
    body = fig("kappa", F.kappa_figure(res.kappa_matrices, acc, kinds),
               "Cohen's kappa on trial-wise correctness for every pair of decision makers on shared trials.")
    body += H.table(res.tables["kappa_summary"], note="kappa_max: the largest kappa the two accuracies allow "
                    "(mean over pairs); every pair is in tables/kappa_pairs.csv.")
    if len(res.tables["noise_ceiling"]):
        body += "<h3>Noise ceiling</h3>" + H.table(res.tables["noise_ceiling"])
    if len(res.tables["noise_ceiling"]) and len(res.tables["model_human_consistency"]):  # none without a model run
        body += H.table(res.tables["model_human_consistency"].sort_values("r_with_half", ascending=False), max_rows=40,
                        note="Item-wise correlation of each decision maker's correctness with the human halves.")
    sections.append(H.Section("consistency", "Error consistency and noise ceiling", body))
    if "attribution" in tables:
        sections.append(H.Section("attribution", "Attribution", fig("attribution", F.attribution_figure(
            tables["attribution"]), "Attribution share per region (mean over stimuli).") + H.table(tables["attribution"])))
    if "cost" in tables:
        sections.append(H.Section("cost", "Cost", H.table(tables["cost"], note="From the runs' manifests (run.json).")))
    parsing = parse_table(trials)
    if len(parsing):  # worded answers (VLMs): how each was read
        parsing.to_csv(tabdir / "parsing.csv", index=False)
        sections.append(H.Section("parsing", "How answers were read", H.table(parsing, note=(
            "Share of rows whose answer the rules read, a judge model read (--judge), a re-ask read (--reask, its "
            "own variant) or nothing read (invalid, counted wrong); accuracy with all rows and without the judged "
            "ones. Also in tables/parsing.csv."))))
    if "variants" in res.tables:
        sections.append(H.Section("variants", "Variants", H.table(res.tables["variants"])))
    if inputs.datasets:
        sections.append(H.Section("dataset", "Dataset", "".join(card_summary(d, trials) for d in inputs.datasets)))
    if res.reference is not None:
        sections.append(H.Section("reference", "3D-PC reference (another stimulus set)",
                                  f"<p class='ref'>{H.esc(res.reference['citation'])} {H.esc(res.reference['source'])}; "
                                  f"{H.esc(res.reference['stimulus_set'])}.</p>" + H.table(res.tables["reference_3dpc"])))
    sections.append(H.Section("methods", "Methods", METHODS.format(n_boot=n_boot, n_splits=n_splits)
                              + "<h3>Trial table</h3><pre>" + H.esc(schema.markdown()) + "</pre>"))
    res.timings["figures+html"] = round(time.perf_counter() - t, 3)
    runs = sorted(trials["run_id"].unique()) if len(trials) else []
    intro = (f"<p>{len(trials):,} trial rows from {len(runs)} run{'s' if len(runs) != 1 else ''}; {acc['decision_maker'].nunique()} decision makers "
             f"({', '.join(f'{k}: {n}' for k, n in acc.drop_duplicates('decision_maker')['kind'].value_counts().items())}); "
             f"tasks {', '.join(sorted(trials['task'].unique()))}; invalid answers "
             f"{int(trials['response'].isna().sum()):,} (counted as wrong). Datasets: "
             f"{H.esc(', '.join(sorted(trials['dataset'].unique())))}.</p>")
    path = out / "report.html"
    path.write_text(H.page("vpt report", intro, sections), encoding="utf-8")
    return path


def build_report(results: list[str | Path], out: str | Path, datasets: list[str | Path] | None = None,
                 n_boot: int = 1000, seed: int = 0, models_dir: str | Path | None = None) -> tuple[Path, Results]:
    """Read runs, compute every metric, write the report folder; returns (report.html, results)."""
    from vpt.metrics import metadata
    from vpt.report.load import load_inputs

    t0 = time.perf_counter()
    inputs = load_inputs(results, datasets)
    t_read = time.perf_counter() - t0
    models = load_model_lists(models_dir or metadata.MODEL_LISTS)
    ref = load_reference()
    res = compute(inputs.trials, sweep_index(inputs.datasets), models, ref, seed=seed, n_boot=n_boot)
    res.timings = {"read": round(t_read, 3), **res.timings}
    path = render(res, inputs, Path(out), n_boot)
    return path, res

