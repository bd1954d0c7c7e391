"""The experiment page in Debian's headless Chromium at laptop sizes: the tutorial (viewing
cone and labelled examples), the picture, the question, both buttons and the progress bar
fully visible without scrolling in a 1280 x 650 and a 1366 x 768 window with 512 px renders,
the picture framed, a touch answer stored as touch, and a Prolific participant whose browser
lost its storage: a styled message with a reference, `vpt human unlock`, and on to where they
stopped."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

pytestmark = pytest.mark.browser  # Chromium drives the page

from tests.human_helpers import make_dataset, write_instructions  # noqa: E402
from tests.test_human_browser import (ARGS, CHROMIUM, WAIT_NEW, LiveServer, free_port,  # noqa: E402
                                      playwright_or_skip)
from vpt.deciders.human import server  # noqa: E402
from vpt.deciders.human.protocol import StudyConfig  # noqa: E402

PID = "64b0c0ffee0c0ffee0c0ffee"

LAYOUT = """() => {
  const box = (sel) => { const r = document.querySelector(sel).getBoundingClientRect();
                         return [r.left, r.top, r.right, r.bottom]; };
  const frame = getComputedStyle(document.querySelector('.vpt-frame'));
  return { W: window.innerWidth, H: window.innerHeight,
           scrollH: document.scrollingElement.scrollHeight, scrollW: document.scrollingElement.scrollWidth,
           parts: [box('#vpt-stim'), box('#jspsych-progressbar-container'),
                   ...[...document.querySelectorAll('button.vpt-choice')].map((b) => box('[data-value="' +
                      b.dataset.value + '"]'))],
           question: box('.vpt-question'), stim_w: document.querySelector('#vpt-stim').getBoundingClientRect().width,
           frame_bg: frame.backgroundColor, page_bg: getComputedStyle(document.body).backgroundColor,
           frame_pad: parseFloat(frame.paddingTop) };
}"""


def check_layout(page) -> float:
    """Everything a trial needs is inside the window, nothing scrolls; returns the picture's CSS width."""
    got = page.evaluate(LAYOUT)
    assert got["scrollH"] <= got["H"] and got["scrollW"] <= got["W"], got
    assert len(got["parts"]) == 4
    for left, top, right, bottom in [*got["parts"], got["question"]]:
        assert 0 <= left and right <= got["W"] and 0 <= top and bottom <= got["H"], got
    assert 320 <= got["stim_w"] <= 512, got
    assert got["frame_bg"] != got["page_bg"] and got["frame_pad"] >= 4, got  # framed: white renders on a white page
    return got["stim_w"]


def test_laptop_windows_tutorial_touch_and_a_locked_out_participant(tmp_path, monkeypatch):
    sync_api = playwright_or_skip()
    monkeypatch.delenv("VPT_HUMAN_SECRET", raising=False)
    ds = make_dataset(tmp_path / "data" / "mini", n_human=6, n_warmup=6, px=512)
    db = tmp_path / "study.sqlite"
    config = StudyConfig(task="vpt", deadline_ms=0, feedback_ms=100, break_every=0, attention_checks=1)
    live = LiveServer(lambda: server.open_study(ds, config, db, instructions=write_instructions(tmp_path),
                                                secret_file=tmp_path / "key", admin_token="admin-token-123"),
                      free_port())
    live.start()
    url = f"http://127.0.0.1:{live.port}/?PROLIFIC_PID={PID}"
    errors: list[str] = []
    widths = {}
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            first = browser.new_context(viewport={"width": 1280, "height": 650}, has_touch=True)
            page = first.new_page()
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: m.type == "error" and errors.append(m.text))
            page.goto(url)

            def screen(pg, last=[0]):  # noqa: B006 - the last screen seen, per page below
                got = pg.wait_for_function(WAIT_NEW, arg=[last[0]], timeout=20000).json_value()
                name, seq = got.split(":")
                last[0] = int(seq)
                return name

            assert screen(page) == "consent"
            page.click("text=I agree")
            assert screen(page) == "instructions"
            page.keyboard.press("ArrowRight")
            # the tutorial: the cone drawn at the scenes' 70 degrees, three labelled examples that load
            page.wait_for_selector("#vpt-tutorial #vpt-cone", state="visible")
            assert page.get_attribute("#vpt-cone", "data-hfov") == "70"
            assert "70 degrees wide" in page.inner_text("#vpt-tutorial")
            examples = page.eval_on_selector_all(".vpt-example", """els => els.map(e => [e.dataset.kind,
                e.querySelector('img').complete && e.querySelector('img').naturalWidth,
                e.querySelector('figcaption').innerText])""")
            assert [k for k, *_ in examples] == ["yes", "occluded", "out_of_view"]
            assert all(w == 512 for _, w, _ in examples)
            assert examples[0][2].startswith("Yes") and all(c.startswith("No") for *_, c in examples[1:])
            page.keyboard.press("ArrowRight")
            page.wait_for_selector("text=Answer with the keys")
            page.keyboard.press("ArrowRight")
            assert screen(page) == "trial"
            widths["1280x650"] = check_layout(page)
            page.tap("button.vpt-choice >> nth=0")  # a finger, not the mouse
            page.wait_for_selector("#vpt-feedback.correct, #vpt-feedback.wrong")
            assert screen(page) == "trial" and page.get_attribute("#vpt-trial", "data-idx") == "1"
            first.close()

            # the same Prolific id in a browser without the stored session (storage lost)
            second = browser.new_context(viewport={"width": 1366, "height": 768})
            page = second.new_page()
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: m.type == "error" and "409" not in m.text and errors.append(m.text))
            page.on("response", lambda r: r.status == 404 and errors.append(r.url))
            page.goto(url)
            last = [0]
            assert screen(page, last) == "locked"
            pseudonym = live.study.db.participants()[0]["pseudonym"]
            assert page.inner_text("#vpt-reference") == pseudonym
            assert "already started" in page.inner_text("h2")
            font = page.evaluate("getComputedStyle(document.body).fontFamily")
            card = page.evaluate("getComputedStyle(document.querySelector('.vpt-card')).borderTopStyle")
            assert "sans-serif" in font and card == "solid"  # styled, not the browser default
            import vpt.cli

            monkeypatch.setattr(vpt.cli, "EVALUATOR_COMMANDS", (*vpt.cli.EVALUATOR_COMMANDS,
                                                                "vpt.deciders.human.cli"))
            assert vpt.cli.main(["human", "unlock", "--db", str(db), "--participant", pseudonym]) == 0
            page.click("#vpt-retry")
            last[0] = 0
            assert screen(page, last) == "welcome-back"
            page.keyboard.press(" ")
            assert screen(page, last) == "trial" and page.get_attribute("#vpt-trial", "data-idx") == "1"
            widths["1366x768"] = check_layout(page)
            page.click("button.vpt-choice >> nth=1")
            page.wait_for_selector("#vpt-feedback.correct, #vpt-feedback.wrong")
            browser.close()
    finally:
        live.stop()
    assert errors == []
    assert widths["1280x650"] < 512  # scaled down to fit, not cut off
    assert widths["1366x768"] >= widths["1280x650"]
    with sqlite3.connect(db) as c:
        stored = c.execute("SELECT idx, input, window_w, window_h, stimulus_w FROM responses ORDER BY idx").fetchall()
    assert [(i, inp, w, h) for i, inp, w, h, _ in stored] == [(0, "touch", 1280, 650), (1, "mouse", 1366, 768)]
    assert stored[0][4] == round(widths["1280x650"])
    assert Path(db).is_file()
