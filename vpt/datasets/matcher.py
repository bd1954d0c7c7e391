"""The matcher of :func:`vpt.datasets.balance.fill`: histograms of the graded image cues'
bins per VPT label inside each (cell, depth) group, the hints that steer the sampler toward
the bins the other label fills, and the rule that admits a candidate while they match."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

Bins = tuple[int, int, int]


@dataclass
class Matcher:
    """Keeps the image cues of the two VPT labels matched inside each (cell, depth) group.

    Every accepted item has a signature, the bins of its graded image cues
    (:func:`vpt.scene.sampling.cue_bins`: segment coverage, facing angle in the image, turn).
    For each cue separately, an item whose label has fewer items than the other label in its
    bin *matches*; an item is admitted when, for every cue, it matches or the group holds
    fewer than ``slack`` unmatched items of that cue. So both labels end with the same
    histogram of every cue's bins, up to ``slack`` items per group and cue. A group that
    starves gets 2 more (``relax``), reported.
    """

    slack: int = 2
    hist: dict[tuple, dict[int, list[Counter]]] = field(default_factory=dict)
    extra: Counter = field(default_factory=Counter)
    _unmatched: dict[tuple, int] = field(default_factory=dict, repr=False, compare=False)  # (group, cue): count

    def _h(self, group: tuple) -> dict[int, list[Counter]]:
        h = self.hist.get(group)
        if h is None:
            h = self.hist[group] = {0: [Counter(), Counter(), Counter()], 1: [Counter(), Counter(), Counter()]}
        return h

    def unmatched(self, group: tuple, dim: int | None = None) -> int:
        if dim is None:
            return sum(self.unmatched(group, d) for d in range(3))
        got = self._unmatched.get((group, dim))
        if got is None:
            h0, h1 = self._h(group)[0][dim], self._h(group)[1][dim]
            got = self._unmatched[group, dim] = sum(abs(h0[b] - h1[b]) for b in set(h0) | set(h1))
        return got

    def admits(self, group: tuple, label: int, bins: Bins) -> bool:
        h = self._h(group)
        mine, other = h[label], h[1 - label]
        for d, b in enumerate(bins):
            if other[d][b] <= mine[d][b] and self.unmatched(group, d) >= self.slack + self.extra[group]:
                return False
        return True

    def add(self, group: tuple, label: int, bins: Bins, n: int = 1) -> None:
        h = self._h(group)[label]
        for d, b in enumerate(bins):
            h[d][b] += n
            self._unmatched.pop((group, d), None)

    def hint(self, group: tuple, label: int, k: int) -> tuple[int | None, ...] | None:
        """Per cue, a bin where the other label is ahead (the ``k``-th, cycling), or None."""
        wanted = self.wanted(group, label)
        out = tuple(w[k % len(w)] if w else None for w in wanted)
        return out if any(x is not None for x in out) else None

    def wanted(self, group: tuple, label: int) -> list[list[int]]:
        """Per cue, the bins where the other label is ahead, sorted (what :meth:`hint` cycles through)."""
        h = self._h(group)
        return [sorted(b for b in h[1 - label][d] if h[1 - label][d][b] > h[label][d][b]) for d in range(3)]

    def relax(self, group: tuple) -> str:
        self.extra[group] += 2
        return f"{group[0]} depth={group[1]}: up to {self.slack + self.extra[group]} unmatched items per cue"

    def total_unmatched(self) -> int:
        return sum(self.unmatched(g) for g in self.hist)
