"""The experiment's protocol: what a participant sees, in which order, and with which words.

Pure Python (no web framework): the settings of one study (:class:`StudyConfig`), the
stimuli it may show (:class:`Stimuli`, from the dataset through
:func:`vpt.trials.items.load_dataset` only), the task wording (read from
``evaluation/prompts/instructions/<task>.md``, the file the VLM prompts use too) and the
per-participant trial plan (:func:`make_plan`): the warm-up set in a shuffled order, then the
human set in a random order drawn from the participant's own seed, with attention checks
(warm-up items, answered with feedback before, asked again without it) spread through it and
a break every ``break_every`` test trials.
"""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from vpt import resources
from vpt.errors import UserError
from vpt.trials.items import Dataset, labels

INSTRUCTIONS = resources.data_path("evaluation", "prompts", "instructions")

# The two answers of each task, as (value, button text). value follows the index polarity.
CHOICES: dict[str, tuple[tuple[int, str], tuple[int, str]]] = {
    "vpt": ((1, "Yes, it can see the ball"), (0, "No, it cannot")),
    "depth": ((1, "The red ball"), (0, "The green camera")),
}
QUESTION = {"vpt": "Can the green camera see the red ball?",
            "depth": "Which is closer to you, the green camera or the red ball?"}
KEYS = ("f", "j")  # left button, right button
MIN_STIMULUS_PX = 320  # the page scales the picture down to fit the window, never below this (CSS px)

DEFAULT_CONSENT = """<h2>Consent</h2>
<p>This study is part of research on how people and computer models judge what others can see.
You will look at computer-rendered pictures and answer one question about each. It takes about
{minutes} minutes. Taking part is voluntary; you may stop at any time by closing the page.</p>
<p>We store your answers, your response times, your browser window size and a pseudonymous
code derived from your participant id. We do not store your name, your participant id or your
IP address.</p>
<p>If you agree to take part, press the button below.</p>"""


