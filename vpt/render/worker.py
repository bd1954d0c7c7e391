"""A Blender worker process: ``python -m vpt.render.worker --preset standard``.

Protocol (JSON lines): the parent writes one job per line on the worker's stdin and reads
one result per line back; ``{"op": "ping"}`` is answered with Blender's version. The
worker exits when stdin closes (that is how the executor recycles it). Blender's own
chatter on stdout is sent to stderr (or ``/dev/null`` with ``--quiet``), so the protocol
channel carries only results. A job is a :class:`~vpt.render.jobs.RenderJob` and its reply a
:class:`~vpt.render.jobs.RenderResult` (typed dicts, :mod:`vpt.render.jobs`);
each runs independently, and one that fails is reported with ``ok: false`` and the error,
without stopping the worker.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import sys
import time
import traceback
from typing import Any, TextIO, cast

from vpt.render.jobs import RenderJob, RenderResult

FRACTION_TOLERANCE = 0.05


def rss_mb() -> float:
    """Resident memory of this process now, in MiB."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # not Linux: fall back to the peak
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def check_fraction(raycast: dict[str, Any] | None, analytic: float | None,
                   tolerance: float = FRACTION_TOLERANCE) -> tuple[bool, str | None]:
    """(ok, reason): whether the ray-cast visible fraction agrees with the analytic one."""
    if analytic is None or raycast is None:
        return True, None
    diff = abs(raycast["visible_fraction"] - float(analytic))
    if diff <= tolerance:
        return True, None
    return False, (f"ray-cast visible fraction {raycast['visible_fraction']:.3f} differs from the analytic "
                   f"{float(analytic):.3f} by {diff:.3f} (> {tolerance}); blocked by {raycast['blocked_by']}")


def run_job(job: RenderJob, preset: str, device: str, tolerance: float = FRACTION_TOLERANCE,
            threads: int | None = None) -> RenderResult:
    """Render one job; never raises (errors come back as ``ok: false``)."""
    t0 = time.perf_counter()
    out: dict[str, Any] = {"scene_id": job.get("scene_id"), "pid": os.getpid()}
    if "role" in job:  # which render of the scene this is (e.g. "model", "human"), passed back as is
        out["role"] = job["role"]
    try:
        from vpt.render.output import render
        from vpt.scene.spec import scene_from_dict

        spec = scene_from_dict(job["spec"])
        res = render(spec, job["out_stem"], preset=job.get("preset", preset), device=device,
                     depth=bool(job.get("depth", False)), raycast=bool(job.get("raycast", True)), threads=threads,
                     overrides=job.get("overrides"))
        ok, reason = check_fraction(res["raycast"], job.get("analytic_fraction"), tolerance)
        out.update(res)
        out.update({"ok": ok, "reason": reason, "analytic_fraction": job.get("analytic_fraction"),
                    "tolerance": tolerance})
    except Exception as exc:  # noqa: BLE001 (reported to the parent, the worker goes on)
        out.update({"ok": False, "reason": f"error: {type(exc).__name__}: {exc}",
                    "traceback": traceback.format_exc()})
    out.setdefault("timings", {})["total"] = time.perf_counter() - t0
    out["rss_mb"] = rss_mb()
    return cast(RenderResult, out)  # built key by key above


def serve(inp: TextIO, proto: TextIO, preset: str, device: str, tolerance: float, threads: int | None) -> None:
    for line in inp:
        if not line.strip():
            continue
        msg = json.loads(line)
        if msg.get("op") == "ping":
            import bpy

            reply: dict[str, Any] = {"op": "pong", "bpy_version": bpy.app.version_string, "pid": os.getpid()}
        else:
            reply = run_job(msg, preset, device, tolerance, threads)
        proto.write(json.dumps(reply) + "\n")
        proto.flush()


def _on_sigterm(*_: Any) -> None:
    """Stop now: remove this worker's temporary files and exit. (An exception would be
    swallowed if the signal lands inside a Blender callback, so exit directly.)"""
    import shutil

    output = sys.modules.get("vpt.render.output")
    for tmp in list(getattr(output, "ACTIVE_TEMP", ())):
        shutil.rmtree(tmp, ignore_errors=True)
    os._exit(143)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vpt.render.worker", description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="standard")
    ap.add_argument("--device", default="cpu", choices=["cpu", "gpu"])
    ap.add_argument("--tolerance", type=float, default=FRACTION_TOLERANCE)
    ap.add_argument("--threads", type=int, default=0, help="Cycles CPU threads (0: all cores)")
    ap.add_argument("--quiet", action="store_true", help="discard Blender's log instead of sending it to stderr")
    args = ap.parse_args(argv)
    # keep the protocol on the real stdout; everything Blender prints goes elsewhere
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    sink = os.open(os.devnull, os.O_WRONLY) if args.quiet else 2
    os.dup2(sink, 1)
    sys.stdout = sys.stderr
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    from vpt.render.blender import RenderUnavailable, require_bpy

    try:
        require_bpy()
    except RenderUnavailable as exc:
        proto.write(json.dumps({"op": "fatal", "reason": str(exc)}) + "\n")
        return 3
    serve(sys.stdin, proto, args.preset, args.device, args.tolerance, args.threads or None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
