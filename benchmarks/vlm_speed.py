"""Harness speed over a mocked API, and the parser's agreement with the labelled corpus.

``python benchmarks/vlm_speed.py --calls 2000`` sends that many distinct requests through
the whole harness (prompt building, PNG encoding, the real OpenAI SDK over an in-process
httpx2.MockTransport, the SQLite cache, parsing, trial rows) and prints calls per second and
the harness overhead per call; then it reruns them from the cache. ``--corpus FILE`` prints
the parser's agreement with a labelled JSONL corpus (``truth`` per line).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def _items(folder: Path, n: int) -> pd.DataFrame:
    from PIL import Image as PILImage

    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        p = folder / f"s{i:05d}.png"
        PILImage.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(p)
        rows.append({"scene_id": f"s{i:05d}", "split": "train" if i < 20 else "test", "image": str(p),
                     "vpt_label": i % 2, "depth_label": (i // 2) % 2, "sweep_id": None, "sweep_step": pd.NA})
    return pd.DataFrame(rows)


def bench_harness(calls: int = 2000, concurrency: int = 8) -> dict[str, float]:
    import os

    import httpx2

    from vpt.deciders.vlm.cache import ResponseCache
    from vpt.deciders.vlm.cost import Budget, price_for
    from vpt.deciders.vlm.harness import Harness, VLMConfig, answers_frame
    from vpt.deciders.vlm.images import ImageCache
    from vpt.deciders.vlm.prompts import load_templates
    from vpt.deciders.vlm.providers import base
    from vpt.deciders.vlm.providers.openai import OpenAIProvider

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json={
            "id": "x", "object": "chat.completion", "created": 0, "model": "gpt-6-luna",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": '{"answer": "yes"}'},
                         "finish_reason": "stop"}], "usage": {"prompt_tokens": 900, "completion_tokens": 5}})

    client = httpx2.Client(transport=httpx2.MockTransport(handler))
    old_factory, old_key = base.HTTP_CLIENT_FACTORY, os.environ.get("OPENAI_API_KEY")
    base.HTTP_CLIENT_FACTORY = lambda: client
    os.environ.setdefault("OPENAI_API_KEY", "bench-not-a-key")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            n_tested = -(-calls // 4)  # 2 tasks x 2 controls per tested item
            items = _items(Path(tmp), n_tested + 20)
            cfg = VLMConfig("openai", "gpt-6-luna", shots=4, controls=("default", "mirror"), image_size=64)
            images = ImageCache()
            h = Harness(cfg, OpenAIProvider(cfg.model), load_templates(), price_for("openai", cfg.model),
                        ResponseCache(Path(tmp) / "c.sqlite"), images)
            from vpt.deciders.vlm import images as images_mod

            enc0 = images_mod.ENCODINGS[0]
            t0 = time.perf_counter()
            jobs = h.jobs(items[items["split"] == "test"], items)[:calls]
            t1 = time.perf_counter()
            recs = h.run(jobs, Budget(None), concurrency=concurrency)
            answers_frame(recs, "vlm:bench", 0)
            t2 = time.perf_counter()
            again = h.run(jobs, Budget(None), concurrency=concurrency)
            t3 = time.perf_counter()
            assert all(r.cached for r in again) and len(recs) == len(jobs)
            return {"calls": len(jobs), "build_s": t1 - t0, "run_s": t2 - t1, "calls_per_s": len(jobs) / (t2 - t0),
                    "overhead_ms_per_call": 1000 * (t2 - t0) / len(jobs), "cached_rerun_s": t3 - t2,
                    "images_encoded": images_mod.ENCODINGS[0] - enc0}
    finally:
        base.HTTP_CLIENT_FACTORY = old_factory
        if old_key is None:
            os.environ.pop("OPENAI_API_KEY", None)


def bench_parser(corpus: Path) -> dict[str, float]:
    from vpt.deciders.vlm.parse import parse_answer

    rows = [json.loads(line) for line in corpus.read_text(encoding="utf-8").splitlines() if line.strip()]
    got = [parse_answer(r["response"], r["question_kind"], r.get("options"), r.get("question")) for r in rows]
    agree = sum(g == r["truth"] for g, r in zip(got, rows))
    answered = [(g, r) for g, r in zip(got, rows) if r["truth"] != "invalid"]
    committed_wrong = sum(g != "invalid" and g != r["truth"] for g, r in zip(got, rows))
    return {"answers": len(rows), "agreement": agree / len(rows),
            "agreement_on_answers": sum(g == r["truth"] for g, r in answered) / max(1, len(answered)),
            "wrong_commitments": committed_wrong}


CHECKOUT_CORPUS = Path(__file__).resolve().parents[1] / "tests" / "corpora" / "vlm_answers.jsonl"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python benchmarks/vlm_speed.py", description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--corpus", type=Path, default=None,
                    help="labelled answers, JSONL (default: a checkout's tests/corpora/vlm_answers.jsonl)")
    a = ap.parse_args(argv)
    if a.corpus is not None and not a.corpus.is_file():
        ap.error(f"--corpus {a.corpus}: no such file")
    corpus = a.corpus or CHECKOUT_CORPUS
    if corpus.is_file():
        p = bench_parser(corpus)
        print(f"parser: {p['agreement']:.2%} agreement with {p['answers']} hand-labelled answers "
              f"({p['agreement_on_answers']:.2%} on those with an answer; {p['wrong_commitments']} wrong commitments)")
    else:
        print(f"parser: skipped, no labelled corpus at {corpus} (pass --corpus FILE)")
    r = bench_harness(a.calls, a.concurrency)
    print(f"harness: {r['calls']} mocked calls in {r['build_s'] + r['run_s']:.2f} s ({r['calls_per_s']:.0f} calls/s, "
          f"{r['overhead_ms_per_call']:.2f} ms per call including the mocked SDK round trip); "
          f"building the requests {r['build_s']:.2f} s with {r['images_encoded']} images encoded (each picture once); "
          f"rerun from the cache {r['cached_rerun_s']:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
