"""`python -m vpt.render.same_output`: two renders of one plan agree, or it says where not."""

import json

import pandas as pd

from vpt.render.same_output import compare, main


def _dataset(root, label=1, seconds=1.0, extra=False):
    (root / "scenes" / "train").mkdir(parents=True)
    rec = {"labels": {"vpt_label": label}, "render": {"timings": {"total": seconds}, "rss_mb": 300},
           "versions": {"git": "abc" if seconds == 1.0 else "def", "bpy": "4.5"}}
    (root / "scenes" / "train" / "a.json").write_text(json.dumps(rec))
    if extra:
        (root / "scenes" / "train" / "b.json").write_text(json.dumps(rec))
    pd.DataFrame({"scene_id": ["a"], "vpt_label": [label]}).to_parquet(root / "index.parquet")
    return root


def test_timings_memory_and_commit_may_differ(tmp_path):
    a, b = _dataset(tmp_path / "a"), _dataset(tmp_path / "b", seconds=2.5)
    assert compare(a, b) == (1, [])
    assert main([str(a), str(b)]) == 0


def test_a_label_a_missing_scene_and_the_index_are_reported(tmp_path, capsys):
    a, b = _dataset(tmp_path / "a"), _dataset(tmp_path / "b", label=0, extra=True)
    n, problems = compare(a, b)
    assert n == 1
    assert any("a.json.labels.vpt_label: 1 != 0" in p for p in problems)
    assert any("b.json: only in B" in p for p in problems)
    assert any(p.startswith("index.parquet differs") for p in problems)
    assert main([str(a), str(b)]) == 1
    assert "differences over 1 scenes" in capsys.readouterr().out


def test_not_a_dataset_folder_is_one_line(tmp_path, capsys):
    assert main([str(tmp_path), str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a dataset folder" in err
