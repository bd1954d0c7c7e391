"""Google Gemini (``google-genai``, Google's maintained SDK; ``google-generativeai`` has
reached its end of life): images as inline PNG parts, exemplar answers as ``model`` turns,
constrained output with ``response_mime_type`` JSON and ``response_json_schema``, usage from
``usage_metadata`` (thinking tokens counted as output). Key: ``GEMINI_API_KEY``."""

from __future__ import annotations

import math
from typing import Any

import httpx2
from google import genai
from google.genai import errors, types

from vpt.deciders.vlm.images import Image
from vpt.deciders.vlm.prompts import Conversation
from vpt.deciders.vlm.providers.base import Failure, Params, Provider, Reply, status_failure

_BLOCKED = {"SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "RECITATION", "IMAGE_SAFETY"}


def contents(conv: Conversation) -> list[types.Content]:
    out = []
    for turn in conv.turns:
        parts = [types.Part.from_bytes(data=p.png, mime_type="image/png") if isinstance(p, Image)
                 else types.Part.from_text(text=p) for p in turn.parts]
        out.append(types.Content(role="model" if turn.role == "assistant" else "user", parts=parts))
    return out


class GoogleProvider(Provider):
    name = "google"
    key_env = "GEMINI_API_KEY"
    key_what = "Gemini"

    def make_client(self) -> Any:
        opts = types.HttpOptions(base_url=self.base_url, timeout=int(self.timeout_s * 1000),
                                 retry_options=types.HttpRetryOptions(attempts=1), httpx_client=self.http_client())
        return genai.Client(api_key=self.key(), http_options=opts)

    def config(self, conv: Conversation, params: Params) -> types.GenerateContentConfig:
        schema = self.schema(conv) if params.constrained else None
        return types.GenerateContentConfig(
            system_instruction=conv.system, temperature=params.temperature, max_output_tokens=params.max_tokens,
            seed=params.seed, response_mime_type="application/json" if schema else None,
            response_json_schema=schema)

    def send(self, conv: Conversation, params: Params) -> Reply:
        r = self.client.models.generate_content(model=self.model, contents=contents(conv),
                                                config=self.config(conv, params))
        cand = r.candidates[0] if r.candidates else None
        finish = str(cand.finish_reason.value if hasattr(cand.finish_reason, "value") else cand.finish_reason) \
            if cand is not None and cand.finish_reason is not None else None
        blocked = bool(r.prompt_feedback and r.prompt_feedback.block_reason) or (finish in _BLOCKED)
        text = None
        if cand is not None and cand.content and cand.content.parts:
            text = "".join(p.text for p in cand.content.parts if p.text and not p.thought) or None
        u = r.usage_metadata
        out = None
        if u is not None and u.candidates_token_count is not None:
            out = u.candidates_token_count + (u.thoughts_token_count or 0)
        return Reply(text, u.prompt_token_count if u else None, out, blocked, finish, r.model_version or self.model)

    def classify(self, exc: BaseException) -> Failure:
        if isinstance(exc, httpx2.TimeoutException):
            return Failure("timeout", None, None, "timed out")
        if isinstance(exc, httpx2.TransportError):
            return Failure("retryable", None, None, f"connection error: {type(exc).__name__}")
        if isinstance(exc, errors.APIError):
            headers = getattr(exc.response, "headers", None)
            return status_failure(exc.code, headers, f"HTTP {exc.code}: {exc.message}")
        raise exc

    def image_tokens(self, img: Image) -> int:
        """Gemini's rule: 258 tokens up to 384 px a side, else 258 per 768 x 768 tile."""
        if max(img.width, img.height) <= 384:
            return 258
        return 258 * math.ceil(img.width / 768) * math.ceil(img.height / 768)
