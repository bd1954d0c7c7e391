"""The conflict set's human items in the human experiment (issue 26): one study serves the basic
human set with the human set of the conflict set beside it mixed in (a quarter of the test
trials with the packaged recipes), never shows the two halves of a look-alike pair back to back,
and its exports (the server's and the static bundle's) write the conflict trials as rows of the
conflict dataset, so metrics and the report split humans on basic and conflict items."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("fastapi", reason="needs the human extra: pip install -e '.[human]'")
from fastapi.testclient import TestClient  # noqa: E402

from tests.human_helpers import auth, make_conflict_set, make_dataset, start, write_instructions  # noqa: E402
from vpt.datasets.recipe import load_recipe  # noqa: E402
from vpt.deciders.human import protocol, server  # noqa: E402
from vpt.deciders.human.bundle import build_bundle, import_results  # noqa: E402
from vpt.deciders.human.export import export_study  # noqa: E402
from vpt.deciders.human.protocol import Stimulus, StudyConfig, apart  # noqa: E402
from vpt.deciders.human.sets import share_line, study_sets  # noqa: E402
from vpt.errors import UserError  # noqa: E402
from vpt.metrics.frame import HUMANS, generator, prepare  # noqa: E402
from vpt.metrics.scores import accuracy_table  # noqa: E402
from vpt.report.load import load_inputs  # noqa: E402
from vpt.trials import schema, store  # noqa: E402

pytestmark = pytest.mark.skipif(not (server.STATIC / "vendor" / "jspsych.js").is_file(),
                                reason="jsPsych not installed: run `make human-assets`")


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A basic dataset ``mini`` (12 human items, 4 warm-up) with a conflict set beside it (2
    pairs in its human set, one warm-up pair); ``open`` starts a study on ``mini``."""
    monkeypatch.delenv("VPT_HUMAN_SECRET", raising=False)
    ds = make_dataset(tmp_path / "data" / "mini", n_human=12, n_warmup=4)
    cs = make_conflict_set(tmp_path / "data" / "conflict", n_pairs=2)
    instr = write_instructions(tmp_path)

    def open_(db: str = "study.sqlite", conflict: bool = True, **cfg):
        config = StudyConfig(task=cfg.pop("task", "vpt"), **{"attention_checks": 2, "break_every": 0, **cfg})
        study = server.open_study(ds, config, tmp_path / db, instructions=instr, secret_file=tmp_path / "key",
                                  admin_token="admin-token-123", conflict=conflict)
        return study, TestClient(server.create_app(study))

    return {"ds": ds, "cs": cs, "open": open_, "tmp": tmp_path, "instr": instr}


def test_the_packaged_recipes_make_conflict_items_a_quarter_of_the_human_set():
    basic, conflict = load_recipe("depth-vpt").config, load_recipe("conflict").config
    n_basic, n_conflict = basic["human_set"], conflict["human_set"]
    assert n_conflict / (n_basic + n_conflict) == 0.25, (n_basic, n_conflict)
    assert conflict["human_resolution"] == basic["human_resolution"]  # `make human-set` renders both at 512 px


def test_the_study_mixes_the_conflict_human_set_into_the_test_trials(env):
    study, _ = env["open"]()
    st = study.stimuli
    assert st.test_counts() == {"mini": 12, "conflict": 4}
    assert [d.name for d in st.sets] == ["conflict"]
    assert {s.dataset for s in st.warmup} == {"mini"}  # warm-up, checks and examples: basic items only
    pairs = {s.pair for s in st.test if s.dataset == "conflict"}
    assert pairs == {"conflict:conflict-test-00000000-facing", "conflict:conflict-test-00000001-cover"}
    assert all(s.pair == "" for s in st.test if s.dataset == "mini")
    assert len(st.by_key()) == 12 + 4 + 2 * 4  # every key distinct (warm-up items twice: as checks)
    assert study.meta["sets"] == [{"name": "conflict", "hash": st.sets[0].hash}]
    assert share_line(st.dataset, st.sets, st.test_counts()) == "12 from mini, 4 from conflict: 25 % conflict"
    only, _ = env["open"](db="basic.sqlite", conflict=False)
    assert only.stimuli.test_counts() == {"mini": 12} and only.stimuli.sets == []


def test_the_halves_of_a_pair_are_never_back_to_back(env):
    study, _ = env["open"]()
    pair_of = {s.scene_id: s.pair for s in study.stimuli.test}
    for seed in range(300):
        plan = protocol.make_plan(study.stimuli, study.config, seed)
        test = [t.scene_id for t in plan if t.block == "test"]
        assert sorted(test) == sorted(pair_of)
        seq = [t.scene_id for t in plan if t.block != "warmup"]  # attention checks in between count as apart
        for a, b in zip(seq, seq[1:]):
            assert not (pair_of.get(a) and pair_of.get(a) == pair_of.get(b)), (seed, a, b)


