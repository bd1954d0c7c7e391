"""The budget and the run's cost record. The prices (evaluation/prices/prices.yaml, dated, validated
on load) live in :mod:`vpt.deciders.vlm.prices`; their names are re-exported here."""

from __future__ import annotations

import threading
from typing import Any

from vpt.deciders.vlm.prices import (FREE_PROVIDERS, LOCAL, PRICES_FILE, Price, PriceTable, load_prices,  # noqa: F401
                                     load_table, price_for)
from vpt.errors import UserError


class BudgetReached(UserError):
    """The next call could take the run over --budget-usd; nothing more was sent."""


class Budget:
    """Spent dollars, with reservations: a call is sent only if spent + reserved + its worst case
    (input estimate + max output tokens) stays within the limit; settled with the real usage."""

    def __init__(self, limit_usd: float | None) -> None:
        self.limit = limit_usd
        self.spent = 0.0
        self.reserved = 0.0
        self.stopped = False
        self._lock = threading.Lock()

    def reserve(self, worst_usd: float) -> bool:
        with self._lock:
            if self.stopped:
                return False
            if self.limit is not None and self.spent + self.reserved + worst_usd > self.limit + 1e-12:
                self.stopped = True
                return False
            self.reserved += worst_usd
            return True

    def settle(self, worst_usd: float, actual_usd: float) -> None:
        with self._lock:
            self.reserved -= worst_usd
            self.spent += actual_usd


def summary(calls: list[dict[str, Any]], price: Price) -> dict[str, Any]:
    """The run's cost record for run.json (numbers and short strings; vpt report reads them)."""
    sent = [c for c in calls if not c["cached"]]
    batch = [c for c in calls if c.get("batch")]
    return {"usd": round(sum(c["usd"] or 0.0 for c in sent + batch), 6),
            "batch_usd": round(sum(c["usd"] or 0.0 for c in batch), 6), "batch_calls": len(batch),
            "usd_including_cached": round(sum(c["usd"] or 0.0 for c in calls), 6),
            "calls": len(calls), "sent": len(sent), "cached": len(calls) - len(sent),
            "input_tokens": int(sum(c["input_tokens"] or 0 for c in sent + batch)),
            "output_tokens": int(sum(c["output_tokens"] or 0 for c in sent + batch)),
            "price_input_per_mtok": price.input_per_mtok, "price_output_per_mtok": price.output_per_mtok,
            "price_as_of": price.as_of, "price_source": price.source}
