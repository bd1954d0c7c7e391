"""The study database: SQLite in WAL mode, one transaction per response.

Tables: ``meta`` (the study: dataset hash, task, experiment id, settings), ``participants``
(a pseudonym, the SHA-256 of their session token, keyed hashes of the Prolific ids, seed,
side of the buttons, times, completion code), ``plan`` (each participant's trials in order),
``responses`` (one row per answered trial, the primary key (pseudonym, idx) makes a repeated
submission a no-op) and ``events`` (consent, window-too-small, finish).

Nothing here is a raw identifier: Prolific's PROLIFIC_PID, STUDY_ID and SESSION_ID are kept
as HMAC-SHA256 under a secret that lives outside the database (:func:`load_secret`); session
tokens only as their SHA-256; IP addresses are never seen by this module.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from vpt.errors import UserError

SECRET_ENV = "VPT_HUMAN_SECRET"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS participants (
    pseudonym TEXT PRIMARY KEY, token_sha256 TEXT NOT NULL UNIQUE, pid_hmac TEXT UNIQUE,
    study_hmac TEXT, session_hmac TEXT, seed INTEGER NOT NULL, flip INTEGER NOT NULL,
    started_at TEXT NOT NULL, consent_at TEXT, finished_at TEXT, completion_code TEXT,
    unlock_pending INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS plan (
    pseudonym TEXT NOT NULL, idx INTEGER NOT NULL, block TEXT NOT NULL, scene_id TEXT NOT NULL,
    break_before INTEGER NOT NULL, PRIMARY KEY (pseudonym, idx));
CREATE TABLE IF NOT EXISTS responses (
    pseudonym TEXT NOT NULL, idx INTEGER NOT NULL, request_key TEXT NOT NULL, response INTEGER,
    rt_ms REAL, timed_out INTEGER NOT NULL, input TEXT, window_w INTEGER, window_h INTEGER, dpr REAL,
    stimulus_w INTEGER, stimulus_h INTEGER, created_at TEXT NOT NULL, PRIMARY KEY (pseudonym, idx));
CREATE TABLE IF NOT EXISTS events (pseudonym TEXT, at TEXT NOT NULL, kind TEXT NOT NULL, detail TEXT);
"""


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def default_secret_file() -> Path:
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "vpt" / "human-secret"


def load_secret(path: str | Path | None = None) -> bytes:
    """The pseudonymisation key: ``$VPT_HUMAN_SECRET`` if set, else the file ``path`` (default
    ``~/.config/vpt/human-secret``), created with mode 0600 on first use. Keep it out of any
    data you share: with it, a known Prolific id can be matched to its pseudonym."""
    env = os.environ.get(SECRET_ENV)
    if env:
        if len(env) < 16:
            raise UserError(f"${SECRET_ENV} is shorter than 16 characters; use a long random string")
        return env.encode()
    p = Path(path) if path else default_secret_file()
    if not p.exists():
        p.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
    if p.stat().st_mode & 0o077:
        raise UserError(f"{p}: the pseudonymisation secret is readable by others; run `chmod 600 {p}`")
    key = p.read_text().strip()
    if len(key) < 16:
        raise UserError(f"{p}: the pseudonymisation secret is too short; delete it to make a new one "
                        "(only before any participant has started)")
    return key.encode()


