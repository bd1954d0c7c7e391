"""Prompt templates (evaluation/prompts/<version>.yaml) and the conversations built from them.

A conversation is provider-neutral: a system text and a list of turns, each a role
(``user`` or ``assistant``) and parts (text, or an :class:`~vpt.deciders.vlm.images.Image`).
Providers translate it into their API's messages. k-shot exemplars are alternating user
(image + question) and assistant (the right answer) turns, drawn from train scenes disjoint
from the tested ones, balanced by label and fixed per (seed, k, task).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from vpt import resources
from vpt.errors import UserError

PROMPTS_DIR = resources.data_path("evaluation", "prompts")
FORMS = ("yes_no", "two_option")
TASKS = ("vpt", "depth")


@dataclass(frozen=True)
class Question:
    """What is asked and how answers map to labels."""

    task: str
    form: str                  # yes_no | two_option
    text: str
    options: tuple[str, str] | None  # two_option: (A, B)
    a_means: int               # the label that "yes" / option A stands for

    @property
    def choices(self) -> str:
        return "yes or no" if self.form == "yes_no" else "A or B"

    @property
    def enum(self) -> list[str]:
        return ["yes", "no"] if self.form == "yes_no" else ["A", "B"]

    def render(self) -> str:
        if self.form == "yes_no":
            return self.text
        a, b = self.options or ("", "")
        return f"{self.text}\nA. {a}\nB. {b}"

    def answer_for(self, label: int) -> str:
        """The answer token (yes/no or A/B) that means ``label``."""
        first = label == self.a_means
        return (("yes" if first else "no") if self.form == "yes_no" else ("A" if first else "B"))

    def label_of(self, parsed: str) -> int | None:
        """The label a parsed answer (yes/no/A/B/invalid) stands for; None if invalid."""
        if parsed in ("yes", "A"):
            return self.a_means
        if parsed in ("no", "B"):
            return 1 - self.a_means
        return None


@dataclass
class Turn:
    role: str                   # user | assistant
    parts: list[Any] = field(default_factory=list)  # str or images.Image


@dataclass
class Conversation:
    system: str
    turns: list[Turn]
    question: Question
    cot: bool
    json_output: bool


@dataclass(frozen=True)
class Templates:
    version: str
    data: dict[str, Any]
    instructions: dict[str, str]
    source: Path

    def style(self, name: str) -> dict[str, Any]:
        if name not in self.data["styles"]:
            raise UserError(f"{self.source}: no prompt style {name!r}; choose from {', '.join(self.data['styles'])}")
        return self.data["styles"][name]

    def question(self, task: str, form: str, swap: bool = False) -> Question:
        q = self.data["questions"][task]
        opts = tuple(q["options"])
        a_means = int(q["a_means"])
        if swap:
            opts, a_means = (opts[1], opts[0]), 1 - a_means
        if form == "yes_no":
            return Question(task, form, q["yes_no"], None, int(q["a_means"]))
        return Question(task, form, q["two_option"], opts, a_means)  # type: ignore[arg-type]


def load_templates(version: str = "v1", directory: Path | None = None) -> Templates:
    """Read and validate ``evaluation/prompts/<version>.yaml`` and its instruction files."""
    directory = directory or PROMPTS_DIR
    path = directory / f"{version}.yaml"
    if not path.is_file():
        have = sorted(p.stem for p in directory.glob("*.yaml"))
        raise UserError(f"{path}: no such prompt version; available: {', '.join(have) or 'none'}")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    def need(cond: bool, what: str) -> None:
        if not cond:
            raise UserError(f"{path}: {what}")
    need(isinstance(data, dict) and data.get("version") == version, f"'version' must be {version!r}")
    for key in ("instructions", "questions", "styles", "answer_format", "exemplars"):
        need(isinstance(data.get(key), dict), f"missing section {key!r}")
    instructions = {}
    for task in TASKS:
        rel = data["instructions"].get(task)
        need(isinstance(rel, str) and (directory / rel).is_file(), f"instructions.{task}: file {rel!r} not found")
        instructions[task] = (directory / rel).read_text(encoding="utf-8").strip()
        q = data["questions"].get(task) or {}
        need(all(isinstance(q.get(k), str) for k in ("yes_no", "two_option")), f"questions.{task}: needs yes_no and two_option")
        need(isinstance(q.get("options"), list) and len(q["options"]) == 2, f"questions.{task}.options: two texts")
        need(q.get("a_means") in (0, 1), f"questions.{task}.a_means: 0 or 1")
    for name, st in data["styles"].items():
        need(isinstance(st, dict) and isinstance(st.get("cot"), bool), f"styles.{name}: needs cot: true/false")
    for key in ("plain", "cot", "json", "json_cot"):
        need(isinstance(data["answer_format"].get(key), str), f"answer_format.{key} missing")
    return Templates(version, data, instructions, path)


def _extra(style: dict[str, Any], task: str) -> str:
    extra = style.get("extra") or ""
    return (extra.get(task, "") if isinstance(extra, dict) else extra).strip()


def question_text(t: Templates, style: dict[str, Any], q: Question, json_output: bool) -> str:
    """The user text that follows an image: the rule (if any), the question, the answer format."""
    key = ("json_cot" if style["cot"] else "json") if json_output else ("cot" if style["cot"] else "plain")
    fmt = t.data["answer_format"][key].format(choices=q.choices)
    return "\n\n".join(p for p in (_extra(style, q.task), q.render(), fmt.strip()) if p)


def exemplar_items(pool: pd.DataFrame, tested: set[str], task: str, k: int, seed: int) -> pd.DataFrame:
    """``k`` train items balanced by the ``task`` label (k//2 each, the odd one to label 1),
    none of them tested, drawn with a generator seeded by (seed, k, task): fixed per (seed, k)."""
    if k <= 0:
        return pool.iloc[:0]
    col = "vpt_label" if task == "vpt" else "depth_label"
    cand = pool[(pool["split"] == "train") & ~pool["scene_id"].isin(tested) & pool[col].notna()]
    cand = cand.sort_values("scene_id")
    need = {1: k - k // 2, 0: k // 2}
    rng = np.random.default_rng([seed, k, int(hashlib.sha256(task.encode()).hexdigest()[:8], 16)])
    picks = []
    for lab, n in need.items():
        grp = cand[cand[col].astype(int) == lab]
        if len(grp) < n:
            raise UserError(f"k-shot: {k} exemplars need {n} train scenes with {col}={lab} that are not asked "
                            f"about themselves, the dataset has {len(grp)}; ask about other splits (e.g. --split test "
                            "ood, or --selection human), lower --shots, or pass --exemplars DATASET with a larger train "
                            "split")
        picks.append(grp.iloc[rng.choice(len(grp), size=n, replace=False)])
    out = pd.concat(picks)
    return out.iloc[rng.permutation(len(out))].reset_index(drop=True)


def build_conversation(t: Templates, style_name: str, q: Question, image: Any,
                       exemplars: list[tuple[Any, int]], json_output: bool) -> Conversation:
    """System = the task instructions; then exemplar turns (image, question; right answer),
    then the tested image and question."""
    style = t.style(style_name)
    text = question_text(t, style, q, json_output)
    turns: list[Turn] = []
    for i, (img, label) in enumerate(exemplars):
        intro = [t.data["exemplars"]["intro"].format(k=len(exemplars))] if i == 0 else []
        turns.append(Turn("user", [*intro, img, text]))
        ans = q.answer_for(label)
        if json_output:
            ans = '{"answer": "%s"}' % ans
        elif style["cot"]:
            ans = f"Final answer: {ans}"
        turns.append(Turn("assistant", [ans]))
    intro = [t.data["exemplars"]["test_intro"]] if exemplars else []
    turns.append(Turn("user", [*intro, image, text]))
    return Conversation(t.instructions[q.task], turns, q, bool(style["cot"]), json_output)


def answer_schema(q: Question, cot: bool) -> dict[str, Any]:
    """The JSON schema of a constrained answer: ``{"answer": enum}`` (and ``reasoning`` first for CoT)."""
    props: dict[str, Any] = {"answer": {"type": "string", "enum": q.enum}}
    if cot:
        props = {"reasoning": {"type": "string"}, **props}
    return {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}
