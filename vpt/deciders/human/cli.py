"""`vpt human serve|export|static|import`: the browser experiment for human baselines.

Registered by :mod:`vpt.cli` through ``EVALUATOR_COMMANDS`` (``"vpt.deciders.human.cli"``);
imports neither FastAPI nor uvicorn nor pandas until a command runs.
"""

from __future__ import annotations

import argparse
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    h = sub.add_parser("human", help="human baselines: a browser experiment (serve, or a static bundle) and its trial table",
                       description="A jsPsych experiment served by FastAPI/uvicorn: consent, instructions, a warm-up "
                       "with feedback, the human set in a per-participant random order, attention checks, breaks and "
                       "a completion code; every answer is committed to SQLite when it is made.")
    hs = h.add_subparsers(dest="human_command", metavar="{serve,export,static,import,unlock}")
    hs.required = True
    s = hs.add_parser("serve", help="run the experiment on a dataset's human set",
                      description="Serves the experiment for one task on the human set (test) and warm-up set of a "
                      "rendered dataset. Prolific's PROLIFIC_PID, STUDY_ID and SESSION_ID URL parameters are kept "
                      "only as keyed hashes; IP addresses are never stored. Prints the experimenter view's URL.")
    s.add_argument("--dataset", required=True, help="a rendered dataset folder (data/<recipe>) with a human set; "
                   "the human sets of the conflict sets beside it are mixed in (--no-conflict: not)")
    s.add_argument("--task", required=True, choices=["vpt", "depth"])
    _conflict_option(s)
    s.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1; 0.0.0.0 for a lab "
                   "network or behind a reverse proxy)")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--db", default=None, help="study database (default: human-<task>.sqlite in the current folder)")
    s.add_argument("--secret-file", default=None, help="pseudonymisation key file (default ~/.config/vpt/human-secret, "
                   "made with mode 0600; or set $VPT_HUMAN_SECRET)")
    s.add_argument("--admin-token", default=None, help="token of the experimenter view (default: a new random one, "
                   "printed at start; or $VPT_HUMAN_ADMIN_TOKEN)")
    _protocol_options(s)
    s.add_argument("--exclude-attention-below", type=float, default=0.75,
                   help="exclude a participant whose attention-check accuracy is below this (default 0.75)")
    s.add_argument("--exclude-timeouts-above", type=float, default=0.25,
                   help="exclude a participant who timed out on more than this share of test trials (default 0.25)")
    _quality_options(s)
    s.set_defaults(func=cmd_serve)

    e = hs.add_parser("export", help="study database -> trial table run (kind human) + participants table")
    e.add_argument("--db", required=True, help="the study database of `vpt human serve`")
    e.add_argument("--dataset", required=True, help="the dataset folder the study ran on")
    e.add_argument("--out", default="results", help="results folder (default results/)")
    e.add_argument("--include-excluded", action="store_true", help="keep excluded participants in the trial table")
    e.add_argument("--include-unfinished", action="store_true", help="keep participants who did not finish")
    e.set_defaults(func=cmd_export)

    b = hs.add_parser("static", help="a self-contained bundle of the experiment for JATOS, Pavlovia or any web host",
                      description="Writes OUT/bundle/ (upload it: page, script, jsPsych, stimuli, pre-drawn plans) and "
                      "OUT/manifest.json (keep it: the importer maps the bundle's opaque stimulus names back with it).")
    b.add_argument("--dataset", required=True, help="a rendered dataset folder with a human set; the human sets "
                   "of the conflict sets beside it are mixed in (--no-conflict: not)")
    b.add_argument("--task", required=True, choices=["vpt", "depth"])
    _conflict_option(b)
    b.add_argument("--out", required=True, help="output folder")
    b.add_argument("--plans", type=int, default=200, help="pre-drawn trial orders (one seed each; default 200)")
    b.add_argument("--jatos", action="store_true", help="load jatos.js and append each answer to JATOS' result data")
    _protocol_options(b)
    b.add_argument("--exclude-attention-below", type=float, default=0.75, help=argparse.SUPPRESS)
    b.add_argument("--exclude-timeouts-above", type=float, default=0.25, help=argparse.SUPPRESS)
    _quality_options(b, shown=False)
    b.set_defaults(func=cmd_static)

    i = hs.add_parser("import", help="a bundle's result files -> trial table run (kind human) + participants table")
    i.add_argument("results_files", nargs="+", metavar="RESULT_FILE",
                   help="JATOS result data or participants' downloaded .jsonl files")
    i.add_argument("--manifest", required=True, help="the bundle's manifest.json")
    i.add_argument("--dataset", required=True, help="the dataset folder the bundle was made from")
    i.add_argument("--out", default="results", help="results folder (default results/)")
    i.add_argument("--include-excluded", action="store_true")
    i.add_argument("--include-unfinished", action="store_true")
    i.set_defaults(func=cmd_import)

    u = hs.add_parser("unlock", help="let a participant who lost their browser's storage continue",
                      description="A Prolific participant who started before is refused when they come back in "
                      "another browser or after their browser lost its storage; the page shows them a reference (their "
                      "pseudonym). Unlocking it lets their next visit with the same Prolific id continue where they "
                      "stopped, under the same pseudonym (once; the old browser's session stops working). Works "
                      "while the server runs.")
    u.add_argument("--db", required=True, help="the study database of `vpt human serve`")
    u.add_argument("--participant", required=True, metavar="PSEUDONYM",
                   help="the participant's pseudonym (p-..., shown to them and in the experimenter view)")
    u.set_defaults(func=cmd_unlock)


