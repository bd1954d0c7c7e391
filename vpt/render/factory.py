"""Pick the render executor by name: ``vpt scenes --executor local|ray``.

The two executors sit side by side below this module: :mod:`vpt.render.executor` (local
Blender worker processes) and :mod:`vpt.render.ray_executor` (the same shards as Ray tasks,
built on the local executor's :func:`~vpt.render.executor.run_shard`). Neither imports this
module, so the import graph stays a tree: factory -> ray_executor -> executor.

Importing this module loads neither Blender nor Ray (the Ray executor is imported when
chosen).
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Iterator

from vpt.errors import UserError
from vpt.render.executor import render_jobs

EXECUTORS = ("local", "ray")

__all__ = ["EXECUTORS", "make_executor"]


def make_executor(kind: str = "local", ray_address: str | None = None) -> Callable[..., Iterator[dict[str, Any]]]:
    """A function with :func:`~vpt.render.executor.render_jobs`'s arguments that renders on
    the named executor. For ``ray`` it checks now that Ray is installed and connects to the
    cluster (a local one when ``ray_address`` is None), so a wrong setup fails before any
    planning."""
    if kind == "local":
        if ray_address:
            raise UserError("--ray-address needs --executor ray")
        return render_jobs
    if kind == "ray":
        from vpt.render import ray_executor

        ray_executor.connect(ray_address)
        return functools.partial(ray_executor.render_jobs_ray, address=ray_address)
    raise ValueError(f"unknown executor {kind!r}; choose one of {', '.join(EXECUTORS)}")
