"""A batch of candidate layouts as arrays, and the draws they are made from.

See :mod:`vpt.scene.candidates` (how a batch is drawn) and :mod:`vpt.scene.placement` (its
occluders). Only the candidates that survive the steering labels
(:mod:`vpt.scene.fastlabels`) become :class:`~vpt.scene.spec.SceneSpec` objects
(:meth:`CandidateBatch.spec`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from vpt.rng import stream
from vpt.scene import geometry as geo
from vpt.scene.spec import VIEWER_GEOMETRY, BallSpec, ObserverSpec, OccluderSpec, SceneSpec, ViewerSpec

GENERATOR_VERSION = 2
BLOCK = 64  # candidates per random stream
BALL_TRIES = 32  # ball proposals per candidate (three times as many with an angle hint)
OCC_TRIES = 8  # placements tried per occluder
_OCC_COLS = 8  # uniforms per placement try

# occluder placement modes (see vpt.scene.sampling.place_occluders)
MODES = (None, "on_line", "on_line_near", "on_line_far", "in_front", "under", "near_line")
_ON_LINE_T = {1: (0.2, 0.65), 2: (0.2, 0.42), 3: (0.42, 0.7)}
_OCC_FIRST = {None: 1, 0: 3, 1: 3, 2: 1, 3: 2}  # cover hint -> on_line mode for occluded targets
_OVERLAP_OPTIONS = {None: (6, 4, 5), 0: (6, 6, 5), 1: (5, 4, 4), 2: (4, 4, 5), 3: (4,)}

REJECT_UNDER = "the line of sight is too low for an occluder under it"
REJECT_ROOM = "no room for the occluders"
REJECT_AREA = "viewer.area_x has no room on the needed side of the scene"


class _Columns:
    """Hands out consecutive columns of the uniform draws (a fixed layout per recipe)."""

    def __init__(self, u: np.ndarray) -> None:
        self.u, self.at = u, 0

    def take(self, n: int = 1) -> np.ndarray:
        out = self.u[:, self.at:self.at + n]
        self.at += n
        return out[:, 0] if n == 1 else out


def n_columns(n_occ: int) -> int:
    return 5 + 10 + 4 * 3 * BALL_TRIES + 2 + max(1, n_occ) * (1 + OCC_TRIES * _OCC_COLS)


def uniforms(seed: int, purpose: str, indices: np.ndarray, n_cols: int) -> np.ndarray:
    """Rows of uniform draws in [0, 1) for candidate ``indices`` (see the module docstring)."""
    out = np.empty((len(indices), n_cols))
    if len(indices) and np.array_equal(indices, np.arange(indices[0], indices[0] + len(indices))):
        first = int(indices[0])  # consecutive indices (the planner's case): copy block slices
        for b in range(first // BLOCK, (first + len(indices) - 1) // BLOCK + 1):
            lo, hi = max(first, b * BLOCK), min(first + len(indices), (b + 1) * BLOCK)
            if hi - lo == BLOCK:  # a whole block: drawn in place (the same draws, no copy)
                stream(seed, b, purpose).random(out=out[lo - first:hi - first])
                continue
            rows = stream(seed, b, purpose).random((BLOCK, n_cols))
            out[lo - first:hi - first] = rows[lo - b * BLOCK:hi - b * BLOCK]
        return out
    blocks = indices // BLOCK
    for b in np.unique(blocks):
        sel = np.flatnonzero(blocks == b)
        rows = stream(seed, int(b), purpose).random((BLOCK, n_cols))
        out[sel] = rows[indices[sel] - b * BLOCK]
    return out


def _span(u: np.ndarray, bounds: Sequence[float]) -> np.ndarray:
    lo, hi = float(bounds[0]), float(bounds[1])
    return np.full(u.shape, lo) if lo == hi else lo + (hi - lo) * u


def _pick(u: np.ndarray, n: int) -> np.ndarray:
    return np.minimum((u * n).astype(int), n - 1)


def camera_bases(forward: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(forward, right, up) (N, 3) each for cameras without roll (:func:`vpt.scene.spec.camera_basis`)."""
    f = forward / np.sqrt(np.sum(forward * forward, axis=1))[:, None]
    rx, ry = f[:, 1], -f[:, 0]
    rn = np.hypot(rx, ry)
    flat = rn < 1e-9
    rx, ry, rn = np.where(flat, 1.0, rx), np.where(flat, 0.0, ry), np.where(flat, 1.0, rn)
    rx, ry = rx / rn, ry / rn
    right = np.stack([rx, ry, np.zeros_like(rx)], 1)
    up = np.stack([ry * f[:, 2], -rx * f[:, 2], rx * f[:, 1] - ry * f[:, 0]], 1)
    return f, right, up


