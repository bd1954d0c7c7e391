"""The judge and the re-ask: what happens to an answer the rules cannot read.

- **Judge** (``--judge PROVIDER:MODEL``): a second model, of any configured provider (the
  openai-compatible one included, so a local server can judge), is shown the question, its
  options and the unread answer, and replies with one option or ``none``. Its reply is read
  strictly: exactly one of the options' tokens or ``none``; anything else is ``none``, never a
  guess. Its calls go through the same response cache (a rerun sends none again) and the same
  budget, and its cost is counted beside the model's. The row records ``parsed_by`` ``judge``
  (or ``none`` where the judge found no answer).
- **Re-ask** (``--reask``): the same model is asked once more, in the same conversation (its own
  answer as the assistant turn), for its final answer in one word. The re-asked answers form a
  separate variant (``...:reask``) with every item: the first answer where the rules read it
  (``rule``), the re-asked one where they did not (``reask``, or ``none``).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

from vpt.deciders.vlm import cache as cache_mod
from vpt.deciders.vlm.cost import Budget, BudgetReached, Price, price_for
from vpt.deciders.vlm.prompts import Conversation, Question, Turn
from vpt.deciders.vlm.providers.base import Params
from vpt.errors import UserError

JUDGE_SYSTEM = ("You read another model's answer to a question about an image and report which option it "
                "chose. You do not answer the question yourself. Reply with exactly one word.")
JUDGE_MAX_TOKENS = 8
REASK_TEXT = "Please give your final answer in one word: {choices}."


def split_spec(spec: str) -> tuple[str, str]:
    """``PROVIDER:MODEL`` -> (provider, model); a one-line error otherwise."""
    provider, sep, model = spec.partition(":")
    if not sep or not provider or not model:
        raise UserError(f"--judge {spec!r}: give PROVIDER:MODEL, e.g. anthropic:claude-haiku-5-5 or "
                        "openai-compatible:qwen2.5-vl-7b (with --judge-base-url)")
    return provider, model


def judge_prompt(q: Question, answer: str) -> str:
    opts = ", ".join(q.enum)
    what = q.render()
    return (f"The question was:\n{what}\n\nThe answer to read (between the markers):\n<<<\n{answer}\n>>>\n\n"
            f"Which option does this answer commit to? Reply with exactly one of: {opts}, none. Reply none if it "
            "commits to no option, to both, or contradicts itself.")


def read_verdict(text: str | None, q: Question) -> str:
    """The judge's reply -> one of the question's tokens or ``invalid``: exact words only."""
    if not text:
        return "invalid"
    t = re.sub(r"[*_`\"'.!\s()\[\]:]+", " ", text).strip().lower()
    t = re.sub(r"^(?:answer|option|verdict)\s+", "", t)
    for token in q.enum:
        if t == token.lower():
            return token
    return "invalid"


@dataclass(frozen=True)
class JudgeCall:
    text: str | None
    cached: bool
    usd: float | None
    input_tokens: int | None
    output_tokens: int | None
    error: str | None = None


class Judge:
    """A second model that maps an unread answer to one option or none (see the module)."""

    def __init__(self, provider: Any, price: Price, cache: cache_mod.ResponseCache) -> None:
        self.provider, self.price, self.cache = provider, price, cache
        self.params = Params(0.0, JUDGE_MAX_TOKENS, 0, False)

    @classmethod
    def from_spec(cls, spec: str, base_url: str | None, cache: cache_mod.ResponseCache,
                  timeout_s: float = 60.0) -> "Judge":
        from vpt.deciders.vlm.providers import provider_class

        name, model = split_spec(spec)
        provider = provider_class(name)(model, base_url, timeout_s)
        return cls(provider, price_for(name, model), cache)  # the key is checked when a run starts

    @property
    def name(self) -> str:
        return f"{self.provider.name}:{self.provider.model}"

    def conversation(self, q: Question, answer: str) -> Conversation:
        return Conversation(JUDGE_SYSTEM, [Turn("user", [judge_prompt(q, answer)])], q, False, False)

    def key(self, conv: Conversation) -> str:
        return cache_mod.fingerprint(self.provider.name, self.provider.model, conv,
                                     {**asdict(self.params), "purpose": "judge"}, self.provider.base_url)

    def ask(self, q: Question, answer: str, budget: Budget) -> tuple[str, JudgeCall]:
        """(verdict: a token of ``q`` or ``invalid``, the call). Raises BudgetReached before a call
        that could pass the budget."""
        conv = self.conversation(q, answer)
        key = self.key(conv)
        hit = self.cache.get(key)
        if hit is not None:
            usd = self.price.usd(hit.input_tokens or 0, hit.output_tokens or 0)
            call = JudgeCall(hit.text, True, usd, hit.input_tokens, hit.output_tokens)
            return (read_verdict(hit.text, q) if hit.status == "ok" else "invalid"), call
        est = math.ceil((len(JUDGE_SYSTEM) + len(conv.turns[0].parts[0])) / 4 * 1.5) + 16
        worst = self.price.usd(est, JUDGE_MAX_TOKENS)
        if not budget.reserve(worst):
            raise BudgetReached(f"budget ${budget.limit:.2f} reached before the judge ({self.name}) could read every "
                                "unread answer; everything answered so far is cached, no results were written. "
                                "Rerun with a larger --budget-usd")
        try:
            reply = self.provider.send(conv, self.params)
        except Exception as exc:  # noqa: BLE001 - classify() re-raises what is not an API error
            budget.settle(worst, 0.0)
            f = self.provider.classify(exc)
            if f.kind == "fatal":
                raise UserError(f"judge {self.name}: {f.message} (check the model name and the key in "
                                f"{self.provider.key_env})") from None
            return "invalid", JudgeCall(None, False, None, None, None, f.message)
        usd = self.price.usd(reply.input_tokens or 0, reply.output_tokens or 0)
        budget.settle(worst, usd)
        status = "refusal" if reply.refusal else "ok"
        self.cache.put(key, self.provider.name, self.provider.model, status, reply.text, reply.input_tokens,
                       reply.output_tokens, None, reply.finish_reason, reply.model_version,
                       datetime.now(timezone.utc).isoformat())
        call = JudgeCall(reply.text, False, usd, reply.input_tokens, reply.output_tokens)
        return (read_verdict(reply.text, q) if status == "ok" else "invalid"), call


def reask_conversation(conv: Conversation, answer: str) -> Conversation:
    """The same conversation, the model's answer as its turn, then one short request."""
    turns = [*conv.turns, Turn("assistant", [answer]), Turn("user", [REASK_TEXT.format(choices=conv.question.choices)])]
    return Conversation(conv.system, turns, conv.question, False, conv.json_output)


def cost_rows(records: list[Any]) -> list[dict[str, Any]]:
    """The judge's calls as rows for :func:`vpt.deciders.vlm.cost.summary` (beside the model's)."""
    return [{"cached": r.judge_cached, "usd": r.judge_usd, "input_tokens": r.judge_input_tokens,
             "output_tokens": r.judge_output_tokens, "batch": False}
            for r in records if r.judge_text is not None or r.judge_usd is not None]


def add_cost(cost: dict[str, Any], records: list[Any], price: Price) -> dict[str, Any]:
    """The run's cost record with the judge's calls as ``cost["judge"]`` and in the totals."""
    from vpt.deciders.vlm.cost import summary

    j = summary(cost_rows(records), price)
    out = {**cost, "judge": j}
    out["usd"] = round(cost["usd"] + j["usd"], 6)
    out["usd_including_cached"] = round(cost["usd_including_cached"] + j["usd_including_cached"], 6)
    return out
