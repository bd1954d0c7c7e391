"""Run render jobs in Blender worker processes, cut into shards (no ``bpy`` in this process).

A *job* is a :class:`~vpt.render.jobs.RenderJob` and its *result* (from
:func:`vpt.render.worker.run_job`) a :class:`~vpt.render.jobs.RenderResult`: typed dicts,
declared in :mod:`vpt.render.jobs`, that travel as JSON lines to and from the workers. A
result is ``ok: false`` with a ``reason`` when the ray-cast visible fraction disagrees with
the job's ``analytic_fraction`` by more than ``FRACTION_TOLERANCE`` = 0.05, or on an error.

Why 0.05: the analytic fraction samples the ball's disc with ~1000 sunflower rays and the
ray cast with a 512-px grid (a few thousand rays), each good to about 0.01-0.02 on a disc
cut by an edge; the meshes' facets shave up to 0.6 % off the radius. Real disagreements
(a wrong primitive, a misplaced occluder, the floor) move the fraction far more.

Execution: :func:`render_jobs` cuts the jobs into shards and runs them on the *local
executor*: ``workers`` Blender processes (``python -m vpt.render.worker``), each using
``cpu_count // workers`` threads and replaced by a fresh one every ``recycle_every`` scenes
so memory stays flat. Results stream back in completion order. Ctrl-C (or closing the
iterator) stops every worker: SIGTERM, then SIGKILL after a grace period. Files are
written atomically, so a stopped run leaves only finished files; rerunning is safe.

The seam for a distributed engine: :func:`run_shard` is a plain function of picklable
arguments that renders one shard in its own worker and returns its results;
:mod:`vpt.render.ray_executor` runs shards as Ray tasks through it (and imports this module;
this module never imports it). :func:`vpt.render.factory.make_executor` picks the executor
by name (``local`` or ``ray``) for ``vpt scenes --executor``.

The worker runs the same ``vpt`` as this process: from the interpreter's installation when
it has one (a wheel, or an editable install), and from this process's source folder only
when that interpreter would not find it (a checkout used without installing it).
"""

from __future__ import annotations

import functools
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from vpt.render.jobs import RenderJob, RenderResult, failed_result
from vpt.render.presets import DEFAULT_PRESET, check_preset
from vpt.render.worker import FRACTION_TOLERANCE

DEFAULT_RECYCLE_EVERY = 100  # the `vpt scenes --recycle-every` default too
TERMINATE_GRACE_S = 5.0

__all__ = ["DEFAULT_RECYCLE_EVERY", "FRACTION_TOLERANCE", "WorkerError", "WorkerFatal", "WorkerProcess",
           "make_shards", "remove_stale_temp", "render_jobs", "run_shard", "worker_env"]


class WorkerError(RuntimeError):
    """A worker process died or could not start."""


class WorkerFatal(WorkerError):
    """A worker cannot render at all (for example, bpy is missing)."""


def make_shards(jobs: list[RenderJob], shard_size: int) -> list[list[RenderJob]]:
    """Cut jobs into consecutive shards of at most ``shard_size``."""
    if shard_size < 1:
        raise ValueError("shard_size must be at least 1")
    return [jobs[i:i + shard_size] for i in range(0, len(jobs), shard_size)]


def remove_stale_temp(folders: Iterable[str | os.PathLike]) -> int:
    """Remove temporary files/folders left by killed workers (``.tmp-*``, ``.*.tmp-<pid>``)
    whose process is gone; returns how many were removed."""
    import shutil

    removed = 0
    for folder in {Path(f) for f in folders}:
        if not folder.is_dir():
            continue
        for p in folder.glob(".*tmp-*"):
            pid = p.name.rsplit("-", 1)[-1]
            if pid.isdigit() and _alive(int(pid)):
                continue
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
            removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@functools.lru_cache(maxsize=None)
