"""Cover pairs (:mod:`vpt.scene.conflict`): viewer and ball stay (the 2D angle is the same by
construction), the ball clearly in view. Half ``b`` puts an occluder of a recipe shape on the
3D line of sight, across it, tall enough to block it (``occluded``); half ``a`` moves the same
occluder along the floor toward the observer (in front of the line of sight) or away from it
(behind), scales its footprint within the catalogue's ranges and solves its height by bisection
(coverage is monotone in height) so that its silhouette covers the same share of the image
segment and has about the same image area, off the line of sight (visible). Both halves have
the segment covered.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import replace
from typing import Any, Sequence

import numpy as np

from vpt.scene.conflict_parts import COVER_TOL, ConflictPair, clear_of, usable, why_not
from vpt.scene.imageplane import SegmentFrame, clip_segment, facing_geometry, occluder_silhouettes, segment_cover
from vpt.scene.labels import LabelConfig, label_scenes
from vpt.scene.sampling import footprint_gap, make_occluder
from vpt.scene.settings import SamplingSettings
from vpt.scene.spec import OccluderSpec, SceneSpec

# ---------------------------------------------------------------------------------------------
# cover pairs


def _blocking_occluder(spec: SceneSpec, shape: str, catalogue: dict[str, Any], rng: np.random.Generator,
                       oid: int) -> OccluderSpec | None:
    """An occluder of ``shape`` (size drawn from the catalogue) across the viewer's line of
    sight, at a random fraction ``t`` of the way from the eye to the ball where its footprint
    keeps the sampler's clearance from both, tall and wide enough to block the dilated ball's
    cone there with room to spare, within the catalogue's size ranges; None if it cannot be."""
    v, b = spec.viewer, spec.ball
    eye, bp = v.eye, np.asarray(b.position, float)
    line = bp[:2] - eye[:2]
    ground = float(np.linalg.norm(line))
    yaw = math.degrees(math.atan2(line[1], line[0]))
    occ = make_occluder(oid, shape, catalogue, rng, (0.0, 0.0), yaw)
    half_along = occ.size[0] / 2
    t_lo = (v.proxy_radius + 0.15 + half_along) / ground
    t_hi = 1.0 - (b.radius * 1.4 + 0.13 + half_along) / ground
    t_lo, t_hi = max(t_lo, 0.2), min(t_hi, 0.8)
    if t_lo > t_hi:
        return None
    t = float(rng.uniform(t_lo, t_hi))
    xy = eye[:2] + t * line
    occ = replace(occ, position=(float(xy[0]), float(xy[1]), occ.position[2]))
    c = catalogue[shape]
    dist = float(np.linalg.norm(bp - eye))
    cone_r = 1.6 * b.radius * t * dist / max(dist - 0.0, 1e-6)  # the dilated cone's radius there, with room
    z_line = eye[2] + t * (bp[2] - eye[2])
    need_h = z_line + cone_r + 0.05
    hz = c.get("size_z", c["size_x"])
    if need_h > hz[1]:
        return None
    # any height from what blocking needs to the tallest of the shape: a taller occluder is as
    # blocked, and the visible half's moved occluder (often nearer the observer, or taller to
    # cover as much off the line of sight) can match its image area
    h = max(float(hz[0]), float(rng.uniform(need_h, float(hz[1]))))
    across = occ.size[1] if occ.primitive == "box" else occ.size[0]
    if across / 2 < cone_r + 0.03:
        return None
    size = (occ.size[0], occ.size[1], h) if occ.primitive != "sphere" else (h, h, h)
    return replace(occ, position=(occ.position[0], occ.position[1], h / 2), size=size)


def _off_line(occ: OccluderSpec, spec: SceneSpec, n: int = 24) -> bool:
    """Whether an occluder's footprint keeps clear of the floor shadow of the viewer's line
    of sight widened by the dilated ball's cone (so it cannot block at any height)."""
    eye, bp = spec.viewer.eye, np.asarray(spec.ball.position, float)
    r = spec.ball.radius * 1.6
    for t in np.linspace(0.0, 1.0, n):
        p = eye[:2] + t * (bp[:2] - eye[:2])
        if footprint_gap(occ, p) < r * t + 0.05:
            return False
    return True


def _with_height(occ: OccluderSpec, h: float) -> OccluderSpec:
    size = (occ.size[0], occ.size[1], h) if occ.primitive != "sphere" else (h, h, h)
    return replace(occ, position=(occ.position[0], occ.position[1], h / 2), size=size)


def _cover_with(frame: SegmentFrame, occ: OccluderSpec) -> float:
    """The coverage with ``occ`` added to the frame's scene, whose own occluders cover none of
    the segment (:func:`_strip_for_cover`), so ``occ``'s silhouette alone decides it."""
    return frame.cover((occ,)).coverage


FOOTPRINT_SCALES = (1.0, 0.8, 1.25, 0.65, 1.5, 0.5)  # footprint scales tried for the moved occluder
MATCH_TOL = COVER_TOL / 2  # the coverage the height is solved to (where the coverage no longer grows with
# height, e.g. at a shape's lowest height, the footprint scale has to bring it within this)
AREA_TOL = math.log(1.1)  # its silhouette's image area within 10 % of the blocking one's


