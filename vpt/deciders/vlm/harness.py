"""The VLM harness: requests for items x tasks x controls x repeats, sent through the cache,
with retries, rate and concurrency limits and a budget; answers parsed into trial rows.

One :class:`VLMConfig` is one run (``kind`` ``vlm``). Its ``variant`` column names the prompt
version, style, question form, shots and control, e.g. ``v1:plain:yes_no:k20:mirror``;
repeats of a subset are rows of the ``default`` control with ``repeat`` 1..R. ``rt_ms`` is
the latency of the call that produced the answer (for a cached answer, the original call's).
Controls: ``default``; ``blank`` (a uniform grey picture: the words-only baseline); ``swap``
(option order exchanged; two-option form only); ``mirror`` (left-right flipped picture,
labels unchanged, see :mod:`.images`). Exemplars are never mirrored or blanked.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

import numpy as np
import pandas as pd

from vpt.deciders.vlm import cache as cache_mod
from vpt.deciders.vlm import judge as judge_mod
from vpt.deciders.vlm.cost import Budget, BudgetReached, Price
from vpt.deciders.vlm.images import ImageCache
from vpt.deciders.vlm.parse import parse_answer
from vpt.deciders.vlm.prompts import FORMS, Conversation, Templates, build_conversation, exemplar_items
from vpt.deciders.vlm.providers.base import Failure, Params, Provider, Reply
from vpt.errors import UserError

CONTROLS = ("default", "blank", "swap", "mirror")
IMAGE_CONTROL = {"default": "none", "blank": "blank", "swap": "none", "mirror": "mirror"}
MAX_ATTEMPTS = 6
BATCH_PRICE_FACTOR = 0.5  # batch APIs charge half (vpt.deciders.vlm.batch)
INPUT_SAFETY = 1.5  # worst-case factor on the input-token estimate before the API has counted one
BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 60.0
SLEEP: Callable[[float], None] = time.sleep  # tests replace it


@dataclass(frozen=True)
class VLMConfig:
    """Everything that determines the answers of a run (all of it in the run id)."""

    provider: str
    model: str
    base_url: str | None = None
    prompt_version: str = "v1"
    style: str = "plain"
    form: str = "yes_no"
    shots: int = 20
    tasks: tuple[str, ...] = ("vpt", "depth")
    controls: tuple[str, ...] = ("default",)
    repeats: int = 0
    repeat_subset: int = 20
    image_size: int = 512
    temperature: float | None = 0.0
    max_tokens: int | None = None
    seed: int = 0
    constrained: bool = True
    limit: int | None = None
    judge: str | None = None          # PROVIDER:MODEL of a second model that reads unread answers
    judge_base_url: str | None = None
    reask: bool = False               # ask once more for a one-word answer (variant ...:reask)

    def __post_init__(self) -> None:
        if self.form not in FORMS:
            raise UserError(f"--form must be one of {', '.join(FORMS)}")
        bad = [c for c in self.controls if c not in CONTROLS]
        if bad:
            raise UserError(f"unknown control {bad[0]!r}; choose from {', '.join(CONTROLS)}")
        if "swap" in self.controls and self.form != "two_option":
            raise UserError("the option-order swap needs the two-option form (--form two_option)")
        if self.shots < 0 or self.repeats < 0 or self.image_size < 16:
            raise UserError("--shots and --repeats must be >= 0 and --image-size >= 16")

    def output_tokens(self, cot: bool) -> int:
        return self.max_tokens or (1024 if cot else (64 if self.constrained else 16))

    def variant(self, control: str) -> str:
        return f"{self.prompt_version}:{self.style}:{self.form}:k{self.shots}:{control}"

    def describe(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("judge", "judge_base_url", "reask"):  # absent when unused: earlier run ids stay valid
            if not d[k]:
                del d[k]
        return d


@dataclass
class Job:
    task: str
    control: str
    scene_id: str
    repeat: int
    conv: Conversation
    key: str
    input_estimate: int
    output_cap: int
    reask: bool = False


@dataclass
class CallRecord:
    """One call as logged in calls.parquet (and summed into the cost)."""

    task: str
    control: str
    variant: str
    scene_id: str
    repeat: int
    fingerprint: str
    cached: bool
    status: str                 # ok | refusal | timeout | error
    text: str | None
    parse: str
    response: int | None
    latency_ms: float | None
    input_tokens: int | None
    output_tokens: int | None
    usd: float | None
    image_sha256: str
    image_width: int
    image_height: int
    model_version: str | None
    finish_reason: str | None
    error: str | None = None
    attempts: int = 0
    batch: bool = False         # answered through a batch API (batch price)
    parsed_by: str = "rule"     # rule | judge | reask | none (the trial table's parsed_by)
    judge_text: str | None = None
    judge_cached: bool = False
    judge_usd: float | None = None
    judge_input_tokens: int | None = None
    judge_output_tokens: int | None = None


class RateLimiter:
    """Requests and tokens per minute over a sliding 60 s window (None = unlimited)."""

    def __init__(self, rpm: float | None, tpm: float | None) -> None:
        self.rpm, self.tpm = rpm, tpm
        self._events: deque[tuple[float, int]] = deque()
        self._lock = threading.Lock()

    def acquire(self, tokens: int) -> None:
        if not self.rpm and not self.tpm:
            return
        while True:
            with self._lock:
                now = time.monotonic()
                while self._events and now - self._events[0][0] >= 60:
                    self._events.popleft()
                n = len(self._events)
                used = sum(t for _, t in self._events)
                if (not self.rpm or n < self.rpm) and (not self.tpm or used + tokens <= self.tpm or n == 0):
                    self._events.append((now, tokens))
                    return
                wait_s = 60 - (now - self._events[0][0]) + 0.01
            SLEEP(max(0.01, wait_s))


def backoff_s(attempt: int, failure: Failure, rng: random.Random) -> float:
    """Retry-After when the server gives one, else exponential with full jitter (capped)."""
    if failure.retry_after is not None:
        return min(BACKOFF_CAP_S, failure.retry_after)
    return rng.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** attempt))


def text_tokens(conv: Conversation) -> int:
    """A rough count (4 characters a token) of the conversation's text, for estimates."""
    chars = len(conv.system) + sum(len(p) for t in conv.turns for p in t.parts if isinstance(p, str))
    return chars // 4 + 4 * (len(conv.turns) + 1)