def _conflict_option(s: argparse.ArgumentParser) -> None:
    s.add_argument("--no-conflict", dest="conflict", action="store_false",
                   help="serve the human set of --dataset only; by default the human set of every conflict set "
                   "beside it (data/conflict: look-alike pairs) is mixed into the test trials, a quarter of them "
                   "with the packaged recipes (docs/human.md#conflict-items)")


def _protocol_options(s: argparse.ArgumentParser) -> None:
    s.add_argument("--deadline-ms", type=int, default=10000, help="response deadline; 0 = none (default 10000); a "
                   "trial not answered in time is stored with response null")
    s.add_argument("--presentation-ms", type=int, default=0, help="stimulus display time; 0 = until the response")
    s.add_argument("--feedback-ms", type=int, default=1200, help="how long warm-up feedback stays (default 1200)")
    s.add_argument("--break-every", type=int, default=40, help="a break after every N test trials (0 = none)")
    s.add_argument("--attention-checks", type=int, default=4, help="warm-up items asked again during the test, "
                   "without feedback (default 4)")
    s.add_argument("--stimulus-px", type=int, default=None, help="CSS width of the stimulus (default: its rendered "
                   "width; never larger)")
    s.add_argument("--minutes", type=int, default=15, help="duration stated on the default consent page")
    s.add_argument("--instructions", default=None,
                   help="task wording (default evaluation/prompts/instructions/<task>.md, the models' words)")
    s.add_argument("--consent", default=None, help="an HTML file with the lab's own consent text")
    s.add_argument("--prolific-completion-url", default=None,
                   help="where to send participants at the end, e.g. https://app.prolific.com/submissions/"
                   "complete?cc=CODE (its cc is shown as the completion code)")


def _quality_options(s: argparse.ArgumentParser, shown: bool = True) -> None:
    def h(text: str) -> str:
        return text if shown else argparse.SUPPRESS

    s.add_argument("--min-rt-ms", type=float, default=250.0,
                   help=h("answers faster than this are flagged as too fast (default 250)"))
    s.add_argument("--exclude-fast-above", type=float, default=0.10,
                   help=h("exclude a participant with more than this share of too-fast answers (default 0.10)"))
    s.add_argument("--exclude-same-above", type=float, default=0.90,
                   help=h("exclude a participant who gave one and the same answer more than this share of the time "
                          "(default 0.90)"))
    s.add_argument("--exclude-alternate-above", type=float, default=0.85,
                   help=h("exclude a participant whose consecutive answers switch more than this share of the time "
                          "(default 0.85; answering at random switches about half the time)"))


def _config(args: argparse.Namespace):
    from vpt.deciders.human.protocol import StudyConfig
    from vpt.errors import UserError

    if args.deadline_ms < 0 or args.presentation_ms < 0:
        raise UserError("--deadline-ms and --presentation-ms must be 0 (off) or positive")
    if args.min_rt_ms < 0:
        raise UserError(f"--min-rt-ms {args.min_rt_ms:g}: must be 0 (no minimum) or positive")
    for name in ("exclude_fast_above", "exclude_same_above", "exclude_alternate_above"):
        if not 0 <= getattr(args, name) <= 1:
            raise UserError(f"--{name.replace('_', '-')} {getattr(args, name):g}: a share, between 0 and 1")
    return StudyConfig(task=args.task, presentation_ms=args.presentation_ms, deadline_ms=args.deadline_ms,
                       feedback_ms=args.feedback_ms, break_every=args.break_every,
                       attention_checks=args.attention_checks, stimulus_px=args.stimulus_px,
                       completion_url=args.prolific_completion_url,
                       exclude_attention_below=args.exclude_attention_below,
                       exclude_timeouts_above=args.exclude_timeouts_above, minutes=args.minutes,
                       min_rt_ms=args.min_rt_ms, exclude_fast_above=args.exclude_fast_above,
                       exclude_same_above=args.exclude_same_above, exclude_alternate_above=args.exclude_alternate_above)


