"""The answer parser's score on the project's own corpora (no API calls, no network).

    .venv/bin/python benchmarks/record.py vlm-parse -- .venv/bin/python benchmarks/vlm_parse.py

Prints, per corpus, per set and per answer style: read (answers that contain one, parsed right),
flipped (parsed to the other answer) and committed (no-answer texts parsed to an answer), then
every miss. The corpora are in tests/corpora/ (see tests/corpora/README.md).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from vpt.deciders.vlm import corpus

ROOT = Path(__file__).resolve().parents[1]
CORPORA = (ROOT / "tests" / "corpora" / "vlm_answers.jsonl", ROOT / "tests" / "corpora" / "vlm_answers_general.jsonl")


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args(argv)
    everything = []
    for path in CORPORA:
        rows = corpus.load(path)
        everything += rows
        t0 = time.perf_counter()
        total, misses = corpus.score(rows)
        ms = (time.perf_counter() - t0) * 1000 / max(1, len(rows))
        print(f"\n## {path.name}: {len(rows)} answers, {ms:.2f} ms an answer\n\nall: {total.line()}")
        for key in ("set", "style", "question_kind"):
            if any(key in r for r in rows):
                for name, s in corpus.by(rows, key).items():
                    print(f"  {key} {name}: {s.line()}")
        for truth, got, r in misses:
            print(f"  miss: truth {truth}, parsed {got} | {r['question']} | {r['response'][:110]!r}")
    total, _ = corpus.score(everything)
    print(f"\n## both corpora, {len(everything)} answers\n\n{total.line()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
