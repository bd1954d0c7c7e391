"""What a lab relies on in the human experiment, through FastAPI's TestClient: attention checks
the page cannot tell apart, the quality flags and the exclusion rule (a scripted alternating
or one-key participant, too-fast answers), `vpt human unlock` for a participant who lost their
browser's storage, security headers on every route, the export's answers table and runs per
flag set, and the tutorial's viewing cone and examples."""

from __future__ import annotations

import io
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from tests.human_helpers import auth, make_dataset, start, write_instructions  # noqa: E402
from vpt.deciders.human import server  # noqa: E402
from vpt.deciders.human.export import export_study  # noqa: E402
from vpt.deciders.human.protocol import StudyConfig, examples  # noqa: E402
from vpt.trials import store  # noqa: E402

pytestmark = pytest.mark.skipif(not (server.STATIC / "vendor" / "jspsych.js").is_file(),
                                reason="jsPsych not installed: run `make human-assets`")

PID = "5f1e0c0ffee0c0ffee0c0ffe"


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.delenv("VPT_HUMAN_SECRET", raising=False)
    ds = make_dataset(tmp_path / "data" / "mini", n_human=40, n_warmup=4)
    instr = write_instructions(tmp_path)

    def open_(dataset=ds, **cfg):
        config = StudyConfig(task=cfg.pop("task", "vpt"), **{"attention_checks": 4, "break_every": 0, **cfg})
        study = server.open_study(dataset, config, tmp_path / "study.sqlite", instructions=instr,
                                  secret_file=tmp_path / "secret" / "key", admin_token="admin-token-123")
        return study, TestClient(server.create_app(study), raise_server_exceptions=False)

    return {"ds": ds, "open": open_, "tmp": tmp_path}



def answer(client, token, idx, response, rt_ms=900.0, input_="keyboard", window=(1280, 650)):
    body = {"idx": idx, "request_key": f"key-{idx:04d}-abcdef", "response": response, "rt_ms": rt_ms,
            "timed_out": False, "input": input_, "window_w": window[0], "window_h": window[1], "dpr": 1.0,
            "stimulus_w": 400, "stimulus_h": 400}
    r = client.post("/api/response", json=body, headers=auth(token))
    assert r.status_code == 200, r.text
    return r.json()


def pseudonym_of(study, token) -> str:
    return study.db.participant_by_token(token).pseudonym


def test_attention_checks_cannot_be_told_apart_by_the_page(env):
    study, client = env["open"]()
    st = start(client)
    plan = study.db.plan(pseudonym_of(study, st["token"]))
    checks = [i for i, block, *_ in plan if block == "attention"]
    assert len(checks) == 4
    # nothing the page gets marks a check: blocks are warm-up or test, and the image names differ
    # from the warm-up items' (the same pictures under names of their own)
    assert "attention" not in client.get("/api/state", headers=auth(st["token"])).text
    shown = {t["idx"]: t for t in st["trials"]}
    warm_srcs = {t["src"] for t in st["trials"] if t["block"] == "warmup"}
    by_scene = study.stimuli.by_scene()
    for i in checks:
        assert shown[i]["block"] == "test" and shown[i]["src"] not in warm_srcs
        img = client.get(shown[i]["src"])
        # the warm-up picture mirrored: no file or pixel comparison matches the two, same answer
        original = by_scene[plan[i][2]].path
        assert img.status_code == 200 and img.content != original.read_bytes()
        with Image.open(io.BytesIO(img.content)) as got, Image.open(original) as warm:
            got, warm = np.asarray(got.convert("RGB")), np.asarray(warm.convert("RGB"))
        assert got.shape == warm.shape and not np.array_equal(got, warm)
        assert np.array_equal(got, warm[:, ::-1])
    # feedback (the answer) comes only for warm-up trials, never for a check
    for idx, block, scene, _ in plan[: checks[0] + 1]:
        out = answer(client, st["token"], idx, by_scene[scene].label)
        assert ("feedback" in out) == (block == "warmup")


def run_participant(client, study, token, pick, rt_ms=900.0):
    """Answer every trial with pick(position among non-warm-up answers, label)."""
    labels = study.stimuli.by_scene()
    j = 0
    for idx, block, scene, _ in study.db.plan(pseudonym_of(study, token)):
        if block == "warmup":
            answer(client, token, idx, labels[scene].label)
            continue
        answer(client, token, idx, pick(j, labels[scene].label), rt_ms=rt_ms)
        j += 1
    assert client.post("/api/finish", headers=auth(token)).status_code == 200


