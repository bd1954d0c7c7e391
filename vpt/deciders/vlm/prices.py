"""The price table (``evaluation/prices/prices.yaml``): dated prices from the providers' own
pages, the default models per provider, and the models we know of but do not price.

Checked on load: every entry needs input and output prices (USD per million tokens), the
date (``as_of``) and how it was dated (``dated_by``: ``page`` or ``retrieved``), the source
page (an https URL) and a status (``current`` or ``legacy``); an optional ``long_prompt``
gives the rates for prompts over a number of input tokens. Defaults must be priced, current
entries; an unpriced model needs its reason. A bad entry is a one-line error naming it.
``VPT_PRICES`` (a path) replaces the shipped table, e.g. with prices you negotiated.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vpt import resources
from vpt.errors import UserError

PRICES_FILE = resources.data_path("evaluation", "prices", "prices.yaml")
FREE_PROVIDERS = ("openai-compatible",)  # local servers: 0 unless the table names the model
DATED_BY = ("page", "retrieved")
STATUSES = ("current", "legacy")
HOW_TO_ADD = ("add a dated entry (input, output per million tokens, as_of, dated_by, source: the provider's "
              "pricing or model page, status) under models.{provider} in {path}, or point VPT_PRICES at your own table")


@dataclass(frozen=True)
class Price:
    """USD per million tokens; ``long_above``: prompts over this many input tokens are billed at
    ``long_input`` / ``long_output`` (the whole call, as the providers' pages say)."""

    input_per_mtok: float
    output_per_mtok: float
    as_of: str
    source: str
    dated_by: str = "retrieved"
    status: str = "current"
    long_above: int | None = None
    long_input: float | None = None
    long_output: float | None = None
    note: str = ""

    def rates(self, input_tokens: int) -> tuple[float, float]:
        """(input, output) USD per million tokens for one call with this many input tokens."""
        if self.long_above is not None and input_tokens > self.long_above:
            return float(self.long_input), float(self.long_output)
        return self.input_per_mtok, self.output_per_mtok

    def usd(self, input_tokens: int, output_tokens: int) -> float:
        """The cost of ONE call (the long-prompt rate applies per call, so sum per call)."""
        i, o = self.rates(input_tokens)
        return (input_tokens * i + output_tokens * o) / 1e6

    @property
    def dated(self) -> str:
        """The date and how it was read, for printing."""
        return f"as of {self.as_of} (the page's date)" if self.dated_by == "page" else \
            f"retrieved via stored docs on {self.as_of}"


LOCAL = Price(0.0, 0.0, "n/a", "local server (no charge)")


@dataclass(frozen=True)
class PriceTable:
    path: Path
    prices: dict[str, dict[str, Price]]
    defaults: dict[str, list[str]] = field(default_factory=dict)
    unpriced: dict[str, dict[str, str]] = field(default_factory=dict)
    image_tokens: dict[str, str] = field(default_factory=dict)

    def models(self, provider: str) -> list[str]:
        """Every priced model of ``provider``, current ones first (file order within each)."""
        ms = self.prices.get(provider, {})
        return sorted(ms, key=lambda m: ms[m].status != "current")

    def why_unpriced(self, provider: str, model: str) -> str | None:
        return self.unpriced.get(provider, {}).get(model)


def table_path(path: Path | None = None) -> Path:
    if path is not None:
        return Path(path)
    env = os.environ.get("VPT_PRICES")
    return Path(env) if env else PRICES_FILE


def _date(v: Any) -> dt.date | None:
    if isinstance(v, dt.date):
        return v
    if isinstance(v, str):
        try:
            return dt.date.fromisoformat(v)
        except ValueError:
            return None
    return None


def _rate(e: dict, k: str, where: str) -> float:
    v = e.get(k)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
        raise UserError(f"{where}.{k}: a price in USD per million tokens (a number >= 0), not {v!r}")
    return float(v)


def _entry(e: Any, where: str) -> Price:
    if not isinstance(e, dict):
        raise UserError(f"{where}: an entry needs input, output, as_of, dated_by, source and status")
    unknown = set(e) - {"input", "output", "as_of", "dated_by", "source", "status", "long_prompt", "note"}
    if unknown:
        raise UserError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    i, o = _rate(e, "input", where), _rate(e, "output", where)
    as_of = _date(e.get("as_of"))
    if as_of is None:
        raise UserError(f"{where}.as_of: the date the price was read (YYYY-MM-DD), not {e.get('as_of')!r}")
    if as_of > dt.date.today():
        raise UserError(f"{where}.as_of: {as_of} is in the future")
    if e.get("dated_by") not in DATED_BY:
        raise UserError(f"{where}.dated_by: 'page' (the page shows the date) or 'retrieved' (the day the page "
                        f"was read), not {e.get('dated_by')!r}")
    src = e.get("source")
    if not isinstance(src, str) or not src.startswith("https://") or len(src) < 12:
        raise UserError(f"{where}.source: the provider's pricing or model page (an https:// URL), not {src!r}")
    if e.get("status") not in STATUSES:
        raise UserError(f"{where}.status: 'current' or 'legacy', not {e.get('status')!r}")
    long_above = long_in = long_out = None
    if "long_prompt" in e:
        lp = e["long_prompt"]
        w = f"{where}.long_prompt"
        if not isinstance(lp, dict) or set(lp) != {"above", "input", "output"}:
            raise UserError(f"{w}: give above (input tokens), input and output (USD per million tokens)")
        if isinstance(lp["above"], bool) or not isinstance(lp["above"], int) or lp["above"] <= 0:
            raise UserError(f"{w}.above: a number of input tokens > 0, not {lp['above']!r}")
        long_above, long_in, long_out = lp["above"], _rate(lp, "input", w), _rate(lp, "output", w)
    note = e.get("note", "")
    if not isinstance(note, str):
        raise UserError(f"{where}.note: a text")
    return Price(i, o, as_of.isoformat(), src, e["dated_by"], e["status"], long_above, long_in, long_out, note)


def load_table(path: Path | None = None) -> PriceTable:
    """The whole table, validated (see the module)."""
    path = table_path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise UserError(f"{path}: cannot read the price table ({err})") from None
    if not isinstance(data, dict) or data.get("unit") != "per_million_tokens" or data.get("currency") != "USD":
        raise UserError(f"{path}: needs currency: USD and unit: per_million_tokens")
    models = data.get("models") or {}
    if not isinstance(models, dict):
        raise UserError(f"{path}: models: a mapping provider -> model -> entry")
    prices: dict[str, dict[str, Price]] = {}
    for provider, entries in models.items():
        if not isinstance(entries, dict):
            raise UserError(f"{path}: models.{provider}: a mapping model -> entry")
        prices[provider] = {m: _entry(e, f"{path}: models.{provider}.{m}") for m, e in entries.items()}
    unpriced: dict[str, dict[str, str]] = {}
    for provider, entries in (data.get("unpriced") or {}).items():
        for m, why in (entries or {}).items():
            if not isinstance(why, str) or not why.strip():
                raise UserError(f"{path}: unpriced.{provider}.{m}: the reason it has no price (a text)")
            if m in prices.get(provider, {}):
                raise UserError(f"{path}: unpriced.{provider}.{m}: also priced under models.{provider}; keep one")
            unpriced.setdefault(provider, {})[m] = why.strip()
    defaults: dict[str, list[str]] = {}
    for provider, names in (data.get("defaults") or {}).items():
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise UserError(f"{path}: defaults.{provider}: a list of model names")
        for n in names:
            p = prices.get(provider, {}).get(n)
            if p is None:
                raise UserError(f"{path}: defaults.{provider}: {n!r} has no price under models.{provider}; a "
                                "default must be priced")
            if p.status != "current":
                raise UserError(f"{path}: defaults.{provider}: {n!r} is {p.status}; a default must be current")
        defaults[provider] = list(names)
    image_tokens = {str(k): str(v) for k, v in (data.get("image_tokens") or {}).items()}
    return PriceTable(path, prices, defaults, unpriced, image_tokens)


def load_prices(path: Path | None = None) -> dict[str, dict[str, Price]]:
    """provider -> model -> Price (see :func:`load_table`)."""
    return load_table(path).prices


def price_for(provider: str, model: str, path: Path | None = None) -> Price:
    """The dated price of ``model``; local providers cost 0 unless listed; else a clear error
    (with the table's reason where it lists the model as unpriced)."""
    table = load_table(path)
    if model in table.prices.get(provider, {}):
        return table.prices[provider][model]
    if provider in FREE_PROVIDERS:
        return LOCAL
    why = table.why_unpriced(provider, model)
    known = ", ".join(table.models(provider)) or "none"
    reason = f"it is listed as unpriced: {why}; " if why else ""
    raise UserError(f"no price for {provider} model {model!r} in {table.path} ({reason}priced: {known}); "
                    + HOW_TO_ADD.format(provider=provider, path=table.path) + " before running it")