def _stim(name: str, pair: str = "") -> Stimulus:
    return Stimulus(name, name, Path(name), 1, 8, 8, pair=pair)


def test_apart_leaves_orders_without_pairs_alone_and_separates_halves():
    plain = [_stim(f"s{i}") for i in range(6)]
    assert apart(plain) == plain  # a study without conflict items gets the same plans as before
    a1, a2, b1, b2 = _stim("a1", "A"), _stim("a2", "A"), _stim("b1", "B"), _stim("b2", "B")
    out = apart([a1, a2, b1, b2])
    assert sorted(s.key for s in out) == ["a1", "a2", "b1", "b2"]
    assert all(x.pair != y.pair for x, y in zip(out, out[1:]))
    out = apart([plain[0], a1, a2])  # the partner is all that is left: it goes where it is apart
    assert [s.key for s in out] == ["a2", "s0", "a1"]  # the first place between stimuli of other pairs
    assert [s.key for s in apart([a1, a2])] == ["a1", "a2"]  # one pair alone: nothing else to put between


def _finish(client: TestClient, study, token: str, conflict_right: bool) -> None:
    """Answer every trial: right on basic items and checks, on conflict items right or wrong."""
    st = client.get("/api/state", headers=auth(token)).json()
    plan = study.db.plan(study.db.participant_by_token(token).pseudonym)
    by_scene = study.stimuli.by_scene()
    for idx, block, scene, _ in plan:
        s = by_scene[scene]
        resp = s.label if (s.dataset != "conflict" or conflict_right) else 1 - s.label
        body = {"idx": idx, "request_key": f"key-{idx:04d}-abcdef", "response": resp, "rt_ms": 800.0,
                "timed_out": False, "input": "keyboard", "window_w": 1280, "window_h": 900, "dpr": 1.0,
                "stimulus_w": 256, "stimulus_h": 256}
        assert client.post("/api/response", json=body, headers=auth(token)).status_code == 200
    assert st["n_trials"] == len(plan)
    assert client.post("/api/finish", headers=auth(token)).status_code == 200


def test_served_conflict_trials_reach_the_trial_table_as_their_own_set(env):
    study, client = env["open"]()
    page = client.get("/api/state", headers=auth(start(client)["token"])).json()
    assert {t["block"] for t in page["trials"]} == {"warmup", "test"}  # the page cannot tell the sets apart
    assert not any("conflict" in json.dumps(t) for t in page["trials"])
    for right in (True, False):
        _finish(client, study, start(client)["token"], conflict_right=right)
    admin = client.get("/api/admin?token=admin-token-123").json()["participants"]
    done = sorted((p["test_accuracy"], p["conflict_accuracy"]) for p in admin if p["completed"])
    assert done == [(12 / 16, 0.0), (1.0, 1.0)]
    assert "conflict_accuracy" in client.get("/admin?token=admin-token-123").text
    study.db.close()
    out = env["tmp"] / "results"
    r = export_study(study.db.path, env["ds"], out, include_unfinished=False)
    assert r["in_trial_table"] == 2
    trials = schema.conform(store.read_trials(out))
    human = trials[trials["split"] == "human"]
    conflict_hash = study.stimuli.sets[0].hash
    assert human.groupby("dataset").size().to_dict() == {"conflict": 8, "mini": 24}
    assert set(human.loc[human["dataset"] == "conflict", "dataset_hash"]) == {conflict_hash}
    assert set(trials.loc[trials["split"] == "warmup", "dataset"]) == {"mini"}
    acc_conf = human[human["dataset"] == "conflict"].groupby("decision_maker")["correct"].mean()
    assert sorted(acc_conf) == [0.0, 1.0]
    assert human.loc[human["dataset"] == "mini", "correct"].all()
    people = pd.read_csv(Path(r["folder"]) / "participants.csv")
    assert sorted(people.loc[people["included"], "conflict_accuracy"]) == [0.0, 1.0]
    answers = pd.read_csv(Path(r["folder"]) / "answers.csv")
    assert answers.loc[answers["block"] == "test"].groupby("dataset").size().to_dict() == {"conflict": 8, "mini": 24}
    manifest = next(iter(store.read_manifests(out)))
    assert [s["name"] for s in manifest["sets"]] == ["conflict"]
    # the report reads the conflict trials as a set of their own, and metrics score it apart
    inputs = load_inputs([out], [env["ds"], env["cs"]])
    assert set(inputs.trials["split"]) >= {"human", "human · conflict"}
    acc = accuracy_table(prepare(inputs.trials), generator(0), n_boot=20)
    pooled = acc[acc["decision_maker"] == HUMANS].set_index("split")["accuracy"]
    assert pooled["human"] == 1.0 and pooled["human · conflict"] == 0.5