def cmd_serve(args: argparse.Namespace) -> int:
    import os

    from vpt.extras import require

    require("vpt human serve", "fastapi", "uvicorn")
    from vpt.deciders.human.server import create_app, open_study
    from vpt.deciders.human.sets import share_line

    config = _config(args)
    db = args.db or f"human-{args.task}.sqlite"
    study = open_study(args.dataset, config, db, args.instructions, args.consent, args.secret_file,
                       args.admin_token or os.environ.get("VPT_HUMAN_ADMIN_TOKEN"), conflict=args.conflict)
    import uvicorn

    base = f"http://{'127.0.0.1' if args.host in ('0.0.0.0', '::') else args.host}:{args.port}"
    st = study.stimuli
    print(f"vpt human: {args.task} on {st.dataset.name}: {len(st.warmup)} warm-up + {len(st.test)} test stimuli ("
          f"{share_line(st.dataset, st.sets, st.test_counts())}) at {study.stimulus_w}x{study.stimulus_h} CSS px; "
          f"database {db}")
    print(f"participants:      {base}/   (Prolific: {base}/?PROLIFIC_PID={{{{%PROLIFIC_PID%}}}}"
          "&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}})")
    print(f"experimenter view: {base}/admin?token={study.admin_token}", flush=True)
    if study.stimuli.model_resolution:
        print(f"note: {study.stimuli.model_resolution} stimuli have no render at the human resolution and are shown "
              "at the model's; `make human-set` (vpt scenes ... --human-renders) renders them", flush=True)
    # access_log off: uvicorn's access log would print client IP addresses
    uvicorn.run(create_app(study), host=args.host, port=args.port, access_log=False, log_level="warning")
    study.db.close()
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from vpt.deciders.human.export import export_study

    r = export_study(args.db, args.dataset, args.out, args.include_excluded, args.include_unfinished)
    print(f"vpt human: {r['rows']} trial rows from {r['in_trial_table']} participants -> {r['folder']}/ "
          f"({r['started']} started, {r['finished']} finished, {r['excluded']} excluded; every participant in "
          "participants.csv)", file=sys.stdout)
    return 0


def cmd_static(args: argparse.Namespace) -> int:
    from vpt.deciders.human.bundle import build_bundle

    r = build_bundle(args.dataset, _config(args), args.out, args.plans, args.instructions, args.consent, args.jatos,
                     conflict=args.conflict)
    test = ", ".join(f"{n} from {name}" for name, n in r["test"].items())
    print(f"vpt human: bundle of study {r['study_id']} ({r['stimuli']} stimuli, test {test}; {r['plans']} trial "
          f"orders) in {r['bundle']}/ (upload it); keep {r['manifest']} for `vpt human import`")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from vpt.deciders.human.bundle import import_results

    r = import_results(args.results_files, args.manifest, args.dataset, args.out, args.include_excluded,
                       args.include_unfinished)
    print(f"vpt human: {r['rows']} trial rows from {r['in_trial_table']} participants -> {r['folder']}/ "
          f"({r['started']} started, {r['finished']} finished, {r['excluded']} excluded)")
    return 0


def cmd_unlock(args: argparse.Namespace) -> int:
    import re
    from pathlib import Path

    from vpt.deciders.human.db import StudyDB
    from vpt.errors import UserError

    if not re.fullmatch(r"p-[0-9a-f]{16}", args.participant):
        raise UserError(f"--participant {args.participant!r}: not a pseudonym; give the p- code (p- and 16 hex "
                        "digits) the participant was shown, or the one in the experimenter view")
    if not Path(args.db).is_file():
        raise UserError(f"{args.db}: no such study database")
    db = StudyDB(args.db)
    try:
        if not db.meta():
            raise UserError(f"{args.db}: not a study database of `vpt human serve` (no study in it)")
        db.unlock(args.participant)
    finally:
        db.close()
    print(f"vpt human: {args.participant} unlocked; their next visit with the same Prolific link continues where "
          "they stopped")
    return 0