def keyed_hash(secret: bytes, kind: str, value: str) -> str:
    return hmac.new(secret, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Participant:
    pseudonym: str
    seed: int
    flip: bool
    started_at: str
    consent_at: str | None
    finished_at: str | None
    completion_code: str | None


class StudyDB:
    """One study's SQLite file; thread-safe (one connection behind a lock)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=FULL")
            self.conn.execute("PRAGMA busy_timeout=10000")
            self.conn.executescript(SCHEMA)
            cols = {r[1] for r in self.conn.execute("PRAGMA table_info(participants)")}
            if "unlock_pending" not in cols:  # a database from before `vpt human unlock`
                self.conn.execute("ALTER TABLE participants ADD COLUMN unlock_pending INTEGER NOT NULL DEFAULT 0")
        except sqlite3.DatabaseError as err:
            raise UserError(f"{self.path}: not a study database ({err})") from None
        self.lock = threading.Lock()
        self._plans: dict[str, list[tuple[int, str, str, bool]]] = {}  # plans never change once written

    def close(self) -> None:
        self.conn.close()

    def _tx(self, sql: str, args: tuple = ()) -> sqlite3.Cursor:
        with self.lock:
            return self.conn.execute(sql, args)

    # ---- the study --------------------------------------------------------------------------
    def meta(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self._tx("SELECT key, value FROM meta").fetchall()}

    def bind(self, dataset_hash: str, dataset_name: str, task: str, settings: dict[str, Any],
             sets: list[dict[str, str]] | None = None) -> dict[str, Any]:
        """Tie the file to one dataset, the sets added to its human set (name and hash each, see
        :mod:`vpt.deciders.human.sets`) and a task (first start) or check that it is tied to
        them. A database from before added sets were recorded has none."""
        sets = list(sets or [])
        m = self.meta()
        if not m:
            m = {"dataset_hash": dataset_hash, "dataset": dataset_name, "task": task, "sets": sets,
                 "experiment_id": secrets.token_hex(6), "created_at": utc_now()}
            with self.lock:
                self.conn.execute("BEGIN IMMEDIATE")
                for k, v in m.items():
                    self.conn.execute("INSERT OR IGNORE INTO meta VALUES (?, ?)", (k, json.dumps(v)))
                self.conn.execute("COMMIT")
            m = self.meta()
        if m["dataset_hash"] != dataset_hash:
            raise UserError(f"{self.path}: this study database belongs to dataset {m['dataset']} (hash "
                            f"{m['dataset_hash']}), not to this one ({dataset_name}, hash {dataset_hash}); "
                            "use another --db for a new study")
        if m["task"] != task:
            raise UserError(f"{self.path}: this study database is for task {m['task']!r}, not {task!r}; "
                            "use another --db")
        had = m.get("sets", [])
        if had != sets:
            def names(v: list[dict[str, str]]) -> str:
                return ", ".join(f"{d['name']} ({d['hash']})" for d in v) or "none"

            hint = ("pass --no-conflict to serve it as it was started" if not had else
                    "put the conflict set it was started with back beside the dataset (same index) and leave "
                    "out --no-conflict")
            raise UserError(f"{self.path}: this study was started with the added sets {names(had)}, not "
                            f"{names(sets)}; {hint}, or use another --db for a new study")
        self._tx("INSERT OR REPLACE INTO meta VALUES ('settings', ?)", (json.dumps(settings, default=str),))
        return m

    # ---- participants -----------------------------------------------------------------------
    def create_participant(self, token: str, seed: int, flip: bool, plan: list[tuple[int, str, str, bool]],
                           pid_hmac: str | None, study_hmac: str | None, session_hmac: str | None) -> str:
        """A new participant with their plan, in one transaction; returns the pseudonym."""
        pseudonym = "p-" + (pid_hmac[:16] if pid_hmac else secrets.token_hex(8))
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                self.conn.execute("INSERT INTO participants (pseudonym, token_sha256, pid_hmac, study_hmac, "
                                  "session_hmac, seed, flip, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                  (pseudonym, token_digest(token), pid_hmac, study_hmac, session_hmac, seed,
                                   int(flip), utc_now()))
                self.conn.executemany("INSERT INTO plan VALUES (?, ?, ?, ?, ?)",
                                      [(pseudonym, i, b, s, int(br)) for i, b, s, br in plan])
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
        return pseudonym

    def participant_by_token(self, token: str) -> Participant | None:
        row = self._tx("SELECT pseudonym, seed, flip, started_at, consent_at, finished_at, completion_code "
                       "FROM participants WHERE token_sha256 = ?", (token_digest(token),)).fetchone()
        return Participant(row[0], row[1], bool(row[2]), *row[3:]) if row else None

    def has_pid(self, pid_hmac: str) -> bool:
        return self._tx("SELECT 1 FROM participants WHERE pid_hmac = ?", (pid_hmac,)).fetchone() is not None

    def pseudonym_of_pid(self, pid_hmac: str) -> str | None:
        row = self._tx("SELECT pseudonym FROM participants WHERE pid_hmac = ?", (pid_hmac,)).fetchone()
        return row[0] if row else None

    def unlock(self, pseudonym: str) -> None:
        """Let a participant who lost their browser's storage in again: their next start with
        the same Prolific id gets a new session token for the same pseudonym (once)."""
        row = self._tx("SELECT pid_hmac FROM participants WHERE pseudonym = ?", (pseudonym,)).fetchone()
        if row is None:
            raise UserError(f"{self.path}: no participant {pseudonym!r} in this study; the experimenter view "
                            "(/admin) and `vpt human export`'s participants.csv list them")
        if row[0] is None:
            raise UserError(f"{pseudonym}: started without a Prolific id, so a new visit cannot be recognised as "
                            "theirs and nothing locks them out; there is nothing to unlock")
        self._tx("UPDATE participants SET unlock_pending = 1 WHERE pseudonym = ?", (pseudonym,))
        self.log(pseudonym, "unlocked")

    def reissue_token(self, pid_hmac: str, token: str) -> str | None:
        """If the participant with this Prolific id was unlocked, give them ``token`` (the old one
        stops working) and return their pseudonym; None otherwise. One transaction."""
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                row = self.conn.execute("SELECT pseudonym FROM participants WHERE pid_hmac = ? AND unlock_pending = 1",
                                        (pid_hmac,)).fetchone()
                if row:
                    self.conn.execute("UPDATE participants SET token_sha256 = ?, unlock_pending = 0 WHERE pseudonym = ?",
                                      (token_digest(token), row[0]))
                    self.conn.execute("INSERT INTO events VALUES (?, ?, ?, ?)", (row[0], utc_now(), "resumed", None))
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
        return row[0] if row else None

    def participants(self) -> list[dict[str, Any]]:
        cur = self._tx("SELECT pseudonym, seed, flip, started_at, consent_at, finished_at, completion_code, "
                       "study_hmac, session_hmac, pid_hmac IS NOT NULL AS has_pid, unlock_pending FROM participants "
                       "ORDER BY started_at")
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r)) for r in cur.fetchall()]

    def set_consent(self, pseudonym: str) -> None:
        self._tx("UPDATE participants SET consent_at = COALESCE(consent_at, ?) WHERE pseudonym = ?",
                 (utc_now(), pseudonym))

    def finish(self, pseudonym: str, code: str) -> str:
        """Mark finished (once); returns the stored completion code."""
        self._tx("UPDATE participants SET finished_at = COALESCE(finished_at, ?), "
                 "completion_code = COALESCE(completion_code, ?) WHERE pseudonym = ?", (utc_now(), code, pseudonym))
        return self._tx("SELECT completion_code FROM participants WHERE pseudonym = ?", (pseudonym,)).fetchone()[0]

    # ---- trials -----------------------------------------------------------------------------
    def plan(self, pseudonym: str) -> list[tuple[int, str, str, bool]]:
        if pseudonym in self._plans:
            return self._plans[pseudonym]
        rows = self._tx("SELECT idx, block, scene_id, break_before FROM plan WHERE pseudonym = ? ORDER BY idx",
                        (pseudonym,)).fetchall()
        plan = [(i, b, s, bool(br)) for i, b, s, br in rows]
        if plan:
            self._plans[pseudonym] = plan
        return plan

    def next_idx(self, pseudonym: str) -> int:
        row = self._tx("SELECT COALESCE(MAX(idx) + 1, 0) FROM responses WHERE pseudonym = ?", (pseudonym,)).fetchone()
        return int(row[0])

    def add_response(self, pseudonym: str, idx: int, fields: dict[str, Any]) -> tuple[str, int]:
        """Store the answer to trial ``idx`` unless it is there already. Returns (outcome, next
        idx): ``stored``, ``duplicate`` (same request key: a retry, nothing written),
        ``conflict`` (answered before by another request) or ``out_of_order`` (an earlier trial
        is unanswered). Checked and written in one immediate transaction."""
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                nxt = int(self.conn.execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM responses WHERE pseudonym = ?",
                                            (pseudonym,)).fetchone()[0])
                old = self.conn.execute("SELECT request_key FROM responses WHERE pseudonym = ? AND idx = ?",
                                        (pseudonym, idx)).fetchone()
                if old is not None:
                    outcome = "duplicate" if old[0] == fields["request_key"] else "conflict"
                elif idx != nxt:
                    outcome = "out_of_order"
                else:
                    self.conn.execute(
                        "INSERT INTO responses (pseudonym, idx, request_key, response, rt_ms, timed_out, input, "
                        "window_w, window_h, dpr, stimulus_w, stimulus_h, created_at) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (pseudonym, idx, fields["request_key"], fields["response"], fields["rt_ms"],
                         int(fields["timed_out"]), fields["input"], fields["window_w"], fields["window_h"],
                         fields["dpr"], fields["stimulus_w"], fields["stimulus_h"], utc_now()))
                    outcome, nxt = "stored", nxt + 1
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
        return outcome, nxt

    def responses(self, pseudonym: str | None = None) -> list[dict[str, Any]]:
        """Answered trials joined with the plan (all participants, or one), in answer order."""
        sql = ("SELECT r.*, p.block, p.scene_id FROM responses r JOIN plan p ON p.pseudonym = r.pseudonym "
               "AND p.idx = r.idx" + (" WHERE r.pseudonym = ?" if pseudonym else "") + " ORDER BY r.pseudonym, r.idx")
        cur = self._tx(sql, (pseudonym,) if pseudonym else ())
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r)) for r in cur.fetchall()]

    def event_counts(self, kind: str) -> dict[str, int]:
        """How often each participant had an event of ``kind``."""
        return dict(self._tx("SELECT pseudonym, COUNT(*) FROM events WHERE kind = ? GROUP BY pseudonym",
                             (kind,)).fetchall())

    def log(self, pseudonym: str | None, kind: str, detail: dict[str, Any] | None = None) -> None:
        self._tx("INSERT INTO events VALUES (?, ?, ?, ?)",
                 (pseudonym, utc_now(), kind, json.dumps(detail) if detail is not None else None))

    def dump(self) -> Iterator[str]:
        """Every statement of the database as text (tests search it for raw identifiers)."""
        with self.lock:
            yield from self.conn.iterdump()
