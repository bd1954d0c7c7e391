"""Batch APIs (OpenAI Batch, Anthropic Message Batches) through the real SDKs over a mocked
transport: submit, poll while in progress, collect into the cache at the batch price, resubmit
only what a batch failed to answer, then write the run without a synchronous call."""

from __future__ import annotations

import json
import re

import pytest

from tests.vlm_mock import anthropic_body, httpx2, openai_body  # skips the module without the vlm extra
from tests.test_vlm_harness import FAKE_KEY, _n, _register, _run, dataset  # noqa: F401 - fixtures
from vpt.deciders.vlm.cache import ResponseCache
from vpt.deciders.vlm.cost import price_for
from vpt.deciders.vlm.providers import base
from vpt.trials import store


class BatchServer:
    """Just enough of both batch APIs: each batch is in progress at its first poll, ended at
    the next; the request whose custom id is in ``fail`` errors once."""

    def __init__(self, fail: int = 0) -> None:
        self.batches: dict[str, dict] = {}
        self.polls: dict[str, int] = {}
        self.fail_left = fail
        self.sync_calls = 0
        self.submitted: list[list[str]] = []

    def _results(self, bid: str, kind: str) -> str:
        lines = []
        for cid, body in self.batches[bid]["requests"]:
            if self.fail_left:
                self.fail_left -= 1
                err = {"custom_id": cid, "response": {"status_code": 500, "body": {}}} if kind == "openai" else \
                    {"custom_id": cid, "result": {"type": "errored", "error": {"type": "error", "error": {
                        "type": "api_error", "message": "x"}}}}
                lines.append(json.dumps(err))
                continue
            if kind == "openai":
                lines.append(json.dumps({"custom_id": cid, "response": {"status_code": 200,
                                                                        "body": openai_body("No", body["model"])}}))
            else:
                lines.append(json.dumps({"custom_id": cid, "result": {"type": "succeeded",
                                                                      "message": anthropic_body("No", body["model"])}}))
        return "\n".join(lines) + "\n"

    def handler(self, request: httpx2.Request) -> httpx2.Response:
        url, path = str(request.url), request.url.path
        if path == "/v1/files" and request.method == "POST":
            reqs = [json.loads(l) for l in request.content.decode().splitlines() if l.startswith('{"custom_id"')]
            self.batches["pending-file"] = {"requests": [(r["custom_id"], r["body"]) for r in reqs]}
            return httpx2.Response(200, json={"id": "file-in", "object": "file", "bytes": 1, "created_at": 0,
                                              "filename": "vpt-batch.jsonl", "purpose": "batch", "status": "processed"})
        if path == "/v1/batches" and request.method == "POST":
            bid = f"batch_{len(self.submitted) + 1}"
            self.batches[bid] = self.batches.pop("pending-file")
            self.submitted.append([c for c, _ in self.batches[bid]["requests"]])
            return httpx2.Response(200, json=self._openai_batch(bid, "validating"))
        m = re.fullmatch(r"/v1/batches/(\w+)", path)
        if m:
            bid = m.group(1)
            self.polls[bid] = self.polls.get(bid, 0) + 1
            return httpx2.Response(200, json=self._openai_batch(bid, "in_progress" if self.polls[bid] == 1
                                                                else "completed"))
        m = re.fullmatch(r"/v1/files/out-(\w+)/content", path)
        if m:
            return httpx2.Response(200, text=self._results(m.group(1), "openai"))
        if path == "/v1/messages/batches" and request.method == "POST":
            body = json.loads(request.content)
            bid = f"msgbatch_{len(self.submitted) + 1}"
            self.batches[bid] = {"requests": [(r["custom_id"], r["params"]) for r in body["requests"]]}
            self.submitted.append([r["custom_id"] for r in body["requests"]])
            return httpx2.Response(200, json=self._anthropic_batch(bid, "in_progress"))
        m = re.fullmatch(r"/v1/messages/batches/(\w+)/results", path)
        if m:
            return httpx2.Response(200, text=self._results(m.group(1), "anthropic"),
                                   headers={"content-type": "application/binary"})
        m = re.fullmatch(r"/v1/messages/batches/(\w+)", path)
        if m:
            bid = m.group(1)
            self.polls[bid] = self.polls.get(bid, 0) + 1
            return httpx2.Response(200, json=self._anthropic_batch(bid, "in_progress" if self.polls[bid] == 1
                                                                   else "ended"))
        self.sync_calls += 1
        return httpx2.Response(500, json={"error": {"message": f"unexpected {request.method} {url}"}})

    @staticmethod
    def _openai_batch(bid: str, status: str) -> dict:
        return {"id": bid, "object": "batch", "endpoint": "/v1/chat/completions", "input_file_id": "file-in",
                "completion_window": "24h", "status": status, "created_at": 0,
                "output_file_id": f"out-{bid}" if status == "completed" else None}

    @staticmethod
    def _anthropic_batch(bid: str, status: str) -> dict:
        return {"id": bid, "type": "message_batch", "processing_status": status,
                "request_counts": {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0},
                "created_at": "2026-01-01T00:00:00Z", "expires_at": "2026-01-02T00:00:00Z", "ended_at": None,
                "cancel_initiated_at": None, "archived_at": None,
                "results_url": f"https://api.anthropic.com/v1/messages/batches/{bid}/results" if status == "ended"
                else None}


