"""`vpt report` end to end: files, contents, and the page opened in headless Chromium."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import vpt.cli
from vpt.metrics import synthetic as S
from vpt.metrics.frame import HUMANS, generator
from vpt.report.readable import measure, problems
from vpt.trials import store

CHROMIUM = Path("/usr/bin/chromium")
FIGURES = ("accuracy-vpt", "accuracy-depth", "dissociation", "imagenet", "sweeps", "kappa")


def _cli(monkeypatch, argv: list[str]) -> int:
    monkeypatch.setattr(vpt.cli, "EVALUATOR_COMMANDS", ("vpt.deciders.cli", "vpt.report.cli"))
    return vpt.cli.main(argv)


def _population(humans: int) -> list[S.Planted]:
    dms = S.population(13, humans, generator(1))
    # three probes matched to the model lists (probes and fine-tuned networks are ranked apart)
    probes = [dm for dm in dms if dm.kind == "probe" and dm.name != "model-003"][:3]
    for dm, name in zip(probes, ("resnet50.tv_in1k/linear", "vit_base_patch16_224.augreg_in1k/linear",
                                 "convnext_base.fb_in22k_ft_in1k/linear"), strict=True):
        dm.name = name
    dms.append(S.Planted("mute-vlm", "vlm", {"vpt": 0, "depth": 0}, invalid=1.0))
    return dms


@pytest.fixture(scope="module")
def synthetic_results(tmp_path_factory) -> Path:
    """Runs of a small synthetic population: models, baselines, a VLM with a cost, humans,
    and an attribution table beside one run."""
    rng = generator(2)
    stim = S.stimuli(60, 30, 24, 2, rng)
    df = S.trial_table(stim, _population(4), rng)
    results = tmp_path_factory.mktemp("results")
    for kind, part in df.groupby("kind"):
        cost = {"usd": 0.42, "input_tokens": 1234} if kind == "vlm" else None
        store.write_run(results, f"run-{kind}", part.assign(run_id=f"run-{kind}"), {"kind": kind, "cost": cost})
    pd.DataFrame({"decision_maker": ["resnet50.tv_in1k/linear"] * 3, "region": ["ball", "viewer", "occluders"],
                  "share": [0.2, 0.5, 0.3]}).to_parquet(results / "run-probe" / "attribution.parquet")
    (results / "layer-curves").mkdir()
    for weights, accs in (("pretrained", [0.55, 0.7, 0.9]), ("random-init", [0.5, 0.52, 0.51])):
        pd.DataFrame({"decision_maker": [f"resnet50.tv_in1k/{weights}@{lay}/linear" for lay in ("l1", "l2", "l3")],
                      "layer": ["l1", "l2", "l3"], "position": [0, 1, 2], "task": "depth", "split": "test",
                      "accuracy": accs, "n": 30}).to_csv(results / "layer-curves" / f"resnet50.tv_in1k__{weights}__linear.csv",
                                                         index=False)
    return results


@pytest.fixture(scope="module")
def report(synthetic_results, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    with pytest.MonkeyPatch.context() as mp:
        assert _cli(mp, ["report", str(synthetic_results), "--out", str(out), "--bootstrap", "100"]) == 0
    return out


def test_report_writes_html_figures_and_tables(report, synthetic_results):
    for name in (*FIGURES, "attribution", "layers"):
        for ext in ("png", "svg"):
            assert (report / "figures" / f"{name}.{ext}").stat().st_size > 1000, name
    for name in ("accuracy", "kappa_pairs", "kappa_summary", "noise_ceiling", "model_human_consistency",
                 "psychometric_fits", "sweep_curves", "imagenet_correlation", "metadata_groups", "reference_3dpc",
                 "cost", "attribution", "layer_curves"):
        assert (report / "tables" / f"{name}.csv").exists(), name
    summary = pd.read_csv(report / "tables" / "summary.csv")
    assert summary["task"].iloc[0] == "vpt" and set(summary["task"]) == {"vpt", "depth"}
    assert (summary["label_rule"] == 1).all() and summary["shortcut_floor_by"].str.startswith("cues-").all()
    curves = pd.read_csv(report / "tables" / "layer_curves.csv")
    assert set(curves["curve"]) == {"resnet50.tv_in1k/pretrained/linear", "resnet50.tv_in1k/random-init/linear"}
    assert curves.groupby("curve")["accuracy"].max().to_dict() == {"resnet50.tv_in1k/pretrained/linear": 0.9,
                                                                   "resnet50.tv_in1k/random-init/linear": 0.52}
    acc = pd.read_csv(report / "tables" / "accuracy.csv")
    rule = acc[acc["decision_maker"] == "label-rule"]
    assert (rule["accuracy"] == 1).all() and set(rule["split"]) == {"test", "ood", "human", "sweep"}
    mute = acc[acc["decision_maker"] == "mute-vlm"]
    assert (mute["accuracy"] == 0).all() and (mute["invalid_rate"] == 1).all()
    trials = store.read_trials(synthetic_results)
    m = acc[(acc["decision_maker"] == "model-003") & (acc["task"] == "vpt") & (acc["split"] == "test")].iloc[0]
    t = trials[(trials["decision_maker"] == "model-003") & (trials["task"] == "vpt") & (trials["split"] == "test")]
    assert m["accuracy"] == pytest.approx(t["correct"].fillna(False).astype(bool).mean())
    assert (acc["decision_maker"] == HUMANS).any()
    cost = pd.read_csv(report / "tables" / "cost.csv")
    assert cost["cost_usd"].tolist() == [0.42]
    page = (report / "report.html").read_text()
    assert "Summary per task and split" in page and page.count("<details") == 2  # all rows, one group per task
    for section in ("Accuracy", "VPT against depth", "Model metadata", "Per-layer probes", "Sweeps",
                    "Error consistency", "Attribution", "Cost", "3D-PC reference"):
        assert f">{section}" in page, section
    assert len(re.findall(r"<svg", page)) >= len(FIGURES) + 1


def _external_refs(page: str) -> list[str]:
    """Every src/href/url() in the page that is not an in-page anchor or inline data."""
    refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)["']""", page) + re.findall(r"url\(([^)#][^)]*)\)", page)
    return [r for r in refs if not r.startswith(("#", "data:"))]


