"""Load check of the human experiment's server on loopback (`make bench-human`).

Starts the server (uvicorn, one process, as `vpt human serve` runs it) on a synthetic dataset
in a child process, then runs N simulated participants at once (asyncio + httpx), each
answering every trial of their plan as fast as the server allows; a share of the answers is
sent twice (a retried request). Afterwards it checks the database: every answer stored
exactly once, none lost, in order. Prints the median and 99th-percentile response times.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def synthetic_dataset(root: Path, n_human: int, n_warmup: int, px: int = 64) -> Path:
    """A dataset folder with real PNGs and a valid index: ``n_human`` test items in the human
    set and ``n_warmup`` train items in the warm-up set."""
    import pandas as pd
    from PIL import Image

    from vpt.datasets.index import INDEX_FILE, conform

    (root / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n_human + n_warmup):
        human = i < n_human
        sid = f"{'test' if human else 'train'}-{i:05d}"
        Image.new("RGB", (px, px), (i % 256, 80, 160)).save(root / "images" / f"{sid}.png")
        rows.append({"scene_id": sid, "split": "test" if human else "train", "scene_json": f"scenes/{sid}.json",
                     "image": f"images/{sid}.png", "mask": f"images/{sid}.png", "human_image": f"images/{sid}.png",
                     "vpt_label": i % 2, "depth_label": (i // 2) % 2, "hidden_reason": "", "cell": "c0",
                     "human_set": human, "warmup": not human, "sweep_id": "", "sweep_kind": "", "sweep_step": -1,
                     "sweep_step_label": "", "rendered": True})
    conform(pd.DataFrame(rows), root / INDEX_FILE).to_parquet(root / INDEX_FILE, index=False)  # a hand-made index
    return root


def _serve(dataset: str, db: str, port: int, instructions: str, secret: str) -> None:
    import uvicorn

    from vpt.deciders.human.protocol import StudyConfig
    from vpt.deciders.human.server import create_app, open_study

    study = open_study(dataset, StudyConfig(task="vpt", attention_checks=4, break_every=40), db,
                       instructions=instructions, secret_file=secret, admin_token="bench-admin-token")
    uvicorn.run(create_app(study), host="127.0.0.1", port=port, access_log=False, log_level="warning")


async def _participant(client: Any, base: str, number: int, repeat_share: float, rng: random.Random,
                       times: list[float], stats: dict[str, int]) -> dict[str, Any]:
    import httpx

    async def post(path: str, body: dict, token: str | None = None) -> Any:
        """One request, retried on a dropped connection as the page does (the retry repeats it)."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        for attempt in range(10):
            t0 = time.perf_counter()
            try:
                r = await client.post(base + path, json=body, headers=headers)
            except httpx.TransportError:
                stats["transport_retries"] += 1
                await asyncio.sleep(0.05 * (attempt + 1))
                continue
            times.append(time.perf_counter() - t0)
            return r
        raise RuntimeError(f"participant {number}: {path} failed 10 times")

    r = await post("/api/session", {"prolific_pid": f"bench{number:019d}"})
    r.raise_for_status()
    st = r.json()
    token = st["token"]
    (await post("/api/event", {"kind": "consent"}, token)).raise_for_status()
    given, repeats = [], 0
    for idx in range(st["n_trials"]):
        resp = rng.randint(0, 1)
        body = {"idx": idx, "request_key": f"b{number}-{idx}-{rng.getrandbits(32):08x}", "response": resp,
                "rt_ms": 400.0, "timed_out": False, "input": "key", "window_w": 1280, "window_h": 900, "dpr": 1.0,
                "stimulus_w": 64, "stimulus_h": 64}
        for attempt in range(2 if rng.random() < repeat_share else 1):
            r = await post("/api/response", body, token)
            if r.status_code != 200:
                raise RuntimeError(f"participant {number} trial {idx}: HTTP {r.status_code} {r.text}")
            repeats += attempt
        given.append(resp)
    (await post("/api/finish", {}, token)).raise_for_status()
    return {"token": token, "given": given, "repeats": repeats}


