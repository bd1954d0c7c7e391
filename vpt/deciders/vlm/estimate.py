"""`vpt vlm estimate`: what the benchmark would cost per model, before anything is sent.

For each model (the defaults of each provider in the price table, every model it lists with
``--models all``, or the one ``--provider``/``--model`` names) the harness builds the same
requests a run would send (the provider's own image-token rule, the response cache consulted:
cached requests cost nothing) and prices them per call with the table's dated prices
(long-prompt rates where the page gives them). An unpriced model is a row that says "no price
on file", the reason and how to add one, never $0. With ``--judge PROVIDER:MODEL`` the judge's
cost is added: it is asked only about answers the rules cannot read, so the table gives its
price per 100 judged answers and the ceiling if every answer needed it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

from vpt.deciders.vlm import prices as prices_mod
from vpt.deciders.vlm.prices import LOCAL, Price, PriceTable
from vpt.errors import UserError

COMMERCIAL = ("openai", "anthropic", "google")


@dataclass
class ModelEstimate:
    """One row: a model's calls, tokens and dollars for the benchmark (``usd`` None: no price)."""

    provider: str
    model: str
    status: str                 # current | legacy | unpriced | local | (no default)
    trials: int = 0
    cached: int = 0
    to_send: int = 0
    input_tokens: int = 0       # to send (the cache holds the rest)
    output_tokens: int = 0      # typical answers
    output_cap: int = 0         # every answer at the output cap
    usd: float | None = None
    usd_max: float | None = None
    price: Price | None = None
    why: str = ""               # why there is no price
    question: Any = None        # a question the model is asked (for the judge's prompt)
    answer_cap: int = 0         # its output cap, tokens


@dataclass
class JudgeEstimate:
    spec: str
    price: Price | None
    why: str
    per_call_input: int
    per_call_output: int
    calls_max: int
    usd_per_100: float | None
    usd_max: float | None


def choose(table: PriceTable, provider: str | None, model: str | None, which: str) -> list[tuple[str, str | None]]:
    """(provider, model) pairs to estimate; model None: the provider has no priced default."""
    if model is not None:
        if provider is None:
            raise UserError("--model needs --provider (e.g. --provider anthropic --model claude-sonnet-5-5)")
        return [(provider, model)]
    if which not in ("defaults", "all"):
        raise UserError(f"--models must be defaults or all, not {which!r}")
    providers = [provider] if provider else list(COMMERCIAL)
    out: list[tuple[str, str | None]] = []
    for p in providers:
        if which == "all":
            names = table.models(p) + list(table.unpriced.get(p, {}))
        else:
            names = list(table.defaults.get(p, []))
        out += [(p, n) for n in names] or [(p, None)]
    return out


def _row_for(table: PriceTable, provider: str, model: str) -> tuple[Price | None, str, str]:
    """(price or None, status, why unpriced) without raising."""
    p = table.prices.get(provider, {}).get(model)
    if p is not None:
        return p, p.status, ""
    if provider in prices_mod.FREE_PROVIDERS:
        return LOCAL, "local", ""
    why = table.why_unpriced(provider, model) or "not in the price table"
    return None, "unpriced", why


def estimate_models(cfg: Any, dataset: Any, exemplars: Any, opts: Any, out: Path,
                    pairs: Sequence[tuple[str, str | None]], table: PriceTable,
                    batch_factor: float = 1.0) -> list[ModelEstimate]:
    """One :class:`ModelEstimate` per pair: the requests ``cfg`` (with that provider and model)
    would send on ``dataset``'s selection, priced per call."""
    from vpt.deciders.vlm.cache import ResponseCache
    from vpt.deciders.vlm.harness import Harness
    from vpt.deciders.vlm.images import ImageCache
    from vpt.deciders.vlm.prompts import load_templates
    from vpt.deciders.vlm.providers import provider_class
    from vpt.deciders.vlm.run import select_items

    items = select_items(dataset, opts.selection, opts.splits)
    pool = (exemplars or dataset).items
    images, templates = ImageCache(), load_templates(cfg.prompt_version)
    cache = ResponseCache(opts.cache_path or out / ".vlm-cache.sqlite")
    rows: list[ModelEstimate] = []
    for provider, model in pairs:
        if model is None:
            why = ("a local server: give --model (the served model) and --base-url"
                   if provider in prices_mod.FREE_PROVIDERS else "no priced, current model in the table")
            rows.append(ModelEstimate(provider, "-", "no default", why=why))
            continue
        price, status, why = _row_for(table, provider, model)
        c = replace(cfg, provider=provider, model=model, judge=None, judge_base_url=None)
        prov = provider_class(provider)(model, c.base_url, opts.timeout_s)
        h = Harness(c, prov, templates, price or LOCAL, cache, images)
        jobs = h.jobs(items, pool)
        est = h.estimate(jobs)
        row = ModelEstimate(provider, model, status, est["requests"], est["cached"], est["to_send"],
                            est["input_tokens_estimate"], est["output_tokens_estimate"], est["output_tokens_cap"],
                            price=price, why=why, question=jobs[0].conv.question if jobs else None,
                            answer_cap=h.params.max_tokens)
        if price is not None:
            row.usd, row.usd_max = est["expected_usd"] * batch_factor, est["worst_case_usd"] * batch_factor
        rows.append(row)
    return rows