@pytest.mark.parametrize("provider,model,env", [("openai", "gpt-4o-mini-2024-07-18", "OPENAI_API_KEY"),
                                                ("anthropic", "claude-3-5-haiku-20241022", "ANTHROPIC_API_KEY")])
def test_batch_submits_polls_collects_and_resubmits_only_failures(dataset, tmp_path, monkeypatch, capsys,
                                                                  provider, model, env):
    server = BatchServer(fail=1)
    monkeypatch.setattr(base, "HTTP_CLIENT_FACTORY", lambda: httpx2.Client(transport=httpx2.MockTransport(server.handler)))
    monkeypatch.setenv(env, FAKE_KEY)
    out = tmp_path / "r"
    args = [str(dataset), "--provider", provider, "--model", model, "--out", str(out), "--quiet", "--task", "vpt",
            "--split", "test", "--shots", "2", "--batch", "--free-text"]
    n = _n(dataset, "test")
    assert _run(args) == 0  # submits batch 1 (n requests)
    assert "submitted" in capsys.readouterr().out and len(server.submitted) == 1 and len(server.submitted[0]) == n
    assert _run(args) == 0  # batch 1 still in progress: nothing new is submitted
    assert len(server.submitted) == 1 and not store.finished_runs(out)
    assert _run(args) == 0  # batch 1 ended: n - 1 answers collected, the failed one resubmitted alone
    assert len(server.submitted) == 2 and len(server.submitted[1]) == 1
    assert len(ResponseCache(out / ".vlm-cache.sqlite")) == n - 1 and not store.finished_runs(out)
    assert _run(args) == 0  # batch 2 in progress
    assert _run(args) == 0  # batch 2 ended: every answer in, the run is written
    (run,) = store.finished_runs(out)
    trials = store.read_trials(run)
    assert len(trials) == n and (trials["response"] == 0).all() and server.sync_calls == 0
    cost = store.read_manifest(run)["cost"]
    assert cost["batch_calls"] == n and cost["sent"] == 0
    assert cost["usd"] == pytest.approx(n * 0.5 * price_for(provider, model).usd(1000, 2), rel=1e-3)
    assert _run(args) == 0 and len(server.submitted) == 2  # the finished run is kept


def test_batch_is_refused_for_a_provider_without_one(dataset, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GEMINI_API_KEY", FAKE_KEY)
    args = [str(dataset), "--provider", "google", "--model", "gemini-2.5-flash", "--out", str(tmp_path), "--quiet",
            "--split", "test", "--shots", "0", "--batch"]
    assert _run(args) != 0
    assert "no batch API" in capsys.readouterr().err