def test_alternating_one_key_and_too_fast_participants_are_flagged_and_excluded(env):
    study, client = env["open"]()
    good, alternating, one_key, fast = (start(client)["token"] for _ in range(4))
    run_participant(client, study, good, lambda j, label: label)
    run_participant(client, study, alternating, lambda j, label: j % 2, rt_ms=200.0)  # a script, every 200 ms
    run_participant(client, study, one_key, lambda j, label: 1)
    run_participant(client, study, fast, lambda j, label: label, rt_ms=120.0)
    summary = client.get("/api/admin?token=admin-token-123").json()
    rows = {r["pseudonym"]: r for r in summary["participants"]}
    flags = {name: rows[pseudonym_of(study, t)]["flags"] for name, t in
             (("good", good), ("alternating", alternating), ("one_key", one_key), ("fast", fast))}
    assert flags["good"] == "" and rows[pseudonym_of(study, good)]["exclusion"] == ""
    assert set(flags["alternating"].split(",")) >= {"alternating", "fast"}
    assert "one_key" in flags["one_key"].split(",") and "alternating" not in flags["one_key"]
    assert flags["fast"] == "fast"  # right answers, but faster than anyone can look
    assert summary["excluded"] == 3 and summary["flagged"]["alternating"] == 1 and summary["flagged"]["one_key"] == 1
    page = client.get("/admin?token=admin-token-123").text
    assert "alternating" in page and "faster than 250 ms" in page
    me = pseudonym_of(study, good)
    study.db.close()

    r = export_study(study.db.path, env["ds"], env["tmp"] / "results")
    people = pd.read_csv(Path(r["folder"]) / "participants.csv", keep_default_na=False)
    assert people.set_index("pseudonym").loc[me, "included"] in (True, "True")
    assert people["included"].astype(str).eq("True").sum() == 1 and r["in_trial_table"] == 1
    assert {"flags", "fast_answers", "same_share", "switch_share"} <= set(people.columns)


def test_the_thresholds_are_the_studys_settings(env):
    study, client = env["open"](min_rt_ms=100.0, exclude_alternate_above=1.0)
    t = start(client)["token"]
    run_participant(client, study, t, lambda j, label: j % 2, rt_ms=200.0)
    row = client.get("/api/admin?token=admin-token-123").json()["participants"][0]
    flags = row["flags"].split(",")  # (its attention checks are right or wrong by chance)
    assert "fast" not in flags and "alternating" not in flags
    assert row["fast_answers"] == 0 and row["switch_share"] == 1.0


def test_a_locked_out_participant_continues_after_vpt_human_unlock(env, monkeypatch, capsys):
    import vpt.cli

    monkeypatch.setattr(vpt.cli, "EVALUATOR_COMMANDS", (*vpt.cli.EVALUATOR_COMMANDS, "vpt.deciders.human.cli"))
    study, client = env["open"]()
    first = start(client, prolific_pid=PID)
    for i in range(3):
        answer(client, first["token"], i, 1)
    me = pseudonym_of(study, first["token"])
    # the same Prolific id in a browser without the token: refused, with a reference for the researcher
    r = client.post("/api/session", json={"prolific_pid": PID})
    assert r.status_code == 409 and r.json()["locked"] is True and r.json()["reference"] == me
    assert "token" not in r.json()
    row = client.get("/api/admin?token=admin-token-123").json()["participants"][0]
    assert row["locked_out"] == 1 and row["unlock_pending"] is False

    db = str(study.db.path)
    for bad, says in (("p-123", "not a pseudonym"), ("p-" + "0" * 16, "no participant")):
        assert vpt.cli.main(["human", "unlock", "--db", db, "--participant", bad]) == 2
        assert says in capsys.readouterr().err
    assert vpt.cli.main(["human", "unlock", "--db", db, "--participant", me]) == 0  # while the server runs
    assert "unlocked" in capsys.readouterr().out

    again = client.post("/api/session", json={"prolific_pid": PID})
    assert again.status_code == 200, again.text
    st = again.json()
    assert st["next_idx"] == 3 and st["phase"] == "trials" and pseudonym_of(study, st["token"]) == me
    assert st["trials"] == first["trials"]
    assert client.get("/api/state", headers=auth(first["token"])).status_code == 401  # the old browser's is gone
    assert answer(client, st["token"], 3, 0)["stored"] is True
    assert client.post("/api/session", json={"prolific_pid": PID}).status_code == 409  # an unlock works once
    # a participant without a Prolific id is never locked out: nothing to unlock
    other = pseudonym_of(study, start(client)["token"])
    assert vpt.cli.main(["human", "unlock", "--db", db, "--participant", other]) == 2
    assert "without a Prolific id" in capsys.readouterr().err