def estimate_judge(spec: str, rows: Sequence[ModelEstimate], table: PriceTable) -> JudgeEstimate:
    """The judge's cost: per call (the question, its options and an answer at the model's
    output cap), per 100 judged answers, and if every trial to send needed the judge."""
    from vpt.deciders.vlm import judge as judge_mod

    provider, model = judge_mod.split_spec(spec)
    price, _, why = _row_for(table, provider, model)
    asked = [r for r in rows if r.question is not None]
    if not asked:
        return JudgeEstimate(spec, price, why, 0, 0, 0, None, None)
    worst = max(asked, key=lambda r: r.answer_cap)
    prompt = judge_mod.judge_prompt(worst.question, "x" * (4 * worst.answer_cap))
    tin = math.ceil((len(judge_mod.JUDGE_SYSTEM) + len(prompt)) / 4) + 8
    tout = judge_mod.JUDGE_MAX_TOKENS
    calls = max(r.to_send for r in asked)
    if price is None:
        return JudgeEstimate(spec, None, why, tin, tout, calls, None, None)
    return JudgeEstimate(spec, price, why, tin, tout, calls, 100 * price.usd(tin, tout), calls * price.usd(tin, tout))


def _usd(v: float | None) -> str:
    return "no price on file" if v is None else f"${v:,.2f}" if v >= 1 else f"${v:.4f}"


def render(rows: Sequence[ModelEstimate], judge: JudgeEstimate | None, table: PriceTable, batch: bool) -> str:
    """The table, the prices' dates and sources, and how to price an unpriced model."""
    lines = ["| provider | model | status | trials | cached | input tokens | output tokens | USD (expected) | "
             "USD (at most) |", "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if r.model == "-":
            lines.append(f"| {r.provider} | - | no priced default | | | | | no price on file | |")
            continue
        lines.append(f"| {r.provider} | {r.model} | {r.status} | {r.trials:,} | {r.cached:,} | {r.input_tokens:,} | "
                     f"{r.output_tokens:,} | {_usd(r.usd)} | {'' if r.usd_max is None else _usd(r.usd_max)} |")
    notes = ["", "Nothing was sent. Tokens are estimates (text at 4 characters a token, images by the provider's "
             "rule); 'at most' is every answer at the output cap" + (", at the batch price (50 %)" if batch else "")
             + "; cached requests cost nothing."]
    priced = {(r.provider, r.model): r.price for r in rows if r.price is not None and r.status != "local"}
    if priced:
        notes.append("Prices (USD per million input / output tokens):")
        for (prov, model), p in priced.items():
            longp = (f"; prompts over {p.long_above:,} tokens: {p.long_input:g} / {p.long_output:g}"
                     if p.long_above else "")
            notes.append(f"  {prov} {model}: {p.input_per_mtok:g} / {p.output_per_mtok:g}{longp}, {p.dated}, "
                         f"{p.source}")
    unpriced = [(f"{r.provider} {r.model}" if r.model != "-" else f"{r.provider} (no default)", r.why, r.provider)
                for r in rows if r.price is None]
    if judge is not None and judge.price is None:
        unpriced.append((f"judge {judge.spec}", judge.why, judge.spec.split(":")[0]))
    if unpriced:
        notes.append("No price on file:")
        notes += [f"  {what}: {why}" for what, why, _ in unpriced]
        notes.append("To price one: " + prices_mod.HOW_TO_ADD.format(provider=unpriced[0][2], path=table.path) + ".")
    if judge is not None:
        if judge.price is not None:
            notes.append(f"Judge {judge.spec}: asked only where the rules read no answer; about {judge.per_call_input:,} "
                         f"input + {judge.per_call_output} output tokens a call: {_usd(judge.usd_per_100)} per 100 "
                         f"judged answers, at most {_usd(judge.usd_max)} if all {judge.calls_max:,} trials to send of "
                         f"one model needed it ({judge.price.dated}, {judge.price.source}).")
    return "\n".join(lines + notes)
