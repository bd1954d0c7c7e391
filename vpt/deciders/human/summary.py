"""Per-participant summaries, data-quality flags and the exclusion rule, shared by the
experimenter view, the export and the static bundle's importer.

The rule (every threshold a ``vpt human serve`` option, recorded in the study's settings): a
participant is excluded when any flag is raised, judged on the trials answered so far:

- ``attention``: attention-check accuracy below ``exclude_attention_below`` (0.75);
- ``timeouts``: more than ``exclude_timeouts_above`` (0.25) of the test trials timed out;
- ``fast``: more than ``exclude_fast_above`` (0.10) of the answers (test trials and checks)
  came faster than ``min_rt_ms`` (250 ms);
- ``one_key``: more than ``exclude_same_above`` (0.90) of the answers are one and the same;
- ``alternating``: more than ``exclude_alternate_above`` (0.85) of consecutive answers switch
  (a person answering at random switches about half the time).

The two pattern flags need at least ``PATTERN_MIN`` answers.
"""

from __future__ import annotations

from typing import Any, Iterable

from vpt.deciders.human.db import StudyDB
from vpt.deciders.human.protocol import Stimuli, StudyConfig

PATTERN_MIN = 10
FLAGS = ("attention", "timeouts", "fast", "one_key", "alternating")


def quality(answers: Iterable[dict[str, Any]], labels: dict[str, int], config: StudyConfig,
            conflict: frozenset[str] | set[str] = frozenset()) -> dict[str, Any]:
    """The summary and flags of one participant from their answered trials in order (dicts with
    ``block``, ``scene_id``, ``response``, ``rt_ms``, ``timed_out``): accuracies, timeouts,
    too-fast answers, the share of the commonest answer and of switches, ``flags`` (the raised
    ones, comma-separated) and ``exclusion`` (why, "" when included). A one-key or alternating
    pattern is flagged only when the right answers in the same order do not show it themselves:
    a careful participant whose trials happen to alternate is not excluded for it.
    ``conflict``: the scene ids of conflict items; ``conflict_accuracy`` is the accuracy on
    those test trials (None without any), ``test_accuracy`` on all test trials."""
    rs = list(answers)
    test = [r for r in rs if r["block"] == "test"]
    att = [r for r in rs if r["block"] == "attention"]
    att_ok = sum(r["response"] == labels.get(r["scene_id"]) for r in att)
    test_ok = sum(r["response"] == labels.get(r["scene_id"]) for r in test)
    hard = [r for r in test if r["scene_id"] in conflict]
    hard_ok = sum(r["response"] == labels.get(r["scene_id"]) for r in hard)
    timeouts = sum(bool(r["timed_out"]) for r in test)
    given = [r for r in rs if r["block"] != "warmup" and r["response"] is not None]
    seq = [int(r["response"]) for r in given]
    fast = sum(r["rt_ms"] is not None and float(r["rt_ms"]) < config.min_rt_ms for r in given)
    same = max(seq.count(0), seq.count(1)) / len(seq) if seq else None
    switch = sum(a != b for a, b in zip(seq, seq[1:])) / (len(seq) - 1) if len(seq) > 1 else None
    truth = [labels[r["scene_id"]] for r in given if r["scene_id"] in labels]  # the right answers, same order
    truth_same = max(truth.count(0), truth.count(1)) / len(truth) if truth else 0.0
    truth_switch = sum(a != b for a, b in zip(truth, truth[1:])) / (len(truth) - 1) if len(truth) > 1 else 0.0
    reasons = {}
    if att and att_ok / len(att) < config.exclude_attention_below:
        reasons["attention"] = f"attention checks {att_ok}/{len(att)} < {config.exclude_attention_below:g}"
    if test and timeouts / len(test) > config.exclude_timeouts_above:
        reasons["timeouts"] = f"timeouts {timeouts}/{len(test)} > {config.exclude_timeouts_above:g}"
    if given and fast / len(given) > config.exclude_fast_above:
        reasons["fast"] = (f"answers under {config.min_rt_ms:g} ms {fast}/{len(given)} > "
                           f"{config.exclude_fast_above:g}")
    if len(seq) >= PATTERN_MIN and same is not None and same > config.exclude_same_above >= truth_same:
        reasons["one_key"] = f"one answer {same:.2f} of the time > {config.exclude_same_above:g}"
    if len(seq) >= PATTERN_MIN and switch is not None and switch > config.exclude_alternate_above >= truth_switch:
        reasons["alternating"] = f"answers switch {switch:.2f} of the time > {config.exclude_alternate_above:g}"
    return {
        "trials_answered": len(rs), "test_accuracy": test_ok / len(test) if test else None,
        "conflict_accuracy": hard_ok / len(hard) if hard else None,
        "attention_correct": att_ok, "attention_n": len(att), "test_timeouts": timeouts,
        "fast_answers": fast, "same_share": same, "switch_share": switch,
        "flags": ",".join(f for f in FLAGS if f in reasons), "exclusion": "; ".join(reasons.values()),
    }


def participant_rows(db: StudyDB, stimuli: Stimuli, config: StudyConfig) -> list[dict[str, Any]]:
    """One dict per participant: pseudonym, start, end, completion, answered trials, test
    accuracy, attention checks, timeouts, the quality flags and the exclusion (reason or "")."""
    labels = {s.scene_id: s.label for s in [*stimuli.test, *stimuli.warmup]}
    conflict = stimuli.conflict_ids()
    by: dict[str, list[dict[str, Any]]] = {}
    for r in db.responses():
        by.setdefault(r["pseudonym"], []).append(r)
    out = []
    locked = db.event_counts("locked_out")
    for p in db.participants():
        rs = by.get(p["pseudonym"], [])
        out.append({
            "pseudonym": p["pseudonym"], "started_at": p["started_at"], "consent_at": p["consent_at"],
            "finished_at": p["finished_at"], "completed": p["finished_at"] is not None,
            "completion_code": p["completion_code"], "seed": p["seed"], "buttons_flipped": bool(p["flip"]),
            "trials_planned": len(db.plan(p["pseudonym"])), **quality(rs, labels, config, conflict),
            "locked_out": locked.get(p["pseudonym"], 0), "unlock_pending": bool(p["unlock_pending"]),
        })
    return out


def rule(config: StudyConfig) -> dict[str, float]:
    return {k: getattr(config, k) for k in ("exclude_attention_below", "exclude_timeouts_above", "min_rt_ms",
                                             "exclude_fast_above", "exclude_same_above", "exclude_alternate_above")}


def study_summary(db: StudyDB, stimuli: Stimuli, config: StudyConfig) -> dict[str, Any]:
    rows = participant_rows(db, stimuli, config)
    att_n = sum(r["attention_n"] for r in rows)
    return {
        "started": len(rows), "consented": sum(r["consent_at"] is not None for r in rows),
        "finished": sum(r["completed"] for r in rows),
        "excluded": sum(bool(r["exclusion"]) for r in rows),
        "attention_accuracy": (sum(r["attention_correct"] for r in rows) / att_n) if att_n else None,
        "flagged": {f: sum(f in r["flags"].split(",") for r in rows) for f in FLAGS},
        "rule": rule(config),
        "participants": rows,
    }
