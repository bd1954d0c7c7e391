"""MkDocs hook (declared in mkdocs.yml): the dated benchmark records become pages of the site.

The records live in ``benchmarks/results/*.md``, outside ``docs/``, one file per measured run.
This hook adds each of them to the site at ``benchmarks/results/<name>/``, and adds one generated
page, ``benchmarks/results/index.md``, listing them newest first. Documentation pages link to a
record as a page of the site (from ``docs/rendering.md``:
``[record](benchmarks/results/2026-12-07-scenes-default.md)``), so ``mkdocs build --strict``
fails on a link to a record that does not exist.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.structure.files import File, Files, InclusionLevel

RECORDS = "benchmarks/results"


def _title(path: Path) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return path.stem


def on_files(files: Files, config) -> Files:
    root = Path(config["config_file_path"]).resolve().parent
    records = sorted((root / RECORDS).glob("*.md"), reverse=True)
    for path in records:
        files.append(File(f"{RECORDS}/{path.name}", str(root), config["site_dir"], config["use_directory_urls"],
                          inclusion=InclusionLevel.NOT_IN_NAV))  # reached from the index page
    lines = ["# Measurements", "",
             "Every measured figure in this documentation comes from one of these records: one file per run,",
             "with the command, the commit, the machine, the date and the output. New records are written by",
             "`benchmarks/record.py` (the `make bench-*` targets call it). Records marked *transcribed* were",
             "written afterwards from the README of the day, not by the recorder.", "",
             "| record | what |", "|---|---|"]
    for path in records:
        lines.append(f"| [{path.stem}]({path.name}) | {_title(path)} |")
    files.append(File.generated(config, f"{RECORDS}/index.md", content="\n".join(lines) + "\n"))
    return files
