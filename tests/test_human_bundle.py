"""`vpt human static` and `vpt human import`: the bundle runs the same protocol in headless
Chromium from a plain static web server (a stand-in JATOS collects the appended result
lines), a reload resumes it, and the importer turns the result lines into trial rows."""

from __future__ import annotations

import functools
import json
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.human_helpers import make_dataset, write_instructions
from vpt.deciders.human import protocol
from vpt.deciders.human.assets import STATIC
from vpt.deciders.human.bundle import build_bundle, import_results
from vpt.deciders.human.protocol import StudyConfig
from vpt.errors import UserError
from vpt.metrics.frame import HUMANS, generator, prepare
from vpt.metrics.scores import accuracy_table
from vpt.trials import schema, store

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
pytestmark = pytest.mark.skipif(not (STATIC / "vendor" / "jspsych.js").is_file(),
                                reason="jsPsych not installed: run `make human-assets`")

# A stand-in for jatos.js: appended result data kept in local storage (it survives a reload)
FAKE_JATOS = """window.jatos = {
  onLoad(cb) { setTimeout(cb, 0); },
  appendResultData(s) { const k = '__jatos'; localStorage.setItem(k, (localStorage.getItem(k) || '') + s);
                        return Promise.resolve(); },
  endStudyAjax() { localStorage.setItem('__jatos_ended', '1'); return Promise.resolve(); } };"""


@pytest.fixture
def bundle(tmp_path):
    ds = make_dataset(tmp_path / "data" / "mini", n_human=6, n_warmup=2)
    cfg = StudyConfig(task="depth", deadline_ms=0, feedback_ms=100, break_every=0, attention_checks=1)
    r = build_bundle(ds, cfg, tmp_path / "out", n_plans=5, instructions=write_instructions(tmp_path))
    return ds, r


def test_the_bundle_is_self_contained_and_holds_no_test_answers(bundle):
    ds, r = bundle
    root = Path(r["bundle"])
    names = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert "index.html" in names and "study.js" in names and "vendor/jspsych.js" in names
    # 8 stimuli, and the 2 warm-up items again under the names they have as attention checks
    assert sum(n.startswith("stimuli/") for n in names) == 10 and r["stimuli"] == 8
    page = (root / "index.html").read_text()
    assert "http" not in page.replace('http-equiv', '')  # relative paths only, no CDN
    study = json.loads((root / "study.js").read_text().removeprefix("window.VPT_STATIC = ").rstrip().rstrip(";"))
    text = (root / "study.js").read_text()
    for sid in ds.name, *json.loads(Path(r["manifest"]).read_text())["stimuli"].values():
        assert sid not in text  # neither scene ids nor the dataset's name
    assert len(study["warmup_answers"]) == 2 and len(study["plans"]) == 5
    seeds = [p["seed"] for p in study["plans"]]
    assert len(set(seeds)) == 5 and all(len(p["trials"]) == 2 + 6 + 1 for p in study["plans"])
    assert study["question"] == protocol.QUESTION["depth"]
    # the page cannot tell attention checks from test trials: no block says so, and their images
    # have names of their own whose answers are not in the bundle
    assert "attention" not in text
    manifest = json.loads(Path(r["manifest"]).read_text())
    for public, private in zip(study["plans"], manifest["plans"]):
        checks = [t["key"] for t in private["trials"] if t["block"] == "attention"]
        shown = {t["key"]: t["block"] for t in public["trials"]}
        assert len(checks) == 1 and all(shown[k] == "test" and k not in study["warmup_answers"] for k in checks)
        assert [t["key"] for t in public["trials"]] == [t["key"] for t in private["trials"]]
        # a check's picture is its warm-up item mirrored, never the same file
        for k in checks:
            original = next(s for s, sid in manifest["stimuli"].items() if sid == manifest["stimuli"][k] and s != k)
            with Image.open(root / "stimuli" / f"{k}.png") as c, Image.open(root / "stimuli" / f"{original}.png") as w:
                c, w = np.asarray(c.convert("RGB")), np.asarray(w.convert("RGB"))
            assert not np.array_equal(c, w) and np.array_equal(c, w[:, ::-1])


