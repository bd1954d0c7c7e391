"""`vpt human export`: the study database -> a trial-table run and a participants table.

One row per participant and answered trial, ``kind`` ``human``, ``decision_maker`` the
participant's pseudonym, ``rt_ms`` the reaction time, ``seed`` the participant's order seed.
Test trials have split ``human`` (variant ``default``); warm-up trials split ``warmup``
(variant ``default``) and attention checks split ``warmup`` with variant ``attention``, so a
participant's accuracy on the human set is never mixed with either. A test trial on a conflict
set's item (a study serves the conflict sets beside its dataset too, :mod:`vpt.deciders.human.sets`)
is a row of that dataset (``dataset`` ``conflict``), so the report shows it as its own set
(``human · conflict``). Timed-out trials stay in
with ``response`` null. By default only finished, non-excluded participants go into the
trial table; every participant is in ``participants.csv`` / ``participants.parquet`` beside it,
with their quality flags, and every answer of the participants in the trial table is in
``answers.csv`` / ``answers.parquet``, with what the trial table has no column for: its
position in the participant's plan, the input method (keyboard, mouse, touch, pen), the window
and picture size, whether it came faster than the minimum response time. An export with other
``--include-*`` flags is another run (its own folder), so it never overwrites this one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from vpt.deciders.base import RunContext, make_trials
from vpt.deciders.human.db import StudyDB
from vpt.deciders.human.protocol import StudyConfig, load_stimuli
from vpt.deciders.human.sets import recorded_sets
from vpt.deciders.human.summary import participant_rows
from vpt.errors import UserError
from vpt.fileio import atomic_write_parquet, atomic_write_text
from vpt.trials import schema, store
from vpt.trials.items import Dataset, load_dataset

ANSWER_DETAILS = ("input", "window_w", "window_h", "dpr", "stimulus_w", "stimulus_h")
SPLIT_OF_BLOCK = {"test": ("human", "default"), "warmup": ("warmup", "default"), "attention": ("warmup", "attention")}


def export_study(db_path: str | Path, dataset: str | Path, results: str | Path, include_excluded: bool = False,
                 include_unfinished: bool = False, config: StudyConfig | None = None) -> dict[str, Any]:
    """Write the run (through :func:`vpt.trials.store.write_run`) and the participants table;
    returns a summary (run folder, rows, participants in and out)."""
    db_path = Path(db_path)
    if not db_path.is_file():
        raise UserError(f"{db_path}: no such study database")
    db = StudyDB(db_path)
    try:
        meta = db.meta()
        if not meta:
            raise UserError(f"{db_path}: not a study database of `vpt human serve` (no study in it)")
        ds = load_dataset(dataset)
        if ds.hash != meta["dataset_hash"]:
            raise UserError(f"{db_path}: collected on dataset {meta['dataset']} (hash {meta['dataset_hash']}), "
                            f"not on {ds.root} (hash {ds.hash}); pass the dataset the study ran on")
        task = meta["task"]
        settings = meta.get("settings") or {}
        if config is None:
            known = StudyConfig.__dataclass_fields__
            config = StudyConfig(**{k: v for k, v in settings.items() if k in known})
        added = recorded_sets(ds, meta.get("sets"), str(db_path))
        stimuli = load_stimuli(ds, task, added)
        people = pd.DataFrame(participant_rows(db, stimuli, config))
        responses = pd.DataFrame(db.responses())
    finally:
        db.close()
    if people.empty:
        raise UserError(f"{db_path}: no participant has started yet")
    run_id = store.make_run_id(f"human-{task}", {"experiment_id": meta["experiment_id"],
                                                 "include_excluded": include_excluded,
                                                 "include_unfinished": include_unfinished}, ds.hash, "human")
    manifest = {
        "command": ["vpt", "human", "export", "--db", str(db_path), "--dataset", str(dataset), "--out", str(results)],
        "decider": f"human-{task}", "config": {"study": meta}, "started_utc": meta.get("created_at"),
    }
    return write_human_run(ds, task, run_id, responses, people, results, manifest, include_excluded,
                           include_unfinished, config.min_rt_ms, added)


def write_answers(folder: Path, run_id: str, rows: pd.DataFrame, min_rt_ms: float,
                  set_of: dict[str, str] | None = None) -> None:
    """``answers.csv`` / ``answers.parquet``: one row per answer in the trial table, joined to it
    by (run_id, decision_maker, scene_id, variant), with the dataset the stimulus comes from
    (``set_of``: scene id -> dataset name), the trial's position in the plan, the input method,
    window and picture size and the too-fast flag."""
    cols = ["run_id", "decision_maker", "dataset", "scene_id", "split", "variant", "trial_position", "block",
            "response",
            "rt_ms", "too_fast", "timed_out", "input", "window_w", "window_h", "dpr", "stimulus_w", "stimulus_h",
            "created_at"]
    if rows.empty:
        out = pd.DataFrame(columns=cols)
    else:
        rt = pd.to_numeric(rows["rt_ms"])
        out = pd.DataFrame({
            "run_id": run_id, "decision_maker": rows["pseudonym"].to_numpy(),
            "dataset": [(set_of or {}).get(str(sid), "") for sid in rows["scene_id"]],
            "scene_id": rows["scene_id"].to_numpy(),
            "split": [SPLIT_OF_BLOCK[b][0] for b in rows["block"]], "variant": [SPLIT_OF_BLOCK[b][1] for b in rows["block"]],
            "trial_position": pd.array(rows["idx"].to_numpy(), dtype="Int64"), "block": rows["block"].to_numpy(),
            "response": pd.array(rows["response"].to_numpy(), dtype="Int64"), "rt_ms": rt.to_numpy(),
            "too_fast": (rt < min_rt_ms).to_numpy(), "timed_out": rows["timed_out"].astype(bool).to_numpy(),
            **{c: (rows[c] if c in rows else pd.Series([None] * len(rows))).to_numpy() for c in ANSWER_DETAILS},
            "created_at": pd.to_datetime(rows["created_at"].to_numpy(), utc=True)})
        out = out.sort_values(["decision_maker", "trial_position"], kind="stable")
    atomic_write_parquet(folder / "answers.parquet", out)
    atomic_write_text(folder / "answers.csv", out.to_csv(index=False))


def write_human_run(ds: Dataset, task: str, run_id: str, responses: pd.DataFrame, people: pd.DataFrame,
                    results: str | Path, manifest: dict[str, Any], include_excluded: bool = False,
                    include_unfinished: bool = False, min_rt_ms: float = StudyConfig.min_rt_ms,
                    sets: Sequence[Dataset] = ()) -> dict[str, Any]:
    """Trial rows from answers (columns pseudonym, block, scene_id, response, rt_ms, created_at)
    and participants (pseudonym, seed, completed, exclusion, started_at, finished_at,
    consent_at, ...); writes the run and participants.csv/.parquet. Shared by the server's
    export and the static bundle's importer. Test trials on the human set of an added set
    (``sets``: the conflict sets the study served beside ``ds``) are rows of that dataset
    (``dataset``, ``dataset_hash``), so every metric and the report split them from the rest."""
    people = people.copy()
    people["included"] = ((people["exclusion"] == "") | include_excluded) & (people["completed"] | include_unfinished)
    keep = set(people.loc[people["included"], "pseudonym"])
    folder = Path(results) / run_id
    folder.mkdir(parents=True, exist_ok=True)
    started = store.utc_now()
    frames = []
    rows = responses[responses["pseudonym"].isin(keep)] if len(responses) else responses
    seeds = people.set_index("pseudonym")["seed"]
    set_of: dict[str, str] = {}
    for block, (split, variant) in SPLIT_OF_BLOCK.items():
        for d in [ds, *sets] if block == "test" else [ds]:
            items = d.select("human" if split == "human" else "warmup")
            set_of.update(dict.fromkeys(items["scene_id"].astype(str), d.name))
            part = rows[(rows["block"] == block) & rows["scene_id"].isin(set(items["scene_id"]))] if len(rows) else rows
            if part.empty:
                continue
            answers = pd.DataFrame({
                "decision_maker": part["pseudonym"].to_numpy(), "task": task, "scene_id": part["scene_id"].to_numpy(),
                "response": pd.array(part["response"].to_numpy(), dtype="Int64"), "score": float("nan"),
                "seed": seeds.loc[part["pseudonym"]].to_numpy(), "variant": variant, "repeat": 0,
                "rt_ms": pd.to_numeric(part["rt_ms"]).to_numpy()})
            t = make_trials(answers, items, RunContext(run_id, d, "human", started), "human")
            t["created_at"] = pd.to_datetime(part["created_at"].to_numpy(), utc=True)
            frames.append(t)
    placed = sum(len(f) for f in frames)
    if placed != len(rows):
        lost = rows[~rows["scene_id"].astype(str).isin(set_of)]
        raise UserError(f"{len(rows) - placed} answers are on stimuli that are not in the study's sets (for example "
                        f"{lost['scene_id'].iloc[0] if len(lost) else '?'}); pass the dataset folder the study ran on")
    trials = pd.concat(frames, ignore_index=True) if frames else schema.empty()
    write_answers(folder, run_id, rows, min_rt_ms, set_of)
    participants = people.assign(**{c: pd.to_datetime(people[c], utc=True)
                                    for c in ("started_at", "finished_at", "consent_at") if c in people})
    atomic_write_parquet(folder / "participants.parquet", participants)
    atomic_write_text(folder / "participants.csv", participants.to_csv(index=False))
    counts = {"started": len(people), "finished": int(people["completed"].sum()),
              "excluded": int((people["exclusion"] != "").sum()), "in_trial_table": len(keep)}
    manifest = {
        **manifest, "kind": "human",
        "config": {**manifest.get("config", {}), "include_excluded": include_excluded,
                   "include_unfinished": include_unfinished},
        "decision_makers": sorted(keep), "dataset": {"name": ds.name, "hash": ds.hash, "root": str(ds.root)},
        "sets": [{"name": d.name, "hash": d.hash, "root": str(d.root)} for d in sets],
        "selection": "human", "seeds": {p: int(s) for p, s in seeds.items() if p in keep},
        "versions": store.package_versions(), "finished_utc": store.utc_now().isoformat(),
        "participants_table": "participants.csv", "answers_table": "answers.csv", "participants": counts,
    }
    store.write_run(results, run_id, trials, manifest)
    return {"run_id": run_id, "folder": folder, "rows": len(trials), **counts}