async def _load(base: str, n_participants: int, repeat_share: float,
                seed: int) -> tuple[list[dict], list[float], dict[str, int]]:
    import httpx

    times: list[float] = []
    stats = {"transport_retries": 0}
    limits = httpx.Limits(max_connections=n_participants, max_keepalive_connections=n_participants)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        results = await asyncio.gather(*[_participant(client, base, i, repeat_share, random.Random(seed * 1000 + i),
                                                      times, stats) for i in range(n_participants)])
    return list(results), times, stats


def run(n_participants: int = 50, n_trials: int = 100, repeat_share: float = 0.1, seed: int = 0) -> dict[str, Any]:
    """Run the load check; returns counts and latencies (seconds) and raises if anything was
    lost or stored twice."""
    n_warmup, n_att = 6, 4
    n_human = n_trials - n_warmup - n_att
    if n_human < 1:
        raise ValueError("n_trials must exceed the 6 warm-up and 4 attention-check trials")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ds = synthetic_dataset(root / "data" / "bench", n_human, n_warmup)
        instr = root / "vpt.md"
        instr.write_text("# Task\n\nCan the green camera see the red ball?\n")
        db = root / "study.sqlite"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = {**os.environ, "VPT_HUMAN_SECRET": "bench-secret-0123456789abcdef"}
        child = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--serve", str(ds), str(db),
                                  str(port), str(instr), str(root / "secret")], env=env)
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_for(port, child)
            t0 = time.perf_counter()
            results, times, stats = asyncio.run(_load(base, n_participants, repeat_share, seed))
            wall = time.perf_counter() - t0
        finally:
            child.terminate()
            child.wait(timeout=30)
        with sqlite3.connect(db) as c:
            stored = c.execute("SELECT pseudonym, idx, response FROM responses ORDER BY pseudonym, idx").fetchall()
            finished = c.execute("SELECT COUNT(*) FROM participants WHERE finished_at IS NOT NULL").fetchone()[0]
    by: dict[str, list[tuple[int, int]]] = {}
    for p, idx, resp in stored:
        by.setdefault(p, []).append((idx, resp))
    expected = sorted(tuple(r["given"]) for r in results)
    got = sorted(tuple(resp for _, resp in rows) for rows in by.values())
    if got != expected or any([i for i, _ in rows] != list(range(len(rows))) for rows in by.values()):
        raise AssertionError("the database does not hold exactly the answers given")
    ms = np.asarray(times) * 1000
    return {"participants": n_participants, "finished": finished, "answers": sum(len(r["given"]) for r in results),
            "stored": len(stored), "repeated_requests": sum(r["repeats"] for r in results), "requests": len(times),
            "transport_retries": stats["transport_retries"],
            "median_ms": float(np.median(ms)), "p99_ms": float(np.percentile(ms, 99)), "wall_s": wall}


def _wait_for(port: int, child: subprocess.Popen) -> None:
    deadline = time.time() + 60
    while time.time() < deadline:
        if child.poll() is not None:
            raise RuntimeError(f"the server exited with status {child.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError("the server did not start within 60 s")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python benchmarks/human_load.py", description=__doc__.splitlines()[0])
    ap.add_argument("--participants", type=int, default=50)
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--repeat-share", type=float, default=0.1, help="share of answers sent twice (default 0.1)")
    ap.add_argument("--serve", nargs=5, metavar=("DATASET", "DB", "PORT", "INSTRUCTIONS", "SECRET"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve:
        ds, db, port, instr, secret = args.serve
        _serve(ds, db, int(port), instr, secret)
        return 0
    r = run(args.participants, args.trials, args.repeat_share)
    print(f"{r['participants']} participants x {args.trials} trials at once on loopback: {r['answers']} answers, "
          f"{r['stored']} stored (each exactly once; {r['repeated_requests']} answers sent twice, "
          f"{r['transport_retries']} requests retried after a dropped connection), "
          f"{r['finished']} finished; {r['requests']} requests in {r['wall_s']:.1f} s; "
          f"response time median {r['median_ms']:.1f} ms, 99th percentile {r['p99_ms']:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
