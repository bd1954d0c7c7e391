"""The response cache: SQLite in WAL mode, one row per answered request; it is the resume.

The key is a SHA-256 fingerprint of (provider, model snapshot, base URL where one is set,
the full request with every image replaced by the SHA-256 of its PNG bytes, and the
parameters, including the repeat index so that repeats are real repeats). Each answer is
committed as it arrives, so a crash or Ctrl-C loses nothing already paid for; a rerun finds
every answered request here and sends none. Only answers are stored (status ``ok`` or
``refusal``); transport errors and timeouts are never cached. No key, header or
environment value is ever written here.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vpt.deciders.vlm.images import Image

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    fingerprint TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    status TEXT NOT NULL,          -- ok | refusal
    text TEXT,
    input_tokens INTEGER,
    output_tokens INTEGER,
    latency_ms REAL,
    finish_reason TEXT,
    model_version TEXT,
    created_at TEXT NOT NULL,
    batch INTEGER NOT NULL DEFAULT 0   -- 1: answered through a provider's batch API (batch price)
);
CREATE TABLE IF NOT EXISTS batches (
    batch_id TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    fingerprints TEXT NOT NULL,    -- JSON list: the custom ids of the batch's requests
    status TEXT NOT NULL,
    collected INTEGER NOT NULL DEFAULT 0,
    submitted_at TEXT NOT NULL
);
"""


def _canon(obj: Any) -> Any:
    if isinstance(obj, Image):
        return {"image_sha256": obj.sha256, "width": obj.width, "height": obj.height}
    if isinstance(obj, dict):
        return {str(k): _canon(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_canon(v) for v in obj]
    if hasattr(obj, "__dataclass_fields__"):
        return {"_type": type(obj).__name__, **{k: _canon(getattr(obj, k)) for k in obj.__dataclass_fields__}}
    return obj


def fingerprint(provider: str, model: str, request: Any, params: dict[str, Any], base_url: str | None = None) -> str:
    """SHA-256 of the canonical JSON of everything that determines an answer."""
    blob = json.dumps({"provider": provider, "model": model, "base_url": base_url, "request": _canon(request),
                       "params": _canon(params)}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True)
class Cached:
    status: str
    text: str | None
    input_tokens: int | None
    output_tokens: int | None
    latency_ms: float | None
    finish_reason: str | None
    model_version: str | None
    batch: bool = False


class ResponseCache:
    """Thread-safe get/put over one SQLite file (WAL; one connection, a lock around it)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def get(self, key: str) -> Cached | None:
        with self._lock:
            row = self._db.execute("SELECT status, text, input_tokens, output_tokens, latency_ms, finish_reason, "
                                   "model_version, batch FROM responses WHERE fingerprint = ?", (key,)).fetchone()
        return Cached(*row[:7], bool(row[7])) if row else None

    def put(self, key: str, provider: str, model: str, status: str, text: str | None, input_tokens: int | None,
            output_tokens: int | None, latency_ms: float | None, finish_reason: str | None,
            model_version: str | None, created_at: str, batch: bool = False) -> None:
        if status not in ("ok", "refusal"):
            raise ValueError(f"only answers are cached, not {status!r}")
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO responses VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                             (key, provider, model, status, text, input_tokens, output_tokens, latency_ms,
                              finish_reason, model_version, created_at, int(batch)))

    # --- batches (the batch APIs' ids, so that a rerun collects instead of resubmitting) ---
    def add_batch(self, batch_id: str, provider: str, model: str, fingerprints: list[str], submitted_at: str) -> None:
        with self._lock:
            self._db.execute("INSERT INTO batches VALUES (?,?,?,?,?,0,?)",
                             (batch_id, provider, model, json.dumps(fingerprints), "submitted", submitted_at))

    def open_batches(self, provider: str, model: str) -> list[tuple[str, list[str]]]:
        """(batch id, fingerprints) of the batches not collected yet."""
        with self._lock:
            rows = self._db.execute("SELECT batch_id, fingerprints FROM batches WHERE provider = ? AND model = ? "
                                    "AND collected = 0 ORDER BY submitted_at", (provider, model)).fetchall()
        return [(b, json.loads(f)) for b, f in rows]

    def mark_batch(self, batch_id: str, status: str, collected: bool) -> None:
        with self._lock:
            self._db.execute("UPDATE batches SET status = ?, collected = ? WHERE batch_id = ?",
                             (status, int(collected), batch_id))

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