def test_report_is_self_contained(report):
    page = (report / "report.html").read_text()
    assert _external_refs(page) == []
    assert "<link" not in page and not re.search(r"<script[^>]+src", page)


def test_without_own_humans_the_3dpc_band_is_labelled_as_another_stimulus_set(tmp_path, monkeypatch):
    rng = generator(3)
    df = S.trial_table(S.stimuli(40, 0, 20, 1, rng), _population(0), rng)
    store.write_run(tmp_path / "r", "run", df.assign(run_id="run"), {})
    assert _cli(monkeypatch, ["report", str(tmp_path / "r"), "--out", str(tmp_path / "o"), "--bootstrap", "50"]) == 0
    page = (tmp_path / "o" / "report.html").read_text()
    assert "No human participants in these runs" in page and "3D-PC humans, other stimuli" in page
    note = page.split("No human participants in these runs", 1)[1].split("</p>", 1)[0]
    assert "((" not in note and "))" not in note and "another stimulus set" in note  # no doubled parentheses
    assert ">Cost<" not in page and ">Attribution<" not in page  # sections only where their data is
    assert not (tmp_path / "o" / "tables" / "noise_ceiling.csv").exists()


def test_a_results_folder_of_human_runs_only_reports_their_noise_ceiling(tmp_path, monkeypatch):
    rng = generator(4)
    df = S.trial_table(S.stimuli(40, 30, 20, 1, rng), _population(4), rng)
    store.write_run(tmp_path / "r", "run", df[df["kind"] == "human"].assign(run_id="run"), {"kind": "human"})
    assert _cli(monkeypatch, ["report", str(tmp_path / "r"), "--out", str(tmp_path / "o"), "--bootstrap", "50"]) == 0
    page = (tmp_path / "o" / "report.html").read_text()
    assert "Noise ceiling" in page and "Item-wise correlation" not in page  # no model to correlate with the halves


