"""The records that travel between a planned dataset and the Blender workers: a
:class:`RenderJob` in, a :class:`RenderResult` out.

They are ``TypedDict`` s, not dataclasses, on purpose: a job *is* the wire format. It is
written as one JSON line to a worker's stdin (:mod:`vpt.render.worker`), pickled into a Ray
task (:mod:`vpt.render.ray_executor`) and rebuilt from JSON there; a result is parsed from the
worker's JSON line and carries open-ended nested parts (Blender's settings, the ray cast).
A ``TypedDict`` declares every key for readers and type checkers while the values stay
plain dicts at no conversion cost, so the bytes on the wire and the files written do not
change, and callers that build jobs by hand (benchmarks, tests) keep working.
``RenderJob(scene_id=..., spec=..., ...)`` builds one (a plain dict).

Plain Python: importing this module loads neither Blender nor Ray.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

__all__ = ["FileRecord", "RenderJob", "RenderResult", "failed_result"]


class RenderJob(TypedDict):
    """One scene to render.

    ``spec`` is :func:`vpt.scene.spec.to_dict` of the scene; the files are written next to
    ``out_stem`` (``<stem>.png``, ``<stem>_mask.png``, ``<stem>_depth.npy`` with ``depth``).
    ``analytic_fraction``: the planned visible fraction of the ball from the viewer, checked
    against the ray cast (None: no check). ``raycast: False`` skips the viewer ray cast (e.g.
    a second render of the same scene at another resolution); ``role`` (``model``,
    ``human``) is echoed in the result; ``preset`` and ``overrides`` change the worker's
    preset for this job (benchmarks only)."""

    scene_id: str
    spec: dict[str, Any]
    out_stem: str
    analytic_fraction: float | None
    depth: bool
    raycast: NotRequired[bool]
    role: NotRequired[str]
    preset: NotRequired[str]
    overrides: NotRequired[dict[str, Any]]


class FileRecord(TypedDict):
    """A written file: its path and the sha256 of its bytes."""

    path: str
    sha256: str


class RenderResult(TypedDict):
    """What a worker returns for a job (:func:`vpt.render.worker.run_job`).

    ``ok`` is false with a ``reason`` when the ray-cast visible fraction disagrees with the
    job's ``analytic_fraction`` by more than ``tolerance`` (:data:`FRACTION_TOLERANCE
    <vpt.render.worker.FRACTION_TOLERANCE>` = 0.05), or on an error (then with its
    ``traceback``; a crashed worker or a lost Ray task gives only ``scene_id``, ``role``,
    ``ok``, ``reason``, ``timings`` and maybe ``pid``). ``files``: ``image``, ``mask``,
    ``depth``; ``settings``: every render setting; ``timings``: build, raycast, render, write,
    total (seconds); ``raycast``: :func:`~vpt.render.raycast.raycast_viewer_visibility` (None
    when the job skipped it); ``observer``: ball and viewer pixel counts in the mask
    (:func:`~vpt.render.raycast.observer_pixel_counts`); ``pid`` and ``rss_mb`` of the worker."""

    scene_id: str | None
    ok: bool
    reason: str | None
    timings: dict[str, float]
    role: NotRequired[str | None]
    files: NotRequired[dict[str, FileRecord]]
    settings: NotRequired[dict[str, Any]]
    raycast: NotRequired[dict[str, Any] | None]
    observer: NotRequired[dict[str, Any]]
    analytic_fraction: NotRequired[float | None]
    tolerance: NotRequired[float]
    traceback: NotRequired[str]
    pid: NotRequired[int]
    rss_mb: NotRequired[float]


def failed_result(job: RenderJob | dict[str, Any], reason: str, **extra: Any) -> RenderResult:
    """The result of a job that never came back from its worker (a crash, a lost task)."""
    return RenderResult(scene_id=job.get("scene_id"), role=job.get("role"), ok=False, reason=reason, timings={},
                        **extra)
