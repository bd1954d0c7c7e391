"""A scripted participant in Debian's headless Chromium (Playwright, never a downloaded
browser) against a real uvicorn server on loopback: consent, instructions, a window too small,
tutorial, warm-up with feedback, test trials by keyboard, a timeout, a reload and a server
restart midway, breaks, the progress bar on every trial, the completion code, no console error
(the content security policy blocks nothing the page needs); then `vpt human export` and the
metrics read the rows."""

from __future__ import annotations

import socket
import sqlite3
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="needs the human extra: pip install -e '.[human]'")
uvicorn = pytest.importorskip("uvicorn", reason="needs the human extra: pip install -e '.[human]'")
pytestmark = pytest.mark.browser

from tests.human_helpers import make_dataset, write_instructions  # noqa: E402
from vpt.deciders.human import server  # noqa: E402
from vpt.deciders.human.protocol import StudyConfig  # noqa: E402
from vpt.metrics.frame import HUMANS, generator, prepare  # noqa: E402
from vpt.metrics.scores import accuracy_table  # noqa: E402
from vpt.trials import schema, store  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PID = "5f1e0c0ffee0c0ffee0c0ffe"


class LiveServer:
    """`vpt human serve`'s app under uvicorn in a thread; restartable on the same port and DB."""

    def __init__(self, open_study, port: int) -> None:
        self.open_study, self.port = open_study, port
        self.study = None

    def start(self) -> None:
        self.study = self.open_study()
        config = uvicorn.Config(server.create_app(self.study), host="127.0.0.1", port=self.port, access_log=False,
                                log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.time() + 20
        while not self.server.started:
            assert time.time() < deadline and self.thread.is_alive(), "uvicorn did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)
        self.study.db.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


WAIT_NEW = """([last]) => { const b = document.body; const seq = Number(b.dataset.seq || 0);
  return seq > last ? b.dataset.screen + ':' + seq : false; }"""


def playwright_or_skip():
    """Playwright's sync API, or a skip naming what is missing (Playwright, Debian's chromium,
    the jsPsych files)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed (`make test` installs it with apt-get)")
    if not (server.STATIC / "vendor" / "jspsych.js").is_file():
        pytest.skip("jsPsych not installed: run `make human-assets`")
    return sync_api


def test_a_scripted_participant_runs_the_whole_experiment_in_chromium(tmp_path, monkeypatch):
    sync_api = playwright_or_skip()
    monkeypatch.delenv("VPT_HUMAN_SECRET", raising=False)
    ds = make_dataset(tmp_path / "data" / "mini", n_human=10, n_warmup=3)
    instr = write_instructions(tmp_path)
    db = tmp_path / "study.sqlite"
    config = StudyConfig(task="vpt", deadline_ms=5000, presentation_ms=0, feedback_ms=150, break_every=5,
                         attention_checks=2, completion_url="https://app.prolific.com/submissions/complete?cc=C0DE42")
    live = LiveServer(lambda: server.open_study(ds, config, db, instructions=instr,
                                                secret_file=tmp_path / "key", admin_token="admin-token-123"),
                      free_port())
    live.start()
    base = f"http://127.0.0.1:{live.port}"
    given: list[tuple[int, int | None]] = []  # (idx, response) in the order given
    seen = {"errors": [], "hosts": set(), "feedback": 0, "breaks": 0}
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            page = browser.new_page(viewport={"width": 420, "height": 400})
            page.on("pageerror", lambda e: seen["errors"].append(str(e)))
            page.on("console", lambda m: m.type == "error" and seen["errors"].append(m.text))
            page.on("request", lambda r: seen["hosts"].add(r.url.split("/")[2]))
            page.route("https://app.prolific.com/**", lambda route: route.fulfill(body="prolific", status=200))
            page.goto(f"{base}/?PROLIFIC_PID={PID}&STUDY_ID=s1&SESSION_ID=x1")
            last = 0

            def next_screen() -> tuple[str, int]:
                nonlocal last
                got = page.wait_for_function(WAIT_NEW, arg=[last], timeout=20000).json_value()
                screen, seq = got.split(":")
                last = int(seq)
                return screen, last

            assert next_screen()[0] == "consent"
            assert "Consent" in page.inner_text("#vpt-consent")
            page.click("text=I agree")
            assert next_screen()[0] == "instructions"
            assert "green camera" in page.inner_text("#vpt-instructions")  # the words of the instruction file
            page.keyboard.press("ArrowRight")
            page.wait_for_selector("#vpt-tutorial")
            page.keyboard.press("ArrowRight")
            page.wait_for_selector("text=Answer with the keys")
            page.keyboard.press("ArrowRight")
            assert next_screen()[0] == "too-small"  # 420 x 400 cannot show 256 px plus the buttons
            assert "too small" in page.inner_text("#vpt-too-small")
            page.set_viewport_size({"width": 1200, "height": 900})

            def answer_trial(timeout: bool = False, click: bool = False) -> int:
                idx = int(page.get_attribute("#vpt-trial", "data-idx"))
                # jsPsych's progress bar on every trial: the share of the plan done, and the count
                n_plan = len(plan())
                bar = page.eval_on_selector("#jspsych-progressbar-inner", "e => e.getBoundingClientRect().width / "
                                            "e.parentElement.getBoundingClientRect().width")
                assert abs(bar - idx / n_plan) < 0.01, (bar, idx, n_plan)
                assert f"Picture {idx + 1} of {n_plan}" in page.inner_text("#jspsych-progressbar-container")
                box = page.eval_on_selector("#vpt-stim", "e => [e.getBoundingClientRect().width, "
                                            "e.getBoundingClientRect().height, e.naturalWidth]")
                assert box == [256, 256, 256]  # fixed CSS size, the rendered 512-px-style image, not 64 px
                if timeout:
                    page.wait_for_function(f"""() => {{ const t = document.querySelector('#vpt-trial');
                        return !t || t.dataset.idx !== '{idx}' || document.querySelector('button.vpt-choice[disabled]'); }}""",
                                           timeout=15000)
                    given.append((idx, None))
                    return idx
                values = page.eval_on_selector_all("button.vpt-choice", "els => els.map(e => Number(e.dataset.value))")
                if click:  # the mouse instead of the keyboard
                    page.click("button.vpt-choice >> nth=1")
                    given.append((idx, values[1]))
                    return idx
                key = "f" if idx % 3 else "j"
                page.keyboard.press(key)
                given.append((idx, values[0] if key == "f" else values[1]))
                return idx

            n_total = None

            def plan():  # the participant's plan, on the server: which trials are checks is not in the page
                db = live.study.db
                return db.plan(db.participants()[0]["pseudonym"])

            reloaded = restarted = timed_out = False
            while True:
                screen, _ = next_screen()
                if screen == "done":
                    break
                if screen in ("test-start", "break", "welcome-back"):
                    seen["breaks"] += screen == "break"
                    if screen == "welcome-back":
                        assert f"picture {given[-1][0] + 2} of" in page.inner_text("body")
                    page.keyboard.press(" ")
                    continue
                assert screen == "trial", screen
                block = plan()[int(page.get_attribute("#vpt-trial", "data-idx"))][1]
                assert page.get_attribute("#vpt-trial", "data-block") == ("warmup" if block == "warmup" else "test")
                if block == "test" and not timed_out:
                    answer_trial(timeout=True)
                    timed_out = True
                    continue
                idx = answer_trial(click=block == "attention")
                if block == "warmup":
                    page.wait_for_selector("#vpt-feedback.correct, #vpt-feedback.wrong", timeout=10000)
                    seen["feedback"] += 1
                if block != "warmup" and idx >= 6 and not reloaded:
                    page.wait_for_function(f"() => !document.querySelector('#vpt-trial') || "
                                           f"document.querySelector('#vpt-trial').dataset.idx !== '{idx}'")
                    page.reload()
                    reloaded, last = True, 0
                elif reloaded and not restarted and idx >= 9:
                    restarted = True
                    # the server goes down right after this answer was sent; the page retries
                    live.stop()
                    time.sleep(1.0)
                    live.start()
            assert page.inner_text("#vpt-code") == "C0DE42"
            page.wait_for_url("https://app.prolific.com/**", timeout=15000)
            browser.close()
        n_total = len(live.study.db.plan(live.study.db.participants()[0]["pseudonym"]))
    finally:
        live.stop()
    assert seen["errors"] == []
    assert seen["hosts"] <= {f"127.0.0.1:{live.port}", "app.prolific.com"}  # no CDN, nothing else
    assert reloaded and restarted and timed_out and seen["feedback"] == 3 and seen["breaks"] >= 1
    with sqlite3.connect(db) as c:
        stored = c.execute("SELECT idx, response, timed_out, input, window_w, dpr, stimulus_w FROM responses "
                           "ORDER BY rowid").fetchall()
        dump = "\n".join(c.iterdump())
    assert [(i, r) for i, r, *_ in stored] == given  # exactly the responses given, in the order given
    assert len(stored) == n_total and [i for i, *_ in stored] == list(range(n_total))
    assert [t for _, r, t, *_ in stored] == [int(r is None) for _, r, *_ in stored]
    inputs = [inp for _, r, _, inp, *_ in stored if r is not None]
    assert set(inputs) == {"keyboard", "mouse"} and inputs.count("mouse") == 2  # the two attention checks
    assert all(w == 1200 and dpr == 1 and sw == 256 for *_, w, dpr, sw in stored)
    assert PID not in dump and "127.0.0.1" not in dump

    import vpt.cli

    monkeypatch.setattr(vpt.cli, "EVALUATOR_COMMANDS", (*vpt.cli.EVALUATOR_COMMANDS, "vpt.deciders.human.cli"))
    results = tmp_path / "results"
    assert vpt.cli.main(["human", "export", "--db", str(db), "--dataset", str(ds), "--out", str(results),
                         "--include-excluded"]) == 0
    trials = schema.conform(store.read_trials(results))
    human = trials[trials["split"] == "human"]
    assert len(human) == 10 and human["decision_maker"].nunique() == 1 and human["response"].isna().sum() == 1
    acc = accuracy_table(prepare(trials), generator(0), n_boot=20)
    assert ((acc["decision_maker"] == HUMANS) & (acc["split"] == "human")).sum() == 1