@dataclass(frozen=True)
class StudyConfig:
    """Settings of one study (everything that changes what a participant sees)."""

    task: str
    presentation_ms: int = 0  # 0: the stimulus stays until the response
    deadline_ms: int = 10000  # 0: no deadline; otherwise a trial ends unanswered (timed out)
    feedback_ms: int = 1200
    break_every: int = 40
    attention_checks: int = 4
    stimulus_px: int | None = None  # CSS width of the stimulus; default: the rendered width
    completion_url: str | None = None  # e.g. https://app.prolific.com/submissions/complete?cc=XXXX
    exclude_attention_below: float = 0.75
    exclude_timeouts_above: float = 0.25
    minutes: int = 15
    min_rt_ms: float = 250.0  # answers faster than this are flagged as too fast
    exclude_fast_above: float = 0.10  # exclude when more than this share of the answers is too fast
    exclude_same_above: float = 0.90  # exclude when more than this share of the answers is one and the same
    exclude_alternate_above: float = 0.85  # exclude when more than this share of consecutive answers switch

    def public(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Stimulus:
    key: str  # opaque name in image URLs (does not reveal the scene id or its split)
    scene_id: str
    path: Path
    label: int
    width: int
    height: int
    check_key: str = ""  # a second opaque name for a warm-up item asked again as an attention check
    hidden_reason: str = ""  # vpt label 0: occluded or out_of_view
    scene_json: str = ""
    dataset: str = ""  # the dataset folder it comes from (the trial table's ``dataset``)
    pair: str = ""  # a conflict set's look-alike pair (both halves share it); "" otherwise


@dataclass
class Stimuli:
    """The stimuli a study may show: the human set (test) of ``dataset`` and of the ``sets``
    added to it (the conflict sets beside it, :mod:`vpt.deciders.human.sets`), and the warm-up
    set of ``dataset``."""

    dataset: Dataset
    task: str
    test: list[Stimulus] = field(default_factory=list)
    warmup: list[Stimulus] = field(default_factory=list)
    model_resolution: int = 0  # stimuli without a human-resolution render (shown at the model's)
    sets: list[Dataset] = field(default_factory=list)

    def conflict_ids(self) -> set[str]:
        """Scene ids of the test stimuli from a conflict set (look-alike pairs)."""
        return {s.scene_id for s in self.test if s.pair}

    def test_counts(self) -> dict[str, int]:
        """Test stimuli per dataset name."""
        out: dict[str, int] = {}
        for s in self.test:
            out[s.dataset] = out.get(s.dataset, 0) + 1
        return out

    def by_key(self) -> dict[str, Stimulus]:
        """Every image name the page may ask for: each stimulus' key and, for warm-up items, the
        other key they are shown under as attention checks."""
        out = {s.key: s for s in [*self.test, *self.warmup]}
        out.update({s.check_key: s for s in self.warmup if s.check_key})
        return out

    def by_scene(self) -> dict[str, Stimulus]:
        return {s.scene_id: s for s in [*self.test, *self.warmup]}

    @property
    def native_size(self) -> tuple[int, int]:
        """The smallest rendered size among the stimuli (width, height)."""
        all_ = [*self.test, *self.warmup]
        return min(s.width for s in all_), min(s.height for s in all_)


def _png_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.size
    except (OSError, ValueError) as err:
        raise UserError(f"{path}: cannot read the stimulus image ({err}); re-render the dataset") from None


def check_image(s: Stimulus) -> bytes:
    """The picture of an attention check: its warm-up item mirrored left to right, as PNG bytes.
    A script comparing files (or their hashes) cannot match the two, and the answer is the same:
    mirroring a scene changes neither what the viewer can see nor which object is closer."""
    import io

    from PIL import Image, ImageOps

    try:
        with Image.open(s.path) as im:
            out = io.BytesIO()
            ImageOps.mirror(im.convert("RGB")).save(out, format="PNG")
    except (OSError, ValueError) as err:
        raise UserError(f"{s.path}: cannot read the stimulus image ({err}); re-render the dataset") from None
    return out.getvalue()


def load_stimuli(dataset: Dataset, task: str, sets: Sequence[Dataset] = ()) -> Stimuli:
    """The human set of ``dataset`` and of each added set in ``sets`` (their test items mixed
    into one list) and the warm-up set of ``dataset``, with their labels for ``task``; the
    512 px ``human_image`` where a dataset has one, else ``image``. Items of a conflict set
    carry their look-alike pair."""
    if task not in CHOICES:
        raise UserError(f"unknown task {task!r}; choose vpt or depth")
    out = Stimuli(dataset, task, sets=list(sets))
    parts = [(dataset, "human", out.test), (dataset, "warmup", out.warmup)]
    parts += [(d, "human", out.test) for d in sets]
    seen: dict[str, str] = {}
    for ds, selection, bucket in parts:
        try:
            found = _stimuli_of(ds, task, selection, out)
        except UserError as err:
            if ds is dataset:
                raise
            raise UserError(f"{err} (a conflict set beside {dataset.root}, whose human set a study mixes in; "
                            "--no-conflict leaves it out)") from None
        for s in found:
            if s.scene_id in seen:
                raise UserError(f"{ds.root}: scene id {s.scene_id} is also in {seen[s.scene_id]}; a study cannot "
                                "tell the two apart. Serve one of them (--no-conflict) or rename a recipe")
            seen[s.scene_id] = str(ds.root)
            bucket.append(s)
    return out


def _stimuli_of(ds: Dataset, task: str, selection: str, out: Stimuli) -> list[Stimulus]:
    """The stimuli of one dataset's human set or warm-up, with their look-alike pairs where
    ``ds`` is a conflict set."""
    from vpt.datasets.audit_families import profile_of
    from vpt.datasets.conflict_set import pair_id

    pairs = profile_of(ds.index) == "conflict"
    items = ds.select(selection)
    if items.empty:
        raise UserError(f"{ds.root}: the dataset has no {selection} set (index column "
                        f"{'human_set' if selection == 'human' else 'warmup'}); set it in the recipe and re-run "
                        "`vpt scenes`")
    found = []
    for row, label in zip(items.itertuples(index=False), labels(items, task)):
        path = row.human_image or row.image
        out.model_resolution += not row.human_image
        if not path or not Path(path).is_file():
            raise UserError(f"{ds.root}: stimulus {row.scene_id} has no rendered image ({path or 'none'}); "
                            "render the dataset (`make scenes`) before running people on it")
        if pd.isna(label):
            raise UserError(f"{ds.root}: stimulus {row.scene_id} has no {task} label")
        key = hashlib.sha256(f"{ds.hash}:{row.scene_id}".encode()).hexdigest()[:16]
        check = (hashlib.sha256(f"{ds.hash}:{row.scene_id}:check".encode()).hexdigest()[:16]
                 if selection == "warmup" else "")
        w, h = _png_size(Path(path))
        reason = row.hidden_reason if isinstance(row.hidden_reason, str) else ""
        pair = f"{ds.name}:{pair_id(str(row.scene_id))}" if pairs else ""
        found.append(Stimulus(key, str(row.scene_id), Path(path), int(label), int(w), int(h), check, reason,
                              str(row.scene_json or ""), ds.name, pair))
    return found


def public_trials(plan: list[tuple[int, str, str, bool]], stimuli: Stimuli) -> list[dict[str, Any]]:
    """The plan as the page gets it: an attention check looks like any test trial (block
    ``test``, an image name of its own that is not the warm-up item's), so neither the page nor
    its data can tell the checks apart; which trials are checks stays on the server."""
    by_scene = stimuli.by_scene()
    out = []
    for idx, block, scene, brk in plan:
        s = by_scene[scene]
        key = s.check_key if block == "attention" else s.key
        out.append({"idx": idx, "block": "warmup" if block == "warmup" else "test", "key": key,
                    "break_before": brk})
    return out


def stimulus_size(stimuli: Stimuli, stimulus_px: int | None) -> tuple[int, int]:
    """The fixed CSS size (width, height) of every stimulus: the rendered size by default,
    smaller when asked, never larger (no upscaling beyond the rendered resolution)."""
    w, h = stimuli.native_size
    if stimulus_px is None:
        return w, h
    if stimulus_px < 64:
        raise UserError(f"--stimulus-px {stimulus_px}: too small to see (at least 64)")
    if stimulus_px > w:
        raise UserError(f"--stimulus-px {stimulus_px}: larger than the rendered width of the stimuli ({w} px); "
                        "stimuli are never upscaled. Render the human set at the recipe's human_resolution: "
                        "`make human-set` (vpt scenes ... --human-renders)")
    return stimulus_px, int(round(h * stimulus_px / w))


def page_config(config: StudyConfig, stimulus_w: int, stimulus_h: int) -> dict[str, Any]:
    """What the page needs to show trials: timing, the largest CSS size of the picture (its
    rendered size, or ``stimulus_px``) and the smallest it may be scaled down to so that the
    picture, the question and both buttons fit the window without scrolling."""
    min_w = min(stimulus_w, MIN_STIMULUS_PX)
    return {"presentation_ms": config.presentation_ms, "deadline_ms": config.deadline_ms,
            "feedback_ms": config.feedback_ms, "stimulus_w": stimulus_w, "stimulus_h": stimulus_h,
            "min_stimulus_w": min_w, "min_stimulus_h": int(round(stimulus_h * min_w / stimulus_w))}


def _inline(text: str) -> str:
    out = html.escape(text)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    return re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"<em>\1</em>", out)


