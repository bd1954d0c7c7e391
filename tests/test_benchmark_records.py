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


def _summarize_module():
    spec = importlib.util.spec_from_file_location("bench_summarize", ROOT / "benchmarks" / "summarize.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_summary_tables_name_the_floor_without_the_label_rule(tmp_path, capsys):
    import pandas as pd

    tables = tmp_path / "report" / "tables"
    tables.mkdir(parents=True)
    rows = []
    for dm, kind, accs in (("baseline:label-rule", "baseline", (1.0, 1.0)), ("baseline:hgb:x", "baseline", (0.7, 0.68)),
                           ("baseline:logreg:y", "baseline", (0.6, 0.9)), ("m/w/linear", "probe", (0.55, 0.52)),
                           ("m/w@l1/linear", "probe", (0.5, 0.5))):
        for split, a in zip(("val", "test"), accs):
            rows.append({"decision_maker": dm, "kind": kind, "task": "vpt", "split": split, "accuracy": a,
                         "accuracy_lo": a - 0.05, "accuracy_hi": a + 0.05})
    pd.DataFrame(rows).to_csv(tables / "accuracy.csv", index=False)
    pd.DataFrame({"decision_maker": ["m/w/linear"] * 2, "task": "vpt", "method": "ig", "region": ["ball", "background"],
                  "share": [0.02, 0.98], "ratio": [4.0, 0.99]}).to_csv(tables / "attribution.csv", index=False)
    assert _summarize_module().main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| floor: baseline:hgb:x | 70.0 | 68.0 [63.0, 73.0] |" in out  # best on val, label rule excluded
    assert "| m/w/linear | 55.0 | 52.0 [47.0, 57.0] |" in out and "m/w@l1" not in out  # per-layer: own table
    assert "| m/w/linear | vpt | ig | 2.0 (4.00x) | 98.0 (0.99x) |" in out  # ball first, share (ratio)
