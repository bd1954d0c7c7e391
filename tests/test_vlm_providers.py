"""Each provider through its real SDK client over a mocked HTTP transport: request bodies
(images as PNG base64, roles and turn order for k-shot, JSON schema), usage, refusals,
error classes, keys from the environment only."""

from __future__ import annotations

import base64

import pytest
from PIL import Image as PILImage

from tests.vlm_mock import MockAPI
from vpt.deciders.vlm.harness import Harness, VLMConfig
from vpt.deciders.vlm.images import encode
from vpt.deciders.vlm.prompts import build_conversation, load_templates
from vpt.deciders.vlm.providers import provider_class
from vpt.deciders.vlm.providers.base import Params
from vpt.errors import UserError

MODELS = {"openai": "gpt-4o-2024-08-06", "anthropic": "claude-sonnet-4-20250514", "google": "gemini-2.5-flash",
          "openai-compatible": "qwen2.5-vl-7b"}
KEYS = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY", "google": "GEMINI_API_KEY"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def pictures(tmp_path):
    paths = []
    for i, colour in enumerate([(200, 10, 10), (10, 200, 10), (10, 10, 200)]):
        p = tmp_path / f"img{i}.png"
        PILImage.new("RGB", (96, 64), colour).save(p)
        paths.append(p)
    return [encode(p, 48) for p in paths]


@pytest.fixture
def keys(monkeypatch):
    for env in KEYS.values():
        monkeypatch.setenv(env, "test-key-not-secret")


def _conv(pictures, form="yes_no", style="plain", json_output=True, swap=False):
    t = load_templates()
    q = t.question("vpt", form, swap=swap)
    return build_conversation(t, style, q, pictures[2], [(pictures[0], 1), (pictures[1], 0)], json_output)


def _provider(name):
    return provider_class(name)(MODELS[name], "http://localhost:8000/v1" if name == "openai-compatible" else None, 5)


PARAMS = Params(temperature=0.0, max_tokens=64, seed=3, constrained=True)


def _b64_png(data: str) -> bytes:
    raw = base64.urlsafe_b64decode(data) if ("-" in data or "_" in data) else base64.b64decode(data)
    assert raw.startswith(PNG_MAGIC)
    return raw


def test_openai_request_body(monkeypatch, keys, pictures):
    api = MockAPI(lambda b, u: '{"answer": "no"}').install(monkeypatch)
    reply = _provider("openai").send(_conv(pictures), PARAMS)
    (req,) = api.requests
    assert req["url"] == "https://api.openai.com/v1/chat/completions"
    body = req["json"]
    assert body["model"] == MODELS["openai"] and body["max_completion_tokens"] == 64 and body["seed"] == 3
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user"]
    assert body["messages"][2]["content"] == '{"answer": "yes"}' and body["messages"][4]["content"] == '{"answer": "no"}'
    img = [c for c in body["messages"][5]["content"] if c["type"] == "image_url"][0]["image_url"]
    assert img["url"].startswith("data:image/png;base64,") and img["detail"] == "high"
    assert _b64_png(img["url"].split(",", 1)[1]) == pictures[2].png
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["schema"]["properties"]["answer"]["enum"] == ["yes", "no"]
    assert "Can the green camera see the red ball?" in body["messages"][5]["content"][-1]["text"]
    assert reply.text == '{"answer": "no"}' and (reply.input_tokens, reply.output_tokens) == (1000, 2)
    assert not reply.refusal and reply.model_version == f"{MODELS['openai']}/fp_test"


def test_openai_compatible_uses_the_base_url_and_no_key(monkeypatch, pictures):
    monkeypatch.delenv("OPENAI_COMPATIBLE_API_KEY", raising=False)
    api = MockAPI().install(monkeypatch)
    reply = _provider("openai-compatible").send(_conv(pictures, json_output=False), PARAMS)
    (req,) = api.requests
    assert req["url"] == "http://localhost:8000/v1/chat/completions"
    assert req["json"]["max_tokens"] == 64 and "max_completion_tokens" not in req["json"]
    assert reply.text == "yes"
    with pytest.raises(UserError, match="--base-url"):
        provider_class("openai-compatible")("m", None)


