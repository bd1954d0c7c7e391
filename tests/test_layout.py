"""The checkout's layout: what a researcher edits at the top level (scenes/, assets/,
evaluation/), benchmark drivers in benchmarks/ and maintenance scripts in tools/, none inside
the package; every script the Makefile calls exists and starts."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from vpt.resources import KINDS

# the benchmark drivers (record.py wraps a command, tests/test_benchmark_records.py runs it)
SCRIPTS = sorted(p.name for p in (ROOT / "benchmarks").glob("*.py") if p.name not in ("__init__.py", "record.py"))


def test_the_edited_folders_are_at_the_top_level():
    for kind in KINDS:
        assert any((ROOT / kind).rglob("*.yaml")), f"{kind}/ is missing from the top level"
        assert not (ROOT / "vpt" / kind).exists() and not (ROOT / "vpt" / "data").exists()
    assert not list((ROOT / "evaluation").rglob("*.py")), "scripts belong in tools/, not among the data"


def test_no_benchmark_or_maintenance_script_in_the_package():
    inside = [p.relative_to(ROOT).as_posix() for p in (ROOT / "vpt").rglob("*.py") if "bench" in p.name]
    assert not inside, f"benchmark drivers go in benchmarks/: {inside}"
    assert (ROOT / "tools" / "make_paper_list.py").is_file()


def test_every_script_the_makefile_calls_exists():
    called = set(re.findall(r"\b((?:benchmarks|tools)/[\w./-]+\.(?:py|sh))", (ROOT / "Makefile").read_text()))
    assert called, "the Makefile calls no benchmark script"
    assert not [c for c in called if not (ROOT / c).is_file()]
    assert "-m vpt." not in (ROOT / "Makefile").read_text(), "the Makefile runs scripts by path, not package modules"


@pytest.mark.parametrize("script", SCRIPTS)
def test_each_benchmark_script_parses_its_arguments(script, capsys):
    module = importlib.import_module(f"benchmarks.{script.removesuffix('.py')}")
    with pytest.raises(SystemExit) as info:
        module.main(["--help"])
    assert info.value.code == 0 and "usage:" in capsys.readouterr().out


def test_a_benchmark_script_runs_by_path_from_the_checkout_root(tmp_path):
    """As the Makefile runs them: ``python benchmarks/NAME.py`` (the folder is no package then)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's vpt, whichever vpt the venv installed
    out = subprocess.run([sys.executable, "benchmarks/plan_speed.py", "--recipe", str(tmp_path / "none.yaml")],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "no such recipe file" in out.stderr, out.stderr


MAX_MODULE_LINES = 500


def test_every_module_of_the_package_stays_readable_in_one_sitting():
    """A module of vpt/ holds at most 500 lines; a longer one is split where its parts part."""
    long = {str(p.relative_to(ROOT)): n for p in (ROOT / "vpt").rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"