def check_headers(r, what):
    for k, v in server.SECURITY_HEADERS.items():
        assert r.headers.get(k) == v, (what, r.status_code, k, r.headers.get(k))


def test_every_route_and_every_error_sends_the_security_headers(env, monkeypatch):
    study, client = env["open"]()
    st = start(client)
    token = st["token"]
    seen = set()
    for route in client.app.routes:
        path = route.path
        methods = getattr(route, "methods", None) or {"GET"}
        for method in sorted(methods - {"HEAD"}):
            url = (path.replace("{name}", st["trials"][0]["src"].rsplit("/", 1)[1])
                   .replace("{path:path}", "style.css"))
            if path == "/static":
                url = "/static/style.css"
            if path in ("/admin", "/api/admin"):
                url += "?token=admin-token-123"
            body = {"kind": "break"} if path == "/api/event" else {}
            r = client.request(method, url, headers=auth(token), json=body if method == "POST" else None)
            assert r.status_code < 500, (method, url, r.text)
            check_headers(r, (method, url))
            seen.add(path)
    assert {"/", "/static", "/stimuli/{name}", "/api/session", "/api/state", "/api/event", "/api/response",
            "/api/finish", "/api/admin", "/admin"} <= seen
    errors = [client.get("/nowhere"), client.get("/static/../x"), client.get("/api/state"),
              client.get("/api/admin"), client.post("/api/response", content="x", headers=auth(token)),
              client.post("/api/finish", headers=auth(token))]
    assert sorted({r.status_code for r in errors}) == [401, 403, 404, 409, 422]
    monkeypatch.setattr(study.db, "participants", lambda: 1 / 0)
    errors.append(client.get("/api/admin?token=admin-token-123"))
    assert errors[-1].status_code == 500 and "Traceback" not in errors[-1].text
    for r in errors:
        check_headers(r, r.url)
    csp = dict(part.strip().split(" ", 1) for part in server.SECURITY_HEADERS["Content-Security-Policy"].split(";"))
    assert csp["default-src"] == csp["script-src"] == "'self'" and csp["frame-ancestors"] == "'none'"


def test_the_export_keeps_position_input_and_window_of_every_answer(env):
    study, client = env["open"]()
    t = start(client)["token"]
    labels = study.stimuli.by_scene()
    plan = study.db.plan(pseudonym_of(study, t))
    inputs = ("keyboard", "mouse", "touch")
    for idx, _, scene, _ in plan:
        answer(client, t, idx, labels[scene].label, input_=inputs[idx % 3], window=(1000 + idx, 600 + idx),
               rt_ms=150.0 if idx == 5 else 900.0)
    assert client.post("/api/finish", headers=auth(t)).status_code == 200
    study.db.close()
    r = export_study(study.db.path, env["ds"], env["tmp"] / "results")
    answers = pd.read_parquet(Path(r["folder"]) / "answers.parquet")
    trials = store.read_trials(env["tmp"] / "results")
    assert len(answers) == len(trials) == len(plan)
    assert answers["trial_position"].tolist() == list(range(len(plan)))
    assert answers["input"].tolist() == [inputs[i % 3] for i in range(len(plan))]
    assert answers["window_w"].tolist() == [1000 + i for i in range(len(plan))]
    assert answers["window_h"].tolist() == [600 + i for i in range(len(plan))]
    assert answers["too_fast"].tolist() == [i == 5 for i in range(len(plan))]
    key = ["decision_maker", "scene_id", "variant"]
    joined = trials.merge(answers, on=key, suffixes=("", "_a"))
    assert len(joined) == len(trials) and (joined["response"] == joined["response_a"]).all()
    assert pd.read_csv(Path(r["folder"]) / "answers.csv").shape == answers.shape


def cone_angle(svg: str) -> float:
    """The angle between the two edge lines of the drawn cone, in degrees."""
    lines = re.findall(r'<line class="vpt-cone-line" x1="([\d.]+)" y1="([\d.]+)" x2="([\d.]+)" y2="([\d.]+)"', svg)
    (a, b) = [math.atan2(-(float(y2) - float(y1)), float(x2) - float(x1)) for x1, y1, x2, y2 in lines]
    return abs(math.degrees(a - b))


