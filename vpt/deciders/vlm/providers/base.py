"""What a provider implements: translate a conversation, send it with the official SDK,
read the answer and the token usage, and class its errors (retryable, timeout, terminal, fatal).

Keys come from the environment only (:func:`api_key`); a missing one is a one-line error
naming the variable. Providers never log, return or store the key. The SDKs' own retries are
switched off: the harness retries, honouring Retry-After.
"""

from __future__ import annotations

import email.utils
import math
import os
import time
from dataclasses import dataclass
from typing import Any, Callable

from vpt.deciders.vlm.images import Image
from vpt.deciders.vlm.prompts import Conversation, answer_schema
from vpt.errors import UserError

# Tests (and anyone who needs a proxy) set this to a callable returning an httpx2.Client;
# None lets each SDK make its own.
HTTP_CLIENT_FACTORY: Callable[[], Any] | None = None


def api_key(env: str, what: str) -> str:
    value = os.environ.get(env, "").strip()
    if not value:
        raise UserError(f"{env} is not set: export your {what} API key in the environment as {env}")
    return value


@dataclass(frozen=True)
class Params:
    """Sampling parameters of every call (all in the cache fingerprint)."""

    temperature: float | None
    max_tokens: int
    seed: int | None
    constrained: bool  # ask for JSON with an enum answer where the API offers it


@dataclass(frozen=True)
class Reply:
    text: str | None
    input_tokens: int | None
    output_tokens: int | None
    refusal: bool
    finish_reason: str | None
    model_version: str | None


@dataclass(frozen=True)
class Failure:
    kind: str          # retryable | timeout | terminal | fatal
    status: int | None
    retry_after: float | None
    message: str


def retry_after(headers: Any) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return float(ms) / 1000
        except ValueError:
            pass
    ra = headers.get("retry-after")
    if not ra:
        return None
    try:
        return max(0.0, float(ra))
    except ValueError:
        try:
            return max(0.0, email.utils.parsedate_to_datetime(ra).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def status_failure(status: int | None, headers: Any, message: str) -> Failure:
    """Class an HTTP status: 408/409/429/5xx retry; 401/403/404 stop the run; other 4xx fail the call."""
    if status in (408, 409, 429) or (status is not None and status >= 500):
        return Failure("retryable", status, retry_after(headers), message)
    if status in (401, 403, 404):
        return Failure("fatal", status, None, message)
    return Failure("terminal", status, None, message)


class Provider:
    """Base class; subclasses set ``name``, ``key_env``, ``key_what`` and implement the hooks."""

    name = "base"
    key_env: str | None = None
    key_what = ""
    supports_schema = True

    def __init__(self, model: str, base_url: str | None = None, timeout_s: float = 60.0) -> None:
        self.model = model
        self.base_url = base_url
        self.timeout_s = timeout_s
        self._client: Any = None

    def http_client(self) -> Any:
        return HTTP_CLIENT_FACTORY() if HTTP_CLIENT_FACTORY is not None else None

    def key(self) -> str:
        return api_key(self.key_env, self.key_what) if self.key_env else ""

    def check_key(self) -> None:
        """Raise the one-line error now if the key is missing (before anything is built)."""
        self.key()

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self.make_client()
        return self._client

    def make_client(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def send(self, conv: Conversation, params: Params) -> Reply:  # pragma: no cover - abstract
        raise NotImplementedError

    def classify(self, exc: BaseException) -> Failure:  # pragma: no cover - abstract
        raise NotImplementedError

    def image_tokens(self, img: Image) -> int:
        """Input tokens one image costs (the provider's documented rule), for estimates."""
        return math.ceil(img.width * img.height / 750)

    def schema(self, conv: Conversation) -> dict[str, Any] | None:
        return answer_schema(conv.question, conv.cot) if conv.json_output else None
