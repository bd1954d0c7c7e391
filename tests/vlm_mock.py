"""A mocked HTTP side for the VLM tests: the real SDK clients over httpx2.MockTransport.

Answers in each API's documented response format; records every request (URL, headers,
JSON body); a script of failures (status codes with headers, timeouts) is served first.
"""

from __future__ import annotations

import json
import threading
from typing import Any, Callable

import pytest

VLM_EXTRA = "needs the vlm extra: pip install -e '.[vlm]'"
for _sdk in ("openai", "anthropic", "google.genai"):  # the modules that use this mock skip without them
    pytest.importorskip(_sdk, reason=VLM_EXTRA)
httpx2 = pytest.importorskip("httpx2", reason=VLM_EXTRA)

from vpt.deciders.vlm.providers import base  # noqa: E402


def openai_body(text: str | None, model: str, refusal: str | None = None) -> dict[str, Any]:
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": model,
            "system_fingerprint": "fp_test",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": refusal},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1000, "completion_tokens": 2, "total_tokens": 1002}}


def anthropic_body(text: str, model: str, stop: str = "end_turn") -> dict[str, Any]:
    return {"id": "msg_1", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": text}], "stop_reason": stop, "stop_sequence": None,
            "usage": {"input_tokens": 1000, "output_tokens": 2}}


def google_body(text: str, model: str, finish: str = "STOP") -> dict[str, Any]:
    return {"candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": finish}],
            "usageMetadata": {"promptTokenCount": 1000, "candidatesTokenCount": 2, "totalTokenCount": 1002},
            "modelVersion": model}


class MockAPI:
    """One fake server for all providers; ``answer(request_json, url) -> text``."""

    def __init__(self, answer: Callable[[dict, str], str] | None = None) -> None:
        self.answer = answer or (lambda body, url: "yes")
        self.requests: list[dict[str, Any]] = []
        self.script: list[Any] = []  # (status, headers, body) | "timeout" | "refusal"
        self._lock = threading.Lock()

    @property
    def calls(self) -> int:
        return len(self.requests)

    def handler(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content or b"{}")
        url = str(request.url)
        with self._lock:
            self.requests.append({"url": url, "headers": dict(request.headers), "json": body})
            step = self.script.pop(0) if self.script else None
        if step == "timeout":
            raise httpx2.ReadTimeout("mock timeout", request=request)
        if isinstance(step, tuple):
            status, headers, payload = step
            return httpx2.Response(status, headers=headers, json=payload)
        model = body.get("model") or url.split("/models/")[-1].split(":")[0]
        refusal = step == "refusal"
        if "generativelanguage" in url or ":generateContent" in url:
            return httpx2.Response(200, json=google_body("I can't help with that." if refusal else
                                                         self.answer(body, url), model,
                                                         "SAFETY" if refusal else "STOP"))
        if "/v1/messages" in url:
            return httpx2.Response(200, json=anthropic_body("I can't help with that." if refusal else
                                                            self.answer(body, url), model,
                                                            "refusal" if refusal else "end_turn"))
        if refusal:
            return httpx2.Response(200, json=openai_body(None, model, refusal="I can't help with that."))
        return httpx2.Response(200, json=openai_body(self.answer(body, url), model))

    def install(self, monkeypatch) -> "MockAPI":
        monkeypatch.setattr(base, "HTTP_CLIENT_FACTORY",
                            lambda: httpx2.Client(transport=httpx2.MockTransport(self.handler)))
        return self


def with_fake_images(tiny_benchmark, dest):
    """A copy of the session's tiny planned benchmark at ``dest`` with one small PNG per scene:
    red channel 255 where the viewer sees the ball (the mock model reads it), a unique colour
    otherwise. Returns the copy's folder."""
    import shutil

    import pandas as pd
    from PIL import Image as PILImage

    shutil.copytree(tiny_benchmark, dest)
    index = pd.read_parquet(dest / "index.parquet")
    (dest / "images").mkdir()
    paths = []
    for i, (sid, lab) in enumerate(zip(index["scene_id"], index["vpt_label"])):
        rel = f"images/{sid}.png"
        PILImage.new("RGB", (80, 60), (255 if lab == 1 else 0, (37 * i) % 256, (11 * i) % 256)).save(dest / rel)
        paths.append(rel)
    index["image"] = paths
    index.to_parquet(dest / "index.parquet", index=False)
    return dest


def register_vlm_cli(monkeypatch, api_key: str) -> None:
    """`vpt vlm` registered on the CLI, the OpenAI key from the environment (a fake one, which
    the tests look for in every output), and the harness's retry sleep skipped."""
    import vpt.cli
    from vpt.deciders.vlm import harness

    if "vpt.deciders.vlm.cli" not in vpt.cli.EVALUATOR_COMMANDS:
        monkeypatch.setattr(vpt.cli, "EVALUATOR_COMMANDS", (*vpt.cli.EVALUATOR_COMMANDS, "vpt.deciders.vlm.cli"))
    monkeypatch.setenv("OPENAI_API_KEY", api_key)
    monkeypatch.setattr(harness, "SLEEP", lambda s: None)
