"""Counterbalancing: fill every cell of a split to its quota by bounded rejection sampling.

A *cell* is (ball left/right of the viewer in the image) x (viewer facing left/right in the
image) x (an occluder overlaps the 2D segment viewer -> ball, yes/no). Inside each cell the
VPT label is 50/50 and crossed 50/50 with the depth label, so the 2x2 of (VPT, depth) is
balanced overall and within every cell. Hidden reasons: occlusion forces the overlap cue, so
hidden items in "no overlap" cells are out of view, and ``occluded_share`` of all hidden
items (at most 0.5) are occluded, all of them in "overlap" cells. The overlap flag is what the
image shows: occluder pixels on the 2D segment from the viewer to the ball.

Balancing binary flags is not enough: a graded cue (how much of that segment occluders
cover, the angle in the image between the viewer's facing and the ball, how far the viewer
is turned) can still differ between the labels inside a cell. :class:`Matcher` keeps the
histograms of those cues' bins equal between the VPT labels in every (cell, depth) group,
up to a small slack that grows, reported in the card, where a group starves.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable

from tqdm import tqdm

from vpt.datasets.matcher import Bins, Matcher  # noqa: F401 (Matcher re-exported)
from vpt.errors import UserError
from vpt.scene.labels import LabelConfig, SceneLabels, label_scenes
from vpt.scene.sampling import Rejected, Target, cue_bins
from vpt.scene.spec import SceneSpec

if TYPE_CHECKING:
    from vpt.datasets.recipe import Recipe

SIDES = ("left", "right")
CELLS = [(s, f, o) for s in SIDES for f in SIDES for o in (False, True)]
COMBOS = [(1, 1), (0, 0), (1, 0), (0, 1)]  # (vpt, depth), ordered so any 4 consecutive strata cross 2x2


class SamplingError(UserError):
    """Rejection sampling hit its bound; the message lists the rejection reasons and counts."""


@dataclass(frozen=True)
class Stratum:
    side: str
    facing: str
    overlap: bool
    vpt: int
    reason: str | None
    depth: int

    @property
    def cell(self) -> str:
        return f"ball-{self.side}/facing-{self.facing}/overlap-{'yes' if self.overlap else 'no'}"

    def target(self) -> Target:
        return Target(self.vpt, self.reason, self.overlap, self.side, self.facing, self.depth)


def stratum_order() -> list[tuple[tuple[str, str, bool], tuple[int, int]]]:
    """All 32 (cell, (vpt, depth)) pairs; every run of 4 consecutive pairs crosses the 2x2."""
    return [(CELLS[(r + 2 * k) % 8], COMBOS[k]) for r in range(8) for k in range(4)]


def spread(total: int, n: int) -> list[int]:
    """``total`` split into ``n`` near-equal integers, the larger ones first."""
    return [total // n + (1 if i < total % n else 0) for i in range(n)]


def away_open(cell: tuple[str, str, bool]) -> bool:
    """A cell in which the ball lies on the side the viewer faces away from, in the image,
    and no occluder covers the viewer-ball segment: a hidden ball there is behind the viewer
    (out of view), a visible one is in front of it only through strong perspective."""
    side, facing, overlap = cell
    return side != facing and not overlap


def cell_sizes(n_items: int, away_open_weight: float = 1.0) -> list[int]:
    """Items per stratum of :func:`stratum_order` for a split of ``n_items``: equal cells, or
    the :func:`away_open` cells at ``away_open_weight`` times the others' size. Each cell's
    items are spread over its four (VPT, depth) strata, so labels stay crossed in every cell."""
    order = stratum_order()
    if away_open_weight == 1.0:
        return spread(n_items, len(order))
    w = {c: (away_open_weight if away_open(c) else 1.0) for c in CELLS}
    units, rest = divmod(n_items, 4)  # whole 2x2 crossings first
    exact = {c: units * w[c] / sum(w.values()) for c in CELLS}
    size = {c: int(math.floor(exact[c])) for c in CELLS}
    for c in sorted(CELLS, key=lambda c: (size[c] - exact[c], CELLS.index(c)))[:units - sum(size.values())]:
        size[c] += 1  # largest remainders first
    per = {c: [size[c]] * 4 for c in CELLS}
    for i in range(rest):  # the last items cross the 2x2 too: one per cell, each another combination
        per[CELLS[i]][i] += 1
    return [per[cell][COMBOS.index(combo)] for cell, combo in order]


def quotas(n_items: int, occluded_share: float, away_open_weight: float = 1.0) -> dict[Stratum, int]:
    """Items per stratum for a split of ``n_items`` (see :func:`cell_sizes`). Hidden items are
    out of view in the cells without overlap and occluded in the others, except that, to keep
    ``occluded_share`` of all hidden items occluded, some hidden items in overlap cells are out
    of view (the occluder then covers the segment in the image only)."""
    order, sizes = stratum_order(), cell_sizes(n_items, away_open_weight)
    hidden_overlap = [i for i, ((_, _, overlap), (vpt, _)) in enumerate(order) if overlap and vpt == 0]
    n_occ = {}
    if away_open_weight == 1.0:  # equal cells: half the hidden items sit in overlap cells
        n_occ = {i: int(round(sizes[i] * min(1.0, 2.0 * occluded_share))) for i in hidden_overlap}
    else:
        n_hidden = sum(k for ((_, _, _), (vpt, _)), k in zip(order, sizes) if vpt == 0)
        room = sum(sizes[i] for i in hidden_overlap)
        target = min(room, int(round(occluded_share * n_hidden)))
        exact = {i: sizes[i] * target / room if room else 0.0 for i in hidden_overlap}
        n_occ = {i: int(math.floor(exact[i])) for i in hidden_overlap}
        for i in sorted(hidden_overlap, key=lambda i: (n_occ[i] - exact[i], i))[:target - sum(n_occ.values())]:
            n_occ[i] += 1
    out: Counter[Stratum] = Counter()
    for i, (((side, facing, overlap), (vpt, depth)), k) in enumerate(zip(order, sizes)):
        if vpt == 1:
            out[Stratum(side, facing, overlap, 1, None, depth)] += k
        elif not overlap:
            out[Stratum(side, facing, overlap, 0, "out_of_view", depth)] += k
        else:
            if n_occ[i]:
                out[Stratum(side, facing, overlap, 0, "occluded", depth)] += n_occ[i]
            if k - n_occ[i]:
                out[Stratum(side, facing, overlap, 0, "out_of_view", depth)] += k - n_occ[i]
    return dict(out)


def stratum_of(lab: SceneLabels) -> tuple[Stratum | None, list[str]]:
    """The stratum a labelled candidate falls in, or None with the reasons it is unusable."""
    why = list(lab.observer_problems)
    if lab.vpt_label is None:
        why.append("ball partly visible to the viewer (ambiguous)")
    if lab.depth_label is None:
        why.append("depth gap below the minimum")
    if why:
        return None, why
    return Stratum(lab.ball_side, lab.viewer_facing, lab.occluder_overlaps_segment, lab.vpt_label,
                   lab.hidden_reason, lab.depth_label), []


def _group(st: Stratum) -> tuple:
    return (st.cell, st.depth)


def _target(st: Stratum, matcher: Matcher, k: int) -> Target:
    return _aim(st, matcher.wanted(_group(st), st.vpt), k)


def _aim(st: Stratum, wanted: list[list[int]], k: int) -> Target:
    """``st``'s target with the ``k``-th hint of the matcher's wanted bins (see :meth:`Matcher.hint`)."""
    h = tuple(w[k % len(w)] if w else None for w in wanted)
    if all(x is None for x in h):
        return st.target()
    return Target(st.vpt, st.reason, st.overlap, st.side, st.facing, st.depth,
                  (h[0] if h[0] is not None and h[0] >= 0 else None, h[1], h[2]))


def _aims(st: Stratum, wanted: list[list[int]]) -> Callable[[int], Target]:
    """``j -> _aim(st, wanted, j)``, one object per distinct target (the hints cycle with
    the least common multiple of the wanted lists' lengths)."""
    period = math.lcm(*(len(w) for w in wanted if w))
    cycle = [_aim(st, wanted, j) for j in range(period)]
    return lambda j: cycle[j % period]


@dataclass
class Accepted:
    spec: SceneSpec
    labels: SceneLabels
    stratum: Stratum
    recorded: bool = True  # labelled at the recorded ray count (else at the steering count, for now)


@dataclass
class FillReport:
    split: str
    candidates: int = 0
    accepted: int = 0
    rejections: Counter = field(default_factory=Counter)
    depth_swaps: list[str] = field(default_factory=list)
    relaxed: list[str] = field(default_factory=list)
    unmatched: int | None = 0  # None: chosen by matched selection (see notes), not by bins
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        rate = self.accepted / max(self.candidates, 1)
        head = f"{self.split}: {self.accepted} accepted of {self.candidates} candidates ({rate:.1%})"
        if self.unmatched is not None:
            head += f"; {self.unmatched} unmatched image-cue bins between the VPT labels"
        out = [head] + [f"  rejected {n:6d}  {why}" for why, n in self.rejections.most_common()]
        return (out + [f"  depth quota moved: {s}" for s in self.depth_swaps]
                + [f"  matching relaxed: {s}" for s in self.relaxed] + self.notes)


def _swap_depth(need: Counter, starving: Stratum, dry: Counter | None = None,
                starve_after: float = float("inf")) -> str | None:
    """Move one unit of ``starving``'s quota to its other-depth sibling in the same cell, and
    one unit the other way in another cell with the same VPT label and hidden reason. The VPT
    label stays 50/50 in every cell and the (VPT, depth) 2x2 stays balanced overall; only the
    depth split inside two cells shifts by one item each. The donor is the eligible stratum
    that succeeded most recently (fewest candidates since its last success, ``dry``); a
    quota never moves to a stratum that is starving itself (``starve_after`` candidates
    without success). Returns a description, or None when no donor qualifies."""
    dry = dry or Counter()
    sibling = replace(starving, depth=1 - starving.depth)
    for donor in sorted(need, key=lambda s: (dry[replace(s, depth=starving.depth)], -need[s], str(s))):
        receiver = replace(donor, depth=starving.depth)
        if (donor.vpt, donor.reason, donor.depth) == (starving.vpt, starving.reason, sibling.depth) \
                and donor.cell != starving.cell and need[donor] > 0 and dry[receiver] < starve_after:
            need[starving] -= 1
            need[sibling] += 1
            need[donor] -= 1
            need[receiver] += 1
            return (f"vpt={starving.vpt} depth={starving.depth} from {starving.cell} to {donor.cell} "
                    f"(none found after many candidates)")
    return None


@dataclass(frozen=True)
class FillSettings:
    """How :func:`fill` and :func:`fill_matched` sample, from a recipe's ``labels:`` and
    ``balance:`` sections (:meth:`from_recipe`).

    ``labels``: the thresholds; accepted candidates are labelled at ``labels.n_rays`` (the
    numbers recorded), candidates in batches of ``batch_size`` with ``steer_rays`` rays.
    ``max_candidates_per_item`` bounds the candidates per item of quota. A stratum that
    ``starve_after`` candidates aimed at it have not hit gives quota to its other-depth
    sibling; after ``relax_after`` candidates without success its matching group gets more
    slack. ``pool``: how many times its quota :func:`fill_matched` samples before keeping the
    matched subset (:func:`fill` ignores it). ``progress``: show a progress bar."""

    labels: LabelConfig
    steer_rays: int
    batch_size: int
    max_candidates_per_item: int
    pool: float = 1.0
    starve_after: float = 1500
    relax_after: int = 600
    progress: bool = True

    @classmethod
    def from_recipe(cls, recipe: Recipe, progress: bool = True) -> "FillSettings":
        """The settings a validated :class:`~vpt.datasets.recipe.Recipe` (binary) asks for."""
        bal = recipe.config["balance"]
        return cls(recipe.labels, recipe.config["labels"]["steer_rays"], bal["batch_size"],
                   bal["max_candidates_per_item"], bal["pool"], progress=progress)


def _key(st: Stratum) -> tuple[int, int, int, int, int, int]:
    return (int(st.side == "right"), int(st.facing == "right"), int(st.overlap), st.vpt, int(st.reason == "occluded"),
            st.depth)


def _from_key(k: tuple[int, ...]) -> Stratum:
    return Stratum(SIDES[k[0]], SIDES[k[1]], bool(k[2]), k[3], None if k[3] else ("occluded" if k[4] else "out_of_view"),
                   k[5])


def _steered(make: Any, start: int, aimed: list[Target], steer: LabelConfig, quota: dict[Stratum, int],
             need: Counter, rejections: Counter) -> list[tuple[Callable[[], SceneSpec], Stratum, Bins]]:
    """Candidates ``start, start + 1, ...`` aimed at ``aimed``, labelled at the steering ray
    count; those that land in a stratum of ``quota`` with room (``need``) at the start of the
    batch, each as (a function that returns its spec, its stratum, its cue bins). ``make`` is a batch sampler (``make.batch``: the
    arrays of :mod:`vpt.scene.candidates`, labelled by :func:`vpt.scene.fastlabels.steer`,
    cheapest checks first) or a function ``make(index, target) -> SceneSpec`` (labelled by
    :func:`~vpt.scene.labels.label_scenes`). Rejection reasons are counted in ``rejections``."""
    used = {_key(s) for s, n in quota.items() if n > 0}
    if hasattr(make, "batch"):
        from vpt.scene.fastlabels import steer as steer_batch

        cands = make.batch(range(start, start + len(aimed)), aimed)
        res = steer_batch(cands, steer, steer.n_rays, {_key(s) for s in need if need[s] > 0}, used)
        rejections.update(res.rejections)
        return [(functools.partial(cands.spec, int(r)), _from_key(k), b) for r, k, b in zip(res.rows, res.keys, res.bins)]
    specs: list[SceneSpec] = []
    for i, t in enumerate(aimed):
        try:
            specs.append(make(start + i, t))
        except Rejected as err:
            rejections[str(err)] += 1
    out = []
    for spec, lab in zip(specs, label_scenes(specs, steer)):
        st, why = stratum_of(lab)
        if st is None:
            rejections.update(why)
        elif _key(st) not in used:
            rejections["stratum not used by this recipe"] += 1
        else:
            out.append((functools.partial(lambda s: s, spec), st, cue_bins(lab)))
    return out


def fill(split: str, quota: dict[Stratum, int], make: Callable[[int, Target], SceneSpec],
         settings: FillSettings, *, progress: bool | None = None,
         enforce_match: bool = True, matcher: Matcher | None = None, start_index: int = 0,
         partial: bool = False, recorded: bool = True) -> tuple[list[Accepted], FillReport]:
    """Sample candidates until every stratum holds its quota.

    ``make(index, target)`` builds candidate ``index`` aimed at ``target`` (raising
    :class:`Rejected` when it cannot). Candidates are labelled in batches with
    ``settings.steer_rays`` rays; accepted ones are labelled again at
    ``settings.labels.n_rays`` (the numbers recorded) and kept only if they stay in the same
    stratum. A stratum that ``settings.starve_after`` candidates aimed at it have not hit since
    its last success gives one unit of quota to its other-depth sibling (see
    :func:`_swap_depth`). Candidates whose image-cue bins the other VPT label has not matched
    are refused beyond the matcher's slack (see :class:`Matcher`); after
    ``settings.relax_after`` candidates without success a stratum's group gets more slack and
    the stratum is aimed without hints. With ``enforce_match=False`` the matcher only steers
    (its hints) and admits everything; ``matcher`` carries its histograms between calls.
    Candidate indices start at ``start_index``; with ``partial`` the candidate bound returns
    what was found instead of raising; with ``recorded=False`` accepted candidates keep
    ``label_scenes``' labels at the steering ray count (``Accepted.recorded`` False: the
    caller relabels the ones it keeps, as :func:`fill_matched` does). Deterministic: the same inputs accept the same
    candidates.
    """
    if not isinstance(settings, FillSettings):
        raise TypeError("fill() takes a FillSettings (FillSettings.from_recipe); pass the other options by keyword")
    if progress is not None:
        settings = replace(settings, progress=progress)
    cfg, steer_rays = settings.labels, settings.steer_rays
    batch_size, max_candidates_per_item = settings.batch_size, settings.max_candidates_per_item
    starve_after, relax_after = settings.starve_after, settings.relax_after
    need = Counter({s: n for s, n in quota.items() if n > 0})
    total = sum(need.values())
    report = FillReport(split)
    kept: list[Accepted] = []
    limit = max_candidates_per_item * max(total, 1)
    steer = LabelConfig(**{**cfg.__dict__, "n_rays": steer_rays})
    index = start_index
    dry: Counter[Stratum] = Counter()  # candidates aimed at a stratum since it last gained one
    swaps: Counter[Stratum] = Counter()  # quota moves triggered by each stratum
    matcher = matcher if matcher is not None else Matcher()
    relaxes: Counter[tuple] = Counter()  # matching relaxations per (cell, depth) group
    bar = tqdm(total=total, desc=f"sampling {split}", unit="scene", disable=not settings.progress, leave=False)
    try:
        while len(kept) < total:
            if report.candidates >= limit:
                if partial:
                    break
                detail = "\n".join(FillReport.lines(report))
                missing = {s.cell + f" vpt={s.vpt} {s.reason or ''} depth={s.depth}": n for s, n in need.items() if n}
                raise SamplingError(f"split {split!r}: gave up after {report.candidates} candidates "
                                    f"(balance.max_candidates_per_item={max_candidates_per_item}); still missing "
                                    f"{missing}.\n{detail}\nWiden the recipe's ranges or raise the bound.")
            open_strata = sorted((s for s in need if need[s] > 0), key=str)
            for st in open_strata:
                if dry[st] >= starve_after * (1 + swaps[st]):  # dry keeps counting: a starving
                    swap = _swap_depth(need, st, dry, starve_after)  # stratum never looks like a donor
                    swaps[st] += 1
                    if swap:
                        report.depth_swaps.append(swap)
                if enforce_match and dry[st] >= relax_after * (1 + relaxes[_group(st)]) \
                        and matcher.unmatched(_group(st)):
                    relaxes[_group(st)] += 1
                    report.relaxed.append(matcher.relax(_group(st)))
            open_strata = sorted((s for s in need if need[s] > 0), key=str)
            # the batch aims at the open strata in turn (round j of them: the j-th hint)
            n_open = len(open_strata)
            if not n_open:
                break
            rounds, extra = divmod(batch_size, n_open)
            for i, t in enumerate(open_strata):
                dry[t] += rounds + (i < extra)
            # a stratum that starves is aimed without hints, as it would be unmatched
            aims: list[Callable[[int], Target]] = []
            for t in open_strata:
                if dry[t] < relax_after:
                    wanted = matcher.wanted(_group(t), t.vpt)
                    aims.append(_aims(t, wanted))
                else:
                    plain = t.target()
                    aims.append(lambda j, plain=plain: plain)
            aimed = [aims[i](j) for j in range(rounds + (extra > 0)) for i in range(n_open if j < rounds else extra)]
            steered = _steered(make, index, aimed, steer, quota, need, report.rejections)
            report.candidates += len(aimed)
            index += len(aimed)
            chosen: list[tuple[SceneSpec, Stratum, Bins]] = []
            taken: Counter[Stratum] = Counter()
            for make_spec, st, bins in steered:
                if need[st] - taken[st] <= 0:
                    report.rejections["cell already full"] += 1
                elif enforce_match and not matcher.admits(_group(st), st.vpt, bins):
                    report.rejections["image cues unmatched by the other VPT label"] += 1
                else:
                    chosen.append((make_spec(), st, bins))
                    taken[st] += 1
                    matcher.add(_group(st), st.vpt, bins)
            final = label_scenes([c[0] for c in chosen], cfg if recorded else steer)
            for (spec, st, bins), lab in zip(chosen, final):
                st2, why = stratum_of(lab)
                if st2 != st or cue_bins(lab) != bins:
                    matcher.add(_group(st), st.vpt, bins, -1)
                    report.rejections["labels changed at the recorded ray count"] += 1
                    continue
                kept.append(Accepted(spec, lab, st, recorded))
                need[st] -= 1
                dry[st] = 0
                bar.update(1)
    finally:
        bar.close()
    report.accepted = len(kept)
    report.unmatched = matcher.total_unmatched()
    return kept, report


def fill_matched(split: str, quota: dict[Stratum, int], make: Callable[[int, Target], SceneSpec],
                 settings: FillSettings, describe: Callable[[list[Accepted]], tuple[Any, list[str]]]
                 ) -> tuple[list[Accepted], FillReport]:
    """Fill ``quota`` as :func:`fill` does, then go on sampling until every stratum holds
    ``settings.pool`` times its quota (bounded by ``settings.max_candidates_per_item``;
    whatever was found counts), and keep the matched subset
    (:func:`vpt.datasets.matching.match_pool`): inside each cell, the hidden and visible items
    that look most alike in the image. The matcher's hints steer both phases toward cue bins
    the other label fills. ``pool <= 1`` is :func:`fill` with the matcher enforcing its bins."""
    from vpt.datasets.matching import match_pool

    pool = settings.pool
    if pool <= 1:
        return fill(split, quota, make, settings)
    matcher = Matcher()
    kept, report = fill(split, quota, make, settings, enforce_match=False, matcher=matcher)
    final = Counter(a.stratum for a in kept)
    extra = {s: int(round((pool - 1) * n)) for s, n in final.items()}
    more, rep2 = fill(f"{split} (pool)", extra, make, replace(settings, starve_after=float("inf")),
                      enforce_match=False, matcher=matcher, start_index=report.candidates, partial=True,
                      recorded=False)
    # the pool is labelled at the steering ray count; the kept items are relabelled at the
    # recorded count, and one whose stratum changes leaves the pool before selecting again
    candidates = kept + more
    while True:
        chosen, lines = match_pool(candidates, dict(final), describe, lambda st: st.cell)
        todo = [a for a in chosen if not a.recorded]
        changed = set()
        for a, lab in zip(todo, label_scenes([a.spec for a in todo], settings.labels)):
            if stratum_of(lab)[0] != a.stratum:
                changed.add(id(a))
            a.labels, a.recorded = lab, True
        if not changed:
            break
        report.rejections["labels changed at the recorded ray count"] += len(changed)
        candidates = [a for a in candidates if id(a) not in changed]
    report.candidates += rep2.candidates
    report.rejections.update(rep2.rejections)
    report.rejections["not kept by matched selection"] += len(candidates) - len(chosen)
    report.notes.extend(lines)
    report.unmatched = None
    report.accepted = len(chosen)
    by_stratum = Counter(a.stratum for a in chosen)
    assert by_stratum == final, "matched selection must keep every stratum's quota"
    return chosen, report