def silhouette_area(spec: SceneSpec, occ: OccluderSpec) -> float:
    """Image area (px) of an occluder's projected silhouette (its convex hull) in ``spec``'s view."""
    poly = occluder_silhouettes(replace(spec, occluders=(occ,)))[0]
    x, y = poly[:, 0], poly[:, 1]
    return max(0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))), 1e-9)


def _scaled(occ: OccluderSpec, scale: float, entry: dict[str, Any]) -> OccluderSpec | None:
    """``occ`` with its footprint scaled by ``scale``, or None outside the catalogue's ranges."""
    if abs(scale - 1.0) < 1e-9:
        return occ
    sx, sy, sz = occ.size
    if occ.primitive == "sphere":
        return None
    nx, ny = sx * scale, sy * scale
    lo, hi = entry["size_x"]
    if not lo <= nx <= hi:
        return None
    if occ.primitive == "box":
        lo, hi = entry["size_y"]
        if not lo <= ny <= hi:
            return None
    return replace(occ, size=(nx, ny if occ.primitive == "box" else nx, sz))


def _match_height(frame: SegmentFrame, occ: OccluderSpec, target: float, lo: float, hi: float,
                  above: bool) -> OccluderSpec | None:
    """``occ`` at the height (within ``lo``..``hi``) where it covers ``target`` of the segment
    (bisection: coverage grows with height), just above the target (``above``) or just below
    it, within :data:`MATCH_TOL`; None where no height does. Where the coverage cannot reach
    the target (it no longer changes with height, e.g. at a shape's lowest height) the end
    height is kept only on its own side, so the visible half is as often the more covered as
    the less covered one, whatever the shapes."""
    c_lo, c_hi = _cover_with(frame, _with_height(occ, lo)), _cover_with(frame, _with_height(occ, hi))
    if c_lo >= target:
        return _with_height(occ, lo) if above and c_lo - target <= MATCH_TOL else None
    if c_hi < target:
        return _with_height(occ, hi) if not above and target - c_hi <= MATCH_TOL else None
    for _ in range(12):
        mid = 0.5 * (lo + hi)
        if _cover_with(frame, _with_height(occ, mid)) < target:
            lo = mid
        else:
            hi = mid
    h = hi if above else lo
    return _with_height(occ, h) if abs(_cover_with(frame, _with_height(occ, h)) - target) <= MATCH_TOL else None


def _match_area(frame: SegmentFrame, clean: SceneSpec, occ: OccluderSpec, entry: dict[str, Any], target: float,
                area_b: float, above: bool, larger: bool, steps: int = 4) -> tuple[float, OccluderSpec] | None:
    """``occ`` (moved off the line of sight) with its footprint scaled and its height solved
    so that it covers ``target`` of the segment with an image area near ``area_b``: the first
    footprint scale of :data:`FOOTPRINT_SCALES` that can match the coverage, then up to
    ``steps`` secant steps on the scale (the area grows about linearly with it). Only areas on
    the ``larger`` side of ``area_b`` count (where the catalogue's sizes cannot shrink or grow
    the footprint enough, a one-sided error would otherwise tell the halves apart). Returns
    (|log area ratio|, occluder) of the best, or None."""
    hz = entry.get("size_z", entry["size_x"])

    def attempt(scale: float) -> tuple[float, float, OccluderSpec] | None:
        moved = _scaled(occ, scale, entry)
        if moved is None or not _off_line(moved, clean) or not clear_of(
                moved, replace(clean, occluders=clean.occluders + (moved,))):
            return None
        got = _match_height(frame, moved, target, float(hz[0]), float(hz[1]), above)
        return None if got is None else (math.log(silhouette_area(clean, got) / area_b), scale, got)

    first = next((r for r in map(attempt, FOOTPRINT_SCALES) if r is not None), None)
    if first is None:
        return None
    best, cur = None, first
    for step in range(steps + 1):
        if step:
            cur = attempt(cur[1] * math.exp(-cur[0]))
            if cur is None:
                break
        if (cur[0] >= 0) == larger and (best is None or abs(cur[0]) < abs(best[0])):
            best = cur
        if best is not None and abs(best[0]) <= AREA_TOL / 3:
            break
    return None if best is None else (abs(best[0]), best[2])


BAND_OFFSETS_PX = (-5.0, -2.5, 0.0, 2.5, 5.0)  # the audit's widest band around the segment is 11 px
BAND_TOL = 0.03  # the halves' band covers differ by at most this much


