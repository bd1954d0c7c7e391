"""The documentation site builds offline with `mkdocs build --strict`: a broken link, a missing
page, a link to a benchmark record that does not exist or a docstring mkdocstrings cannot
render fails here (and so in `make test`)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

for _module in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python"):
    pytest.importorskip(_module, reason=f"the docs extra is not installed ({_module} missing): pip install -e '.[docs]'")


def test_site_builds_strict(tmp_path):
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
