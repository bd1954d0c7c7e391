"""`vpt human static` and `vpt human import`: the same experiment as a self-contained bundle
for an online-experiment platform (JATOS, Pavlovia, any static web host), and the importer
that turns the platform's result file back into trial rows.

The bundle (``OUT/bundle/``, upload this folder) holds the page, the same experiment script
as the server uses with a static backend, jsPsych, the stimuli under opaque names and
``study.js``: ``--plans`` plans drawn by :func:`vpt.deciders.human.protocol.make_plan` (the
same code as ``vpt human serve``, one seed each), the wording and the warm-up answers (test
answers are not in it). ``OUT/manifest.json`` (keep it, do not upload it) maps the opaque
names back to scene ids and holds the plans' seeds; the importer needs it. Each answer
becomes one JSON line in the platform's result data (JATOS: ``jatos.appendResultData``), or
in a file the participant downloads at the end when there is no platform.
"""

from __future__ import annotations

import json
import secrets
import shutil
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from vpt.deciders.human import protocol
from vpt.deciders.human.export import write_human_run
from vpt.deciders.human.protocol import StudyConfig
from vpt.deciders.human.assets import STATIC, VENDOR_FILES, check_assets
from vpt.deciders.human.export import ANSWER_DETAILS
from vpt.deciders.human.sets import describe, recorded_sets, study_sets
from vpt.deciders.human.summary import quality
from vpt.deciders.human.tutorial import tutorial_html
from vpt.errors import UserError
from vpt.fileio import atomic_write_text
from vpt.trials import store
from vpt.trials.items import load_dataset

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Study</title>
<link rel="stylesheet" href="vendor/jspsych.css">
<link rel="stylesheet" href="style.css">
{jatos}<script src="vendor/jspsych.js"></script>
<script src="vendor/plugin-html-button-response.js"></script>
<script src="vendor/plugin-instructions.js"></script>
<script src="vendor/plugin-preload.js"></script>
<script src="study.js"></script>
<script src="static-backend.js"></script>
<script src="experiment.js"></script>
</head>
<body data-screen="loading"><noscript>This study needs JavaScript.</noscript></body>
</html>
"""


def build_bundle(dataset: str | Path, config: StudyConfig, out: str | Path, n_plans: int = 200,
                 instructions: str | Path | None = None, consent: str | Path | None = None,
                 jatos: bool = False, conflict: bool = True) -> dict[str, Any]:
    """Write ``out/bundle/`` and ``out/manifest.json``; returns a summary. ``conflict``: add
    the human sets of the conflict sets beside ``dataset`` (:mod:`vpt.deciders.human.sets`)."""
    check_assets()
    if n_plans < 1:
        raise UserError("--plans must be at least 1")
    ds, added = study_sets(dataset, conflict)
    stimuli = protocol.load_stimuli(ds, config.task, added)
    w, h = protocol.stimulus_size(stimuli, config.stimulus_px)
    out = Path(out)
    bundle = out / "bundle"
    if bundle.exists():
        shutil.rmtree(bundle)
    (bundle / "stimuli").mkdir(parents=True)
    (bundle / "vendor").mkdir()
    for f in VENDOR_FILES:
        shutil.copy2(STATIC / "vendor" / f, bundle / "vendor" / f)
    for f in ("experiment.js", "static-backend.js", "style.css"):
        shutil.copy2(STATIC / f, bundle / f)
    for key, s in stimuli.by_key().items():  # warm-up items twice: as themselves and, mirrored, as checks
        if key == s.check_key:
            (bundle / "stimuli" / f"{key}.png").write_bytes(protocol.check_image(s))
        else:
            shutil.copy2(s.path, bundle / "stimuli" / f"{key}.png")
    study_id = secrets.token_hex(6)
    seeds = [secrets.randbits(62) for _ in range(n_plans)]
    plans, public_plans = [], []
    for seed in seeds:
        plan = [(t.idx, t.block, t.scene_id, t.break_before) for t in protocol.make_plan(stimuli, config, seed)]
        shown = protocol.public_trials(plan, stimuli)  # attention checks look like test trials here
        public_plans.append({"seed": seed, "trials": shown})
        plans.append({"seed": seed, "trials": [{**t, "block": block} for t, (_, block, _, _) in zip(shown, plan)]})
    code = None
    if config.completion_url:
        from urllib.parse import parse_qs, urlparse

        code = (parse_qs(urlparse(config.completion_url).query).get("cc") or [None])[0]
    public = {
        "study_id": study_id, "task": config.task, "plans": public_plans,
        "choices": [protocol.choices(config.task, False), protocol.choices(config.task, True)],
        "question": protocol.QUESTION[config.task],
        "instructions_html": protocol.load_instructions(config.task, instructions),
        "consent_html": protocol.load_consent(consent, config.minutes),
        "tutorial_html": tutorial_html(stimuli, config.task, src="stimuli/{key}.png"),
        "config": protocol.page_config(config, w, h),
        "warmup_answers": {s.key: s.label for s in stimuli.warmup},
        "answer_text": {str(v): t for v, t in protocol.CHOICES[config.task]},
        "completion_code": code, "completion_url": config.completion_url,
    }
    atomic_write_text(bundle / "study.js", "window.VPT_STATIC = " + json.dumps(public, indent=1) + ";\n")
    atomic_write_text(bundle / "index.html", PAGE.format(jatos='<script src="jatos.js"></script>\n' if jatos else ""))
    manifest = {"study_id": study_id, "dataset": ds.name, "dataset_hash": ds.hash, "sets": describe(added),
                "task": config.task,
                "settings": config.public(), "created_at": store.utc_now().isoformat(),
                "stimuli": {key: s.scene_id for key, s in stimuli.by_key().items()},
                "plans": [{"seed": p["seed"], "trials": p["trials"]} for p in plans]}
    atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=1) + "\n")
    return {"bundle": bundle, "manifest": out / "manifest.json", "plans": n_plans, "study_id": study_id,
            "stimuli": len(stimuli.test) + len(stimuli.warmup), "test": stimuli.test_counts(),
            "sets": [d.name for d in added]}


def read_result_lines(files: Iterable[str | Path], study_id: str) -> list[dict[str, Any]]:
    """The bundle's JSON lines of this study from result files (JATOS result data, downloaded
    files); other lines and other studies' lines are skipped."""
    out = []
    for f in files:
        p = Path(f)
        if not p.is_file():
            raise UserError(f"{p}: no such result file")
        for line in p.read_text(encoding="utf-8", errors="replace").splitlines():
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict) and rec.get("vpt_static") == 1 and rec.get("study_id") == study_id:
                out.append(rec)
    return out


