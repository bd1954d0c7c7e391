"""OpenAI (official ``openai`` SDK, Chat Completions): images as PNG data URLs (detail high),
constrained output with a strict JSON schema, usage from ``usage.prompt_tokens`` /
``completion_tokens``. Key: ``OPENAI_API_KEY``."""

from __future__ import annotations

import json
import math
from typing import Any

import openai
from openai.types.chat import ChatCompletion

from vpt.deciders.vlm.images import Image
from vpt.deciders.vlm.prompts import Conversation
from vpt.deciders.vlm.providers.base import Failure, Params, Provider, Reply, status_failure


def chat_messages(conv: Conversation) -> list[dict[str, Any]]:
    """The conversation as Chat Completions messages (system, then alternating user/assistant)."""
    msgs: list[dict[str, Any]] = [{"role": "system", "content": conv.system}]
    for turn in conv.turns:
        if turn.role == "assistant":
            msgs.append({"role": "assistant", "content": "".join(p for p in turn.parts if isinstance(p, str))})
            continue
        content = []
        for p in turn.parts:
            if isinstance(p, Image):
                content.append({"type": "image_url", "image_url": {"url": p.data_url, "detail": "high"}})
            else:
                content.append({"type": "text", "text": p})
        msgs.append({"role": "user", "content": content})
    return msgs


class OpenAIProvider(Provider):
    name = "openai"
    key_env = "OPENAI_API_KEY"
    key_what = "OpenAI"
    max_tokens_field = "max_completion_tokens"

    def make_client(self) -> Any:
        return openai.OpenAI(api_key=self.key() or "none", base_url=self.base_url, timeout=self.timeout_s,
                             max_retries=0, http_client=self.http_client())

    def request(self, conv: Conversation, params: Params) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "messages": chat_messages(conv),
                                self.max_tokens_field: params.max_tokens}
        if params.temperature is not None:
            body["temperature"] = params.temperature
        if params.seed is not None:
            body["seed"] = params.seed
        schema = self.schema(conv) if params.constrained and self.supports_schema else None
        if schema:
            body["response_format"] = {"type": "json_schema",
                                       "json_schema": {"name": "answer", "schema": schema, "strict": True}}
        return body

    def send(self, conv: Conversation, params: Params) -> Reply:
        return self.reply(self.client.chat.completions.create(**self.request(conv, params)))

    # --- Batch API (about half the price; results within 24 h) ----------------------------
    def batch_submit(self, requests: list[tuple[str, Conversation]], params: Params) -> str:
        """Upload the requests as a JSONL file and create a batch; returns its id."""
        lines = [json.dumps({"custom_id": cid, "method": "POST", "url": "/v1/chat/completions",
                             "body": self.request(conv, params)}) for cid, conv in requests]
        f = self.client.files.create(file=("vpt-batch.jsonl", ("\n".join(lines) + "\n").encode()), purpose="batch")
        return self.client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions",
                                          completion_window="24h").id

    def batch_poll(self, batch_id: str) -> tuple[str, dict[str, Reply] | None]:
        """(status, replies by custom id) once the batch has ended, else (status, None)."""
        b = self.client.batches.retrieve(batch_id)
        if b.status in ("validating", "in_progress", "finalizing", "cancelling"):
            return b.status, None
        out: dict[str, Reply] = {}
        if b.output_file_id:
            for line in self.client.files.content(b.output_file_id).text.splitlines():
                if not line.strip():
                    continue
                rec = json.loads(line)
                resp = rec.get("response") or {}
                if resp.get("status_code") == 200:
                    out[rec["custom_id"]] = self.reply(ChatCompletion.model_validate(resp["body"]))
        return b.status, out

    def reply(self, r: Any) -> Reply:
        choice = r.choices[0] if r.choices else None
        msg = choice.message if choice else None
        refusal = bool(msg is not None and getattr(msg, "refusal", None)) or \
            (choice is not None and choice.finish_reason == "content_filter")
        text = (msg.content if msg is not None else None) or (getattr(msg, "refusal", None) if msg else None)
        u = r.usage
        version = r.model + (f"/{r.system_fingerprint}" if getattr(r, "system_fingerprint", None) else "")
        return Reply(text, getattr(u, "prompt_tokens", None), getattr(u, "completion_tokens", None), refusal,
                     choice.finish_reason if choice else None, version)

    def classify(self, exc: BaseException) -> Failure:
        if isinstance(exc, openai.APITimeoutError):
            return Failure("timeout", None, None, "timed out")
        if isinstance(exc, openai.APIConnectionError):
            return Failure("retryable", None, None, f"connection error: {type(exc).__name__}")
        if isinstance(exc, openai.APIStatusError):
            return status_failure(exc.status_code, exc.response.headers, f"HTTP {exc.status_code}: {exc.message}")
        raise exc

    def image_tokens(self, img: Image) -> int:
        """OpenAI's rule for detail high: fit in 2048, shortest side 768, 170 per 512 tile + 85."""
        w, h = img.width, img.height
        s = min(1.0, 2048 / max(w, h))
        w, h = w * s, h * s
        s = min(1.0, 768 / min(w, h))
        w, h = w * s, h * s
        return 85 + 170 * math.ceil(w / 512) * math.ceil(h / 512)
