"""What a candidate is aimed at, and the bins of the image cues the matching equalises.

The pieces of :mod:`vpt.scene.sampling` that the batched sampler (:mod:`vpt.scene.candidates`)
shares with it; ``vpt.scene.sampling`` re-exports them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    """The counterbalancing cell a candidate is aimed at (see ``vpt.datasets.balance``)."""

    vpt: int
    reason: str | None  # "occluded" | "out_of_view" for vpt 0
    overlap: bool
    side: str  # "left" | "right": ball relative to the viewer in the image
    facing: str  # "left" | "right": viewer's facing in the image
    depth: int  # 1 = ball closer to the observer
    # the image-cue bins (coverage, 2D facing angle, turn) wanted by the matching of
    # ``vpt.datasets.balance``, or None for any; they only steer where things are placed
    hint: tuple[int | None, int | None, int | None] | None = None


# Bins of the graded image cues that the sampler matches between the VPT labels inside each
# counterbalancing cell (``vpt.datasets.balance``): the share of the viewer-ball image
# segment that occluders cover (overlap cells only), the angle in the image between the
# viewer's facing and the direction from its lens to the ball, and how far the viewer is
# turned from side-on toward or away from the observer.
COVER_EDGES = (0.3, 0.55, 0.75)
ANGLE_EDGES = (30.0, 60.0, 90.0)
TURN_EDGES = (36.0,)

# How the ball's angle from the viewer's facing is drawn (see :mod:`vpt.scene.sampling`). In view:
# |angle| = limit * u ** IN_VIEW_EDGE_POWER with u uniform, so its density rises toward the
# limit (power 1 would be uniform); the limit is IN_VIEW_REACH of the largest angle the labels
# accept. Out of view: OUT_VIEW_CLEARANCE degrees beyond the smallest angle the labels accept,
# then span * u ** OUT_VIEW_EDGE_POWER, so its density falls away from the edge. Measured on
# train and test pools at 4 times the default size (2026-12-03): the facing angle as a single
# cue fell from 58.5 % to 55.7 % after matched selection, the combined cues unchanged.
IN_VIEW_EDGE_POWER = 0.5
IN_VIEW_REACH = 0.98
OUT_VIEW_EDGE_POWER = 2.0
OUT_VIEW_CLEARANCE = 1.0


def bin_of(value: float, edges: tuple[float, ...]) -> int:
    return int(sum(value > e for e in edges))


def viewer_x_sign(target: Target) -> int:
    """Which half of the image the viewer should stand in, or 0 for either.

    When the ball must appear on the side the viewer faces away from (in the image), only
    perspective can put it there: the ball moves along the viewer's line of sight toward or
    away from the observer, and its image shifts toward or away from the image centre. That
    works on one side of the image only, fixed by the facing and the depth order. The choice
    depends on (side, facing, depth) and never on the VPT label, so within a cell the viewer's
    position says nothing about visibility.
    """
    if target.side == target.facing:
        return 0
    return 1 if (target.facing == "right") == (target.depth == 0) else -1
