"""The web server of `vpt human serve`: FastAPI over the study database.

Routes: ``/`` (the jsPsych page), ``/static/*`` (its script, styles and the vendored jsPsych
build), ``/stimuli/<key>.png`` (only the study's stimuli, by an opaque key: nothing else on
disk is reachable), the participant API under ``/api/`` (a bearer session token per
participant, issued by ``POST /api/session``) and the experimenter view ``/admin?token=...``.
Every request that is wrong gets a 4xx JSON answer ``{"error": ...}``; an unexpected error a
500 without a traceback.
"""

from __future__ import annotations

import hmac
import html
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional
from urllib.parse import parse_qs, urlparse

from fastapi import FastAPI, Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from vpt.deciders.human import protocol
from vpt.deciders.human.assets import STATIC, check_assets
from vpt.deciders.human.db import StudyDB, keyed_hash, load_secret
from vpt.deciders.human.protocol import Stimuli, StudyConfig
from vpt.deciders.human.sets import describe, study_sets
from vpt.deciders.human.summary import study_summary
from vpt.deciders.human.tutorial import tutorial_html
from vpt.errors import UserError

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{20,100}$")
# On every response. Scripts, styles, images and requests only from this server; no inline
# script; inline style *attributes* only, because jsPsych's own instructions and preload plugins
# write them (no inline <style> elements); fonts also as data: URLs, as jspsych.css embeds its
# font; never in a frame; no MIME sniffing; no referrer.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; style-src-elem 'self'; "
                               "style-src-attr 'unsafe-inline'; img-src 'self'; font-src 'self' data:; connect-src 'self'; "
                               "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
ID = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_-]*$")


@dataclass
class Study:
    """Everything a running study needs."""

    db: StudyDB
    stimuli: Stimuli
    config: StudyConfig
    instructions_html: str
    consent_html: str
    secret: bytes
    admin_token: str
    stimulus_w: int
    stimulus_h: int
    meta: dict[str, Any]


def open_study(dataset: str | Path, config: StudyConfig, db_path: str | Path, instructions: str | Path | None = None,
               consent: str | Path | None = None, secret_file: str | Path | None = None,
               admin_token: str | None = None, conflict: bool = True) -> Study:
    """Load the stimuli (the dataset's and, unless ``conflict`` is False, the conflict sets'
    beside it: :mod:`vpt.deciders.human.sets`) and the wording, open (or create) the database,
    check both agree."""
    check_assets()
    ds, added = study_sets(dataset, conflict)
    stimuli = protocol.load_stimuli(ds, config.task, added)
    w, h = protocol.stimulus_size(stimuli, config.stimulus_px)
    instr = protocol.load_instructions(config.task, instructions)
    consent_html = protocol.load_consent(consent, config.minutes)
    if config.completion_url and urlparse(config.completion_url).scheme not in ("http", "https"):
        raise UserError(f"--prolific-completion-url {config.completion_url!r}: not an http(s) URL")
    secret = load_secret(secret_file)
    db = StudyDB(db_path)
    meta = db.bind(ds.hash, ds.name, config.task, config.public(), describe(added))
    return Study(db, stimuli, config, instr, consent_html, secret, admin_token or secrets.token_urlsafe(24), w, h, meta)


class SessionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prolific_pid: Optional[str] = ID
    study_id: Optional[str] = ID
    session_id: Optional[str] = ID


class ResponseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    idx: int = Field(ge=0, le=100000)
    request_key: str = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    response: Optional[int] = Field(default=None, ge=0, le=1)
    rt_ms: Optional[float] = Field(default=None, ge=0, le=3.6e6)
    timed_out: bool = False
    input: Optional[str] = Field(default=None, pattern=r"^(keyboard|mouse|touch|pen|key|button)$")
    window_w: int = Field(ge=0, le=100000)
    window_h: int = Field(ge=0, le=100000)
    dpr: float = Field(gt=0, le=20)
    stimulus_w: int = Field(ge=0, le=100000)
    stimulus_h: int = Field(ge=0, le=100000)


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str = Field(pattern=r"^(consent|window_too_small|window_ok|instructions_done|break)$")
    window_w: Optional[int] = Field(default=None, ge=0, le=100000)
    window_h: Optional[int] = Field(default=None, ge=0, le=100000)
    dpr: Optional[float] = Field(default=None, gt=0, le=20)


def _err(status: int, msg: str) -> HTTPException:
    return HTTPException(status_code=status, detail=msg)


