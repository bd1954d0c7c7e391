"""Prices (evaluation/prices/prices.yaml, dated, validated on load), estimates and the budget."""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from vpt import resources
from vpt.errors import UserError

PRICES_FILE = resources.data_path("evaluation", "prices", "prices.yaml")
FREE_PROVIDERS = ("openai-compatible",)  # local servers: 0 unless the table names the model


@dataclass(frozen=True)
class Price:
    input_per_mtok: float
    output_per_mtok: float
    as_of: str
    source: str

    def usd(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input_per_mtok + output_tokens * self.output_per_mtok) / 1e6


LOCAL = Price(0.0, 0.0, "n/a", "local server (no charge)")


def load_prices(path: Path | None = None) -> dict[str, dict[str, Price]]:
    """provider -> model -> Price; every entry needs input, output, as_of (a date) and source."""
    path = path or PRICES_FILE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise UserError(f"{path}: cannot read the price table ({err})") from None
    if not isinstance(data, dict) or data.get("unit") != "per_million_tokens" or data.get("currency") != "USD":
        raise UserError(f"{path}: needs currency: USD and unit: per_million_tokens")
    out: dict[str, dict[str, Price]] = {}
    for provider, models in (data.get("models") or {}).items():
        for model, e in (models or {}).items():
            where = f"{path}: models.{provider}.{model}"
            if not isinstance(e, dict):
                raise UserError(f"{where}: an entry needs input, output, as_of and source")
            for k in ("input", "output"):
                if not isinstance(e.get(k), (int, float)) or e[k] < 0:
                    raise UserError(f"{where}.{k}: a price in USD per million tokens (>= 0)")
            as_of = e.get("as_of")
            if isinstance(as_of, str):
                try:
                    as_of = dt.date.fromisoformat(as_of)
                except ValueError:
                    as_of = None
            if not isinstance(as_of, dt.date):
                raise UserError(f"{where}.as_of: the date the price was read (YYYY-MM-DD)")
            if not isinstance(e.get("source"), str) or not e["source"].startswith("http"):
                raise UserError(f"{where}.source: the pricing page's URL")
            out.setdefault(provider, {})[model] = Price(float(e["input"]), float(e["output"]), as_of.isoformat(),
                                                        e["source"])
    return out


def price_for(provider: str, model: str, path: Path | None = None) -> Price:
    """The dated price of ``model``; local providers cost 0 unless listed; else a clear error."""
    table = load_prices(path)
    if model in table.get(provider, {}):
        return table[provider][model]
    if provider in FREE_PROVIDERS:
        return LOCAL
    known = ", ".join(sorted(table.get(provider, {}))) or "none"
    raise UserError(f"no price for {provider} model {model!r} in {path or PRICES_FILE} (listed: {known}); add a dated "
                    "entry (input, output per million tokens, as_of, source) before running it")


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
