"""Screenshots of the human experiment for the documentation: the tutorial page and the first
warm-up trial, as a participant sees them in Chromium in a 1280 x 650 window (a maximised
1366 x 768 laptop).

    python tools/human_screenshots.py data/depth-vpt docs/img/human

writes <prefix>-tutorial.png and <prefix>-trial-1280x650.png from a throw-away study (its
database and key in a temporary folder). Needs the `human` extra (FastAPI, uvicorn,
Playwright), jsPsych (`make human-assets`) and Debian's chromium (`make chromium`).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dataset", type=Path, help="a rendered dataset folder with a human set")
    ap.add_argument("prefix", help="output path prefix, e.g. docs/img/human")
    ap.add_argument("--task", default="vpt", choices=["vpt", "depth"])
    a = ap.parse_args()
    import uvicorn
    from PIL import Image
    from playwright.sync_api import sync_playwright

    from vpt.deciders.human import server
    from vpt.deciders.human.protocol import StudyConfig

    os.environ.pop("VPT_HUMAN_SECRET", None)
    Path(a.prefix).parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        study = server.open_study(a.dataset, StudyConfig(task=a.task, deadline_ms=0), Path(tmp) / "study.sqlite",
                                  secret_file=Path(tmp) / "key", admin_token="screenshots-only")
        srv = uvicorn.Server(uvicorn.Config(server.create_app(study), host="127.0.0.1", port=0, access_log=False,
                                            log_level="warning"))
        threading.Thread(target=srv.run, daemon=True).start()
        while not srv.started:
            time.sleep(0.05)
        port = srv.servers[0].sockets[0].getsockname()[1]
        shots = {"tutorial": Path(f"{a.prefix}-tutorial.png"), "trial": Path(f"{a.prefix}-trial-1280x650.png")}
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 650})
                page.goto(f"http://127.0.0.1:{port}/")
                page.click("text=I agree")
                page.wait_for_selector("#vpt-instructions")
                page.click("#jspsych-instructions-next")
                page.wait_for_selector("#vpt-tutorial")
                page.wait_for_function("[...document.querySelectorAll('.vpt-example img')].every(i => i.complete)")
                page.screenshot(path=str(shots["tutorial"]), full_page=True)
                page.click("#jspsych-instructions-next")
                page.wait_for_selector("text=Answer with the keys")
                page.click("#jspsych-instructions-next")
                page.wait_for_selector("#vpt-stim")
                page.wait_for_function("document.querySelector('#vpt-stim').complete")
                page.screenshot(path=str(shots["trial"]))
                browser.close()
        finally:
            srv.should_exit = True
            study.db.close()
    for path in shots.values():  # a palette keeps the files small
        Image.open(path).convert("RGB").quantize(colors=192, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
        print(path)


if __name__ == "__main__":
    main()
