"""`vpt vlm`: multimodal models (OpenAI, Anthropic, Google, OpenAI-compatible local servers)
on a dataset -> trial-table runs; `vpt vlm estimate` (calls and cost, nothing sent);
`vpt vlm parse` (the answer parser over a JSONL file).

Registered by :mod:`vpt.cli` through ``EVALUATOR_COMMANDS`` (``"vpt.deciders.vlm.cli"``);
imports no SDK, pandas nor pyarrow until a command runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

PROVIDER_NAMES = ("openai", "anthropic", "google", "openai-compatible")
STYLES = ("plain", "rule", "cot")


def _run_args(p: argparse.ArgumentParser, estimate: bool = False) -> None:
    p.add_argument("dataset", help="a rendered dataset folder (data/<recipe>)")
    if estimate:
        p.add_argument("--provider", default=None, choices=PROVIDER_NAMES,
                       help="only this provider (default: openai, anthropic and google)")
        p.add_argument("--model", default=None, help="only this model (needs --provider)")
        p.add_argument("--models", default="defaults", choices=("defaults", "all"),
                       help="without --model: each provider's default models (default) or every model the price "
                            "table lists, unpriced ones included")
        p.add_argument("--batch", action="store_true", help="at the batch price (openai, anthropic: 50 %%)")
    else:
        p.add_argument("--provider", required=True, choices=PROVIDER_NAMES)
        p.add_argument("--model", required=True, help="the model id the provider's page gives, e.g. gpt-6-sol "
                       "(the price table lists the priced ones: vpt vlm estimate DATASET --models all)")
    p.add_argument("--base-url", default=None, help="API base URL (required for openai-compatible, "
                   "e.g. http://localhost:8000/v1 for vLLM)")
    p.add_argument("--prompt", default="plain", choices=STYLES, help="prompt style: plain, rule (the rule stated "
                   "in words) or cot (chain of thought with a final-answer line); default plain")
    p.add_argument("--prompt-version", default="v1", help="template file evaluation/prompts/<version>.yaml")
    p.add_argument("--form", default="yes_no", choices=("yes_no", "two_option"), help="question form")
    p.add_argument("--shots", type=int, default=20, help="k labelled train exemplars as earlier turns (default 20; "
                   "0 = zero-shot)")
    p.add_argument("--exemplars", default=None, help="dataset to draw exemplars from (default DATASET's train split)")
    p.add_argument("--variants", "--controls", nargs="+", default=["default"], dest="controls",
                   choices=("default", "blank", "swap", "mirror"), help="controls to run (default: default)")
    p.add_argument("--repeats", type=int, default=0, help="ask a subset this many extra times (non-determinism)")
    p.add_argument("--repeat-subset", type=int, default=20, help="how many items get repeats (default 20)")
    p.add_argument("--task", nargs="+", default=["vpt", "depth"], choices=("vpt", "depth"))
    p.add_argument("--selection", default="all", choices=("all", "human", "warmup"))
    p.add_argument("--split", nargs="+", default=None, help="only these trial splits (e.g. test ood)")
    p.add_argument("--limit", type=int, default=None, help="only the first N items (by scene id)")
    p.add_argument("--image-size", type=int, default=512, help="longer side in pixels sent (default 512)")
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--no-temperature", action="store_true", help="send no temperature (models that refuse one)")
    p.add_argument("--max-tokens", type=int, default=None, help="output cap (default 16, 64 for JSON, 1024 for cot)")
    p.add_argument("--free-text", action="store_true", help="no constrained (JSON schema) output")
    p.add_argument("--seed", type=int, default=0, help="exemplar draw and API seed (default 0)")
    p.add_argument("--budget-usd", "--budget", type=float, default=None, dest="budget_usd",
                   help="stop cleanly before the spend could pass this many dollars")
    p.add_argument("--out", default="results", help="results folder (default results/)")
    p.add_argument("--cache", default=None, help="response cache (default RESULTS/.vlm-cache.sqlite)")
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--rpm", type=float, default=None, help="requests per minute limit")
    p.add_argument("--tpm", type=float, default=None, help="tokens per minute limit")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per call (default 60)")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--judge", default=None, metavar="PROVIDER:MODEL",
                   help="a second model reads the answers the rules cannot (one option or none), through the same "
                        "cache and budget, e.g. openai:gpt-6-luna; rows say parsed_by=judge")
    p.add_argument("--judge-base-url", default=None, help="the judge's API base URL (openai-compatible judges)")
    p.add_argument("--reask", action="store_true", help="ask once more, in the same conversation, for a one-word "
                   "answer where the rules read none (a separate variant, ...:reask)")


class _AnyName:
    """What argparse checks a subcommand against: any name passes, so that a first word that is
    no subcommand becomes the dataset of an implied ``run`` (``vpt vlm DATASET ...``)."""

    def __init__(self, names: dict) -> None:
        self.names = names

    def __contains__(self, name: object) -> bool:
        return True

    def __iter__(self):
        return iter(self.names)


class _DefaultRun(argparse._SubParsersAction):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.choices = _AnyName(self._name_parser_map)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        if values and values[0] not in self._name_parser_map:
            values = ["run", *values]
        super().__call__(parser, namespace, values, option_string)


def add_parser(sub: argparse._SubParsersAction) -> None:
    v = sub.add_parser("vlm", help="multimodal models (OpenAI, Anthropic, Google, local servers) -> trial table",
                       description="Prompt multimodal models on a dataset's images (zero- or k-shot, plain, rule or "
                       "chain of thought; controls), cached and resumable, with cost tracking and a budget.")
    vs = v.add_subparsers(dest="vlm_command", required=True, metavar="{run,estimate,parse}", action=_DefaultRun,
                          help="run (the default: `vpt vlm DATASET ...` is `vpt vlm run DATASET ...`), estimate, parse")
    r = vs.add_parser("run", help="ask a model; writes RESULTS/<run_id>/ (trials.parquet, calls.parquet, run.json)")
    _run_args(r)
    r.add_argument("--retry-failed", action="store_true", help="redo a finished run: only failed calls are sent")
    r.add_argument("--batch", action="store_true", help="use the provider's batch API (openai, anthropic: about "
                   "half the price, answers within 24 h); rerun the same command to collect")
    r.add_argument("--dry-run", action="store_true", help="print the number of requests and the cost estimate; "
                   "send nothing")
    r.set_defaults(func=cmd_run)
    e = vs.add_parser("estimate", help="calls, tokens and estimated cost per model (the defaults of each provider, "
                      "every listed model, or one); sends nothing",
                      description="The requests a run would send on DATASET and their cost, per model, priced with "
                      "the dated prices of evaluation/prices/prices.yaml; no key needed, nothing sent.")
    _run_args(e, estimate=True)
    e.set_defaults(func=cmd_estimate, dry_run=True, retry_failed=False)
    pa = vs.add_parser("parse", help="run the answer parser over a JSONL file of answers")
    pa.add_argument("--in", dest="inp", required=True, help="JSONL: response, question_kind, options[, question]")
    pa.add_argument("--out", required=True, help="JSONL: each input line plus parse")
    pa.set_defaults(func=cmd_parse)


def _config(args: argparse.Namespace):
    from vpt.deciders.vlm.harness import VLMConfig

    return VLMConfig(provider=args.provider, model=args.model, base_url=args.base_url,
                     prompt_version=args.prompt_version, style=args.prompt, form=args.form, shots=args.shots,
                     tasks=tuple(args.task), controls=tuple(dict.fromkeys(args.controls)), repeats=args.repeats,
                     repeat_subset=args.repeat_subset, image_size=args.image_size,
                     temperature=None if args.no_temperature else args.temperature, max_tokens=args.max_tokens,
                     seed=args.seed, constrained=not args.free_text, limit=args.limit,
                     judge=getattr(args, "judge", None), judge_base_url=getattr(args, "judge_base_url", None),
                     reask=bool(getattr(args, "reask", False)))


def cmd_estimate(args: argparse.Namespace) -> int:
    from vpt.deciders.vlm import estimate as est_mod
    from vpt.deciders.vlm.batch import PRICE_FACTOR
    from vpt.deciders.vlm.prices import load_table
    from vpt.deciders.vlm.run import RunOptions, run_id_for
    from vpt.trials import store
    from vpt.trials.items import load_dataset

    table = load_table()
    pairs = est_mod.choose(table, args.provider, args.model, getattr(args, "models", "defaults"))
    cfg = _config(replace_ns(args, provider=pairs[0][0], model=pairs[0][1] or "-"))
    opts = RunOptions.from_args(args)
    ds = load_dataset(args.dataset)
    ex = load_dataset(args.exemplars) if args.exemplars else ds
    out = Path(args.out)
    if args.model is not None and store.is_complete(out / run_id_for(cfg, ds, opts.selection, opts.splits)) \
            and not opts.retry_failed:
        print(f"run {run_id_for(cfg, ds, opts.selection, opts.splits)} is finished: a rerun sends nothing")
        return 0
    rows = est_mod.estimate_models(cfg, ds, ex, opts, out, pairs, table, PRICE_FACTOR if opts.batch else 1.0)
    judge = est_mod.estimate_judge(args.judge, rows, table) if args.judge else None
    if args.model is not None and rows[0].usd is not None:  # one model: the one-line summary as well
        r = rows[0]
        print(f"{r.provider} {r.model}: {r.trials} requests ({r.cached} cached, {r.to_send} to send), "
              f"~{r.input_tokens:,} input tokens to send; estimated cost ${r.usd:.4f} (at most ${r.usd_max:.4f} "
              f"if every answer used all {r.answer_cap} output tokens; "
              f"prices as of {r.price.as_of}). Nothing was sent.")
    print(est_mod.render(rows, judge, table, opts.batch))
    return 0


def replace_ns(ns: argparse.Namespace, **kw) -> argparse.Namespace:
    """A copy of ``ns`` with ``kw`` set."""
    return argparse.Namespace(**{**vars(ns), **kw})


def cmd_run(args: argparse.Namespace) -> int:
    if args.dry_run:
        return cmd_estimate(args)
    from tqdm import tqdm

    from vpt.deciders.vlm.providers import provider_class
    from vpt.deciders.vlm.run import RunOptions, run_vlm
    from vpt.trials.items import load_dataset

    provider_class(args.provider)  # its SDK is installed, or one line naming the extra, before any work
    cfg = _config(args)
    ds = load_dataset(args.dataset)
    ex = load_dataset(args.exemplars) if args.exemplars else None
    bar = tqdm(desc=f"{cfg.provider} {cfg.model}", unit="call", disable=args.quiet, file=sys.stderr)

    def tick(rec) -> None:
        bar.update(1)

    try:
        command = ["vpt", "vlm", "run", *sys.argv[3:]] if sys.argv[1:3] == ["vlm", "run"] else None
        res = run_vlm(cfg, ds, args.out, RunOptions.from_args(args, command), ex, progress=tick)
    finally:
        bar.close()
    if res.batch is not None:
        b = res.batch
        print(f"batch: {b.collected} answers collected, {b.missing} still missing; open batches: "
              f"{', '.join(b.open_batches) or 'none'}" + (f" (submitted {b.submitted})" if b.submitted else "")
              + ". Rerun the same command to collect; nothing is written until every answer is in.")
        return 0
    if res.kept:
        print(f"run {res.run_id} is finished (kept; no calls made): {res.path}/")
        return 0
    print(summary_table(res.trials))
    c = res.cost or {}
    fails = sum(r.status in ("timeout", "error") for r in res.records)
    via = f", {c.get('batch_calls')} of them answered by a batch" if c.get("batch_calls") else ""
    print(f"\n{len(res.records)} calls ({c.get('cached', 0)} from the cache{via}, {c.get('sent', 0)} sent, {fails} failed: "
          f"rerun with --retry-failed to resend those); ${c.get('usd', 0):.4f} spent "
          f"({c.get('input_tokens', 0):,} input, {c.get('output_tokens', 0):,} output tokens) -> {res.path}/")
    return 0


def summary_table(trials) -> str:
    """Accuracy, balanced accuracy, d', criterion and invalid rate per task and variant."""
    import numpy as np

    from vpt.metrics.scores import sdt

    lines = ["| task | variant | n | accuracy | balanced acc. | d' | c | invalid |", "|---|---|---|---|---|---|---|---|"]
    df = trials[trials["label"].notna()]
    for (task, variant), g in df.groupby(["task", "variant"], observed=True):
        lab, resp = g["label"].astype(int), g["response"]
        correct = g["correct"].fillna(False).astype(bool).to_numpy()  # null (invalid) counts as wrong
        acc = correct.mean()
        bal = np.nanmean([correct[(lab == k).to_numpy()].mean() if (lab == k).any() else np.nan for k in (0, 1)])
        valid = resp.notna()
        hits = int(((resp == 1) & (lab == 1) & valid).sum())
        fas = int(((resp == 1) & (lab == 0) & valid).sum())
        _, _, d, c = sdt(np.array([hits]), np.array([int(((lab == 1) & valid).sum())]), np.array([fas]),
                         np.array([int(((lab == 0) & valid).sum())]))
        lines.append(f"| {task} | {variant} | {len(g)} | {acc:.3f} | {bal:.3f} | {d[0]:.2f} | {c[0]:.2f} | "
                     f"{float((~valid).mean()):.3f} |")
    return "\n".join(lines)


