"""Scoring the answer parser on a labelled corpus (JSONL: response, question_kind, options,
question, truth; optional set and style), as the issue's held-out criteria count it.

- read: the share of answers that contain one (truth yes/no/A/B) parsed to exactly that;
- flipped: answers that contain one, parsed to the other one (the worst error: a wrong trial);
- committed: the share of texts with no answer (truth ``invalid``) parsed to an answer.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from vpt.deciders.vlm.parse import INVALID, parse_answer


@dataclass(frozen=True)
class Score:
    answers: int
    read: int
    flipped: int
    no_answer: int
    committed: int

    @property
    def read_share(self) -> float:
        return self.read / self.answers if self.answers else 1.0

    @property
    def committed_share(self) -> float:
        return self.committed / self.no_answer if self.no_answer else 0.0

    def line(self) -> str:
        return (f"read {self.read}/{self.answers} ({self.read_share:.1%}), flipped {self.flipped}, committed on "
                f"no-answer texts {self.committed}/{self.no_answer} ({self.committed_share:.1%})")


def load(path: str | Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def parse_row(row: dict) -> str:
    return parse_answer(row["response"], row["question_kind"], row.get("options"), row.get("question"))


def score(rows: Iterable[dict]) -> tuple[Score, list[tuple[str, str, dict]]]:
    """The score and the misses as (truth, parse, row)."""
    n_ans = read = flipped = n_none = committed = 0
    misses = []
    for r in rows:
        got = parse_row(r)
        if r["truth"] == INVALID:
            n_none += 1
            committed += got != INVALID
        else:
            n_ans += 1
            read += got == r["truth"]
            flipped += got not in (r["truth"], INVALID)
        if got != r["truth"]:
            misses.append((r["truth"], got, r))
    return Score(n_ans, read, flipped, n_none, committed), misses


def by(rows: list[dict], key: str) -> dict[str, Score]:
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        groups[str(r.get(key, "-"))].append(r)
    return {k: score(v)[0] for k, v in sorted(groups.items())}