def _md_to_html(text: str) -> str:
    """A small Markdown subset for instruction files: headings, paragraphs, **bold**, *italic*,
    and lists whose items may wrap onto indented lines."""
    blocks = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = [ln.rstrip() for ln in block.strip("\n").splitlines()]
        first = lines[0].strip()
        if first.startswith("#"):
            level = min(len(first) - len(first.lstrip("#")) + 1, 4)
            blocks.append(f"<h{level}>{_inline(first.lstrip('#').strip())}</h{level}>"
                          + (f"<p>{_inline(' '.join(ln.strip() for ln in lines[1:]))}</p>" if lines[1:] else ""))
        elif re.match(r"^[-*] ", first):
            items: list[str] = []
            for ln in lines:
                if re.match(r"^\s*[-*] ", ln):
                    items.append(ln.strip()[2:])
                elif items:
                    items[-1] += " " + ln.strip()
            blocks.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + "</ul>")
        else:
            blocks.append(f"<p>{_inline(' '.join(ln.strip() for ln in lines))}</p>")
    return "\n".join(blocks)


def load_instructions(task: str, path: str | Path | None = None) -> str:
    """The task wording as HTML, from ``evaluation/prompts/instructions/<task>.md`` (the words
    the multimodal models get) or from ``path``."""
    p = resources.resolve(path) if path else INSTRUCTIONS / f"{task}.md"
    if not p.is_file():
        raise UserError(f"{p}: task instructions not found. Humans and models get the same words from "
                        f"evaluation/prompts/instructions/{task}.md; write that file (or pass --instructions FILE)")
    text = p.read_text(encoding="utf-8")
    if not text.strip():
        raise UserError(f"{p}: the instruction file is empty")
    return _md_to_html(text)


def load_consent(path: str | Path | None, minutes: int) -> str:
    """The consent page: an HTML file of the lab's own, or the default text."""
    if path is None:
        return DEFAULT_CONSENT.format(minutes=minutes)
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{p}: consent file not found")
    return p.read_text(encoding="utf-8")


