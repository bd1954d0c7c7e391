"""The report page: one HTML file with inline CSS, inline SVG figures and one inline script
(sortable tables). No external resource of any kind, so it opens from disk offline."""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass

import pandas as pd

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1200px;padding:1em 2em;
color:#222;line-height:1.4}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
nav a{margin-right:1em}table{border-collapse:collapse;font-size:.8em;margin:.5em 0}
th,td{border:1px solid #ddd;padding:2px 6px;text-align:right}th{background:#f3f3f3;cursor:pointer}
td:first-child,th:first-child{text-align:left}figure{margin:1em 0;overflow-x:auto}
figure svg{max-width:100%;height:auto}figcaption{font-size:.85em;color:#444;max-width:60em}
pre{background:#f7f7f7;padding:.6em;overflow-x:auto;font-size:.8rem}code{font-size:.85rem}pre.card{white-space:pre-wrap}.note{color:#555;font-size:.9em}
.tablewrap{max-height:30em;overflow:auto;margin:.5em 0}
.ref{background:#fbf8e0;padding:.5em;border-left:4px solid #bcbd22}
"""

SCRIPT = """
document.querySelectorAll('table.sortable').forEach(function(table){
  table.querySelectorAll('th').forEach(function(th, col){
    th.addEventListener('click', function(){
      var body = table.tBodies[0]; if(!body) return;
      var rows = Array.prototype.slice.call(body.rows);
      var asc = th.getAttribute('data-asc') !== '1'; th.setAttribute('data-asc', asc ? '1' : '0');
      rows.sort(function(a, b){
        var x = a.cells[col] ? a.cells[col].textContent : '', y = b.cells[col] ? b.cells[col].textContent : '';
        var nx = parseFloat(x), ny = parseFloat(y);
        var r = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
        return asc ? r : -r;
      });
      rows.forEach(function(r){ body.appendChild(r); });
    });
  });
});
document.body.setAttribute('data-ready', '1');
"""


@dataclass
class Section:
    id: str
    title: str
    body: str


def esc(text: object) -> str:
    return html.escape(str(text))


def inline(text: object) -> str:
    """Escaped text with Markdown's inline code (`x`) as <code>x</code>, for prose from a card."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", esc(text))


def table(df: pd.DataFrame, max_rows: int = 300, note: str = "") -> str:
    """A sortable HTML table of the first `max_rows` rows, with a note when rows were left out."""
    if df is None or df.empty:
        return "<p class='note'>(no rows)</p>"
    shown = df.head(max_rows).copy()
    for col in shown.columns:  # counts read as counts (a float column of whole numbers named n...)
        v = shown[col]
        if (str(col) == "n" or str(col).startswith("n_")) and pd.api.types.is_float_dtype(v) and \
                (v.dropna() % 1 == 0).all():
            shown[col] = v.astype("Int64")
    out = ("<div class='tablewrap'>" + shown.to_html(index=False, classes="sortable", border=0, na_rep="",
                                                    float_format=lambda v: f"{v:.3g}") + "</div>")
    if len(df) > max_rows or note:
        out += f"<p class='note'>{esc(note or '')} {'Showing ' + str(max_rows) + ' of ' + str(len(df)) + ' rows.' if len(df) > max_rows else ''}</p>"
    return out


def figure(svg: str, fig_id: str, caption: str, drawn: list[str] | None = None, after: str = "") -> str:
    """A figure with its caption; `drawn` (the decision makers it draws) goes in a data attribute,
    `after` (HTML) below the caption."""
    data = f" data-drawn='{esc(json.dumps(drawn))}'" if drawn is not None else ""
    return (f"<figure id='fig-{esc(fig_id)}' class='figure'{data}>{svg}<figcaption>{esc(caption)}</figcaption>"
            f"{after}</figure>")


def page(title: str, intro: str, sections: list[Section]) -> str:
    nav = " ".join(f"<a href='#{esc(s.id)}'>{esc(s.title)}</a>" for s in sections)
    body = "\n".join(f"<section id='{esc(s.id)}'><h2>{esc(s.title)}</h2>\n{s.body}\n</section>" for s in sections)
    return (f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>{esc(title)}</title>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'><style>{CSS}</style></head>"
            f"<body><h1>{esc(title)}</h1>{intro}<nav>{nav}</nav>\n{body}\n<script>{SCRIPT}</script></body></html>\n")