def test_anthropic_request_body(monkeypatch, keys, pictures):
    api = MockAPI(lambda b, u: "B").install(monkeypatch)
    reply = _provider("anthropic").send(_conv(pictures, form="two_option", style="cot"), PARAMS)
    (req,) = api.requests
    assert req["url"] == "https://api.anthropic.com/v1/messages"
    h = req["headers"]
    assert "test-key-not-secret" in (h.get("x-api-key", ""), h.get("authorization", "").removeprefix("Bearer "))
    body = req["json"]
    assert body["system"].startswith("# Can the camera see the ball?")
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user", "assistant", "user"]
    blocks = body["messages"][-1]["content"]
    img = [b for b in blocks if b["type"] == "image"][0]["source"]
    assert img["type"] == "base64" and img["media_type"] == "image/png" and _b64_png(img["data"]) == pictures[2].png
    text = blocks[-1]["text"]
    assert "A. The green camera can see the red ball." in text and "B. The green camera cannot" in text
    schema = body["output_config"]["format"]["schema"]
    assert list(schema["properties"]) == ["reasoning", "answer"] and schema["properties"]["answer"]["enum"] == ["A", "B"]
    assert body["temperature"] == 0.0
    assert reply.text == "B" and reply.input_tokens == 1000


def test_google_request_body(monkeypatch, keys, pictures):
    api = MockAPI(lambda b, u: '{"answer": "yes"}').install(monkeypatch)
    reply = _provider("google").send(_conv(pictures), PARAMS)
    (req,) = api.requests
    assert req["url"].endswith(f"/models/{MODELS['google']}:generateContent")
    assert req["headers"]["x-goog-api-key"] == "test-key-not-secret"
    body = req["json"]
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user", "model", "user"]
    parts = body["contents"][-1]["parts"]
    inline = [p["inlineData"] for p in parts if "inlineData" in p][0]
    assert inline.get("mimeType", inline.get("mime_type")) == "image/png" and _b64_png(inline["data"]) == pictures[2].png
    cfg = body["generationConfig"]
    assert cfg["responseMimeType"] == "application/json" and cfg["temperature"] == 0.0
    assert cfg["responseJsonSchema"]["properties"]["answer"]["enum"] == ["yes", "no"]
    assert "Can the camera see the ball?" in body["systemInstruction"]["parts"][0]["text"]
    assert reply.text == '{"answer": "yes"}' and reply.output_tokens == 2


@pytest.mark.parametrize("name", ["openai", "anthropic", "google"])
def test_refusals_are_tagged(monkeypatch, keys, pictures, name):
    api = MockAPI().install(monkeypatch)
    api.script = ["refusal"]
    assert _provider(name).send(_conv(pictures), PARAMS).refusal


@pytest.mark.parametrize("name", ["openai", "anthropic", "google"])
def test_errors_are_classed(monkeypatch, keys, pictures, name):
    api = MockAPI().install(monkeypatch)
    p = _provider(name)
    err = {"error": {"code": 0, "message": "mock", "status": "X", "type": "error"}, "type": "error"}
    for status, headers, kind, after in [(429, {"retry-after": "7"}, "retryable", 7.0), (500, {}, "retryable", None),
                                         (400, {}, "terminal", None), (401, {}, "fatal", None)]:
        api.script = [(status, headers, err)]
        with pytest.raises(Exception) as info:
            p.send(_conv(pictures), PARAMS)
        f = p.classify(info.value)
        assert (f.kind, f.status, f.retry_after) == (kind, status, after), name
    api.script = ["timeout"]
    with pytest.raises(Exception) as info:
        p.send(_conv(pictures), PARAMS)
    assert p.classify(info.value).kind == "timeout"


@pytest.mark.parametrize("name", ["openai", "anthropic", "google"])
def test_a_missing_key_is_one_line_naming_the_variable(monkeypatch, name):
    monkeypatch.delenv(KEYS[name], raising=False)
    with pytest.raises(UserError) as info:
        _provider(name).check_key()
    msg = str(info.value)
    assert KEYS[name] in msg and "\n" not in msg


def test_image_token_rules(pictures):
    big = type(pictures[0])("x", 512, 512, "x")
    assert provider_class("openai")("m").image_tokens(big) == 85 + 170  # one 512 tile
    assert provider_class("anthropic")("m").image_tokens(big) == round(512 * 512 / 750)
    assert provider_class("google")("m").image_tokens(big) == 258