def test_a_study_keeps_the_sets_it_started_with(env):
    study, client = env["open"]()
    _finish(client, study, start(client)["token"], conflict_right=True)
    study.db.close()
    with pytest.raises(UserError, match="started with the added sets conflict .*not none.*conflict set it was started"):
        env["open"](conflict=False)
    env["open"](db="basic.sqlite", conflict=False)[0].db.close()
    with pytest.raises(UserError, match="started with the added sets none, not conflict.*--no-conflict"):
        env["open"](db="basic.sqlite")
    # the conflict set changed after the study: the export says so instead of scoring other items
    idx = pd.read_parquet(env["cs"] / "index.parquet")
    idx.loc[idx["scene_id"].str.endswith("-a"), "depth_label"] = 1 - idx["depth_label"]
    idx.to_parquet(env["cs"] / "index.parquet", index=False)
    with pytest.raises(UserError, match="conflict set .* has changed since the study ran"):
        export_study(study.db.path, env["ds"], env["tmp"] / "results")
    shutil.rmtree(env["cs"])
    with pytest.raises(UserError, match="also served the conflict set 'conflict'"):
        export_study(study.db.path, env["ds"], env["tmp"] / "results")


def test_an_unrendered_conflict_set_says_how_to_serve_without_it(env):
    idx = pd.read_parquet(env["cs"] / "index.parquet").assign(image="", human_image="", rendered=False)
    idx.to_parquet(env["cs"] / "index.parquet", index=False)
    with pytest.raises(UserError, match="has no rendered image .*a conflict set beside .*--no-conflict leaves it out"):
        env["open"]()
    env["open"](conflict=False)[0].db.close()


def test_clashing_scene_ids_are_refused(env, tmp_path):
    clash = make_dataset(tmp_path / "clash" / "mini", n_human=2, n_warmup=2)
    idx = pd.read_parquet(clash / "index.parquet").assign(recipe="conflict")
    idx.to_parquet(clash / "index.parquet", index=False)
    shutil.copytree(clash, env["ds"].parent / "conflict-copy")
    with pytest.raises(UserError, match="scene id test-0000 is also in"):
        env["open"]()


def _lines(manifest: dict, plan_no: int, labels: dict, set_of: dict, conflict_right: bool) -> list[str]:
    """The JSON lines a participant's browser appends, answering plan ``plan_no``."""
    scene_of, plan = manifest["stimuli"], manifest["plans"][plan_no]
    base = {"vpt_static": 1, "study_id": manifest["study_id"], "participant": f"s-{plan_no:04d}", "plan": plan_no,
            "flip": False, "at": "2026-12-07T23:30:00.000Z"}
    out = [dict(base, type="start", seed=plan["seed"]), dict(base, type="event", kind="consent")]
    for t in plan["trials"]:
        scene = scene_of[t["key"]]
        right = set_of[scene] != "conflict" or conflict_right
        out.append(dict(base, type="response", block=t["block"], key=t["key"], idx=t["idx"],
                        response=labels[scene] if right else 1 - labels[scene], rt_ms=700.0, timed_out=False,
                        input="keyboard", window_w=1280, window_h=900, dpr=1.0, stimulus_w=256, stimulus_h=256))
    out.append(dict(base, type="finish", code="ABCD1234"))
    return [json.dumps(x) for x in out]


