"""The providers' batch APIs (OpenAI Batch, Anthropic Message Batches): about half the
price, answers within 24 hours, resumable by batch id.

``vpt vlm run --batch`` submits every request the cache lacks as one batch and records its id
in the cache database; each rerun of the same command polls the open batches, writes the
answers of an ended one into the cache (tagged ``batch``, priced at :data:`PRICE_FACTOR`),
and submits only requests in no open batch. When the cache holds every answer, the run is
written as usual, without a single synchronous call. Requests a batch could not answer
(errors, expiry) are simply submitted again by the next rerun.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from vpt.deciders.vlm.cost import BudgetReached
from vpt.deciders.vlm.harness import Harness, Job
from vpt.errors import UserError

PRICE_FACTOR = 0.5  # both providers charge half the standard price for batch requests


@dataclass(frozen=True)
class BatchState:
    collected: int        # answers written to the cache by this call
    open_batches: list[str]
    submitted: str | None  # the batch id submitted by this call
    missing: int           # requests still without an answer

    @property
    def done(self) -> bool:
        return self.missing == 0


def step(h: Harness, jobs: list[Job], budget_usd: float | None = None) -> BatchState:
    """Collect ended batches, then submit what is neither answered nor in an open batch."""
    p = h.provider
    if not hasattr(p, "batch_submit"):
        raise UserError(f"provider {p.name} has no batch API in vpt (openai and anthropic have); drop --batch")
    by_key = {j.key: j for j in jobs}
    collected, still_open = 0, []
    for batch_id, keys in h.cache.open_batches(p.name, h.cfg.model):
        status, replies = p.batch_poll(batch_id)
        if replies is None:
            still_open.append(batch_id)
            continue
        now = datetime.now(timezone.utc).isoformat()
        for key, r in replies.items():
            h.cache.put(key, p.name, h.cfg.model, "refusal" if r.refusal else "ok", r.text, r.input_tokens,
                        r.output_tokens, None, r.finish_reason, r.model_version, now, batch=True)
            collected += 1
        h.cache.mark_batch(batch_id, status, collected=True)
    pending = {k for b in still_open for k in dict(h.cache.open_batches(p.name, h.cfg.model)).get(b, [])}
    todo = [j for k, j in by_key.items() if h.cache.get(k) is None and k not in pending]
    submitted = None
    if todo:
        worst = PRICE_FACTOR * sum(h.price.usd(j.input_estimate, j.output_cap) for j in todo)
        if budget_usd is not None and worst > budget_usd:
            raise BudgetReached(f"a batch of {len(todo)} requests could cost up to ${worst:.4f}, over --budget-usd "
                                f"{budget_usd:.2f}; nothing was submitted (lower --limit or raise the budget)")
        submitted = p.batch_submit([(j.key, j.conv) for j in todo], h.params)
        h.cache.add_batch(submitted, p.name, h.cfg.model, [j.key for j in todo],
                          datetime.now(timezone.utc).isoformat())
        still_open.append(submitted)
    missing = sum(h.cache.get(k) is None for k in by_key)
    return BatchState(collected, still_open, submitted, missing)