class Harness:
    """Builds, estimates and runs the jobs of one configuration on one item table."""

    def __init__(self, cfg: VLMConfig, provider: Provider, templates: Templates, price: Price,
                 response_cache: cache_mod.ResponseCache, images: ImageCache | None = None,
                 judge: "judge_mod.Judge | None" = None) -> None:
        self.cfg, self.provider, self.templates, self.price = cfg, provider, templates, price
        self.cache, self.images = response_cache, images or ImageCache()
        self.judge = judge or (judge_mod.Judge.from_spec(cfg.judge, cfg.judge_base_url, response_cache)
                               if cfg.judge else None)
        self.params = Params(cfg.temperature, cfg.output_tokens(bool(templates.style(cfg.style)["cot"])), cfg.seed,
                             cfg.constrained)

    # --- building -------------------------------------------------------------------------
    def jobs(self, items: pd.DataFrame, exemplar_pool: pd.DataFrame) -> list[Job]:
        cfg = self.cfg
        missing = items["image"].isna() | (items["image"] == "")
        if missing.any():
            raise UserError(f"{int(missing.sum())} items have no image (a planned, unrendered dataset?); render it "
                            "with `make scenes` before asking a model")
        items = items.sort_values("scene_id").reset_index(drop=True)
        if cfg.limit is not None:
            items = items.iloc[:cfg.limit]
        tested = set(items["scene_id"])
        rep_ids = set()
        if cfg.repeats:
            rng = np.random.default_rng([cfg.seed, 7])
            rep_ids = set(items["scene_id"].iloc[rng.permutation(len(items))[:cfg.repeat_subset]])
        out: list[Job] = []
        for task in cfg.tasks:
            shots = exemplar_items(exemplar_pool, tested, task, cfg.shots, cfg.seed)
            col = "vpt_label" if task == "vpt" else "depth_label"
            for control in cfg.controls:
                q = self.templates.question(task, cfg.form, swap=control == "swap")
                ex = [(self.images.get(p, cfg.image_size), int(lab)) for p, lab in zip(shots["image"], shots[col])]
                for sid, path in zip(items["scene_id"], items["image"]):
                    img = self.images.get(path, cfg.image_size, IMAGE_CONTROL[control])
                    conv = build_conversation(self.templates, cfg.style, q, img, ex, cfg.constrained)
                    repeats = range(cfg.repeats + 1) if (control == "default" and sid in rep_ids) else range(1)
                    est = text_tokens(conv) + sum(self.provider.image_tokens(i) for i in [img] + [e for e, _ in ex])
                    for r in repeats:
                        key = cache_mod.fingerprint(self.provider.name, cfg.model, conv,
                                                    {**asdict(self.params), "repeat": r}, cfg.base_url)
                        out.append(Job(task, control, sid, r, conv, key, est, self.params.max_tokens))
        return out

    def estimate(self, jobs: list[Job]) -> dict[str, Any]:
        """Calls to send (those not in the cache) and their cost: expected and worst case."""
        todo = [j for j in jobs if self.cache.get(j.key) is None]
        cot = bool(self.templates.style(self.cfg.style)["cot"])
        typical_out = min(self.params.max_tokens, 300 if cot else (12 if self.cfg.constrained else 3))
        tin = sum(j.input_estimate for j in todo)
        return {"requests": len(jobs), "cached": len(jobs) - len(todo), "to_send": len(todo),
                "input_tokens_estimate": tin, "output_tokens_estimate": typical_out * len(todo),
                "output_tokens_cap": self.params.max_tokens * len(todo),  # priced per call (long-prompt rates)
                "expected_usd": sum(self.price.usd(j.input_estimate, typical_out) for j in todo),
                "worst_case_usd": sum(self.price.usd(j.input_estimate, self.params.max_tokens) for j in todo),
                "price_as_of": self.price.as_of}

    # --- running --------------------------------------------------------------------------
    def _record(self, job: Job, status: str, text: str | None, reply_tokens: tuple[int | None, int | None],
                latency: float | None, cached: bool, version: str | None, finish: str | None,
                error: str | None = None, attempts: int = 0, batch: bool = False) -> CallRecord:
        q = job.conv.question
        parsed = parse_answer(text, q.form, list(q.options) if q.options else None, q.text) \
            if status == "ok" else "invalid"
        tin, tout = reply_tokens
        usd = self.price.usd(tin or 0, tout or 0) if (tin is not None or tout is not None) else None
        if usd is not None and batch:
            usd *= BATCH_PRICE_FACTOR
        img = next(p for t in reversed(job.conv.turns) for p in t.parts if not isinstance(p, str))
        variant = self.cfg.variant(job.control) + (":reask" if job.reask else "")
        how = "none" if parsed == "invalid" else ("reask" if job.reask else "rule")
        return CallRecord(job.task, job.control, variant, job.scene_id, job.repeat, job.key,
                          cached, status, text, parsed, q.label_of(parsed), latency, tin, tout, usd, img.sha256,
                          img.width, img.height, version, finish, error, attempts, batch, how)

    def _call(self, job: Job, limiter: RateLimiter, rng: random.Random) -> CallRecord:
        for attempt in range(MAX_ATTEMPTS):
            limiter.acquire(job.input_estimate + job.output_cap)
            t0 = time.perf_counter()
            try:
                reply: Reply = self.provider.send(job.conv, self.params)
            except Exception as exc:  # noqa: BLE001 - classify() re-raises what is not an API error
                latency = (time.perf_counter() - t0) * 1000
                f = self.provider.classify(exc)
                if f.kind == "fatal":
                    raise UserError(f"{self.provider.name} {self.cfg.model}: {f.message} (stopping: check the "
                                    f"model name and the key in {self.provider.key_env})") from None
                if f.kind == "retryable" and attempt + 1 < MAX_ATTEMPTS:
                    SLEEP(backoff_s(attempt, f, rng))
                    continue
                status = "timeout" if f.kind == "timeout" else "error"
                return self._record(job, status, None, (None, None), latency, False, None, None, f.message,
                                    attempt + 1)
            latency = (time.perf_counter() - t0) * 1000
            status = "refusal" if reply.refusal else "ok"
            self.cache.put(job.key, self.provider.name, self.cfg.model, status, reply.text, reply.input_tokens,
                           reply.output_tokens, latency, reply.finish_reason, reply.model_version,
                           datetime.now(timezone.utc).isoformat())
            return self._record(job, status, reply.text, (reply.input_tokens, reply.output_tokens), latency, False,
                                reply.model_version, reply.finish_reason, attempts=attempt + 1)
        raise AssertionError("unreachable")

    def run(self, jobs: list[Job], budget: Budget, concurrency: int = 4, rpm: float | None = None,
            tpm: float | None = None, progress: Callable[[CallRecord], None] | None = None) -> list[CallRecord]:
        """Answer every job (cache first), then re-ask and judge what the rules cannot read (where
        configured). Raises BudgetReached when the next call could pass the budget (answered calls
        are cached; nothing else is written)."""
        if self.judge is not None:
            self.judge.provider.check_key()  # before anything is sent, not after
        records = self._answer(jobs, budget, concurrency, rpm, tpm, progress)
        if self.cfg.reask:
            by_key = {j.key: j for j in jobs}
            again = []
            for r in records:
                if r.status == "ok" and r.parse == "invalid" and r.text and r.fingerprint in by_key:
                    j = by_key[r.fingerprint]
                    conv = judge_mod.reask_conversation(j.conv, r.text)
                    key = cache_mod.fingerprint(self.provider.name, self.cfg.model, conv,
                                                {**asdict(self.params), "repeat": j.repeat, "reask": True},
                                                self.cfg.base_url)
                    est = j.input_estimate + len(r.text) // 4 + 16
                    again.append(Job(j.task, j.control, j.scene_id, j.repeat, conv, key, est, j.output_cap, True))
            records += self._answer(again, budget, concurrency, rpm, tpm, progress)
        if self.judge is not None:
            for r in records:
                if r.status == "ok" and r.parse == "invalid" and r.text:
                    self._judge(r, budget)
        return records

    def _judge(self, r: CallRecord, budget: Budget) -> None:
        q = self._question(r)
        verdict, call = self.judge.ask(q, r.text or "", budget)
        r.judge_text, r.judge_cached, r.judge_usd = call.text, call.cached, call.usd
        r.judge_input_tokens, r.judge_output_tokens = call.input_tokens, call.output_tokens
        if verdict != "invalid":
            r.parse, r.response, r.parsed_by = verdict, q.label_of(verdict), "judge"
        if call.error:
            r.error = f"judge: {call.error}"

    def _question(self, r: CallRecord):
        return self.templates.question(r.task, self.cfg.form, swap=r.control == "swap")

    def _answer(self, jobs: list[Job], budget: Budget, concurrency: int = 4, rpm: float | None = None,
                tpm: float | None = None, progress: Callable[[CallRecord], None] | None = None) -> list[CallRecord]:
        records: list[CallRecord] = []
        limiter, rng = RateLimiter(rpm, tpm), random.Random(self.cfg.seed)
        pending: dict[Future, tuple[Job, float]] = {}
        todo: list[Job] = []
        for job in jobs:
            hit = self.cache.get(job.key)
            if hit is None:
                todo.append(job)
                continue
            rec = self._record(job, hit.status, hit.text, (hit.input_tokens, hit.output_tokens), hit.latency_ms,
                               True, hit.model_version, hit.finish_reason, batch=hit.batch)
            records.append(rec)
            if progress:
                progress(rec)
        stopped = 0
        # the budget reserves each call's worst case: input estimated x ratio (1.5 until the API has
        # counted one, then the largest counted/estimated ratio + 5 %), output at its cap
        ratio, seen = INPUT_SAFETY, 0.0
        pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="vlm")
        try:
            it = iter(todo)
            exhausted = False
            while True:
                while not exhausted and len(pending) < max(1, concurrency) * 2:
                    job = next(it, None)
                    if job is None:
                        exhausted = True
                        break
                    worst = self.price.usd(math.ceil(job.input_estimate * ratio), job.output_cap)
                    if not budget.reserve(worst):
                        stopped = 1 + sum(1 for _ in it)
                        exhausted = True
                        break
                    pending[pool.submit(self._call, job, limiter, rng)] = (job, worst)
                if not pending:
                    break
                done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
                for fut in done:
                    job, worst = pending.pop(fut)
                    rec = fut.result()
                    budget.settle(worst, rec.usd or 0.0)
                    if rec.input_tokens:  # calibrate the input estimate on what the API counted
                        seen = max(seen, rec.input_tokens / max(1, job.input_estimate))
                        ratio = seen * 1.05
                    records.append(rec)
                    if progress:
                        progress(rec)
        except BaseException:
            for fut in pending:
                fut.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        if stopped:
            raise BudgetReached(f"budget ${budget.limit:.2f} reached: ${budget.spent:.4f} spent in this run, "
                                f"{stopped} of {len(jobs)} requests not sent (the next could have passed the "
                                "budget); every answer so far is cached and no results were written. Rerun with a "
                                "larger --budget-usd to finish; answered requests are not sent again")
        return records