def test_the_static_bundle_serves_and_imports_the_conflict_items(env, tmp_path):
    cfg = StudyConfig(task="vpt", deadline_ms=0, break_every=0, attention_checks=2)
    r = build_bundle(env["ds"], cfg, tmp_path / "out", n_plans=20, instructions=env["instr"])
    assert r["test"] == {"mini": 12, "conflict": 4} and r["sets"] == ["conflict"]
    manifest = json.loads(Path(r["manifest"]).read_text())
    study_js = (Path(r["bundle"]) / "study.js").read_text()
    assert "conflict" not in study_js  # opaque names only: the page cannot tell the sets apart
    ds, added = study_sets(env["ds"])
    stimuli = protocol.load_stimuli(ds, "vpt", added)
    labels = {s.scene_id: s.label for s in [*stimuli.test, *stimuli.warmup]}
    set_of = {s.scene_id: s.dataset for s in [*stimuli.test, *stimuli.warmup]}
    pair_of = {s.scene_id: s.pair for s in stimuli.test}
    for p in manifest["plans"]:
        seq = [manifest["stimuli"][t["key"]] for t in p["trials"] if t["block"] != "warmup"]
        assert not any(pair_of.get(a) and pair_of.get(a) == pair_of.get(b) for a, b in zip(seq, seq[1:]))
    results = tmp_path / "jatos.txt"
    results.write_text("\n".join(_lines(manifest, 0, labels, set_of, True) + _lines(manifest, 1, labels, set_of, False))
                       + "\n")
    out = tmp_path / "results"
    got = import_results([results], r["manifest"], env["ds"], out)
    assert got["in_trial_table"] == 2
    trials = schema.conform(store.read_trials(out))
    human = trials[trials["split"] == "human"]
    assert human.groupby("dataset").size().to_dict() == {"conflict": 8, "mini": 24}
    by = human[human["dataset"] == "conflict"].groupby("decision_maker")["correct"].mean().to_dict()
    assert by == {"s-0000": 1.0, "s-0001": 0.0}
    people = pd.read_csv(Path(got["folder"]) / "participants.csv").set_index("pseudonym")
    assert people["conflict_accuracy"].to_dict() == {"s-0000": 1.0, "s-0001": 0.0}
    shutil.rmtree(env["cs"])
    with pytest.raises(UserError, match="also served the conflict set 'conflict'"):
        import_results([results], r["manifest"], env["ds"], tmp_path / "res2")


def test_the_cli_takes_no_conflict(env, tmp_path, monkeypatch, capsys):
    import vpt.cli

    monkeypatch.setattr(vpt.cli, "EVALUATOR_COMMANDS", (*vpt.cli.EVALUATOR_COMMANDS, "vpt.deciders.human.cli"))
    base = ["human", "static", "--dataset", str(env["ds"]), "--task", "vpt", "--plans", "2",
            "--instructions", str(env["instr"])]
    assert vpt.cli.main([*base, "--out", str(tmp_path / "a")]) == 0
    assert "test 12 from mini, 4 from conflict" in capsys.readouterr().out
    assert vpt.cli.main([*base, "--out", str(tmp_path / "b"), "--no-conflict"]) == 0
    assert "test 12 from mini;" in capsys.readouterr().out
    assert json.loads((tmp_path / "b" / "manifest.json").read_text())["sets"] == []


@pytest.mark.render
def test_human_renders_cover_the_conflict_human_items(tmp_path, monkeypatch):
    """`vpt scenes ... --human-renders` (what `make human-set` runs on every recipe in scenes/)
    renders the conflict set's human pairs at its human_resolution too, and a study on the basic
    set beside it serves them from those renders, with the pairs the planner made."""
    pytest.importorskip("bpy", reason="rendering tests need Blender's Python module (pip install -e '.[render]')")
    import copy

    import yaml

    from tests.conftest import SMALL_LABELS, recipe_dict, tiny_binary
    from vpt.cli import main

    monkeypatch.delenv("VPT_HUMAN_SECRET", raising=False)
    basic = tiny_binary("basic", {"train": 2, "val": 0, "test": 2, "ood": 0}, 2, 2)
    basic["human_resolution"] = [128, 128]
    conflict = copy.deepcopy(recipe_dict("conflict"))
    conflict.update(splits={"train": 0, "val": 0, "test": 2, "ood": 0}, human_set=2, warmup=0,
                    resolution=[64, 64], human_resolution=[128, 128])
    conflict["labels"].update(SMALL_LABELS)
    conflict["conflict"].update(basic="", pairs_per_job=1)
    for d in (basic, conflict):
        (tmp_path / f"{d['name']}.yaml").write_text(yaml.safe_dump(d))
        assert main(["scenes", str(tmp_path / f"{d['name']}.yaml"), "--out", str(tmp_path / "data"),
                     "--preset", "preview", "--quiet", "--human-renders"]) == 0
    idx = pd.read_parquet(tmp_path / "data" / "conflict" / "index.parquet")
    people = idx[idx["human_set"]]
    assert len(people) == 2 and (people["human_image"] != "").all()
    study = server.open_study(tmp_path / "data" / "basic", StudyConfig(task="vpt"), tmp_path / "s.sqlite",
                              instructions=write_instructions(tmp_path), secret_file=tmp_path / "key")
    st = study.stimuli
    assert st.test_counts() == {"basic": 2, "conflict": 2} and st.model_resolution == 0
    mine = [s for s in st.test if s.dataset == "conflict"]
    assert len({s.pair for s in mine}) == 1 and sorted(s.label for s in mine) == [0, 1]
    assert all((s.width, s.height) == (128, 128) for s in st.test)
    study.db.close()
