"""Look-alike pairs: two scenes with the same image evidence and opposite labels.

The image-plane strategy (:mod:`vpt.scene.imageplane`) reads two graded values off the
picture: the 2D facing angle and the 2D coverage of the lens-ball segment. A VPT pair built
here keeps both (the angle within :data:`ANGLE_TOL_DEG`, the coverage within
:data:`COVER_TOL`) while the 3D answer flips, so across a set of pairs neither value carries
information about the label; a depth pair keeps the ball's and the viewer's image height and
size while the depth order flips. Three kinds, each solved from a base scene of a recipe
rather than waited for:

* **facing pairs** (:func:`~vpt.scene.conflict_raised.solve_facing_pair`): the ball raised on
  a stand and moved along the observer's view ray through one pixel, its radius scaled with
  its depth so that its image stays the same; the viewer is the same in both halves. Half
  ``a`` clearly in view, half ``b`` clearly out of view.
* **cover pairs** (:func:`~vpt.scene.conflict_cover.solve_cover_pair`): viewer and ball stay;
  half ``b`` puts an occluder across the 3D line of sight (``occluded``), half ``a`` moves it
  off the line of sight toward or away from the observer and solves its footprint and height
  so that it covers the same share of the image segment with about the same image area.
* **depth pairs** (:func:`~vpt.scene.conflict_raised.solve_depth_pair`): facing pairs
  whose two balls also lie on opposite sides of the viewer's depth, so that the depth label
  flips with the VPT label while the ball's and the viewer's image height and size stay the
  same; the visible half is the closer one in half of the pairs.

In every kind half ``a`` is visible and half ``b`` hidden, so every pair serves the VPT task;
a depth pair serves the depth task as well (:func:`tasks_of`).

A stand is an ordinary occluder (shape ``stand`` of the catalogue): labels, masks and renders
treat it like any other, and where it blocks the viewer's line of sight the label says so.
Every output is labelled by :func:`vpt.scene.labels.label_scenes` with the recipe's margins
and kept only when both halves carry the intended labels, a depth label, and pass the image
checks (ball and viewer at least ``min_observer_visible`` visible, sizes above the minimums):
no near misses, no partial balls. Deterministic for a seed: each base scene and each solve
draws from :func:`vpt.rng.stream` of ``(seed, index, purpose)``.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from vpt.rng import stream
from vpt.scene.conflict_cover import solve_cover_pair
from vpt.scene.conflict_floor import facing_candidates
from vpt.scene.conflict_parts import (ANGLE_TOL_DEG, COVER_TOL, KINDS, STAND, ConflictPair, auc, raised_ball,
                                      smd)
from vpt.scene.conflict_raised import solve_depth_pair, solve_facing_pair
from vpt.scene.labels import LabelConfig
from vpt.scene.sampling import Rejected, Target, sample_candidate
from vpt.scene.settings import SamplingSettings
from vpt.scene.spec import SceneSpec

__all__ = ["ANGLE_TOL_DEG", "COVER_TOL", "KINDS", "STAND", "ConflictPair", "SolveReport", "auc", "base_scene",
           "build_pairs", "cue_balance", "facing_candidates", "raised_ball", "smd",
           "solve_cover_pair", "solve_depth_pair", "solve_facing_pair", "tasks_of"]

SPLIT = "conflict"

# ---------------------------------------------------------------------------------------------
# base scenes


def base_scene(cfg: SamplingSettings, recipe: str, index: int, shapes: Sequence[str], catalogue: dict[str, Any],
               vpt: int = 1) -> SceneSpec:
    """Candidate ``index`` of the recipe's sampler in the ``conflict`` split's streams, aimed
    at a random cell with VPT label ``vpt`` (raises :class:`~vpt.scene.sampling.Rejected`)."""
    rng = stream(cfg.seed, index, f"{recipe}/{SPLIT}/target")
    side, facing = ("left", "right")[int(rng.integers(2))], ("left", "right")[int(rng.integers(2))]
    depth = int(rng.integers(2))
    target = Target(vpt=vpt, reason=None if vpt else "out_of_view", overlap=False, side=side, facing=facing, depth=depth)
    return sample_candidate(recipe, cfg, SPLIT, index, target, list(shapes), catalogue)


# ---------------------------------------------------------------------------------------------
# sets of pairs and what the image-plane cues say about them


@dataclass
class SolveReport:
    attempts: dict[str, int] = field(default_factory=lambda: {k: 0 for k in KINDS})
    successes: dict[str, int] = field(default_factory=lambda: {k: 0 for k in KINDS})
    no_base: int = 0
    why: Counter = field(default_factory=Counter)  # why solving failed, per stage and reason

    def rate(self, kind: str) -> float:
        return self.successes[kind] / self.attempts[kind] if self.attempts[kind] else math.nan


def build_pairs(cfg: SamplingSettings, labels: LabelConfig, recipe: str, shapes: Sequence[str], catalogue: dict[str, Any],
                n_pairs: int, start: int = 0, max_attempts: int | None = None,
                kinds: Sequence[str] = ("facing", "cover"), nearer_first: bool | None = None
                ) -> tuple[list[ConflictPair], SolveReport]:
    """``n_pairs`` pairs of the given ``kinds`` (by default facing and cover pairs; add
    ``"depth"`` for depth pairs), in turn, from base scenes ``start``, ``start + 1``, ... of
    the recipe's sampler; base ``i`` is tried once, for kind ``kinds[i % len(kinds)]``
    (until that kind has its share, ``n_pairs / len(kinds)`` rounded so the shares add up),
    so the report's success rates are per random base scene.

    Facing and depth pairs come in two orders (the visible ball nearer the observer than the
    hidden one, or farther); each asks for the order it has fewer of, and at a tie for
    ``nearer_first`` (None: a coin per base). A coin favours the order that is easier to
    solve, so a set planned in jobs passes ``nearer_first`` alternating from job to job
    (:mod:`vpt.datasets.conflict_set`): the orders then balance across the set."""
    kinds = tuple(kinds)
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds or len(set(kinds)) != len(kinds):
        raise ValueError(f"kinds must be distinct names from {KINDS}, got {list(kinds)}")
    pairs: list[ConflictPair] = []
    rep = SolveReport()
    index = start
    limit = max_attempts if max_attempts is not None else 40 * n_pairs + 20
    want = {k: n_pairs // len(kinds) + (i < n_pairs % len(kinds)) for i, k in enumerate(kinds)}
    have = {k: 0 for k in kinds}
    nearer: Counter = Counter()  # (kind, visible ball nearer the observer) -> pairs
    while len(pairs) < n_pairs and index < start + limit:
        kind = kinds[(index - start) % len(kinds)]
        if have[kind] >= want[kind]:
            index += 1
            continue
        rng = stream(cfg.seed, index, f"{recipe}/{SPLIT}/solve")
        try:
            base = base_scene(cfg, recipe, index, shapes, catalogue, vpt=int(rng.integers(2)) if kind != "cover" else 1)
        except Rejected:
            rep.no_base += 1
            index += 1
            continue
        rep.attempts[kind] += 1
        if kind == "cover":
            pair = solve_cover_pair(base, cfg, labels, shapes, catalogue, rng, why=rep.why)
        else:  # ask for the order of the halves in depth that the kind has fewer of
            ask = nearer_first if nearer[kind, True] == nearer[kind, False] else nearer[kind, True] < nearer[kind, False]
            solve = solve_facing_pair if kind == "facing" else solve_depth_pair
            pair = solve(base, cfg, labels, rng, why=rep.why, visible_nearer=ask)
            if pair is not None:
                nearer[kind, pair.detail["visible_nearer"]] += 1
        if pair is not None:
            rep.successes[kind] += 1
            have[kind] += 1
            pairs.append(pair)
        index += 1
    return pairs, rep


GROUPS = ("all", "facing", "cover", "depth", "depth order")
TASKS = {"facing": ("vpt",), "cover": ("vpt",), "depth": ("vpt", "depth")}


def tasks_of(kind: str) -> tuple[str, ...]:
    """The tasks a pair of ``kind`` serves: every kind the VPT task (its halves have opposite
    VPT labels and the same image-plane values); only depth pairs the depth task (only there
    do image height and size leave the depth order open: in a facing or cover pair the depth
    label is read off the picture as on any floor)."""
    return TASKS[kind]


def cue_balance(pairs: Sequence[ConflictPair], cues: dict[str, tuple[np.ndarray, np.ndarray]] | None = None
                ) -> list[dict[str, Any]]:
    """AUC and SMD of the 2D facing angle and the 2D coverage (and of any extra ``cues``: name
    -> (values of the ``a`` halves, values of the ``b`` halves)) against each half's label:
    the VPT label over all pairs (``all``) and per kind (``facing`` and ``depth``: visible vs
    out of view; ``cover``: visible vs occluded), and the depth label over the depth pairs
    (``depth order``: ball closer vs viewer closer). Each row names its ``label``."""
    kinds = np.array([p.kind for p in pairs])
    d_a = np.array([p.labels_a.depth_label if p.labels_a.depth_label is not None else -1 for p in pairs])
    d_b = np.array([p.labels_b.depth_label if p.labels_b.depth_label is not None else -1 for p in pairs])
    table = {"angle_2d": (np.array([p.angle_a for p in pairs]), np.array([p.angle_b for p in pairs])),
             "coverage_2d": (np.array([p.cover_a for p in pairs]), np.array([p.cover_b for p in pairs]))}
    table.update(cues or {})
    rows = []
    for name, (va, vb) in table.items():
        for group in GROUPS:
            sel = np.ones(len(pairs), bool) if group == "all" else kinds == ("depth" if group == "depth order" else group)
            if not sel.any():
                continue
            vals = np.concatenate([np.asarray(va, float)[sel], np.asarray(vb, float)[sel]])
            if group == "depth order":
                y = np.r_[d_a[sel], d_b[sel]]
            else:
                y = np.r_[np.ones(sel.sum(), int), np.zeros(sel.sum(), int)]
            fin = np.isfinite(vals) & (y >= 0)
            rows.append({"cue": name, "group": group, "label": "depth" if group == "depth order" else "vpt",
                         "n_pairs": int(sel.sum()), "auc": auc(vals[fin], y[fin]), "smd": smd(vals[fin], y[fin])})
    return rows