def import_results(files: Iterable[str | Path], manifest_path: str | Path, dataset: str | Path,
                   results: str | Path, include_excluded: bool = False,
                   include_unfinished: bool = False) -> dict[str, Any]:
    """Result files of a bundle -> one trial-table run and a participants table (as `vpt human export`)."""
    try:
        manifest = json.loads(Path(manifest_path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise UserError(f"{manifest_path}: cannot read the bundle manifest ({err})") from None
    ds = load_dataset(dataset)
    if ds.hash != manifest["dataset_hash"]:
        raise UserError(f"{manifest_path}: the bundle was made from dataset {manifest['dataset']} (hash "
                        f"{manifest['dataset_hash']}), not {ds.root} (hash {ds.hash})")
    added = recorded_sets(ds, manifest.get("sets"), str(manifest_path))
    config = StudyConfig(**{k: v for k, v in manifest["settings"].items() if k in StudyConfig.__dataclass_fields__})
    lines = read_result_lines(files, manifest["study_id"])
    if not lines:
        raise UserError(f"no answers of study {manifest['study_id']} in {', '.join(map(str, files))}")
    scene_of = manifest["stimuli"]
    stimuli = protocol.load_stimuli(ds, config.task, added)
    labels = {s.scene_id: s.label for s in [*stimuli.test, *stimuli.warmup]}
    answers, people = [], {}
    seen: set[tuple[str, int]] = set()
    for rec in lines:
        pid = "s-" + str(rec["participant"]).removeprefix("s-")
        plan = manifest["plans"][int(rec["plan"])]
        person = people.setdefault(pid, {"pseudonym": pid, "started_at": rec.get("at"), "consent_at": None,
                                         "finished_at": None, "completion_code": None, "seed": plan["seed"],
                                         "buttons_flipped": bool(rec.get("flip")), "trials_planned": len(plan["trials"])})
        if rec.get("type") == "event" and rec.get("kind") == "consent":
            person["consent_at"] = person["consent_at"] or rec.get("at")
        elif rec.get("type") == "finish":
            person["finished_at"], person["completion_code"] = rec.get("at"), rec.get("code")
        elif rec.get("type") == "response":
            idx = int(rec["idx"])
            if (pid, idx) in seen:
                continue  # the same answer appended twice (a retried upload)
            seen.add((pid, idx))
            trial = plan["trials"][idx]
            if trial["key"] != rec.get("key") or trial["key"] not in scene_of:
                raise UserError(f"participant {pid} trial {idx}: stimulus {rec.get('key')!r} is not the plan's; "
                                "the result file does not belong to this manifest")
            answers.append({"pseudonym": pid, "idx": idx, "block": trial["block"], "scene_id": scene_of[trial["key"]],
                            "response": rec.get("response"), "rt_ms": rec.get("rt_ms"),
                            "timed_out": bool(rec.get("timed_out")), "created_at": rec.get("at"),
                            **{k: rec.get(k) for k in ANSWER_DETAILS}})
    responses = pd.DataFrame(answers)
    for pid, person in people.items():
        mine = sorted((a for a in answers if a["pseudonym"] == pid), key=lambda a: a["idx"])
        person.update(completed=person["finished_at"] is not None,
                      **quality(mine, labels, config, stimuli.conflict_ids()))
    run_id = store.make_run_id(f"human-{config.task}", {"bundle": manifest["study_id"],
                                                        "include_excluded": include_excluded,
                                                        "include_unfinished": include_unfinished}, ds.hash, "human")
    meta = {"command": ["vpt", "human", "import", *map(str, files), "--manifest", str(manifest_path), "--dataset",
                        str(dataset), "--out", str(results)],
            "decider": f"human-{config.task}", "config": {"bundle": {k: manifest[k] for k in
                                                                   ("study_id", "dataset", "dataset_hash", "task",
                                                                    "settings", "created_at")}},
            "started_utc": manifest.get("created_at")}
    return write_human_run(ds, config.task, run_id, responses, pd.DataFrame(list(people.values())), results, meta,
                           include_excluded, include_unfinished, config.min_rt_ms, added)