@pytest.mark.browser
def test_the_bundle_runs_the_protocol_in_chromium_and_imports_as_trial_rows(bundle, tmp_path, monkeypatch):
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed (`make test` installs it with apt-get)")
    ds, r = bundle
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(r["bundle"]))
    handler.log_message = lambda *a, **k: None
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    given, errors, hosts = [], [], set()
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.add_init_script(FAKE_JATOS)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda q: hosts.add(q.url.split("/")[2]))
            page.goto(base + "/index.html")
            last = [0]

            def next_screen() -> str:
                got = page.wait_for_function("""([last]) => { const b = document.body; const s = Number(b.dataset.seq || 0);
                    return s > last ? b.dataset.screen + ':' + s : false; }""", arg=[last[0]], timeout=20000).json_value()
                screen, seq = got.split(":")
                last[0] = int(seq)
                return screen

            assert next_screen() == "consent"
            page.click("text=I agree")
            assert next_screen() == "instructions"
            for _ in range(3):  # the task, the tutorial, the keys
                page.keyboard.press("ArrowRight")
            reloaded = False
            while (screen := next_screen()) != "done":
                if screen != "trial":
                    page.keyboard.press(" ")
                    continue
                idx = int(page.get_attribute("#vpt-trial", "data-idx"))
                values = page.eval_on_selector_all("button.vpt-choice", "els => els.map(e => Number(e.dataset.value))")
                page.keyboard.press("j")
                given.append((idx, values[1]))
                if idx == 4 and not reloaded:
                    page.wait_for_function("() => (localStorage.getItem('__jatos') || '').split('\\n')"
                                           ".filter(l => l.includes('\"response\"')).length >= 5")
                    page.reload()
                    reloaded, last[0] = True, 0
            code = page.inner_text("#vpt-code")
            lines = page.evaluate("localStorage.getItem('__jatos')")
            ended = page.evaluate("localStorage.getItem('__jatos_ended')")
            browser.close()
    finally:
        httpd.shutdown()
    assert errors == [] and hosts == {f"127.0.0.1:{httpd.server_address[1]}"} and reloaded and ended == "1"
    assert len(code) == 8
    records = [json.loads(x) for x in lines.splitlines() if x.strip()]
    answered = [(x["idx"], x["response"]) for x in records if x["type"] == "response"]
    assert answered == given and [i for i, _ in answered] == list(range(9))
    result_file = tmp_path / "jatos_results.txt"
    result_file.write_text(lines + lines.splitlines()[3] + "\n")  # one answer uploaded twice
    import vpt.cli

    monkeypatch.setattr(vpt.cli, "EVALUATOR_COMMANDS", (*vpt.cli.EVALUATOR_COMMANDS, "vpt.deciders.human.cli"))
    out = tmp_path / "results"
    assert vpt.cli.main(["human", "import", str(result_file), "--manifest", str(r["manifest"]), "--dataset", str(ds),
                         "--out", str(out), "--include-excluded"]) == 0
    trials = schema.conform(store.read_trials(out))
    human = trials[trials["split"] == "human"]
    assert len(human) == 6 and set(trials["task"]) == {"depth"} and human["rt_ms"].notna().all()
    assert len(trials) == 9 and (trials["variant"] == "attention").sum() == 1
    acc = accuracy_table(prepare(trials), generator(0), n_boot=20)
    assert ((acc["decision_maker"] == HUMANS) & (acc["split"] == "human")).sum() == 1


def test_import_refuses_a_foreign_manifest_or_no_answers(bundle, tmp_path):
    ds, r = bundle
    empty = tmp_path / "empty.txt"
    empty.write_text("not ours\n{\"vpt_static\": 1, \"study_id\": \"other\"}\n")
    with pytest.raises(UserError, match="no answers of study"):
        import_results([empty], r["manifest"], ds, tmp_path / "res")
    other = make_dataset(tmp_path / "data" / "other", n_human=4, n_warmup=2)
    with pytest.raises(UserError, match="was made from dataset mini"):
        import_results([empty], r["manifest"], other, tmp_path / "res")
