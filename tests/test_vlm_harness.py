"""The VLM harness end to end on a tiny planned dataset with small PNGs, through the real SDK
clients over a mocked transport: trial rows, controls, k-shot draw, cache and resume, retries,
budget, dry run, and that a key in the environment reaches no output."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image as PILImage

import vpt.cli
from tests.vlm_mock import MockAPI, register_vlm_cli, with_fake_images
from vpt.deciders.vlm import harness as harness_mod
from vpt.deciders.vlm.cache import ResponseCache
from vpt.deciders.vlm.prompts import exemplar_items
from vpt.errors import UserError
from vpt.trials import store
from vpt.trials.items import load_dataset

MODEL = "gpt-4o-2024-08-06"
FAKE_KEY = "sk-FAKE-vpt-leak-check-0123456789abcdef"


@pytest.fixture(autouse=True)
def _register(monkeypatch):
    register_vlm_cli(monkeypatch, FAKE_KEY)


@pytest.fixture(scope="module")
def dataset(tiny_benchmark, tmp_path_factory) -> Path:
    """A copy of the session's tiny planned benchmark with one small PNG per scene (red channel
    255 where the viewer sees the ball: the mock model reads it)."""
    return with_fake_images(tiny_benchmark, tmp_path_factory.mktemp("vlmdata") / "tiny")


def _n(dataset: Path, *splits: str) -> int:
    """How many items the dataset has in ``splits``."""
    return int(pd.read_parquet(dataset / "index.parquet", columns=["split"])["split"].isin(splits).sum())


def _seen_pixel(body: dict) -> str:
    """The mock model: reads the last image of an OpenAI request and answers the VPT question right."""
    import base64

    url = [c for c in body["messages"][-1]["content"] if c["type"] == "image_url"][-1]["image_url"]["url"]
    im = PILImage.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB")
    yes = im.getpixel((0, 0))[0] > 128
    if "A or B" in json.dumps(body):
        opts = body["messages"][-1]["content"][-1]["text"]
        a_is_can = "A. The green camera can see" in opts
        return '{"answer": "%s"}' % ("A" if yes == a_is_can else "B")
    return '{"answer": "%s"}' % ("yes" if yes else "no")


def _run(args: list[str]) -> int:
    return vpt.cli.main(["vlm", "run", *args])


def _base(dataset, out, *extra) -> list[str]:
    return [str(dataset), "--provider", "openai", "--model", MODEL, "--out", str(out), "--quiet", "--task", "vpt",
            "--shots", "4", "--concurrency", "2", *extra]


def test_end_to_end_rows_controls_cost_and_rerun(dataset, tmp_path, monkeypatch, capsys):
    api = MockAPI(lambda body, url: _seen_pixel(body)).install(monkeypatch)
    out = tmp_path / "results"
    args = _base(dataset, out, "--split", "test", "ood", "--variants", "default", "mirror", "blank",
                 "--repeats", "2", "--repeat-subset", "3")
    assert _run(args) == 0
    printed = capsys.readouterr().out
    (run,) = store.finished_runs(out)
    trials = store.read_trials(run)
    n_items = _n(dataset, "test", "ood")
    assert len(trials) == api.calls == n_items * 3 + 3 * 2
    assert set(trials["kind"]) == {"vlm"} and set(trials["decision_maker"]) == {f"vlm:openai:{MODEL}"}
    assert set(trials["variant"]) == {f"v1:plain:yes_no:k4:{c}" for c in ("default", "mirror", "blank")}
    rep = trials[trials["repeat"] > 0]
    assert len(rep) == 6 and set(rep["variant"]) == {"v1:plain:yes_no:k4:default"}
    default = trials[trials["variant"].str.endswith(":default")]
    assert default["correct"].all()  # the mock reads the pixel; mirroring keeps the label
    assert trials[trials["variant"].str.endswith(":mirror")]["correct"].all()
    assert trials["rt_ms"].notna().all()
    # k-shot: 4 exemplar turns before the tested image, alternating, then the test
    roles = [m["role"] for m in api.requests[0]["json"]["messages"]]
    assert roles == ["system"] + ["user", "assistant"] * 4 + ["user"]
    m = store.read_manifest(run)
    c = m["cost"]
    assert c["sent"] == api.calls and c["input_tokens"] == 1000 * api.calls and c["output_tokens"] == 2 * api.calls
    assert c["usd"] == pytest.approx(api.calls * (1000 * 2.5 + 2 * 10.0) / 1e6)
    assert c["price_as_of"] == "2025-06-01"
    assert m["images"]["format"] == "PNG" and m["images"]["sizes_sent"] == ["512x384"]
    calls = pd.read_parquet(run / "calls.parquet")
    assert (calls["image_width"] == 512).all() and calls["text"].str.contains('"answer"').all()
    assert "| vpt | v1:plain:yes_no:k4:default |" in printed
    # the rerun of a finished run makes zero calls; so does --retry-failed when nothing failed
    before = api.calls
    assert _run(args) == 0 and api.calls == before
    assert "kept; no calls made" in capsys.readouterr().out
    assert _run(args + ["--retry-failed"]) == 0 and api.calls == before


def test_swap_exchanges_the_options_and_their_labels(dataset, tmp_path, monkeypatch):
    api = MockAPI(lambda body, url: _seen_pixel(body)).install(monkeypatch)
    out = tmp_path / "r"
    assert _run(_base(dataset, out, "--split", "test", "--form", "two_option", "--variants", "default", "swap",
                      "--shots", "0")) == 0
    trials = store.read_trials(*store.finished_runs(out))
    n = _n(dataset, "test")
    assert trials["correct"].all() and len(trials) == 2 * n
    texts = [r["json"]["messages"][-1]["content"][-1]["text"] for r in api.requests]
    assert sum("A. The green camera can see" in t for t in texts) == n
    assert sum("A. The green camera cannot see" in t for t in texts) == n


def test_exemplars_are_train_disjoint_balanced_and_fixed(dataset):
    ds = load_dataset(dataset)
    tested = set(ds.items.loc[ds.items["split"] == "test", "scene_id"])
    a = exemplar_items(ds.items, tested, "vpt", 6, seed=1)
    assert len(a) == 6 and set(a["split"]) == {"train"} and not (set(a["scene_id"]) & tested)
    assert a["vpt_label"].astype(int).sum() == 3
    assert a["scene_id"].tolist() == exemplar_items(ds.items, tested, "vpt", 6, seed=1)["scene_id"].tolist()
    assert a["scene_id"].tolist() != exemplar_items(ds.items, tested, "vpt", 6, seed=2)["scene_id"].tolist()
    with pytest.raises(UserError, match="lower --shots"):
        exemplar_items(ds.items, tested, "vpt", 200, seed=1)


def test_interrupted_run_resumes_sending_only_the_missing_requests(dataset, tmp_path, monkeypatch):
    api = MockAPI(lambda body, url: _seen_pixel(body)).install(monkeypatch)
    out = tmp_path / "r"
    seen = {"n": 0}
    real = harness_mod.Harness._record

    def crash_after_five(self, job, *a, **k):  # Ctrl-C arrives in the middle of the run
        rec = real(self, job, *a, **k)
        seen["n"] += 1
        if seen["n"] == 5:
            raise KeyboardInterrupt
        return rec

    monkeypatch.setattr(harness_mod.Harness, "_record", crash_after_five)
    args = _base(dataset, out, "--split", "test", "ood")
    assert _run(args) == 130
    assert not store.finished_runs(out)
    answered = len(ResponseCache(out / ".vlm-cache.sqlite"))
    first = api.calls
    n = _n(dataset, "test", "ood")
    assert 5 <= answered == first < n
    monkeypatch.setattr(harness_mod.Harness, "_record", real)
    assert _run(args) == 0
    assert api.calls - first == n - answered  # only the missing ones
    fps = [json.dumps(r["json"], sort_keys=True) for r in api.requests]
    assert len(set(fps)) == len(fps) == n  # no request was ever sent twice


def test_retries_honour_retry_after_and_failures_become_invalid_rows(dataset, tmp_path, monkeypatch):
    api = MockAPI(lambda body, url: _seen_pixel(body)).install(monkeypatch)
    waits: list[float] = []
    monkeypatch.setattr(harness_mod, "SLEEP", waits.append)
    err = {"error": {"message": "mock", "type": "x", "code": None}}
    api.script = [(429, {"retry-after": "7"}, err), (500, {}, err), (400, {}, err), "timeout"]
    out = tmp_path / "r"
    args = _base(dataset, out, "--split", "test", "--concurrency", "1", "--shots", "0")
    assert _run(args) == 0
    assert waits[0] == 7.0 and len(waits) == 2  # 429 waited Retry-After; 500 backed off; 400 and timeout not retried
    trials = store.read_trials(*store.finished_runs(out))
    calls = pd.read_parquet(store.finished_runs(out)[0] / "calls.parquet")
    n = _n(dataset, "test")
    assert sorted(calls["status"]) == ["error"] + ["ok"] * (n - 2) + ["timeout"]
    bad = trials[trials["response"].isna()]
    assert len(bad) == 2 and bad["correct"].isna().all() and bad["rt_ms"].notna().all()
    assert len(ResponseCache(out / ".vlm-cache.sqlite")) == n - 2  # failures are never cached
    sent = api.calls
    assert _run(args + ["--retry-failed"]) == 0
    assert api.calls - sent == 2  # only the two failures are sent again
    trials = store.read_trials(*store.finished_runs(out))
    assert trials["response"].notna().all()


def test_budget_stops_cleanly_and_a_larger_budget_finishes(dataset, tmp_path, monkeypatch, capsys):
    api = MockAPI(lambda body, url: _seen_pixel(body)).install(monkeypatch)
    out = tmp_path / "r"
    args = _base(dataset, out, "--split", "test", "ood", "--concurrency", "1", "--shots", "0")
    assert _run(args + ["--budget-usd", "0.02"]) != 0
    err = capsys.readouterr().err
    assert "budget $0.02 reached" in err and "no results were written" in err
    assert not store.finished_runs(out) and not list(out.glob("*/run.json"))
    sent = api.calls
    assert 0 < sent < _n(dataset, "test", "ood") and sent * (1000 * 2.5 + 2 * 10) / 1e6 <= 0.02
    assert _run(args + ["--budget-usd", "5"]) == 0
    assert api.calls == _n(dataset, "test", "ood")


def test_dry_run_and_estimate_send_nothing(dataset, tmp_path, monkeypatch, capsys):
    api = MockAPI().install(monkeypatch)
    monkeypatch.delenv("OPENAI_API_KEY")
    out = tmp_path / "r"
    assert vpt.cli.main(["vlm", *_base(dataset, out, "--split", "test", "--dry-run")]) == 0  # `run` implied
    text = capsys.readouterr().out
    n = _n(dataset, "test")
    assert f"{n} requests (0 cached, {n} to send)" in text and "estimated cost $" in text and "Nothing was sent" in text
    assert vpt.cli.main(["vlm", "estimate", *_base(dataset, out, "--split", "test", "--prompt", "cot")]) == 0
    assert "at most $" in capsys.readouterr().out
    assert api.calls == 0 and not store.finished_runs(out)
    assert _run(_base(dataset, out, "--split", "test")) != 0
    err = capsys.readouterr().err.strip()
    assert "OPENAI_API_KEY" in err and len(err.splitlines()) == 1 and api.calls == 0


def test_an_unpriced_model_and_an_unrendered_dataset_are_clear_errors(dataset, tmp_path, monkeypatch, capsys):
    MockAPI().install(monkeypatch)
    args = _base(dataset, tmp_path, "--split", "test")
    args[args.index(MODEL)] = "gpt-unknown"
    assert _run(args) != 0
    assert "no price for openai model 'gpt-unknown'" in capsys.readouterr().err


def test_the_key_reaches_no_output(dataset, tmp_path, monkeypatch, capsys, caplog):
    api = MockAPI(lambda body, url: _seen_pixel(body)).install(monkeypatch)
    api.script = [(500, {}, {"error": {"message": "boom"}}), "timeout"]
    out = tmp_path / "r"
    caplog.set_level("DEBUG")
    assert _run(_base(dataset, out, "--split", "test", "--variants", "default", "mirror")) == 0
    assert vpt.cli.main(["vlm", "estimate", *_base(dataset, out, "--split", "test")]) == 0
    assert any(FAKE_KEY in json.dumps(r["headers"]) for r in api.requests)  # it was used ...
    captured = capsys.readouterr()
    files = [p for p in out.rglob("*") if p.is_file()]
    assert {p.suffix for p in files} >= {".parquet", ".json", ".sqlite"}
    for p in files:  # ... and appears in no cache, WAL, manifest, Parquet part or call log
        data = p.read_bytes()
        assert FAKE_KEY.encode() not in data and FAKE_KEY[8:30].encode() not in data, p
    assert FAKE_KEY not in captured.out + captured.err + caplog.text


@pytest.mark.parametrize("provider,model,env", [("anthropic", "claude-sonnet-4-20250514", "ANTHROPIC_API_KEY"),
                                                ("google", "gemini-2.5-flash", "GEMINI_API_KEY"),
                                                ("openai-compatible", "qwen2.5-vl-7b", None)])
def test_every_provider_runs_through_the_harness(dataset, tmp_path, monkeypatch, provider, model, env):
    api = MockAPI(lambda body, url: "Final answer: No").install(monkeypatch)
    if env:
        monkeypatch.setenv(env, FAKE_KEY)
    out = tmp_path / "r"
    args = [str(dataset), "--provider", provider, "--model", model, "--out", str(out), "--quiet", "--split", "test",
            "--shots", "2", "--free-text", "--prompt", "cot"]
    if provider == "openai-compatible":
        args += ["--base-url", "http://127.0.0.1:11434/v1"]
    assert _run(args) == 0
    trials = store.read_trials(*store.finished_runs(out))
    n = 2 * _n(dataset, "test")  # both tasks
    assert len(trials) == api.calls == n and (trials["response"] == 0).all()
    assert set(trials["variant"]) == {"v1:cot:yes_no:k2:default"}
    cost = store.read_manifest(store.finished_runs(out)[0])["cost"]
    from vpt.deciders.vlm.cost import price_for

    assert cost["sent"] == n and cost["usd"] == pytest.approx(n * price_for(provider, model).usd(1000, 2))
    assert (cost["usd"] == 0.0) == (provider == "openai-compatible")
    if provider == "openai-compatible":
        assert all(r["url"].startswith("http://127.0.0.1:11434/v1/") for r in api.requests)
    assert _run(args) == 0 and api.calls == n


CHILD = r"""
import sys, time
sys.path.insert(0, {root!r})
import httpx2, vpt.cli
from tests.vlm_mock import MockAPI
from tests.test_vlm_harness import _seen_pixel
from vpt.deciders.vlm.providers import base
api = MockAPI(lambda body, url: (time.sleep(0.15), _seen_pixel(body))[1])
base.HTTP_CLIENT_FACTORY = lambda: httpx2.Client(transport=httpx2.MockTransport(api.handler))
vpt.cli.EVALUATOR_COMMANDS = (*vpt.cli.EVALUATOR_COMMANDS, "vpt.deciders.vlm.cli")
sys.exit(vpt.cli.main(["vlm", "run", *sys.argv[1:]]))
"""


def test_a_killed_process_loses_no_answer_and_the_rerun_sends_only_the_rest(dataset, tmp_path, monkeypatch):
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "r"
    args = _base(dataset, out, "--split", "test", "ood", "--concurrency", "1", "--shots", "0")
    root = str(Path(__file__).resolve().parents[1])
    child = subprocess.Popen([sys.executable, "-c", CHILD.format(root=root), *args], cwd=root,
                             env={**os.environ, "OPENAI_API_KEY": FAKE_KEY}, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    db = out / ".vlm-cache.sqlite"
    deadline = time.time() + 60
    while time.time() < deadline:
        if db.exists() and len(ResponseCache(db)) >= 4:
            break
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)  # no cleanup of any kind
    child.wait(timeout=30)
    answered = len(ResponseCache(db))
    n = _n(dataset, "test", "ood")
    assert 4 <= answered < n and not store.finished_runs(out)
    api = MockAPI(lambda body, url: _seen_pixel(body)).install(monkeypatch)
    assert _run(args) == 0
    assert api.calls == n - answered
    assert len(store.read_trials(*store.finished_runs(out))) == n


def test_a_refusal_is_cached_tagged_and_invalid(dataset, tmp_path, monkeypatch):
    api = MockAPI(lambda body, url: _seen_pixel(body)).install(monkeypatch)
    api.script = ["refusal"]
    out = tmp_path / "r"
    args = _base(dataset, out, "--split", "test", "--concurrency", "1", "--shots", "0")
    assert _run(args) == 0
    run = store.finished_runs(out)[0]
    calls = pd.read_parquet(run / "calls.parquet")
    assert sorted(calls["status"]) == ["ok"] * (_n(dataset, "test") - 1) + ["refusal"]
    refused = calls[calls["status"] == "refusal"].iloc[0]
    assert refused["parse"] == "invalid" and pd.isna(refused["response"])
    assert store.read_trials(run)["response"].isna().sum() == 1
    sent = api.calls
    assert _run(args + ["--retry-failed"]) == 0 and api.calls == sent  # a refusal is an answer: not resent


def test_run_options_read_the_command_line(tmp_path):
    """``vpt vlm run``'s sending options travel as one frozen RunOptions (was 17 parameters)."""
    from dataclasses import FrozenInstanceError

    from vpt.deciders.vlm.run import RunOptions

    args = vpt.cli.build_parser().parse_args(["vlm", "run", *_base(tmp_path / "ds", tmp_path, "--split", "test", "ood",
                                                                   "--budget", "0.5", "--rpm", "30", "--retry-failed",
                                                                   "--cache", str(tmp_path / "c.sqlite"))])
    o = RunOptions.from_args(args, ["vpt", "vlm", "run"])
    assert o == RunOptions(selection="all", splits=("test", "ood"), budget_usd=0.5, retry_failed=True, concurrency=2,
                           rpm=30.0, tpm=None, cache_path=tmp_path / "c.sqlite", timeout_s=60.0, batch=False,
                           command=("vpt", "vlm", "run"))
    assert RunOptions(splits=["test"], cache_path=str(tmp_path)).splits == ("test",)
    with pytest.raises(FrozenInstanceError):
        o.concurrency = 8  # type: ignore[misc]
