"""Render shards as Ray tasks (``vpt scenes --executor ray [--ray-address ADDRESS]``).

Each shard of jobs becomes one Ray task that owns one Blender worker for the shard
(:func:`vpt.render.executor.run_shard`): the task asks for a node's cores (``num_cpus``,
by default all the cores of the cluster's smallest node, so one task runs per node) and
the worker renders with that many threads; with ``device="gpu"`` it asks for one GPU
(``num_gpus=1``, Ray then sets ``CUDA_VISIBLE_DEVICES``) and the node's CPUs per GPU.
Results come back shard by shard as tasks finish (``ray.wait``), in completion order, as
from the local executor.

Files: every node writes into the output folder, which must be one shared filesystem
mounted at the same path everywhere (job paths are made absolute here). Each file is
written atomically by the worker; the scene JSON, written by this process when a shard's
results arrive, stays the completion marker, so an interrupted run resumes exactly as with
the local executor. Temporary files of dead processes are removed here, before and after
the run, never by the tasks (on a shared filesystem a process id seen from one node says
nothing about another node's files).

Failures: a node or Ray worker that dies mid-shard costs that shard only; Ray runs it again
(``max_retries``; Ray retries tasks whose worker died). The Blender worker of a killed Ray
worker is stopped with it (a parent-death signal) and removes its temporary files. A shard
still lost after its retries comes back as failed jobs (``ok: false``), which the dataset
records as rejected and the next run renders again. A Blender crash inside a live task is
reported for that job as with the local executor. A node that cannot render at all (no
``bpy``) stops the run with that node's message.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from vpt.errors import UserError
from vpt.render.executor import (
    DEFAULT_RECYCLE_EVERY,
    WorkerError,
    make_shards,
    remove_stale_temp,
    run_shard,
)
from vpt.render.jobs import RenderJob, RenderResult, failed_result
from vpt.render.presets import DEFAULT_PRESET, check_preset

DEFAULT_MAX_RETRIES = 3
CONNECT_TIMEOUT_S = 10.0
RAY_MISSING = "--executor ray needs Ray, which is not installed here: pip install 'vpt[cluster]'"

__all__ = ["DEFAULT_MAX_RETRIES", "connect", "cpus_per_task", "import_ray", "render_jobs_ray"]


def import_ray() -> Any:
    """``ray``, or a :class:`~vpt.errors.UserError` naming the install command."""
    try:
        import ray
    except ImportError as exc:
        raise UserError(RAY_MISSING) from exc
    return ray


def _host_port(address: str) -> tuple[str, int] | None:
    """(host, port) of a head address (``HOST:PORT`` or ``ray://HOST:PORT``); None for the
    names Ray resolves itself (``auto``, ``local``)."""
    if address in ("auto", "local"):
        return None
    rest = address.split("://", 1)[-1].rstrip("/")
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise UserError(f"--ray-address {address!r} is not HOST:PORT (e.g. 10.0.0.5:6379, the head node's "
                        f"address that `ray start --head` prints) nor ray://HOST:PORT")
    return host.strip("[]"), int(port)


def connect(address: str | None = None) -> bool:
    """Connect this process to Ray: to the cluster at ``address``, or without one to the
    cluster in ``RAY_ADDRESS`` or else a new local one. Returns whether a connection was made
    now (False: already connected). An unreachable address is a one-line error at once
    (Ray itself would wait for minutes)."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    opts: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
    if address:
        hp = _host_port(address)
        if hp is not None:
            try:
                socket.create_connection(hp, timeout=CONNECT_TIMEOUT_S).close()
            except OSError as exc:
                raise UserError(f"cannot reach a Ray cluster at {address} ({exc}); start one on the head node with "
                                f"`ray start --head --port {hp[1]}` or pass its address (HOST:PORT)") from exc
        opts["address"] = address
    elif not os.environ.get("RAY_ADDRESS"):
        opts["include_dashboard"] = False  # a new local cluster: no web dashboard
    try:
        ray.init(**opts)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = address or os.environ.get("RAY_ADDRESS") or "a new local cluster"
        if _caused_by(exc, "AuthenticationError", "InvalidAuthToken"):
            raise UserError(f"the Ray cluster at {where} wants its token: set RAY_AUTH_MODE=token and give the token "
                            f"(`ray get-auth-token` on the head) in RAY_AUTH_TOKEN or ~/.ray/auth_token") from exc
        raise UserError(f"cannot connect to Ray at {where}: {str(exc).strip().splitlines()[-1]}") from exc
    return True


def _caused_by(exc: BaseException | None, *names: str) -> bool:
    """Whether ``exc`` or an exception it came from is, or quotes, one of ``names`` (Ray
    wraps the GCS's authentication error into a RuntimeError's text)."""
    while exc is not None:
        if type(exc).__name__ in names or any(n in str(exc) for n in names):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _nodes(ray: Any) -> list[dict[str, float]]:
    return [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]


def cpus_per_task(resources: list[dict[str, float]], device: str = "cpu") -> int:
    """CPUs one shard asks for: all cores of the smallest node (CPU), or the smallest node's
    cores per GPU (GPU); ``resources`` are the nodes' resource dicts."""
    if device == "gpu":
        per = [int(r.get("CPU", 0) // r["GPU"]) for r in resources if r.get("GPU", 0) >= 1]
        if not per:
            raise UserError("--device gpu: no node of the Ray cluster has a GPU; use --device cpu")
        return max(1, min(per))
    per = [int(r["CPU"]) for r in resources if r.get("CPU", 0) >= 1]
    if not per:
        raise UserError("the Ray cluster has no CPUs yet; start a worker node (`ray start --address HEAD:PORT`)")
    return min(per)


def _slots(ray: Any, cpus: int, device: str) -> int:
    """How many shards the cluster can run at once now (at least 1)."""
    total = ray.cluster_resources()
    n = int(total.get("CPU", 0) // cpus)
    if device == "gpu":
        n = min(n, int(total.get("GPU", 0)))
    return max(1, n)


def _render_shard(shard: list[RenderJob], preset: str, device: str, recycle_every: int,
                  log_dir: str | None) -> list[RenderResult]:
    """A Ray task: render one shard in one Blender worker using the CPUs Ray gave it."""
    import ray

    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 0)
    threads = max(1, int(cpus)) if cpus else None
    name = f"ray-{socket.gethostname()}-{os.getpid()}"  # one log per Ray worker process
    return run_shard(shard, preset, device, threads=threads, recycle_every=recycle_every, log=log_dir,
                     log_name=name, clean_temp=False)


def render_jobs_ray(jobs: Iterable[RenderJob], preset: str = DEFAULT_PRESET, workers: int | None = None,
                    device: str = "cpu", recycle_every: int = DEFAULT_RECYCLE_EVERY,
                    progress: Callable[[RenderResult], None] | None = None, threads: int | None = None,
                    log_dir: str | os.PathLike | None = None, shard_size: int | None = None,
                    address: str | None = None, max_retries: int = DEFAULT_MAX_RETRIES) -> Iterator[RenderResult]:
    """Render jobs as Ray tasks, one shard each; yields one result per job as shards finish.

    The arguments are :func:`vpt.render.executor.render_jobs`'s; ``threads`` is the CPUs
    per task (default: :func:`cpus_per_task`), ``workers`` is not used (the cluster's size
    decides), ``address`` the cluster (see :func:`connect`). Closing the iterator (Ctrl-C)
    cancels every task still queued or running.
    """
    check_preset(preset)
    jobs = [{**j, "out_stem": str(Path(j["out_stem"]).resolve())} for j in jobs]  # the same path on every node
    if not jobs:
        return
    ray = import_ray()
    connect(address)
    cpus = int(threads) if threads else cpus_per_task(_nodes(ray), device)
    slots = _slots(ray, cpus, device)
    folders = {Path(j["out_stem"]).parent for j in jobs}
    remove_stale_temp(folders)
    shards = make_shards(jobs, shard_size or max(1, min(recycle_every, -(-len(jobs) // (4 * slots)))))
    task = ray.remote(_render_shard).options(
        num_cpus=cpus, num_gpus=1 if device == "gpu" else 0, max_retries=max_retries, retry_exceptions=False,
        name="vpt-render-shard")
    log = str(Path(log_dir).resolve()) if log_dir else None
    todo = list(reversed(shards))
    pending: dict[Any, list[RenderJob]] = {}
    refill_at = 0.0
    try:
        while todo or pending:
            if time.monotonic() >= refill_at:  # the cluster may grow or shrink while we render
                slots = _slots(ray, cpus, device)
                refill_at = time.monotonic() + 10.0
            while todo and len(pending) < 2 * slots:  # queue a little ahead, not the whole plan
                shard = todo.pop()
                pending[task.remote(shard, preset, device, recycle_every, log)] = shard
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=10.0)
            for ref in ready:
                shard = pending.pop(ref)
                try:
                    results = ray.get(ref)
                except ray.exceptions.RayTaskError as exc:  # raised inside the task
                    cause = getattr(exc, "cause", None)
                    if isinstance(cause, WorkerError):  # e.g. bpy missing on that node
                        raise UserError(f"a Ray node cannot render: {cause}") from exc
                    raise
                except ray.exceptions.RayError as exc:  # the worker or node died more often than retried
                    why = f"Ray task lost after {max_retries} retries: {type(exc).__name__}: {str(exc)[:300]}"
                    results = [failed_result(j, why) for j in shard]
                for res in results:
                    if progress is not None:
                        progress(res)
                    yield res
    finally:  # done, Ctrl-C, an error, or the caller closed the generator
        for ref in pending:
            try:
                ray.cancel(ref, force=True)  # kills its Ray worker; the Blender worker follows
            except Exception:  # noqa: BLE001 (already finished or gone)
                pass
        if not pending:
            remove_stale_temp(folders)
