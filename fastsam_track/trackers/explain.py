"""Association of a prompted object with this frame's segments: what of them explains its moved mask.

FastSAM splits an object into parts on some frames and merges it with a neighbour on others, so
an object is never one segment. The object on the new frame is:

- whole segments: mostly inside the moved mask, or one that regrows it after a partial view, or
  one of its own tracks coming closer, that look like it and do not move with the scene while it
  moves across it; their union is the prefix, by cells inside over cells outside, with the best
  IoU against the moved mask;
- a segment that holds the rest merged with a neighbour, clipped to the moved mask, if it took
  the object in and its clipped part looks and moves like it;
- cells of the moved mask no segment covers whose colours are the object's.

``Segments`` holds what every object reads of the frame; ``Evidence`` what one object brings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from fastsam_track.trackers.appearance import shares
from fastsam_track.trackers.flow import COLOR_BINS, FrameCues, median_rows
from fastsam_track.trackers.lifecycle import TrackedObject
from fastsam_track.trackers.motion import grow
from fastsam_track.trackers.params import ObjectParams

__all__ = [
    "Evidence",
    "Segments",
    "explain",
    "likelihoods",
    "likely_sums",
    "median_flow",
    "motion_share",
    "moves_with",
    "weigh",
]


@dataclass(frozen=True)
class Segments:
    """This frame's N segments, as every object's association reads them.

    Attributes:
        masks: (N, h, w) bool.
        cells: the same as ``association.sparse_rows``.
        area: (N,) float cells of each.
        track_ids: (N,) int their ``SegmentTracker`` ids (-1: none).
        before: (N,) float each track's area when last seen (NaN: a new track).
        covered: (h, w) bool cells some segment covers.
    """

    masks: np.ndarray
    cells: sparse.csr_matrix
    area: np.ndarray
    track_ids: np.ndarray
    before: np.ndarray
    covered: np.ndarray


@dataclass(frozen=True)
class Evidence:
    """What one object brings to its association.

    Attributes:
        warped: (h, w) bool its last mask moved by the flow.
        inter: (N,) float cells each segment shares with ``warped`` (0 for segments another object holds).
        alike: (N,) bool segments whose colours (and motion) may be the object's: only they are taken whole.
        was_part: (N,) bool segments whose track it was made of on the last frame: only they may grow
            into it (a neighbour's track that took it in is a merge, however alike).
        took_in: (N,) bool segments that may hold it merged with a neighbour: only they are clipped.
        likely: (h, w) float how much each cell's colour is the object's.
        gaps: (h, w) bool cells of ``warped`` no segment covers that may be the object's.
        typical: its typical area in cells.
        confirm: the share of ``warped`` the segments must cover to confirm it.
        along: (h, w) float ``motion_share`` (None: no flow): a merged segment is clipped only when its part
            inside ``warped`` moves with the object (not the background it passes, taken in).
        sums: (N, 2) float32 each segment's sum of ``likely`` over all its cells and over those inside ``warped``
            (``likely_sums``; None: worked out by ``explain``).
    """

    warped: np.ndarray
    inter: np.ndarray
    alike: np.ndarray
    was_part: np.ndarray
    took_in: np.ndarray
    likely: np.ndarray
    gaps: np.ndarray
    typical: float
    confirm: float
    along: np.ndarray | None
    sums: np.ndarray | None = None


def likelihoods(
    objects: list[TrackedObject], shape: tuple[int, int], cues: FrameCues | None, p: ObjectParams
) -> np.ndarray:
    """(K, h, w) float: how much each cell's colour is each object's (1 everywhere without cues)."""
    if cues is None:
        return np.ones((len(objects), *shape))
    # Each object's share of every colour, then one gather of all of them (half the time of one per object).
    table = np.array([shares(o.look.inside, o.look.around, p.color_prior) for o in objects], float)
    return np.take(table.reshape(len(objects), COLOR_BINS), cues.colors, axis=1)


def likely_sums(cells: sparse.csr_matrix, likely: np.ndarray, warped: np.ndarray) -> np.ndarray:
    """(K, N, 2) float32: each of N segments' (``sparse_rows``) sum of each of K objects' (K, h, w) ``likely``
    over all its cells and over those inside the object's (K, h, w) bool ``warped``: one product for all."""
    weights = likely.reshape(len(likely), cells.shape[1]).astype(np.float32)
    rows = np.stack([weights, weights * warped.reshape(len(warped), cells.shape[1])], axis=1)  # (K, 2, h * w)
    # The (h * w, 2K) columns as a transposed view: no copy of a transposition (2x the product's time).
    sums = np.asarray(cells @ rows.reshape(2 * len(likely), cells.shape[1]).T, np.float32)
    return sums.reshape(cells.shape[0], len(likely), 2).transpose(1, 0, 2)


def weigh(
    obj: TrackedObject,
    warped: np.ndarray,
    inter: np.ndarray,
    segs: Segments,
    cues: FrameCues | None,
    p: ObjectParams,
    likely: np.ndarray | None = None,
    sums: np.ndarray | None = None,
    was_part: np.ndarray | None = None,
) -> Evidence:
    """The evidence of an object whose mask the flow moved to ``warped`` (h, w) and that shares ``inter`` (N,)
    cells with the segments it holds most of; remembers which of its parts moved with the scene (``strays``).
    ``likely`` (h, w), ``sums`` (N, 2) (``likely_sums``) and ``was_part`` (N,) bool, when the caller has them
    for all its objects at once (None: worked out here)."""
    # Colours tell the object from its surroundings: segments and uncovered cells like the surroundings stay out.
    if likely is None:
        likely = obj.look.likelihood(cues.colors, p) if cues is not None else np.ones(warped.shape)
    if sums is None:
        sums = likely_sums(segs.cells, likely[None], warped[None])[0]
    like_all = sums[:, 0]
    alike = np.divide(like_all, segs.area, out=np.zeros_like(like_all), where=segs.area > 0) >= p.alike
    # A segment that holds it merged with a neighbour took it in: it is new, or was part of it, or grew by a
    # good part of it. One that was there before and did not grow passed in front of it.
    if was_part is None:
        was_part = np.isin(segs.track_ids, list(obj.tracks | obj.parts))
    took_in = np.isnan(segs.before) | was_part | (segs.area - segs.before >= p.grown_share * np.count_nonzero(warped))
    carried = obj.carried > 0  # a mask the flow alone has carried drifts: the segments need to agree less
    along = None
    if cues is not None and cues.flow is not None:
        # ... and a segment new to it that moves with the scene is the scene (its own parts may move otherwise:
        # limbs, wheels, a turning car's near end, for a frame).
        share = motion_share(warped, cues.flow, cues.scene, p)
        moving = moves_with(share, segs.cells, segs.area, p)
        # Carried by the flow alone, its mask may have gone with what passed in front of it: a part clipped from
        # a merge moves as it did when last seen.
        along = motion_share(warped, cues.flow, cues.scene, p, obj.drift) if carried else share
        alike &= (was_part & ~_strayed(obj, segs.track_ids, inter > 0, moving, p)) | moving
    return Evidence(
        warped,
        inter,
        alike,
        was_part,
        took_in,
        likely,
        warped & ~segs.covered & (likely >= p.cell_alike),
        obj.look.area,
        p.carried_confirm if carried else p.confirm,
        along,
        sums,
    )


def explain(segs: Segments, ev: Evidence, p: ObjectParams) -> tuple[np.ndarray | None, bool]:
    """The object's mask on this frame: the segments that best explain ``ev.warped`` (None: they do not).

    Returns:
        The union of segments mostly inside ``warped`` with the highest IoU with it (for disjoint segments,
        a prefix of them ordered by cells inside over cells outside), a segment holding most of the rest
        clipped to ``warped`` (a merge), and ``gaps``; None when that union covers less than ``confirm`` of
        ``warped``; and whether a merged segment was clipped into it.
    """
    warped, inter, likely, seg_area = ev.warped, ev.inter, ev.likely, segs.area
    area = float(np.count_nonzero(warped))  # (a bool array's sum takes 9x as long)
    touching = np.flatnonzero(inter > 0)
    # Whole segments only when mostly inside with little outside, or when one holds much of it at about its size
    # (regrown after a partial view), or larger when what lies outside has the object's colours (it is coming
    # closer; a merged neighbour has its own): any other would let it grow without bound.
    size = max(ev.typical, area)
    outside = seg_area - inter
    sums = ev.sums if ev.sums is not None else likely_sums(segs.cells, likely[None], warped[None])[0]
    like_all, like_inside = sums.T
    outside_like = np.divide(like_all - like_inside, outside, out=np.zeros_like(outside), where=outside > 0)
    holds = inter >= p.regrow_hold * area
    whole = (
        ((outside <= inter) & (outside <= p.inside_slack * size))
        | (holds & (seg_area <= p.regrow_size * size) & (outside_like >= p.alike) & ev.took_in)
        | (holds & (seg_area <= p.approach_size * size) & (outside_like >= p.approach_alike) & ev.was_part)
    )
    inside = touching[(whole & ev.alike)[touching]]
    ratio = inter[inside] / np.maximum(seg_area[inside] - inter[inside], p.ratio_floor)
    order = inside[np.argsort(-ratio, kind="stable")]
    iou = np.cumsum(inter[order]) / (area + np.cumsum(seg_area[order] - inter[order]))
    chosen = order[: int(np.argmax(iou)) + 1] if len(order) else order
    mask = np.zeros(warped.shape, bool)
    for k in chosen:  # (a few: faster than a copy of them and its .any)
        mask |= segs.masks[k]
    rest = warped & ~mask
    left = inter > 0
    left[chosen] = False
    others = np.flatnonzero(left)
    took_part = False
    if np.count_nonzero(rest) >= p.rest_share * area and len(others):
        holder = others[np.argmax((segs.cells @ rest.reshape(-1).astype(np.float32))[others])]
        # Clipped to where it should be, and while it is smaller than it was (growing back) the ring of cells
        # around that with its colours; if what is clipped looks like the object.
        reach = warped | (grow(warped, 1) & (likely >= p.cell_alike)) if area < ev.typical else warped
        clipped = segs.masks[holder] & reach
        merged = ev.took_in[holder] and np.count_nonzero(clipped & rest) >= p.merge_share * np.count_nonzero(rest)
        moves = ev.along is None or ev.along[clipped].mean() >= p.motion_share
        if merged and moves and likely[clipped].mean() >= p.alike:
            mask, took_part = mask | clipped, True
    # Confirmed by the segments alone (they explain enough of it); the gaps only complete a confirmed view.
    return (mask | ev.gaps if np.count_nonzero(mask & warped) >= ev.confirm * area else None), took_part


def motion_share(
    warped: np.ndarray, flow: np.ndarray, scene: np.ndarray, p: ObjectParams, drift: np.ndarray | None = None
) -> np.ndarray:
    """(h, w) float: how far each cell moves from the scene's motion towards the object's (1 everywhere when the
    object moves with the scene: motion tells nothing).

    A segment of the background beside the object, with colours like it, lies inside its moved mask while the
    object moves across the scene; taken in, it moves with the scene and drags the mask off the object. The flow's
    smoothing bleeds the object's motion into a few cells around it, so cells count as moving with the object when
    they go at least ``motion_share`` of the way from the scene's motion to the object's.

    Args:
        warped: (h, w) bool the object's last mask moved by the flow.
        flow: (h, w, 2) float backward flow (dx, dy) in cells.
        scene: (2,) the scene's motion (``FrameCues.scene``).
        p: the parameters (``motion``).
        drift: (2,) the object's flow less the scene's, when not that of ``warped`` (None: that of ``warped``).
    """
    everything = np.ones(flow.shape[:2], np.float32)
    if not warped.any():
        return everything
    mine = median_flow(flow, warped) if drift is None else scene + drift
    relative = float(np.hypot(*(mine - scene)))
    if relative < p.motion:
        return everything
    return (_less(flow, scene) @ ((mine - scene) / relative**2)).astype(np.float32, copy=False)


def _less(flow: np.ndarray, scene: np.ndarray) -> np.ndarray:
    """(h, w, 2) ``flow`` less the (2,) ``scene`` motion. For float32 ones, as complex numbers (dx + i dy): the
    same subtractions, 50x faster than broadcasting over a last axis of 2."""
    if flow.dtype != np.float32 or scene.dtype != np.float32 or not flow.flags.c_contiguous:
        return flow - scene
    return (flow.view(np.complex64) - np.complex64(complex(scene[0], scene[1]))).view(np.float32)


def median_flow(flow: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(2,) the median (dx, dy) of an (h, w, 2) ``flow`` over an (h, w) bool mask; read with ``np.take`` (a fancy
    index of the 2-D flow by rows is about 15x slower), each component's median over a contiguous row by one
    partition (``median_rows``: 30 us against ``np.median``'s 50 for 2,000 cells)."""
    return median_rows(np.take(flow.reshape(-1, 2), np.flatnonzero(mask), axis=0).T.copy())


def moves_with(share: np.ndarray, cells: sparse.csr_matrix, seg_area: np.ndarray, p: ObjectParams) -> np.ndarray:
    """(N,) bool: segments whose cells move on average with the object (``motion_share``), not the scene."""
    if share.min() == share.max() == 1:
        # The object moves with the scene (every cell's share is 1, most frames): each segment's sum is its count of
        # cells, without the product (50 us).
        sums = np.diff(cells.indptr).astype(np.result_type(cells.dtype, share.dtype))
    else:
        sums = np.asarray(cells @ share.reshape(-1))
    mean = sums / np.maximum(seg_area, 1)
    return np.asarray(mean >= p.motion_share)


def _strayed(
    obj: TrackedObject, track_ids: np.ndarray, touching: np.ndarray, moving: np.ndarray, p: ObjectParams
) -> np.ndarray:
    """(N,) bool: segments at it that have moved with the scene, not with it, on this frame and the ones before.

    A part of the background taken in once (the flow's smoothing lent it some of the object's motion, or it was
    clipped from a merge) goes on moving with the scene; a limb or a wheel only does so for a frame.
    """
    counts = {int(t): obj.strays.get(int(t), 0) + 1 for t in track_ids[touching & ~moving & (track_ids >= 0)].tolist()}
    obj.strays = counts
    strayed = np.zeros(len(track_ids), bool)
    for track in (t for t, count in counts.items() if count >= p.strayed):  # few, or none: no loop over all N
        strayed |= track_ids == track
    return strayed