def answers_frame(records: list[CallRecord], decision_maker: str, seed: int) -> pd.DataFrame:
    """The decider's answers (for :func:`vpt.deciders.base.make_trials`) from call records."""
    return pd.DataFrame({
        "decision_maker": decision_maker, "task": [r.task for r in records],
        "scene_id": [r.scene_id for r in records],
        "response": pd.array([r.response for r in records], dtype="Int64"), "score": np.nan, "seed": seed,
        "variant": [r.variant for r in records], "repeat": [r.repeat for r in records],
        "rt_ms": [r.latency_ms if r.latency_ms is not None else np.nan for r in records],
        "parsed_by": [r.parsed_by if r.status == "ok" else "none" for r in records],
    })


def reask_rows(records: list[CallRecord]) -> list[CallRecord]:
    """The rows of the re-ask variant that were not re-asked: copies of the first answers (read by
    the rules, or failed), so the ``...:reask`` variant has every item. Trial rows only: they are
    no calls (not in calls.parquet, not in the cost)."""
    from dataclasses import replace

    asked = {(r.task, r.control, r.scene_id, r.repeat) for r in records if r.variant.endswith(":reask")}
    return [replace(r, variant=r.variant + ":reask") for r in records
            if not r.variant.endswith(":reask") and (r.task, r.control, r.scene_id, r.repeat) not in asked]


def calls_frame(records: list[CallRecord]) -> pd.DataFrame:
    return pd.DataFrame([asdict(r) for r in records], columns=list(CallRecord.__dataclass_fields__))