def cmd_parse(args: argparse.Namespace) -> int:
    from vpt.deciders.vlm.parse import parse_answer
    from vpt.errors import UserError

    src = Path(args.inp)
    try:
        lines = src.read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise UserError(f"{src}: cannot read ({err.strerror})") from None
    out = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as err:
            raise UserError(f"{src}: line {n}: not JSON ({err.msg})") from None
        if not isinstance(rec, dict):
            raise UserError(f"{src}: line {n}: expected a JSON object")
        kind, opts, resp = rec.get("question_kind"), rec.get("options"), rec.get("response")
        if kind not in ("yes_no", "two_option"):
            raise UserError(f"{src}: line {n}: question_kind must be yes_no or two_option, not {kind!r}")
        if kind == "two_option" and not (isinstance(opts, list) and len(opts) == 2 and all(isinstance(o, str) for o in opts)):
            raise UserError(f"{src}: line {n}: a two_option question needs options: a list of two texts (A first)")
        if resp is not None and not isinstance(resp, str):
            raise UserError(f"{src}: line {n}: response must be a string or null")
        q = rec.get("question")
        rec["parse"] = parse_answer(resp, kind, opts if kind == "two_option" else None,
                                    q if isinstance(q, str) else None)
        out.append(json.dumps(rec, ensure_ascii=False))
    from vpt.fileio import atomic_write_text

    atomic_write_text(Path(args.out), "\n".join(out) + ("\n" if out else ""))
    counts: dict[str, int] = {}
    for line in out:
        p = json.loads(line)["parse"]
        counts[p] = counts.get(p, 0) + 1
    print(f"{len(out)} answers parsed -> {args.out}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return 0