def test_report_errors_are_one_line(tmp_path, monkeypatch, capsys):
    (tmp_path / "empty").mkdir()
    assert _cli(monkeypatch, ["report", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == vpt.cli.EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert err.startswith("vpt: error: ") and err.count("\n") == 1 and "no finished runs" in err


# ---------------------------------------------------------------- in the browser


def _open(html: Path) -> dict:
    """Open a report from disk in headless Chromium; record console errors and requests."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed (`make test` installs it with apt-get)")
    seen: dict = {"errors": [], "requests": []}
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            page = browser.new_page()
            page.on("console", lambda m: seen["errors"].append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: seen["errors"].append(str(e)))
            page.on("request", lambda r: seen["requests"].append(r.url))
            page.goto(html.resolve().as_uri())
            page.wait_for_selector("body[data-ready='1']", timeout=20000)
            seen["figures"] = page.eval_on_selector_all("figure.figure", """els => els.map(e => {
                const s = e.querySelector('svg'); const r = s ? s.getBoundingClientRect() : {width: 0, height: 0};
                return {id: e.id, width: r.width, height: r.height,
                        marks: s ? s.querySelectorAll('path, use, image, rect, text').length : 0}; })""")
            seen.update(measure(page))
            first = page.locator("table.sortable").first
            cells = first.locator("tbody tr td:first-child")
            before = cells.all_inner_texts()
            first.locator("th").first.click()
            seen["sorted"] = cells.all_inner_texts()
            seen["before"] = before
        finally:
            browser.close()
    return seen


def _check_page(html: Path, expect: tuple[str, ...]) -> None:
    seen = _open(html)
    assert seen["errors"] == []
    assert seen["requests"] == [html.resolve().as_uri()]  # the page itself, nothing else
    ids = [f["id"] for f in seen["figures"]]
    assert {f"fig-{e}" for e in expect} <= set(ids)
    for f in seen["figures"]:
        assert f["width"] > 100 and f["height"] > 100 and f["marks"] > 20, f
    tasks = {e.removeprefix("accuracy-") for e in expect if e.startswith("accuracy-")}
    assert tasks and problems(seen, tasks) == []  # text >= 11 px, no sideways scroll, no label rule drawn, every task
    assert seen["summary_tasks"][0] == "vpt"  # the headline task first
    assert sorted(seen["before"]) == sorted(seen["sorted"])  # the inline script sorted, lost nothing
    assert seen["sorted"] == sorted(seen["sorted"])


@pytest.mark.browser
def test_the_report_opens_in_chromium_offline_without_errors(report):
    _check_page(report / "report.html", (*FIGURES, "attribution"))


# ---------------------------------------------------------------- from `vpt baseline` rows on a tiny dataset

@pytest.fixture(scope="module")
def tiny_report(tiny_benchmark, tmp_path_factory) -> Path:
    """`vpt baseline` on the session's tiny planned benchmark, three simulated participants on
    its human set, then `vpt report` of both datasets; returns the report's folder."""
    results = tmp_path_factory.mktemp("results")
    sweeps = tiny_benchmark.parent / "tiny-sweeps"
    with pytest.MonkeyPatch.context() as mp:
        assert _cli(mp, ["baseline", str(tiny_benchmark), "--out", str(results), "--sweeps", str(sweeps),
                         "--quiet"]) == 0
        rows = store.read_trials(results)
        human = rows[(rows["decision_maker"] == "baseline:label-rule") & (rows["split"] == "human")]
        rng = generator(4)
        parts = []
        for i in range(3):  # three participants on the human set, right 85 % of the time
            resp = np.where(rng.random(len(human)) < 0.85, human["label"], 1 - human["label"])
            parts.append(human.assign(kind="human", decision_maker=f"p{i}", run_id="humans", response=resp,
                                      correct=resp == human["label"].to_numpy()))
        store.write_run(results, "humans", pd.concat(parts, ignore_index=True), {"kind": "human"})
        out = tmp_path_factory.mktemp("report")
        assert _cli(mp, ["report", str(results), "--out", str(out), "--dataset", str(tiny_benchmark),
                         "--dataset", str(sweeps), "--bootstrap", "100"]) == 0
    return out


def test_report_from_baseline_rows_and_participants_on_a_tiny_dataset(tiny_report):
    out = tiny_report
    page = (out / "report.html").read_text()
    assert ">Dataset<" in page and "Dataset card: tiny" in page and "matches the trial rows" in page
    provenance = next(ln for ln in page.split("<p>") if ln.startswith("Generated by vpt"))
    assert "<code>" in provenance and "`" not in provenance.split("</p>")[0]  # inline code, not raw backticks
    summary = pd.read_csv(out / "tables" / "summary.csv")  # both tasks, every split, VPT first
    assert summary["task"].iloc[0] == "vpt" and set(summary["task"]) == {"vpt", "depth"}
    assert {"test", "ood", "human", "sweep"} <= set(summary["split"])
    fits = pd.read_csv(out / "tables" / "psychometric_fits.csv")
    rule = fits[fits["decision_maker"] == "baseline:label-rule"].set_index("sweep_kind")
    assert rule.loc["occluder_slide", "variable"] == "ball_offset_m" and rule.loc["viewer_turn", "variable"] == "step"
    acc = pd.read_csv(out / "tables" / "accuracy.csv")
    assert (acc.loc[acc["decision_maker"] == "baseline:label-rule", "accuracy"] == 1).all()
    assert (acc["decision_maker"] == HUMANS).any()


@pytest.mark.browser
def test_the_tiny_datasets_report_opens_in_chromium(tiny_report):
    _check_page(tiny_report / "report.html", ("accuracy-vpt", "accuracy-depth", "dissociation", "sweeps", "kappa"))


def test_registering_vpt_report_imports_nothing_heavy():
    code = ("import sys, vpt.cli; vpt.cli.EVALUATOR_COMMANDS = ('vpt.report.cli',); vpt.cli.build_parser(); "
            "print(sorted(m for m in ('matplotlib', 'scipy', 'pandas', 'pyarrow', 'playwright') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_rerun_with_changed_settings_does_not_count_twice(tmp_path):
    from vpt.report.load import latest_runs, load_inputs

    rng = generator(5)
    stim = S.stimuli(20, 10, 8, 1, rng)
    dms = S.population(2, 0, rng)[:1]
    old = S.trial_table(stim, dms, rng, run_id="old")
    new = S.trial_table(stim, dms, rng, run_id="new")
    new["created_at"] = old["created_at"].max() + pd.Timedelta(seconds=5)
    # the newer run answers only the test split again: the old run keeps its other splits
    new = new[new["split"] == "test"]
    store.write_run(tmp_path, "old", old, {"kind": "probe"})
    store.write_run(tmp_path, "new", new, {"kind": "probe"})
    rows = store.read_trials(tmp_path)
    kept, dropped = latest_runs(rows)
    assert dropped == ["old"]
    test = kept[kept["split"] == "test"]
    assert set(test["run_id"]) == {"new"} and len(test) == len(new)
    assert set(kept.loc[kept["split"] != "test", "run_id"]) == {"old"}
    assert len(kept) == len(old)  # each trial once
    inputs = load_inputs([tmp_path])
    assert inputs.superseded == ["old"] and len(inputs.trials) == len(old)
    assert {m["run_id"] for m in inputs.manifests} == {"old", "new"}


def test_what_a_reader_would_trip_over_is_named():
    good = {"smallest_svg_text": [13.3, "x"], "smallest_html_text": [12.8, "y"], "overflow": 0,
            "drawn": [["fig-accuracy-vpt", ["m1", "m2"]]], "summary_tasks": ["vpt", "depth"]}
    assert problems(good, {"vpt", "depth"}) == []
    bad = {"smallest_svg_text": [8.0, "tiny tick"], "smallest_html_text": [10.4, "| column |"], "overflow": 40,
           "drawn": [["fig-kappa", ["m1", "baseline:label-rule"]]], "summary_tasks": ["depth"]}
    found = problems(bad, {"vpt", "depth"})
    assert len(found) == 5 and any("'tiny tick'" in p for p in found) and any("40 px" in p for p in found)
    assert any("fig-kappa draws the label rule" in p for p in found) and any("missing from the summary: vpt" in p
                                                                             for p in found)