def band_cover(spec: SceneSpec, occ: OccluderSpec) -> float:
    """The share of an 11 px band around the lens-ball image segment that ``occ``'s silhouette
    covers, from parallel segments across the band (the audit's ``cover_lens_11``, without its
    exclusion of ball and viewer pixels: the halves of a pair share ball and viewer)."""
    g = facing_geometry([spec])
    p0, p1 = g["eye_px"][0], g["ball_px"][0]
    d = p1 - p0
    n = np.array([-d[1], d[0]]) / max(float(np.hypot(*d)), 1e-9)
    poly = occluder_silhouettes(replace(spec, occluders=(occ,)))[0]
    shares = []
    for off in BAND_OFFSETS_PX:
        iv = clip_segment(p0 + off * n, p1 + off * n, poly)
        shares.append(0.0 if iv is None else max(0.0, iv[1] - iv[0]))
    return float(np.mean(shares))


def _strip_for_cover(spec: SceneSpec) -> SceneSpec:
    seen = set(segment_cover(spec).occluders)
    return replace(spec, occluders=tuple(o for o in spec.occluders if o.id not in seen))


def solve_cover_pair(base: SceneSpec, cfg: SamplingSettings, labels: LabelConfig, shapes: Sequence[str],
                     catalogue: dict[str, Any], rng: np.random.Generator, tries: int = 8,
                     why: Counter | None = None) -> ConflictPair | None:
    """A cover pair from ``base`` (see the module docstring), or None."""
    why = why if why is not None else Counter()
    clean = _strip_for_cover(base)
    lab0 = label_scenes([clean], labels)[0]
    if not usable(lab0, 1, None):
        why[f"cover base: {why_not(lab0)}"] += 1
        return None
    oid = max([o.id for o in clean.occluders], default=-1) + 1
    frame = SegmentFrame(clean)
    o_xy = np.asarray(base.observer.position[:2], float)
    for _ in range(tries):
        shape = shapes[int(rng.integers(len(shapes)))]
        blk = _blocking_occluder(clean, shape, catalogue, rng, oid)
        if blk is None:
            why[f"cover b: {shape} cannot block there"] += 1
            continue
        if not clear_of(blk, replace(clean, occluders=clean.occluders + (blk,))):
            why["cover b: no room on the line of sight"] += 1
            continue
        spec_b = replace(clean, occluders=clean.occluders + (blk,), scene_id=f"{base.scene_id}-cover-b")
        lab_b = label_scenes([spec_b], labels)[0]
        if not usable(lab_b, 0, "occluded"):
            why[f"cover b: {why_not(lab_b)}"] += 1
            continue
        target = segment_cover(spec_b).coverage
        if target <= 0:
            continue
        # move it along the floor toward (front) or away from (behind) the observer
        toward = o_xy - np.asarray(blk.position[:2])
        toward /= np.linalg.norm(toward)
        side = 1.0 if rng.random() < 0.5 else -1.0
        above = bool(rng.random() < 0.5)  # whether the visible half covers a little more or a little less
        larger = bool(rng.random() < 0.5)  # ... and whether its occluder looks a little larger or smaller
        hz = catalogue[shape].get("size_z", catalogue[shape]["size_x"])
        area_b = silhouette_area(spec_b, blk)
        cands = []
        for sgn in (side, -side):
            for delta in np.arange(0.1, 3.01, 0.15):
                xy = np.asarray(blk.position[:2]) + sgn * delta * toward
                best = _match_area(frame, clean, replace(blk, position=(float(xy[0]), float(xy[1]), blk.position[2])),
                                   catalogue[shape], target, area_b, above, larger)
                if best is not None and best[0] <= AREA_TOL:
                    cands.append((best[1], "front" if sgn > 0 else "behind", float(delta)))
            if len(cands) >= 8:
                break
        if not cands:
            why["cover a: no height and footprint match the coverage and area off the line of sight"] += 1
            continue
        # the placements that cover the audit's wide band about as much as the blocking occluder
        # (off the line of sight the segment tends to lie along a silhouette's edge, so the band
        # is less covered than the line), nearest first
        band_b = band_cover(spec_b, blk)
        cands = sorted((c for c in cands if abs(band_cover(clean, c[0]) - band_b) <= BAND_TOL),
                       key=lambda c: abs(band_cover(clean, c[0]) - band_b))[:3]
        if not cands:
            why["cover a: no placement covers the wide band alike"] += 1
            continue
        specs_a = [replace(clean, occluders=clean.occluders + (o,), scene_id=f"{base.scene_id}-cover-a")
                   for o, _, _ in cands]
        for spec_a, lab_a, (occ_a, where, delta) in zip(specs_a, label_scenes(specs_a, labels), cands):
            if not usable(lab_a, 1, None):
                why[f"cover a: {why_not(lab_a)}"] += 1
            else:
                g = facing_geometry([spec_a, spec_b])["angle_deg"]
                ca = segment_cover(spec_a).coverage
                area_b = silhouette_area(clean, blk)
                return ConflictPair("cover", base.index, spec_a, spec_b, lab_a, lab_b, float(g[0]), float(g[1]), ca,
                                    target, {"shape": shape, "where": where, "delta_m": delta,
                                             "height_a": occ_a.size[2], "height_b": blk.size[2],
                                             "area_a": silhouette_area(clean, occ_a), "area_b": area_b,
                                             "band_a": band_cover(clean, occ_a), "band_b": band_b})
    return None