@pytest.mark.parametrize("hfov", [70.0, 48.0])
def test_the_tutorial_draws_the_scenes_field_of_view_and_shows_warmup_examples(env, tmp_path, hfov):
    ds = make_dataset(tmp_path / "data" / f"fov{int(hfov)}", n_human=6, n_warmup=6, hfov_deg=hfov)
    study, client = env["open"](dataset=ds)
    st = start(client)
    html = st["tutorial_html"]
    assert abs(cone_angle(html) - hfov) < 0.5 and f"{hfov:g}° wide" in html
    kinds = re.findall(r'data-kind="(\w+)"><img src="/stimuli/([0-9a-f]{16}).png"', html)
    assert [k for k, _ in kinds] == ["yes", "occluded", "out_of_view"]
    warm = {s.key: s for s in study.stimuli.warmup}
    assert all(key in warm for _, key in kinds)  # warm-up (train) items only, never a test item
    got = {kind: (warm[key].label, warm[key].hidden_reason) for kind, key in kinds}
    assert got == {"yes": (1, ""), "occluded": (0, "occluded"), "out_of_view": (0, "out_of_view")}
    for _, key in kinds:
        assert client.get(f"/stimuli/{key}.png").status_code == 200


def test_the_depth_tutorial_shows_one_example_of_each_answer_and_no_cone(env):
    study, client = env["open"](task="depth")
    html = start(client)["tutorial_html"]
    assert "vpt-cone" not in html
    kinds = re.findall(r'data-kind="(\w+)"><img src="/stimuli/([0-9a-f]{16}).png"', html)
    warm = {s.key: s for s in study.stimuli.warmup}
    assert [(k, warm[key].label) for k, key in kinds] == [("ball", 1), ("camera", 0)]


def test_a_database_from_before_unlock_gets_the_column_and_keeps_its_participants(tmp_path):
    import sqlite3

    from vpt.deciders.human.db import SCHEMA, StudyDB

    old = SCHEMA.replace(",\n    unlock_pending INTEGER NOT NULL DEFAULT 0", "")
    assert "unlock_pending" not in old
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as c:
        c.executescript(old)
        c.execute("INSERT INTO participants (pseudonym, token_sha256, pid_hmac, seed, flip, started_at) "
                  "VALUES ('p-00000000000000aa', 'x', 'hmac', 1, 0, '2026-01-01')")
    db = StudyDB(path)
    db.unlock("p-00000000000000aa")
    assert db.reissue_token("hmac", "a-new-token-of-twenty-chars") == "p-00000000000000aa"
    assert db.participant_by_token("a-new-token-of-twenty-chars").pseudonym == "p-00000000000000aa"
    db.close()


def test_a_pattern_the_right_answers_show_themselves_is_not_flagged():
    from vpt.deciders.human.summary import quality

    cfg = StudyConfig(task="vpt")
    scenes = [f"s{i}" for i in range(20)]

    def rows(responses):
        return [{"block": "test", "scene_id": s, "response": r, "rt_ms": 900.0, "timed_out": False}
                for s, r in zip(scenes, responses)]

    alternating_truth = {s: i % 2 for i, s in enumerate(scenes)}
    careful = quality(rows([i % 2 for i in range(20)]), alternating_truth, cfg)  # right every time
    assert careful["switch_share"] == 1.0 and careful["flags"] == "" and careful["test_accuracy"] == 1.0
    mixed_truth = {s: int(i in (0, 1, 2, 5, 6, 9, 12, 13, 15, 18)) for i, s in enumerate(scenes)}
    alternator = quality(rows([i % 2 for i in range(20)]), mixed_truth, cfg)
    assert alternator["flags"] == "alternating"
    one_key = quality(rows([1] * 20), mixed_truth, cfg)
    assert one_key["flags"] == "one_key"
    all_ones_truth = {s: 1 for s in scenes}  # a block whose right answer is always yes
    assert quality(rows([1] * 20), all_ones_truth, cfg)["flags"] == ""


def test_tutorial_examples_are_asked_again_as_checks_only_when_other_warmup_items_run_out(env):
    study, client = env["open"](attention_checks=6)
    shown = {s.scene_id for s, _, _ in examples(study.stimuli, "vpt")}
    others = {s.scene_id for s in study.stimuli.warmup} - shown
    assert shown and others
    for _ in range(5):
        plan = study.db.plan(pseudonym_of(study, start(client)["token"]))
        asked = [scene for _, block, scene, _ in plan if block == "attention"]
        # every other warm-up item is asked first; the examples only after them
        n = len(others)
        assert len(asked) == 6 and set(asked[:n]) == others and set(asked[n:n + len(shown)]) <= shown