def examples(stimuli: Stimuli, task: str) -> list[tuple[Stimulus, str, str]]:
    """(warm-up stimulus, kind, caption): for vpt one yes, one no because a thing blocks the
    view, one no because the ball is out of view; for depth one of each answer. Kinds the
    warm-up set lacks are left out."""
    warm = sorted(stimuli.warmup, key=lambda s: s.scene_id)
    answer = dict(CHOICES[task])
    if task == "vpt":
        wanted = (("yes", lambda s: s.label == 1, f"{answer[1]}: the ball is inside the camera's view and nothing "
                   "is in the way."),
                  ("occluded", lambda s: s.label == 0 and s.hidden_reason == "occluded",
                   f"{answer[0]}: something blocks the line from the lens to the ball."),
                  ("out_of_view", lambda s: s.label == 0 and s.hidden_reason == "out_of_view",
                   f"{answer[0]}: the ball is outside what the camera's lens takes in."))
    else:
        wanted = (("ball", lambda s: s.label == 1, f"{answer[1]} is closer to you."),
                  ("camera", lambda s: s.label == 0, f"{answer[0]} is closer to you."))
    out = []
    for kind, match, caption in wanted:
        hit = next((s for s in warm if match(s)), None)
        if hit is not None:
            out.append((hit, kind, caption))
    return out



@dataclass(frozen=True)
class PlannedTrial:
    idx: int
    block: str  # warmup | test | attention
    scene_id: str
    break_before: bool


def apart(order: list[Stimulus]) -> list[Stimulus]:
    """``order`` with the two halves of a look-alike pair never back to back: each place takes
    the first stimulus left in ``order`` that is not the previous one's partner, so an order
    without pairs (or already apart) is unchanged; a half left over at the end goes to the
    first place between two stimuli of other pairs. Only where that is impossible (a set of
    one pair) do two halves stay together."""
    left, out = list(order), []
    while left:
        prev = out[-1].pair if out else ""
        j = next((i for i, s in enumerate(left) if not (prev and s.pair == prev)), None)
        if j is None:  # only the previous stimulus' partner is left
            s = left.pop(0)
            spot = next((i for i in range(len(out) + 1)
                         if (i == 0 or out[i - 1].pair != s.pair) and (i == len(out) or out[i].pair != s.pair)),
                        len(out))
            out.insert(spot, s)
            continue
        out.append(left.pop(j))
    return out


def make_plan(stimuli: Stimuli, config: StudyConfig, seed: int) -> list[PlannedTrial]:
    """One participant's trials, from their own seed: warm-up (shuffled, with feedback), then
    the human set in a random order with ``attention_checks`` warm-up items spread through it
    (no feedback) and a break before every ``break_every``-th test trial. The two halves of a
    conflict set's look-alike pair are never shown back to back (:func:`apart`): seen one
    right after the other, the pair's likeness would tell that the answers differ."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), 0x48554D])))
    warm = [stimuli.warmup[i].scene_id for i in rng.permutation(len(stimuli.warmup))]
    shuffled = apart([stimuli.test[i] for i in rng.permutation(len(stimuli.test))])
    test: list[tuple[str, str]] = [("test", s.scene_id) for s in shuffled]
    n_att = max(0, int(config.attention_checks))
    if n_att:
        pool = [stimuli.warmup[i].scene_id for i in rng.permutation(len(stimuli.warmup))]
        # the tutorial's example pictures come last: asked again only when the other warm-up items run out
        shown = {s.scene_id for s, _, _ in examples(stimuli, config.task)}
        pool = [sid for sid in pool if sid not in shown] + [sid for sid in pool if sid in shown]
        checks = [pool[i % len(pool)] for i in range(n_att)]
        # one check in each of n_att equal stretches of the test block, at a random place in it
        edges = np.linspace(0, len(test), n_att + 1)
        spots = sorted(int(rng.integers(int(edges[i]), max(int(edges[i]) + 1, int(edges[i + 1])))) + 1
                       for i in range(n_att))
        for j, (spot, sid) in enumerate(zip(spots, checks)):
            test.insert(min(spot + j, len(test)), ("attention", sid))
    plan = [PlannedTrial(i, "warmup", sid, False) for i, sid in enumerate(warm)]
    every = max(0, int(config.break_every))
    for j, (block, sid) in enumerate(test):
        plan.append(PlannedTrial(len(plan), block, sid, bool(every and j and j % every == 0)))
    return plan


def choices(task: str, flip: bool) -> list[dict[str, Any]]:
    """The two buttons, left to right, with their keys; ``flip`` swaps the sides (counterbalanced
    across participants)."""
    opts = list(CHOICES[task])
    if flip:
        opts.reverse()
    return [{"value": v, "text": t, "key": k} for (v, t), k in zip(opts, KEYS)]
