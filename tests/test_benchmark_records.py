"""benchmarks/record.py: a dated record of a command's output, with its commit and machine,
never overwritten; the exit status passes through."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _record_module(results: Path):
    spec = importlib.util.spec_from_file_location("bench_record", ROOT / "benchmarks" / "record.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.RESULTS = results
    return mod


def test_a_record_holds_command_commit_machine_output_and_status(tmp_path, capsys):
    rec = _record_module(tmp_path)
    code = "import sys; print('first line'); print('rate: 12.5 img/s'); sys.exit(3)"
    assert rec.main(["speed", "--", sys.executable, "-c", code]) == 3
    files = sorted(tmp_path.glob("*-speed.md"))
    assert len(files) == 1 and files[0].name[:4].isdigit()
    text = files[0].read_text()
    assert "rate: 12.5 img/s" in text and "first line" in text and "- exit status: 3" in text
    assert "- commit: `" in text and "- machine: " in text and "cores" in text and sys.executable in text
    assert "rate: 12.5 img/s" in capsys.readouterr().out  # shown as it runs, too
    assert rec.main(["speed", "--", sys.executable, "-c", "print('again')"]) == 0
    second = sorted(tmp_path.glob("*-speed-2.md"))
    assert len(second) == 1 and "again" in second[0].read_text() and "rate" in files[0].read_text()


def test_settings_read_from_the_environment_are_recorded(tmp_path, monkeypatch):
    rec = _record_module(tmp_path)
    monkeypatch.setenv("EPOCHS", "30")
    assert rec.main(["run", "--env", "EPOCHS,UNSET_VAR", "--", sys.executable, "-c", "pass"]) == 0
    text = next(tmp_path.glob("*-run.md")).read_text()
    assert f"- command: `EPOCHS=30 {sys.executable} -c pass`" in text and "UNSET_VAR" not in text


def test_bad_usage_is_refused(tmp_path, capsys):
    rec = _record_module(tmp_path)
    assert rec.main(["speed", sys.executable]) == 2
    assert rec.main(["../x", "--", sys.executable, "-c", "pass"]) == 2
    assert "usage" in capsys.readouterr().err and not list(tmp_path.iterdir())
