"""The evaluators' contract: trial-table schema checks, the run store and the dataset index."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vpt.errors import UserError
from vpt.trials import schema, store
from vpt.trials.items import INDEX_COLUMNS, content_hash, load_dataset
from vpt.trials.schema import KEY, TrialTableError


def trials(run_id: str = "run-a", n: int = 6, dm: str = "baseline:test", seed: int = 0) -> pd.DataFrame:
    """A small valid trial table: labels alternate, responses right except every third,
    one invalid answer (null response) and one sweep row."""
    label = np.arange(n) % 2
    response = pd.array(np.where(np.arange(n) % 3 == 2, 1 - label, label), dtype="Int64")
    response[1] = pd.NA
    correct = pd.array(response == label, dtype="boolean")
    df = pd.DataFrame({
        "run_id": run_id, "kind": "baseline", "decision_maker": dm, "task": "vpt", "dataset": "tiny",
        "dataset_hash": "abc", "split": ["test"] * (n - 1) + ["sweep"], "scene_id": [f"s{i}" for i in range(n)],
        "sweep_id": [None] * (n - 1) + ["turn-000"], "sweep_step": pd.array([None] * (n - 1) + [3], dtype="Int64"),
        "variant": "default", "repeat": 0, "label": pd.array(label, dtype="Int64"), "response": response,
        "correct": correct, "score": np.linspace(0, 1, n), "rt_ms": np.nan, "seed": seed,
        "created_at": datetime(2026, 1, 1, tzinfo=timezone.utc),
    })
    return df


def test_conform_accepts_a_valid_table_and_keeps_invalid_answers():
    out = schema.conform(trials())
    assert list(out.columns) == list(schema.NAMES) and len(out) == 6
    assert out["response"].isna().sum() == 1 and out["correct"].isna().sum() == 1
    assert str(out["label"].dtype) == "Int64" and str(out["correct"].dtype) == "boolean"
    assert schema.to_arrow(trials()).schema.equals(schema.ARROW_SCHEMA)
    assert len(schema.empty()) == 0 and list(schema.empty().columns) == list(schema.NAMES)


@pytest.mark.parametrize("change, column, message", [
    (lambda d: d.drop(columns="score"), "score", "missing"),
    (lambda d: d.assign(extra=1), "extra", "not part of the trial table schema"),
    (lambda d: d.assign(label=["x"] * len(d)), "label", "wrong type"),
    (lambda d: d.assign(scene_id=list(range(len(d)))), "scene_id", "non-string"),
    (lambda d: d.assign(correct=pd.array([True] * len(d), dtype="boolean")), "correct", "not response == label"),
    (lambda d: d.assign(task="colour"), "task", "not one of"),
    (lambda d: d.assign(response=pd.array([2] * len(d), dtype="Int64")), "response", "must be 0, 1 or null"),
    (lambda d: d.assign(seed=pd.array([None] * len(d), dtype="Int64")), "seed", "may not be null"),
    (lambda d: d.assign(sweep_id=None), "sweep_id", "null on a sweep row"),
])
def test_conform_names_the_source_and_the_column(change, column, message):
    with pytest.raises(TrialTableError) as err:
        schema.conform(change(trials()), source="some/file.parquet")
    text = str(err.value)
    assert text.startswith("some/file.parquet: column ") and repr(column) in text and message in text


def test_markdown_lists_every_column():
    md = schema.markdown()
    assert all(f"`{n}`" in md for n in schema.NAMES) and md.count("\n") == len(schema.NAMES) + 1


def write(results, run_id, df, **manifest):
    return store.write_run(results, run_id, df, {"command": ["test"], **manifest})


def test_round_trip_and_concatenation_of_runs(tmp_path):
    a, b = trials("run-a"), trials("run-b", n=4, dm="baseline:other", seed=3)
    folder = write(tmp_path, "run-a", a)
    write(tmp_path, "run-b", b)
    assert sorted(p.name for p in folder.iterdir()) == [store.MANIFEST, store.PART]  # no temporaries left
    m = store.read_manifest(folder)
    assert m["rows"] == 6 and m["invalid_responses"] == 1 and m["run_id"] == "run-a" and m["command"] == ["test"]
    back = store.read_trials(folder)
    pd.testing.assert_frame_equal(back, schema.conform(a))
    both = store.read_trials(tmp_path)  # a results folder: every finished run
    assert len(both) == 10 and set(both["run_id"]) == {"run-a", "run-b"}
    assert both.loc[both["run_id"] == "run-b", "seed"].eq(3).all()
    same = store.read_trials(tmp_path / "run-a" / store.PART, tmp_path / "run-b")  # files and folders mixed
    assert len(same) == 10
    assert [x["run_id"] for x in store.read_manifests(tmp_path)] == ["run-a", "run-b"]


def test_duplicate_keys_are_refused(tmp_path):
    write(tmp_path, "run-a", trials("run-a"))
    copy = tmp_path / "elsewhere.parquet"
    pq.write_table(schema.to_arrow(trials("run-a")), copy)
    with pytest.raises(TrialTableError, match=r"elsewhere\.parquet.*appears 12 times") as err:
        store.read_trials(tmp_path)
    assert "run-a" in str(err.value)
    dup = pd.concat([trials("run-c"), trials("run-c").iloc[:1]])
    with pytest.raises(TrialTableError, match="repeat a key"):
        write(tmp_path, "run-c", dup)
    assert not (tmp_path / "run-c").exists()
    with pytest.raises(TrialTableError, match="column 'run_id'"):
        write(tmp_path, "run-d", trials("run-x"))


def test_foreign_and_damaged_files_name_the_file_and_column(tmp_path):
    foreign = tmp_path / "foreign.parquet"
    pq.write_table(pa.table({"image": ["a.png"], "logit": [0.3]}), foreign)
    with pytest.raises(TrialTableError, match=r"foreign\.parquet: column 'run_id': missing"):
        store.read_trials(foreign)
    wrong = tmp_path / "wrong.parquet"
    pq.write_table(pa.Table.from_pandas(trials().assign(repeat="zero"), preserve_index=False), wrong)
    with pytest.raises(TrialTableError, match=r"wrong\.parquet: column 'repeat': wrong type"):
        store.read_trials(wrong)
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 not really")
    with pytest.raises(TrialTableError, match=r"broken\.parquet: cannot be read as Parquet"):
        store.read_trials(broken)
    with pytest.raises(TrialTableError, match="no such file"):
        store.read_trials(tmp_path / "nothing")


def test_an_interrupted_run_is_never_read_and_is_redone(tmp_path):
    """A part without its manifest (the process died between the two writes) is skipped in a
    results folder, refused when named, and a rerun with the same id writes it again."""
    write(tmp_path, "done", trials("done"))
    half = tmp_path / "half"
    half.mkdir()
    pq.write_table(schema.to_arrow(trials("half")), half / store.PART)
    assert not store.is_complete(half) and store.is_complete(tmp_path / "done")
    assert set(store.read_trials(tmp_path)["run_id"]) == {"done"}
    for named in (half, half / store.PART):
        with pytest.raises(TrialTableError, match="incomplete run|its run is incomplete"):
            store.read_trials(named)
    write(tmp_path, "half", trials("half", n=4))
    assert set(store.read_trials(tmp_path)["run_id"]) == {"done", "half"}
    assert len(store.read_trials(half)) == 4
    # a manifest that does not describe the rows beside it is an error, not a silent mix
    m = json.loads((half / store.MANIFEST).read_text())
    (half / store.MANIFEST).write_text(json.dumps({**m, "rows": 99}))
    with pytest.raises(TrialTableError, match="manifest says 99"):
        store.read_trials(half)


def test_run_ids_are_deterministic_and_change_with_the_config():
    a = store.make_run_id("baseline-single", {"seed": 0}, "h1")
    assert a == store.make_run_id("baseline-single", {"seed": 0}, "h1") and a.startswith("baseline-single-all-")
    others = {store.make_run_id("baseline-single", {"seed": 1}, "h1"), store.make_run_id("baseline-single", {"seed": 0}, "h2"),
              store.make_run_id("baseline-single", {"seed": 0}, "h1", "human")}
    assert a not in others and len(others) == 3


def _index(n: int = 6) -> pd.DataFrame:
    rows = []
    for i in range(n):
        rows.append({"scene_id": f"t-{i}", "split": "train" if i < 4 else "test", "scene_json": f"scenes/t-{i}.json",
                     "image": "", "mask": "", "vpt_label": i % 2, "depth_label": (i // 2) % 2, "hidden_reason": "",
                     "cell": "c", "human_set": i == 5, "warmup": i == 0, "sweep_id": "", "sweep_kind": "",
                     "sweep_step": -1, "sweep_step_label": "", "rendered": False, "style": "studio"})
    df = pd.DataFrame(rows)
    for c in ("vpt_label", "depth_label"):
        df[c] = df[c].astype("Int64")
    return df


def test_index_contract_and_selections(tmp_path):
    root = tmp_path / "tiny"
    root.mkdir()
    df = _index()
    sweep = df.iloc[:2].assign(scene_id=["w-0", "w-1"], split="strategy", sweep_id="turn-000", sweep_kind="viewer_turn",
                               sweep_step=[0, 1], sweep_step_label=["1", "partial"], human_set=False, warmup=False)
    sweep["vpt_label"] = pd.array([1, None], dtype="Int64")
    pd.concat([df, sweep], ignore_index=True).to_parquet(root / "index.parquet")
    ds = load_dataset(root)
    assert ds.name == "tiny" and len(ds.hash) == 16 and not ds.rendered and ds.is_sweeps
    it = ds.items.set_index("scene_id")
    assert it.loc["t-0", "scene_json"] == str(root.resolve() / "scenes/t-0.json") and it.loc["t-0", "image"] is None
    assert it.loc["w-1", "split"] == "sweep" and it.loc["w-1", "sweep_step"] == 1 and pd.isna(it.loc["w-1", "vpt_label"])
    assert pd.isna(it.loc["t-0", "sweep_step"]) and pd.isna(it.loc["t-0", "sweep_id"])
    assert list(ds.select("human")["scene_id"]) == ["t-5"] and set(ds.select("human")["split"]) == {"human"}
    assert list(ds.select("warmup")["scene_id"]) == ["t-0"] and ds.selections() == ["all", "human"]
    assert content_hash(ds.index) == ds.hash and content_hash(ds.index.assign(cell="d")) != ds.hash


@pytest.mark.parametrize("change, column, message", [
    (lambda d: d.drop(columns="vpt_label"), "vpt_label", "missing"),
    (lambda d: d.assign(vpt_label=pd.array([2] * len(d), dtype="Int64")), "vpt_label", "not 0, 1 or null"),
    (lambda d: d.assign(depth_label=pd.array([None] * len(d), dtype="Int64")), "depth_label", "null on a binary"),
    (lambda d: d.assign(split="holdout"), "split", "not one of"),
    (lambda d: d.assign(scene_id="same"), "scene_id", "more than once"),
    (lambda d: d.assign(human_set="yes"), "human_set", "true/false"),
    (lambda d: d.assign(sweep_step=0.5), "sweep_step", "fractions"),
    (lambda d: d.assign(rendered=True), "image", "no image or mask"),
])
def test_malformed_index_names_file_and_column(tmp_path, change, column, message):
    root = tmp_path / "bad"
    root.mkdir()
    change(_index()).to_parquet(root / "index.parquet")
    with pytest.raises(UserError) as err:
        load_dataset(root)
    text = str(err.value)
    assert str(root / "index.parquet") in text and repr(column) in text and message in text


def test_missing_or_unreadable_index(tmp_path):
    with pytest.raises(UserError, match="no such dataset folder"):
        load_dataset(tmp_path / "nope")
    with pytest.raises(UserError, match="not a dataset folder"):
        load_dataset(tmp_path)
    (tmp_path / "index.parquet").write_text("not parquet")
    with pytest.raises(UserError, match="cannot be read as Parquet"):
        load_dataset(tmp_path)
    assert set(INDEX_COLUMNS) >= {"scene_id", "split", "vpt_label", "depth_label", "sweep_step", "human_set"}


def test_an_unfinished_sibling_dataset_is_named_not_skipped_silently(tmp_path, capsys):
    from vpt.trials.items import note_unfinished, unfinished_beside

    for name in ("depth-vpt", "vpt-strategy", "other"):
        (tmp_path / name / "scenes").mkdir(parents=True)
    (tmp_path / "depth-vpt" / "index.parquet").write_bytes(b"")
    (tmp_path / "other" / "index.parquet").write_bytes(b"")
    (tmp_path / "notes").mkdir()  # not a dataset folder at all
    assert unfinished_beside(tmp_path / "depth-vpt") == [tmp_path / "vpt-strategy"]
    note_unfinished(tmp_path / "depth-vpt")
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "vpt-strategy skipped: no index.parquet yet" in err and "run it again" in err