def _source_root_if_needed(python: str, cwd: str, pythonpath: str) -> str | None:
    """The folder holding the ``vpt`` package this process runs when ``python`` (started in
    ``cwd`` with ``PYTHONPATH=pythonpath``) would not import that same package by itself; None
    when it would (vpt installed into that interpreter, as a wheel or editable)."""
    import vpt

    ours = Path(vpt.__file__).resolve()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    try:
        out = subprocess.run([python, "-c", "import vpt; print(vpt.__file__)"], capture_output=True, text=True,
                             cwd=cwd, env=env, timeout=120)
        lines = out.stdout.strip().splitlines()
        theirs = Path(lines[-1]).resolve() if out.returncode == 0 and lines else None
    except (OSError, subprocess.TimeoutExpired):
        theirs = None
    return None if theirs == ours else str(ours.parents[1])


def worker_env(python: str | None = None) -> dict[str, str]:
    """The environment of a render worker: this one, plus this process's source folder on
    ``PYTHONPATH`` only when ``python`` would otherwise import no vpt or another one."""
    env = dict(os.environ)
    root = _source_root_if_needed(python or sys.executable, os.getcwd(), env.get("PYTHONPATH", ""))
    if root is not None:
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _die_with_parent() -> None:  # pragma: no cover (runs in the child between fork and exec)
    """Linux: SIGTERM this worker when the thread that started it dies (a killed Ray worker or
    driver), so an orphan neither renders on nor leaves temporary files (its handler removes them)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return


class WorkerProcess:
    """One ``python -m vpt.render.worker`` child speaking JSON lines."""

    def __init__(self, preset: str, device: str = "cpu", threads: int | None = None,
                 log: str | os.PathLike | None = None, python: str | None = None) -> None:
        cmd = [python or sys.executable, "-m", "vpt.render.worker", "--preset", preset, "--device", device]
        if threads:
            cmd += ["--threads", str(threads)]
        if log is None:
            cmd.append("--quiet")
        self._log = open(log, "ab") if log is not None else None  # noqa: SIM115
        parent = os.getpid()

        def setup() -> None:  # pragma: no cover (in the child)
            _die_with_parent()
            if os.getppid() != parent:  # the parent died before the line above
                os._exit(1)

        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._log if self._log else subprocess.DEVNULL,
                                     text=True, bufsize=1, env=worker_env(python), start_new_session=True,
                                     preexec_fn=setup)
        self.done = 0

    def call(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send one message and wait for its reply."""
        assert self.proc.stdin and self.proc.stdout
        try:
            self.proc.stdin.write(json.dumps(message) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError as exc:
            raise WorkerError(f"render worker {self.proc.pid} exited (code {self.proc.poll()})") from exc
        line = self.proc.stdout.readline()
        if not line:
            raise WorkerError(f"render worker {self.proc.pid} died (code {self.proc.wait()}) during "
                              f"{message.get('scene_id', message.get('op'))}")
        reply = json.loads(line)
        if reply.get("op") == "fatal":
            raise WorkerFatal(reply["reason"])
        self.done += 1
        return reply

    def terminate(self) -> None:
        """Ask the worker to stop now (SIGTERM); safe from another thread."""
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass

    def close(self, kill: bool = False) -> None:
        """Let the worker exit (stdin closed), or stop it (SIGTERM, then SIGKILL)."""
        p = self.proc
        try:
            if p.stdin:
                p.stdin.close()
        except OSError:
            pass
        if kill and p.poll() is None:
            p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=TERMINATE_GRACE_S if kill else 60.0)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        if p.stdout:
            p.stdout.close()
        if self._log:
            self._log.close()


def run_shard(shard: list[RenderJob], preset: str = DEFAULT_PRESET, device: str = "cpu",
              threads: int | None = None, recycle_every: int = DEFAULT_RECYCLE_EVERY,
              log: str | os.PathLike | None = None, log_name: str = "worker",
              clean_temp: bool = True) -> list[RenderResult]:
    """Render one shard in one worker process at a time (recycled every ``recycle_every``
    jobs); ``log`` is a folder for the Blender log (``<log_name>-0.log``). Picklable in and
    out, for remote runs; ``clean_temp=False`` leaves temporary files of dead processes to
    the caller (on a shared filesystem another node's live process may own them)."""
    return list(render_jobs(shard, preset, workers=1, device=device, recycle_every=recycle_every,
                            threads=threads, log_dir=log, log_name=log_name, clean_temp=clean_temp))


