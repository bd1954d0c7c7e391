"""Any server speaking the OpenAI Chat Completions API at a base URL you give: vLLM
(``vllm serve``, http://localhost:8000/v1), Ollama (http://localhost:11434/v1), LM Studio
(http://localhost:1234/v1). Same SDK and messages as :mod:`.openai`; ``max_tokens`` (what
all three accept); a key from ``OPENAI_COMPATIBLE_API_KEY`` if the server wants one."""

from __future__ import annotations

import os
from typing import Any

import openai

from vpt.deciders.vlm.providers.openai import OpenAIProvider
from vpt.errors import UserError


class OpenAICompatibleProvider(OpenAIProvider):
    name = "openai-compatible"
    key_env = "OPENAI_COMPATIBLE_API_KEY"
    key_what = "local server"
    max_tokens_field = "max_tokens"

    def __init__(self, model: str, base_url: str | None = None, timeout_s: float = 60.0) -> None:
        if not base_url:
            raise UserError("provider openai-compatible needs --base-url, e.g. http://localhost:8000/v1 (vLLM), "
                            "http://localhost:11434/v1 (Ollama) or http://localhost:1234/v1 (LM Studio)")
        super().__init__(model, base_url, timeout_s)

    def key(self) -> str:
        return os.environ.get(self.key_env or "", "").strip()  # optional: local servers rarely check one

    def make_client(self) -> Any:
        return openai.OpenAI(api_key=self.key() or "not-needed", base_url=self.base_url, timeout=self.timeout_s,
                             max_retries=0, http_client=self.http_client())
