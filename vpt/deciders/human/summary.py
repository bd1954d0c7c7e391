"""Per-participant summaries and the exclusion rule, shared by the experimenter view and the export."""

from __future__ import annotations

from typing import Any

from vpt.deciders.human.db import StudyDB
from vpt.deciders.human.protocol import Stimuli, StudyConfig


def exclusion(att_correct: int, att_n: int, timeouts: int, test_n: int, config: StudyConfig) -> str:
    """Why a participant is excluded ("" when included). The rule: attention-check accuracy
    below ``exclude_attention_below`` or more than ``exclude_timeouts_above`` of the test trials
    timed out; judged on the trials answered so far."""
    reasons = []
    if att_n and att_correct / att_n < config.exclude_attention_below:
        reasons.append(f"attention checks {att_correct}/{att_n} < {config.exclude_attention_below:g}")
    if test_n and timeouts / test_n > config.exclude_timeouts_above:
        reasons.append(f"timeouts {timeouts}/{test_n} > {config.exclude_timeouts_above:g}")
    return "; ".join(reasons)


def participant_rows(db: StudyDB, stimuli: Stimuli, config: StudyConfig) -> list[dict[str, Any]]:
    """One dict per participant: pseudonym, start, end, completion, answered trials, test
    accuracy, attention-check accuracy, timeouts, exclusion (reason or "")."""
    labels = {s.scene_id: s.label for s in [*stimuli.test, *stimuli.warmup]}
    by: dict[str, list[dict[str, Any]]] = {}
    for r in db.responses():
        by.setdefault(r["pseudonym"], []).append(r)
    out = []
    for p in db.participants():
        rs = by.get(p["pseudonym"], [])
        n_plan = len(db.plan(p["pseudonym"]))
        test = [r for r in rs if r["block"] == "test"]
        att = [r for r in rs if r["block"] == "attention"]
        att_ok = sum(r["response"] == labels.get(r["scene_id"]) for r in att)
        test_ok = sum(r["response"] == labels.get(r["scene_id"]) for r in test)
        timeouts = sum(bool(r["timed_out"]) for r in test)
        out.append({
            "pseudonym": p["pseudonym"], "started_at": p["started_at"], "consent_at": p["consent_at"],
            "finished_at": p["finished_at"], "completed": p["finished_at"] is not None,
            "completion_code": p["completion_code"], "seed": p["seed"], "buttons_flipped": bool(p["flip"]),
            "trials_planned": n_plan, "trials_answered": len(rs),
            "test_accuracy": test_ok / len(test) if test else None,
            "attention_correct": att_ok, "attention_n": len(att), "test_timeouts": timeouts,
            "exclusion": exclusion(att_ok, len(att), timeouts, len(test), config),
        })
    return out


def study_summary(db: StudyDB, stimuli: Stimuli, config: StudyConfig) -> dict[str, Any]:
    rows = participant_rows(db, stimuli, config)
    att_n = sum(r["attention_n"] for r in rows)
    return {
        "started": len(rows), "consented": sum(r["consent_at"] is not None for r in rows),
        "finished": sum(r["completed"] for r in rows),
        "excluded": sum(bool(r["exclusion"]) for r in rows),
        "attention_accuracy": (sum(r["attention_correct"] for r in rows) / att_n) if att_n else None,
        "rule": {"exclude_attention_below": config.exclude_attention_below,
                 "exclude_timeouts_above": config.exclude_timeouts_above},
        "participants": rows,
    }
