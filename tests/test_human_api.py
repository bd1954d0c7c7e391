"""The human experiment's server and database through FastAPI's TestClient: resume after a
restart, double submissions, token isolation, path traversal, malformed requests,
pseudonymisation, the experimenter view, the trial plan and the export."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("fastapi", reason="needs the human extra: pip install -e '.[human]'")
from fastapi.testclient import TestClient  # noqa: E402

from tests.human_helpers import auth, make_dataset, start, write_instructions  # noqa: E402
from vpt.deciders.human import protocol, server  # noqa: E402
from vpt.deciders.human.export import export_study  # noqa: E402
from vpt.deciders.human.protocol import StudyConfig  # noqa: E402
from vpt.errors import UserError  # noqa: E402
from vpt.metrics.frame import HUMANS, generator, prepare  # noqa: E402
from vpt.metrics.scores import accuracy_table  # noqa: E402
from vpt.trials import schema, store  # noqa: E402

pytestmark = pytest.mark.skipif(not (server.STATIC / "vendor" / "jspsych.js").is_file(),
                                reason="jsPsych not installed: run `make human-assets`")

PID, STUDY, SESSION = "5f1e0c0ffee0c0ffee0c0ffe", "60aa11bb22cc33dd44ee55ff", "70ab12bc23cd34de45ef56f0"


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.delenv("VPT_HUMAN_SECRET", raising=False)
    ds = make_dataset(tmp_path / "data" / "mini")
    instr = write_instructions(tmp_path)

    def open_(db: str = "study.sqlite", **cfg):
        config = StudyConfig(task=cfg.pop("task", "vpt"), **{"attention_checks": 2, "break_every": 4, **cfg})
        study = server.open_study(ds, config, tmp_path / db, instructions=instr,
                                  secret_file=tmp_path / "secret" / "key", admin_token="admin-token-123")
        return study, TestClient(server.create_app(study))

    return {"ds": ds, "open": open_, "tmp": tmp_path}



def answer(client: TestClient, token: str, idx: int, response: int | None = 1, key: str | None = None):
    body = {"idx": idx, "request_key": key or f"key-{idx:04d}-abcdef", "response": response,
            "rt_ms": None if response is None else 500.0 + idx, "timed_out": response is None,
            "input": None if response is None else "key", "window_w": 1280, "window_h": 900, "dpr": 2.0,
            "stimulus_w": 256, "stimulus_h": 256}
    return client.post("/api/response", json=body, headers=auth(token))


def rows(db: Path, sql: str) -> list:
    with sqlite3.connect(db) as c:
        return c.execute(sql).fetchall()


def test_the_plan_is_seeded_per_participant_with_warmup_first_checks_and_breaks(env):
    study, _ = env["open"]()
    cfg = study.config
    a, b, a2 = (protocol.make_plan(study.stimuli, cfg, s) for s in (1, 2, 1))
    assert a == a2 and [t.scene_id for t in a] != [t.scene_id for t in b]
    blocks = [t.block for t in a]
    n_warm = len(study.stimuli.warmup)
    assert blocks[:n_warm] == ["warmup"] * n_warm and "warmup" not in blocks[n_warm:]
    assert blocks.count("test") == len(study.stimuli.test) and blocks.count("attention") == 2
    warm_ids = {s.scene_id for s in study.stimuli.warmup}
    assert all(t.scene_id in warm_ids for t in a if t.block == "attention")
    test_part = a[n_warm:]
    assert [j for j, t in enumerate(test_part) if t.break_before] == [4, 8]
    assert {t.scene_id for t in a if t.block == "test"} == {s.scene_id for s in study.stimuli.test}


def test_responses_survive_a_server_restart_and_the_participant_resumes(env):
    study, client = env["open"]()
    st = start(client, prolific_pid=PID)
    token, n = st["token"], st["n_trials"]
    assert st["phase"] == "trials" or st["phase"] == "consent"
    for i in range(5):
        assert answer(client, token, i, i % 2).json()["stored"] is True
    study.db.close()
    study2, client2 = env["open"]()  # a new process on the same database
    st2 = client2.get("/api/state", headers=auth(token)).json()
    assert st2["phase"] == "trials" and st2["next_idx"] == 5 and st2["trials"] == st["trials"]
    for i in range(5, n):
        assert answer(client2, token, i, i % 2).status_code == 200
    fin = client2.post("/api/finish", headers=auth(token)).json()
    assert len(fin["code"]) == 8
    assert client2.post("/api/finish", headers=auth(token)).json()["code"] == fin["code"]  # once
    assert client2.get("/api/state", headers=auth(token)).json()["phase"] == "done"
    got = rows(study2.db.path, "SELECT idx, response FROM responses ORDER BY rowid")
    assert got == [(i, i % 2) for i in range(n)]
    assert rows(study2.db.path, "PRAGMA journal_mode")[0][0] == "wal"


def test_a_double_submission_is_stored_once_and_a_conflicting_one_refused(env):
    study, client = env["open"]()
    token = start(client)["token"]
    first = answer(client, token, 0, 1, key="same-key-0001")
    again = answer(client, token, 0, 1, key="same-key-0001")
    assert first.json()["stored"] is True and again.status_code == 200 and again.json()["stored"] is False
    assert answer(client, token, 0, 0, key="other-key-0001").status_code == 409
    assert answer(client, token, 2, 1).status_code == 409  # trial 1 is not answered yet
    assert rows(study.db.path, "SELECT idx, response, request_key FROM responses") == [(0, 1, "same-key-0001")]


def test_warmup_answers_get_feedback_and_test_answers_do_not(env):
    study, client = env["open"]()
    st = start(client)
    by = {s.scene_id: s for s in study.stimuli.warmup}
    plan = study.db.plan(study.db.participants()[0]["pseudonym"])
    truth = by[plan[0][2]].label
    fb = answer(client, st["token"], 0, truth).json()["feedback"]
    assert fb == {"correct": True, "answer": dict(protocol.CHOICES["vpt"])[truth]}
    n_warm = len(study.stimuli.warmup)
    for i in range(1, n_warm + 1):
        r = answer(client, st["token"], i, 1).json()
    assert "feedback" not in r  # idx n_warm is the first test trial


def test_participants_cannot_read_or_write_each_others_data(env):
    study, client = env["open"]()
    a, b = start(client), start(client)
    assert a["token"] != b["token"]
    answer(client, a["token"], 0, 1)
    assert client.get("/api/state", headers=auth(b["token"])).json()["next_idx"] == 0
    assert client.get("/api/state", headers=auth(a["token"])).json()["next_idx"] == 1
    for bad in ({}, auth("x" * 43), {"Authorization": "Bearer ../../etc"}, {"Authorization": a["token"]}):
        assert client.get("/api/state", headers=bad).status_code == 401
        assert client.post("/api/response", json={}, headers=bad).status_code in (401, 422)
    r = client.post("/api/session", json={}, headers=auth("y" * 43))
    assert r.status_code == 401 and "token" not in r.json()
    pseudonyms = {p["pseudonym"] for p in study.db.participants()}
    assert len(pseudonyms) == 2 and not any(a["token"] in line for line in study.db.dump())  # only a digest


@pytest.mark.parametrize("url", [
    "/stimuli/../index.parquet", "/stimuli/%2e%2e%2findex.parquet", "/stimuli/..%2F..%2Fsecret%2Fkey",
    "/stimuli/0123456789abcdef.png", "/stimuli/", "/static/", "/static/../server.py", "/static/%2e%2e/server.py",
    "/static/..%2fdb.py", "/static/vendor/", "/images/train-0000.png", "/stimuli/%00.png"])
def test_only_the_studys_stimuli_are_served(env, url):
    _, client = env["open"]()
    r = client.get(url)
    assert 400 <= r.status_code < 500, (url, r.status_code)
    assert b"import" not in r.content and b"PAR1" not in r.content and b"<li>" not in r.content


def test_stimuli_are_served_by_an_opaque_key_at_their_rendered_size(env):
    study, client = env["open"]()
    st = start(client)
    src = st["trials"][0]["src"]
    assert "train" not in src and "test" not in src
    r = client.get(src)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png" and r.content[:4] == b"\x89PNG"
    assert st["config"]["stimulus_w"] == 256 and st["config"]["min_stimulus_w"] == 256  # the human_image, not 64 px


@pytest.mark.parametrize("body", [
    "not json", "{}", '{"idx": "zero"}', '{"idx": 0, "request_key": "short"}',
    '{"idx": 0, "request_key": "key-0000-abcdef", "response": 2, "timed_out": false, "window_w": 1, '
    '"window_h": 1, "dpr": 1, "stimulus_w": 1, "stimulus_h": 1}',
    '{"idx": 0, "request_key": "key-0000-abcdef", "response": 1, "timed_out": true, "window_w": 1, '
    '"window_h": 1, "dpr": 1, "stimulus_w": 1, "stimulus_h": 1}',
    '{"idx": 99999, "request_key": "key-0000-abcdef", "response": 1, "timed_out": false, "window_w": 1, '
    '"window_h": 1, "dpr": 1, "stimulus_w": 1, "stimulus_h": 1}',
    '{"idx": 0, "request_key": "key-0000-abcdef", "response": 1, "timed_out": false, "window_w": 1, '
    '"window_h": 1, "dpr": 1, "stimulus_w": 1, "stimulus_h": 1, "label": 1}',
    '[1, 2, 3]', '{"idx": -1}'])
def test_malformed_requests_get_a_4xx_without_a_traceback(env, body):
    _, client = env["open"]()
    token = start(client)["token"]
    r = client.post("/api/response", content=body, headers={**auth(token), "Content-Type": "application/json"})
    assert 400 <= r.status_code < 500, (body, r.status_code, r.text)
    assert "error" in r.json() and "Traceback" not in r.text and "File \"" not in r.text
    for path, payload in (("/api/session", '{"prolific_pid": "../../x"}'), ("/api/session", '{"x": 1}'),
                          ("/api/event", '{"kind": "drop table"}')):
        r = client.post(path, content=payload, headers={**auth(token), "Content-Type": "application/json"})
        assert 400 <= r.status_code < 500 and "Traceback" not in r.text, (path, r.text)


def test_prolific_ids_are_stored_only_pseudonymised(env):
    study, client = env["open"]()
    st = start(client, prolific_pid=PID, study_id=STUDY, session_id=SESSION)
    for i in range(3):
        answer(client, st["token"], i, 1)
    dump = "\n".join(study.db.dump())
    for raw in (PID, STUDY, SESSION, "127.0.0.1", "testclient"):
        assert raw not in dump, raw
    secret = env["tmp"] / "secret" / "key"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600 and secret.read_text().strip() not in dump
    pseudonym = study.db.participants()[0]["pseudonym"]
    assert pseudonym.startswith("p-") and PID not in pseudonym
    again = client.post("/api/session", json={"prolific_pid": PID})  # same person, another browser
    assert again.status_code == 409 and "token" not in again.json()
    study.db.close()
    study2, client2 = env["open"]()  # the same secret gives the same keyed hash after a restart
    assert client2.post("/api/session", json={"prolific_pid": PID}).status_code == 409
    for f in (study2.db.path, Path(str(study2.db.path) + "-wal")):
        if f.exists():
            assert PID.encode() not in f.read_bytes()


def test_the_secret_file_must_be_private(env, monkeypatch):
    key = env["tmp"] / "secret" / "key"
    env["open"]()[0].db.close()
    os.chmod(key, 0o644)
    with pytest.raises(UserError, match="chmod 600"):
        env["open"]()
    monkeypatch.setenv("VPT_HUMAN_SECRET", "a-long-secret-from-the-environment")
    assert env["open"]()[0].secret == b"a-long-secret-from-the-environment"


def finish_participant(client, study, token, attention_right: bool) -> None:
    pseudonym = next(p["pseudonym"] for p in study.db.participants()
                     if study.db.participant_by_token(token).pseudonym == p["pseudonym"])
    labels = study.stimuli.by_scene()
    n_test = 0
    for idx, block, scene, _ in study.db.plan(pseudonym):
        label = labels[scene].label
        resp = label if (block != "attention" or attention_right) else 1 - label
        if block == "test":
            if n_test % 5 == 0:
                resp = None  # a timeout: every fifth test trial, the first included, whatever the random order
            n_test += 1
        assert answer(client, token, idx, resp).status_code == 200
    assert client.post("/api/finish", headers=auth(token)).status_code == 200


def test_experimenter_view_counts_and_excludes_by_the_rule(env):
    study, client = env["open"]()
    assert client.get("/admin").status_code == 403 and client.get("/api/admin?token=wrong").status_code == 403
    good, bad, idle = start(client), start(client), start(client)
    finish_participant(client, study, good["token"], attention_right=True)
    finish_participant(client, study, bad["token"], attention_right=False)
    summary = client.get("/api/admin?token=admin-token-123").json()
    assert (summary["started"], summary["finished"], summary["excluded"]) == (3, 2, 1)
    assert summary["attention_accuracy"] == 0.5
    reasons = sorted(p["exclusion"] for p in summary["participants"])
    assert reasons[:2] == ["", ""] and reasons[2].startswith("attention checks 0/2")
    page = client.get("/admin?token=admin-token-123")
    assert page.status_code == 200 and "finished: <b>2</b>" in page.text and "excluded: <b>1</b>" in page.text


def test_export_writes_a_conforming_trial_table_that_metrics_read(env):
    study, client = env["open"]()
    tokens = [start(client, prolific_pid=f"pid{i:021d}")["token"] for i in range(3)]
    for t in tokens[:2]:
        finish_participant(client, study, t, attention_right=True)
    answer(client, tokens[2], 0, 1)  # started, never finished
    study.db.close()
    out = env["tmp"] / "results"
    r = export_study(study.db.path, env["ds"], out)
    assert (r["started"], r["finished"], r["in_trial_table"]) == (3, 2, 2)
    trials = store.read_trials(out)
    schema.conform(trials)
    assert set(trials["kind"]) == {"human"} and trials["decision_maker"].nunique() == 2
    human = trials[trials["split"] == "human"]
    assert len(human) == 2 * len(study.stimuli.test) and set(human["variant"]) == {"default"}
    assert len(trials[trials["variant"] == "attention"]) == 4
    assert human["rt_ms"].notna().sum() == human["response"].notna().sum() > 0
    assert human["response"].isna().any() and human.loc[human["response"].isna(), "correct"].isna().all()
    assert not any("pid" in str(v) for v in trials["decision_maker"])
    acc = accuracy_table(prepare(trials), generator(0), n_boot=50)
    pooled = acc[(acc["decision_maker"] == HUMANS) & (acc["split"] == "human")]
    assert len(pooled) == 1 and pooled["n_participants"].iloc[0] == 2
    people = pd.read_csv(Path(r["folder"]) / "participants.csv")
    assert set(people.columns) >= {"pseudonym", "started_at", "finished_at", "completed", "exclusion", "included"}
    assert len(people) == 3 and people["included"].sum() == 2
    assert export_study(study.db.path, env["ds"], out)["run_id"] == r["run_id"]  # the same export: the same run
    again = export_study(study.db.path, env["ds"], out, include_unfinished=True)  # other flags: another run
    assert again["run_id"] != r["run_id"] and (Path(r["folder"]) / "trials.parquet").is_file()
    runs = {m["run_id"]: m for m in store.read_manifests(out)}
    assert set(runs) == {r["run_id"], again["run_id"]}  # both kept, each with its own flags
    assert runs[again["run_id"]]["config"]["include_unfinished"] and not runs[r["run_id"]]["config"]["include_unfinished"]


@pytest.mark.parametrize("task", ["vpt", "depth"])
def test_the_default_wording_is_the_models_instruction_file(task):
    page = protocol.load_instructions(task)  # evaluation/prompts/instructions/<task>.md
    text = (protocol.INSTRUCTIONS / f"{task}.md").read_text()
    assert page.count("<li>") == text.count("\n- ") and "<h2>" in page and "**" not in page
    first_words = text.split("\n\n")[1].split()[:4]
    assert " ".join(first_words) in page
    assert protocol.QUESTION[task].lower().rstrip("?") in " ".join(text.lower().split())


def test_clear_errors_for_missing_wording_upscaling_and_another_dataset(env, tmp_path):
    with pytest.raises(UserError, match="evaluation/prompts/instructions/depth.md"):
        protocol.load_instructions("depth", tmp_path / "nope.md")
    with pytest.raises(UserError, match="never upscaled"):
        env["open"](stimulus_px=512)
    assert env["open"](db="small.sqlite", stimulus_px=128)[0].stimulus_w == 128
    env["open"]()[0].db.close()
    with pytest.raises(UserError, match="task 'vpt', not 'depth'"):
        env["open"](task="depth")
    other = make_dataset(tmp_path / "data" / "other", n_human=6)
    with pytest.raises(UserError, match="belongs to dataset mini"):
        server.open_study(other, StudyConfig(task="vpt"), tmp_path / "study.sqlite",
                          instructions=write_instructions(tmp_path), secret_file=tmp_path / "secret" / "key")


def test_vpt_human_cli_export_and_light_registration(env, monkeypatch, capsys):
    import vpt.cli

    study, client = env["open"]()
    finish_participant(client, study, start(client)["token"], attention_right=True)
    study.db.close()
    monkeypatch.setattr(vpt.cli, "EVALUATOR_COMMANDS", (*vpt.cli.EVALUATOR_COMMANDS, "vpt.deciders.human.cli"))
    out = env["tmp"] / "res"
    assert vpt.cli.main(["human", "export", "--db", str(study.db.path), "--dataset", str(env["ds"]),
                         "--out", str(out)]) == 0
    assert "1 participants" in capsys.readouterr().out and len(store.read_trials(out)) > 0
    assert vpt.cli.main(["human", "export", "--db", str(env["tmp"] / "none.sqlite"), "--dataset",
                         str(env["ds"])]) == 2
    assert "no such study database" in capsys.readouterr().err
    code = ("import sys, argparse; import vpt.deciders.human.cli as c; p = argparse.ArgumentParser(); "
            "c.add_parser(p.add_subparsers()); "
            "print(sorted(m for m in ('fastapi', 'uvicorn', 'starlette', 'pandas', 'pydantic') if m in sys.modules))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "[]"
