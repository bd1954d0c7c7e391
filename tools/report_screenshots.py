"""Screenshots of a report for the documentation: the accuracy section's summary table and each
figure, as a reader sees them in Chromium at a laptop's page width (1280 px).

    python tools/report_screenshots.py results/pretrained/report/report.html docs/img/report

writes <prefix>-summary.png and <prefix>-<figure id>.png; `--check` also measures what a reader
meets (vpt.report.readable) and exits 1 on a problem. Needs the `human` extra (Playwright)
and Debian's chromium (`make chromium`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("report", type=Path, help="a report.html written by `vpt report`")
    ap.add_argument("prefix", help="output path prefix, e.g. docs/img/report")
    ap.add_argument("--figures", nargs="*", default=["accuracy-vpt", "accuracy-depth", "dissociation", "kappa"],
                    help="figure ids to capture (without the fig- prefix)")
    ap.add_argument("--check", action="store_true",
                    help="also measure what a reader meets (text size, sideways scrolling, what each figure draws, "
                         "the summary's tasks); exit 1 on any problem")
    a = ap.parse_args()
    if not a.report.is_file():
        raise SystemExit(f"report_screenshots: {a.report} is not a file; write one with `vpt report RESULTS --out DIR`")
    from playwright.sync_api import sync_playwright

    Path(a.prefix).parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(a.report.resolve().as_uri())
        page.wait_for_selector("body[data-ready='1']")
        failed = False
        if a.check:
            from vpt.report.readable import measure, problems

            seen = measure(page)
            tasks = {f.removeprefix("fig-accuracy-") for f, _ in seen["drawn"] if f.startswith("fig-accuracy-")}
            print(f"smallest figure text {seen['smallest_svg_text'][0]:.1f} px, smallest page text "
                  f"{seen['smallest_html_text'][0]:.1f} px, sideways scroll {seen['overflow']} px, "
                  f"{len(seen['drawn'])} figures saying what they draw, summary tasks "
                  f"{sorted(set(seen['summary_tasks']))} (first: {seen['summary_tasks'][0]})")
            found = problems(seen, tasks)
            print("\n".join(f"problem: {p}" for p in found) or "no problem found")
            failed = bool(found)
        shots = {"summary": "#summary + div"} | {f: f"#fig-{f}" for f in a.figures}
        for name, selector in shots.items():
            el = page.query_selector(selector)
            if el is None:
                print(f"skipped {name}: no {selector} in the report")
                continue
            out = f"{a.prefix}-{name}.png"
            el.screenshot(path=out)
            print("wrote", out)
        browser.close()
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