def create_app(study: Study) -> FastAPI:
    """The FastAPI application of one study (no docs pages: nothing but the experiment)."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    stim_by_key = study.stimuli.by_key()
    check_png: dict[str, bytes] = {}  # attention checks' mirrored pictures, made on first request
    stim_by_scene = study.stimuli.by_scene()
    cfg = study.config
    tutorial = tutorial_html(study.stimuli, cfg.task)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code,
                            headers={"Cache-Control": "no-store"})

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()))
        return JSONResponse({"error": f"malformed request: {where}: {first.get('msg', 'invalid')}"}, status_code=422)

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> JSONResponse:  # never a traceback to the page
        return JSONResponse({"error": "internal error; your answers so far are saved"}, status_code=500,
                            headers=SECURITY_HEADERS)

    def participant(authorization: str | None):
        if not authorization or not authorization.startswith("Bearer "):
            raise _err(401, "no session token (Authorization: Bearer <token>)")
        token = authorization[7:].strip()
        if not TOKEN_RE.match(token):
            raise _err(401, "malformed session token")
        p = study.db.participant_by_token(token)
        if p is None:
            raise _err(401, "unknown session token")
        return p

    def state(p, token: str | None = None) -> dict[str, Any]:
        plan = study.db.plan(p.pseudonym)
        nxt = study.db.next_idx(p.pseudonym)
        phase = "done" if p.finished_at else "consent" if not p.consent_at else "trials"
        done = None
        if p.finished_at:
            done = {"code": p.completion_code, "redirect": cfg.completion_url}
        out = {
            "phase": phase, "next_idx": nxt, "n_trials": len(plan), "task": cfg.task,
            "trials": [{"idx": t["idx"], "block": t["block"], "src": f"/stimuli/{t['key']}.png",
                        "break_before": t["break_before"]} for t in protocol.public_trials(plan, study.stimuli)],
            "choices": protocol.choices(cfg.task, p.flip), "question": protocol.QUESTION[cfg.task],
            "instructions_html": study.instructions_html, "consent_html": study.consent_html,
            "tutorial_html": tutorial,
            "config": protocol.page_config(cfg, study.stimulus_w, study.stimulus_h),
            "completion": done,
        }
        if token:
            out["token"] = token
        return out

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return HTMLResponse((STATIC / "index.html").read_text(encoding="utf-8"),
                            headers={"Cache-Control": "no-store"})

    app.mount("/static", StaticFiles(directory=STATIC, html=False), name="static")

    @app.get("/favicon.ico")
    def favicon() -> Response:  # browsers ask for it; no icon, and no 404 in the console
        return Response(status_code=204, headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/stimuli/{name}")
    def stimulus(name: str) -> FileResponse:
        m = re.fullmatch(r"([0-9a-f]{16})\.png", name)
        s = stim_by_key.get(m.group(1)) if m else None
        if s is None:
            raise _err(404, "no such stimulus")
        cache = {"Cache-Control": "private, max-age=3600"}
        if m.group(1) == s.check_key:  # an attention check: the warm-up picture mirrored
            if s.check_key not in check_png:
                check_png[s.check_key] = protocol.check_image(s)
            return Response(content=check_png[s.check_key], media_type="image/png", headers=cache)
        return FileResponse(s.path, media_type="image/png", headers=cache)

    @app.post("/api/session")
    def session(body: SessionIn, authorization: Optional[str] = Header(default=None)) -> dict[str, Any]:
        """Resume (a valid token) or start a participant (no token)."""
        if authorization:
            return state(participant(authorization))
        pid = keyed_hash(study.secret, "PROLIFIC_PID", body.prolific_pid) if body.prolific_pid else None
        token = secrets.token_urlsafe(32)
        if pid and study.db.has_pid(pid):
            if study.db.reissue_token(pid, token):  # the experimenter unlocked them: resume where they were
                return state(study.db.participant_by_token(token), token)
            pseudonym = study.db.pseudonym_of_pid(pid)
            study.db.log(pseudonym, "locked_out")
            return JSONResponse({"error": "already started", "locked": True, "reference": pseudonym},
                                status_code=409, headers={"Cache-Control": "no-store"})
        seed = secrets.randbits(62)
        plan = protocol.make_plan(study.stimuli, cfg, seed)
        pseudonym = study.db.create_participant(
            token, seed, bool(secrets.randbits(1)), [(t.idx, t.block, t.scene_id, t.break_before) for t in plan], pid,
            keyed_hash(study.secret, "STUDY_ID", body.study_id) if body.study_id else None,
            keyed_hash(study.secret, "SESSION_ID", body.session_id) if body.session_id else None)
        return state(study.db.participant_by_token(token), token)

    @app.get("/api/state")
    def get_state(authorization: Optional[str] = Header(default=None)) -> dict[str, Any]:
        return state(participant(authorization))

    @app.post("/api/event")
    def event(body: EventIn, authorization: Optional[str] = Header(default=None)) -> dict[str, Any]:
        p = participant(authorization)
        if body.kind == "consent":
            study.db.set_consent(p.pseudonym)
        study.db.log(p.pseudonym, body.kind, body.model_dump(exclude={"kind"}, exclude_none=True) or None)
        return {"ok": True}

    @app.post("/api/response")
    def response(body: ResponseIn, authorization: Optional[str] = Header(default=None)) -> dict[str, Any]:
        p = participant(authorization)
        if not p.consent_at:
            raise _err(409, "consent first")
        if p.finished_at:
            raise _err(409, "the study is finished for you")
        plan = study.db.plan(p.pseudonym)
        if body.idx >= len(plan):
            raise _err(422, f"trial {body.idx} does not exist (you have {len(plan)})")
        if body.timed_out != (body.response is None):
            raise _err(422, "timed_out must be true exactly when response is null")
        outcome, nxt = study.db.add_response(p.pseudonym, body.idx, body.model_dump())
        if outcome == "out_of_order":
            raise _err(409, f"trial {body.idx} answered before trial {nxt}")
        if outcome == "conflict":
            raise _err(409, f"trial {body.idx} was already answered")
        out: dict[str, Any] = {"stored": outcome == "stored", "next_idx": nxt}
        _, block, scene, _ = plan[body.idx]
        if block == "warmup":
            label = stim_by_scene[scene].label
            text = dict(protocol.CHOICES[cfg.task])[label]
            out["feedback"] = {"correct": body.response == label, "answer": text}
        return out

    @app.post("/api/finish")
    def finish(authorization: Optional[str] = Header(default=None)) -> dict[str, Any]:
        p = participant(authorization)
        n = len(study.db.plan(p.pseudonym))
        if study.db.next_idx(p.pseudonym) < n:
            raise _err(409, "not all trials are answered yet")
        code = None
        if cfg.completion_url:
            code = (parse_qs(urlparse(cfg.completion_url).query).get("cc") or [None])[0]
        code = study.db.finish(p.pseudonym, code or secrets.token_hex(4).upper())
        return {"code": code, "redirect": cfg.completion_url}

    def admin_ok(token: str | None) -> None:
        if not token or not hmac.compare_digest(token.encode(), study.admin_token.encode()):
            raise _err(403, "experimenter token required (printed when the server started)")

    @app.get("/api/admin")
    def admin_json(token: Optional[str] = None) -> dict[str, Any]:
        admin_ok(token)
        return {**study_summary(study.db, study.stimuli, cfg), "study": study.meta}

    @app.get("/admin", response_class=HTMLResponse)
    def admin_page(token: Optional[str] = None) -> HTMLResponse:
        admin_ok(token)
        return HTMLResponse(admin_html(study_summary(study.db, study.stimuli, cfg), study.meta),
                            headers={"Cache-Control": "no-store"})

    return app


def admin_html(summary: dict[str, Any], meta: dict[str, Any]) -> str:
    """The experimenter view: counts, attention-check accuracy, exclusions, one row per participant."""
    e = html.escape
    att = summary["attention_accuracy"]
    cols = ("pseudonym", "started_at", "finished_at", "trials_answered", "trials_planned", "test_accuracy",
            "conflict_accuracy", "attention_correct", "attention_n", "test_timeouts", "fast_answers", "same_share",
            "switch_share", "flags", "exclusion", "locked_out", "unlock_pending")

    def cell(v: Any) -> str:
        return "" if v is None else f"{v:.3f}" if isinstance(v, float) else e(str(v))

    rows = "".join("<tr>" + "".join(f"<td>{cell(r[c])}</td>" for c in cols) + "</tr>" for r in summary["participants"])
    rule = summary["rule"]
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>vpt study: experimenter view</title>
<link rel="stylesheet" href="/static/admin.css"></head><body>
<h1>Study {e(str(meta.get('experiment_id')))}: {e(str(meta.get('task')))} on {e(str(meta.get('dataset')))}</h1>
<p id="counts">started: <b>{summary['started']}</b> · consented: {summary['consented']} ·
finished: <b>{summary['finished']}</b> · excluded: <b>{summary['excluded']}</b> ·
attention-check accuracy: {'-' if att is None else f'{att:.1%}'}</p>
<p>Exclusion rule: a participant is excluded when any flag is raised: attention-check accuracy below
{rule['exclude_attention_below']:g}; more than {rule['exclude_timeouts_above']:g} of the test trials timed out;
more than {rule['exclude_fast_above']:g} of the answers faster than {rule['min_rt_ms']:g} ms; more than
{rule['exclude_same_above']:g} of the answers the same (one key); more than {rule['exclude_alternate_above']:g}
of consecutive answers switching (alternating). Flagged so far: {e(', '.join(f'{k} {v}' for k, v in summary['flagged'].items()))}.</p>
<p>A participant refused because they started before (<code>locked_out</code> &gt; 0, e.g. their browser lost its
storage) continues after <code>vpt human unlock --db DB --participant PSEUDONYM</code> and a reload of their link.</p>
<table><thead><tr>{''.join(f'<th>{c}</th>' for c in cols)}</tr></thead><tbody>{rows}</tbody></table>
</body></html>"""
