"""What a reader meets when the report opens in a browser, measured in the page (Playwright's
sync page, passed in by the caller: this module imports no browser): the smallest text as
displayed, sideways scrolling, the decision makers each figure draws and the tasks in the
summary. The report's browser test and `tools/report_screenshots.py --check` both use it."""

from __future__ import annotations

from typing import Any

from vpt.metrics.frame import is_label_rule

MIN_TEXT_PX = 11.0

# SVG text at its font size times the figure's scale on screen (rotation included)
SMALLEST_SVG_TEXT = """() => { let m = [1e9, '']; document.querySelectorAll('svg text').forEach(t => {
  if (!t.textContent.trim()) return; const c = t.getScreenCTM();
  const px = parseFloat(getComputedStyle(t).fontSize) * Math.hypot(c.a, c.b);
  if (px < m[0]) m = [px, t.textContent]; }); return m; }"""
# HTML text at its computed size, visible elements only
SMALLEST_HTML_TEXT = """() => { let m = [1e9, '']; const w = document.createTreeWalker(document.body,
  NodeFilter.SHOW_TEXT); let n; while ((n = w.nextNode())) { const e = n.parentElement;
  if (!n.textContent.trim() || !e || e.closest('svg, script, style') || !e.getClientRects().length) continue;
  const px = parseFloat(getComputedStyle(e).fontSize); if (px < m[0]) m = [px, n.textContent.slice(0, 40)]; }
  return m; }"""


def measure(page: Any) -> dict[str, Any]:
    """Measurements of an opened report page (wait for ``body[data-ready='1']`` first)."""
    return {
        "smallest_svg_text": page.evaluate(SMALLEST_SVG_TEXT),
        "smallest_html_text": page.evaluate(SMALLEST_HTML_TEXT),
        "overflow": page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth"),
        "drawn": page.eval_on_selector_all("figure.figure[data-drawn]",
                                           "els => els.map(e => [e.id, JSON.parse(e.dataset.drawn)])"),
        "summary_tasks": page.eval_on_selector(
            "#summary + div table", "t => Array.from(t.tBodies[0].rows).map(r => r.cells[0].textContent)"),
    }


def problems(seen: dict[str, Any], tasks: set[str]) -> list[str]:
    """What a reader would trip over, one line each; empty when the page reads well."""
    out = []
    for key, where in (("smallest_svg_text", "figure"), ("smallest_html_text", "page")):
        px, text = seen[key]
        if px < MIN_TEXT_PX:
            out.append(f"{where} text under {MIN_TEXT_PX:g} px: {px:.1f} px ({text!r})")
    if seen["overflow"] > 0:
        out.append(f"the page scrolls sideways by {seen['overflow']} px")
    if not seen["drawn"]:
        out.append("no figure says what it draws")
    out += [f"{fig} draws the label rule ({d})" for fig, names in seen["drawn"] for d in names if is_label_rule(d)]
    missing = sorted(tasks - set(seen["summary_tasks"]))
    if missing:
        out.append(f"tasks missing from the summary: {', '.join(missing)}")
    if seen["summary_tasks"] and "vpt" in seen["summary_tasks"] and seen["summary_tasks"][0] != "vpt":
        out.append(f"the summary does not start with vpt (starts with {seen['summary_tasks'][0]})")
    return out
