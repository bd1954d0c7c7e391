"""The documentation site builds offline with `mkdocs build --strict`: a broken link, a missing
page, a link to a benchmark record that does not exist or a docstring mkdocstrings cannot
render fails here (and so in `make test`)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def test_readme_links_resolve():
    """README.md is read on the forge, outside the site: its relative links must name files."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    missing = [t for t in targets if "://" not in t and not (ROOT / t).exists()]
    assert not missing, f"README.md links to missing files: {missing}"
    assert len(readme.splitlines()) <= 300, "README.md is meant to stay short: move detail into docs/"


DOCS_MODULES = ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python")


def test_site_builds_strict(tmp_path):
    for module in DOCS_MODULES:
        pytest.importorskip(module, reason=f"the docs extra is not installed ({module} missing): pip install -e '.[docs]'")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{log[-4000:]}"
    assert "WARNING" not in log, f"mkdocs build printed warnings:\n{log[-4000:]}"
    assert (tmp_path / "site" / "index.html").exists()
    records = sorted((ROOT / "benchmarks" / "results").glob("*.md"))
    assert records, "no benchmark records in benchmarks/results/"
    for record in records:  # every record is a page of the site
        assert (tmp_path / "site" / "benchmarks" / "results" / record.stem / "index.html").exists(), record.name
