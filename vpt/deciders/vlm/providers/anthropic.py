"""Anthropic (official ``anthropic`` SDK, Messages API): images as base64 PNG blocks,
exemplar answers as assistant turns, constrained output through ``output_config.format``
(JSON schema), usage from ``usage.input_tokens`` / ``output_tokens``, ``stop_reason ==
"refusal"`` tagged. Key: ``ANTHROPIC_API_KEY``."""

from __future__ import annotations

from typing import Any

import anthropic

from vpt.deciders.vlm.images import Image
from vpt.deciders.vlm.prompts import Conversation
from vpt.deciders.vlm.providers.base import Failure, Params, Provider, Reply, status_failure


def messages(conv: Conversation) -> list[dict[str, Any]]:
    out = []
    for turn in conv.turns:
        content = []
        for p in turn.parts:
            if isinstance(p, Image):
                content.append({"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                            "data": p.b64}})
            else:
                content.append({"type": "text", "text": p})
        out.append({"role": turn.role, "content": content})
    return out


class AnthropicProvider(Provider):
    name = "anthropic"
    key_env = "ANTHROPIC_API_KEY"
    key_what = "Anthropic"

    def make_client(self) -> Any:
        return anthropic.Anthropic(api_key=self.key(), base_url=self.base_url, timeout=self.timeout_s,
                                   max_retries=0, http_client=self.http_client())

    def request(self, conv: Conversation, params: Params) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "max_tokens": params.max_tokens, "system": conv.system,
                                "messages": messages(conv)}
        if params.temperature is not None:  # this SDK has no temperature argument; older snapshots take it
            body["extra_body"] = {"temperature": params.temperature}  # (--no-temperature for models that refuse)
        schema = self.schema(conv) if params.constrained else None
        if schema:
            body["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
        return body

    def send(self, conv: Conversation, params: Params) -> Reply:
        return self.reply(self.client.messages.create(**self.request(conv, params)))

    # --- Message Batches API (about half the price; results within 24 h) ------------------
    def batch_submit(self, requests: list[tuple[str, Conversation]], params: Params) -> str:
        def body(conv: Conversation) -> dict[str, Any]:
            b = self.request(conv, params)
            return {**{k: v for k, v in b.items() if k != "extra_body"}, **b.get("extra_body", {})}

        return self.client.messages.batches.create(
            requests=[{"custom_id": cid, "params": body(conv)} for cid, conv in requests]).id

    def batch_poll(self, batch_id: str) -> tuple[str, dict[str, Reply] | None]:
        b = self.client.messages.batches.retrieve(batch_id)
        if b.processing_status != "ended":
            return b.processing_status, None
        out = {}
        for entry in self.client.messages.batches.results(batch_id):
            if entry.result.type == "succeeded":
                out[entry.custom_id] = self.reply(entry.result.message)
        return "ended", out

    def reply(self, r: Any) -> Reply:
        text = "".join(getattr(b, "text", "") for b in r.content if getattr(b, "type", "") == "text") or None
        return Reply(text, r.usage.input_tokens, r.usage.output_tokens, r.stop_reason == "refusal", r.stop_reason,
                     r.model)

    def classify(self, exc: BaseException) -> Failure:
        if isinstance(exc, anthropic.APITimeoutError):
            return Failure("timeout", None, None, "timed out")
        if isinstance(exc, anthropic.APIConnectionError):
            return Failure("retryable", None, None, f"connection error: {type(exc).__name__}")
        if isinstance(exc, anthropic.APIStatusError):
            # 529 (overloaded) is a 5xx: retried
            return status_failure(exc.status_code, exc.response.headers, f"HTTP {exc.status_code}: {exc.message}")
        raise exc

    def image_tokens(self, img: Image) -> int:
        """Anthropic's rule: about width * height / 750 tokens."""
        return max(1, round(img.width * img.height / 750))