@dataclass
class CandidateBatch:
    """N candidate layouts as arrays; ``reason[i]`` is why candidate i could not be built
    (empty when it was). Occluders are padded to K slots (``occ_valid``)."""

    recipe: str
    split: str
    seed: int
    index: np.ndarray  # (N,)
    reason: np.ndarray  # (N,) object: "" or a rejection reason
    obs_pos: np.ndarray  # (N, 3)
    obs_look: np.ndarray
    obs_hfov: np.ndarray  # (N,) degrees
    width: int
    height: int
    model: np.ndarray  # (N,) index into models
    models: tuple[str, ...]
    v_pos: np.ndarray  # (N, 3)
    yaw: np.ndarray  # (N,) degrees
    pitch: np.ndarray
    v_hfov: np.ndarray
    v_vfov: np.ndarray
    v_scale: np.ndarray
    forward: np.ndarray  # (N, 3)
    eye: np.ndarray  # (N, 3)
    b_pos: np.ndarray  # (N, 3)
    b_r: np.ndarray  # (N,)
    shapes: tuple[str, ...]
    occ_valid: np.ndarray  # (N, K) bool
    occ_shape: np.ndarray  # (N, K) index into shapes
    occ_kind: np.ndarray  # (N, K) geometry kind code
    occ_pos: np.ndarray  # (N, K, 3)
    occ_size: np.ndarray  # (N, K, 3)
    occ_yaw: np.ndarray  # (N, K) degrees

    def __len__(self) -> int:
        return len(self.index)

    @property
    def built(self) -> np.ndarray:
        return self.reason == ""

    def rejections(self) -> Counter:
        return Counter(str(r) for r in self.reason if r)

    def geom(self, key: str) -> np.ndarray:
        """A viewer dimension of :data:`vpt.scene.spec.VIEWER_GEOMETRY` per candidate (scaled)."""
        table = np.array([VIEWER_GEOMETRY[m][key] for m in self.models])
        return table[self.model] * self.v_scale

    def spec(self, i: int) -> SceneSpec:
        """Candidate ``i`` as a scene spec (no appearance yet: see :func:`vpt.scene.sampling.dress`)."""
        obs = ObserverSpec(position=_t(self.obs_pos[i]), look_at=_t(self.obs_look[i]), hfov_deg=float(self.obs_hfov[i]),
                           width=self.width, height=self.height)
        viewer = ViewerSpec(model=self.models[self.model[i]], position=_t(self.v_pos[i]), yaw_deg=float(self.yaw[i]),
                            pitch_deg=float(self.pitch[i]), hfov_deg=float(self.v_hfov[i]),
                            vfov_deg=float(self.v_vfov[i]), scale=float(self.v_scale[i]))
        ball = BallSpec(position=_t(self.b_pos[i]), radius=float(self.b_r[i]))
        occ = tuple(OccluderSpec(id=k, shape=self.shapes[self.occ_shape[i, k]], primitive=_PRIMS[self.occ_kind[i, k]],
                                 position=_t(self.occ_pos[i, k]), size=_t(self.occ_size[i, k]),
                                 yaw_deg=float(self.occ_yaw[i, k]), material="")
                    for k in range(self.occ_valid.shape[1]) if self.occ_valid[i, k])
        index = int(self.index[i])
        return SceneSpec(scene_id=f"{self.recipe}-{self.split}-{index:06d}", recipe=self.recipe, split=self.split,
                         seed=self.seed, index=index, observer=obs, viewer=viewer, ball=ball, occluders=occ)


_PRIMS = {geo.BOX: "box", geo.CYLINDER: "cylinder", geo.SPHERE: "sphere"}


def _t(v: np.ndarray) -> tuple[float, float, float]:
    return (float(v[0]), float(v[1]), float(v[2]))