def render_jobs(jobs: Iterable[RenderJob], preset: str = DEFAULT_PRESET, workers: int = 1,
                device: str = "cpu", recycle_every: int = DEFAULT_RECYCLE_EVERY,
                progress: Callable[[RenderResult], None] | None = None, threads: int | None = None,
                log_dir: str | os.PathLike | None = None, shard_size: int | None = None,
                log_name: str = "worker", clean_temp: bool = True) -> Iterator[RenderResult]:
    """Render jobs on the local executor; yields one result per job as it finishes.

    ``workers`` Blender processes run side by side, each with ``threads`` CPU threads
    (default: all cores divided among the workers). ``progress(result)`` is called for
    every result. ``log_dir`` keeps each worker's Blender log, ``<log_name>-<slot>.log``
    (default: discarded). ``clean_temp``: remove dead processes' temporary files first.
    """
    check_preset(preset)
    jobs = list(jobs)
    if not jobs:
        return
    workers = max(1, min(int(workers), len(jobs)))
    threads = threads or max(1, (os.cpu_count() or 1) // workers)
    if clean_temp:
        remove_stale_temp(Path(j["out_stem"]).parent for j in jobs)
    # small shards keep every worker busy to the end; a worker serves shards until recycled
    shards = make_shards(jobs, shard_size or max(1, min(recycle_every, -(-len(jobs) // (4 * workers)))))
    todo: queue.Queue = queue.Queue()
    for s in shards:
        todo.put(s)
    results: queue.Queue = queue.Queue()
    stop = threading.Event()
    live: dict[int, WorkerProcess] = {}
    lock = threading.Lock()

    def start_worker(slot: int, log: Path | None) -> WorkerProcess:
        try:
            w = WorkerProcess(preset, device, threads, log)
        except OSError as exc:
            raise WorkerError(f"cannot start a render worker ({sys.executable} -m vpt.render.worker): {exc}") from exc
        with lock:
            live[slot] = w
        w.call({"op": "ping"})  # startup failures (no bpy, bad python) stop the run here
        w.done = 0
        return w

    def retire(slot: int, w: WorkerProcess | None) -> None:
        if w is None:
            return
        with lock:
            live.pop(slot, None)
        w.close(kill=stop.is_set())

    def loop(slot: int) -> None:
        log = Path(log_dir) / f"{log_name}-{slot}.log" if log_dir else None
        w: WorkerProcess | None = None
        try:
            while not stop.is_set():
                try:
                    shard = todo.get_nowait()
                except queue.Empty:
                    break
                for job in shard:
                    if stop.is_set():
                        return
                    if w is None or w.done >= recycle_every:  # recycled: memory stays flat
                        retire(slot, w)
                        w = None
                        w = start_worker(slot, log)
                    try:
                        results.put(w.call(job))
                    except WorkerFatal:
                        raise
                    except WorkerError as exc:  # Blender died on this scene: report it, go on
                        if stop.is_set():
                            return
                        pid = w.proc.pid
                        retire(slot, w)
                        w = None
                        if clean_temp:
                            remove_stale_temp([Path(job["out_stem"]).parent])
                        results.put(failed_result(job, f"worker crashed: {exc}", pid=pid))
        except Exception as exc:  # noqa: BLE001 (surfaced in the main thread)
            if not stop.is_set():
                results.put(exc)
        finally:
            retire(slot, w)
            results.put(None)  # this slot is finished

    threads_ = [threading.Thread(target=loop, args=(i,), daemon=True, name=f"vpt-render-{i}") for i in range(workers)]
    for t in threads_:
        t.start()
    finished = 0
    try:
        while finished < workers:
            item = results.get()
            if item is None:
                finished += 1
                continue
            if isinstance(item, Exception):
                raise item
            if progress is not None:
                progress(item)
            yield item
    finally:  # Ctrl-C, an error, or the caller closed the generator: stop everything
        stop.set()
        with lock:
            procs = list(live.values())
        for w in procs:
            w.terminate()  # each slot's thread then reaps its worker (SIGKILL after a grace)
        for t in threads_:
            t.join(timeout=TERMINATE_GRACE_S + 5)
        for w in procs:
            if w.proc.poll() is None:
                w.proc.kill()
