"""Everything-mode tracking: every segment gets an identity that persists across frames.

Segments are matched to tracks by mask IoU at mask resolution, against each track's
last mask moved by the frame's optical flow (``FrameFlow``; without it, by the track's
velocity), solved as one linear assignment (lapx). Tracks are
tentative until seen ``min_hits`` frames in a row,
confirmed after, lost while unmatched, and forgotten after ``lost_buffer`` frames lost.
Track state is held in columns (arrays), not per-track objects; track masks are sparse
rows of their cells, so hundreds of tracks (lost ones included) cost what their cells do.
Between keyframes, where the segments are the last frame's carried by the flow, ``follow``
continues each one's own track without matching.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import supervision as sv
from scipy import sparse

from fastsam_track.errors import UsageError
from fastsam_track.trackers.association import assign, iou_of, sparse_rows
from fastsam_track.trackers.flow import FrameCues
from fastsam_track.trackers.motion import centroids_of, move_cells
from fastsam_track.types import TRACK_STATE, TrackState

__all__ = ["SegmentTracker", "TrackState"]


class SegmentTracker:
    """Give every segment of every frame a persistent ``tracker_id``.

    Args:
        iou_threshold: the lowest mask IoU at which a segment continues a track.
        min_hits: frames in a row a track must be seen before it is confirmed.
        lost_buffer: frames a confirmed track is kept while unmatched.
        max_lost: most lost tracks kept at once (the oldest go first), bounding memory.

    Example:
        >>> masks = np.zeros((1, 8, 8), bool); masks[0, 2:6, 2:6] = True
        >>> segments = sv.Detections(xyxy=np.array([[2, 2, 6, 6]], np.float32), mask=masks)
        >>> tracker = SegmentTracker()
        >>> [tracker.update(segments).tracker_id.tolist() for _ in range(2)]
        [[1], [1]]
    """

    def __init__(self, iou_threshold: float = 0.15, min_hits: int = 2, lost_buffer: int = 30, max_lost: int = 500):
        if not 0.0 < iou_threshold <= 1.0:
            raise UsageError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
        if min_hits < 1 or lost_buffer < 0 or max_lost < 0:
            raise UsageError(
                f"min_hits >= 1, lost_buffer >= 0, max_lost >= 0; got {min_hits}, {lost_buffer}, {max_lost}"
            )
        self.iou_threshold, self.min_hits, self.lost_buffer, self.max_lost = (
            iou_threshold,
            min_hits,
            lost_buffer,
            max_lost,
        )
        self.reset()

    def reset(self) -> None:
        """Forget every track; identities start again at 1."""
        self._next_id = 1
        self._clear((0, 0))

    def _clear(self, mask_shape: tuple[int, ...]) -> None:
        self.grid = (int(mask_shape[0]), int(mask_shape[1]))
        self.cells = sparse_rows(np.zeros((0, *self.grid), bool))  # (T, h * w) each track's last mask, moved
        self.rows: sparse.csr_matrix | None = None  # the last frame's segments (N, h * w), for the object tracker
        self.ids = np.zeros(0, int)  # (T,)
        self.state = np.zeros(0, int)  # (T,) TrackState
        self.hits = np.zeros(0, int)  # (T,) frames seen in a row
        self.missed = np.zeros(0, int)  # (T,) frames unmatched in a row
        self.velocity = np.zeros((0, 2))  # (T, 2) (dy, dx) cells per frame

    def __len__(self) -> int:
        return len(self.ids)

    def update(self, segments: sv.Detections, cues: FrameCues | None = None) -> sv.Detections:
        """Match this frame's segments to the tracks.

        Args:
            segments: N segments with ``mask`` (N, h, w) bool.
            cues: the frame's optical flow (``FrameFlow.update``); without it tracks move by
                their velocity.

        Returns:
            The same N rows with ``tracker_id`` (N,) int set and ``data["track_state"]``
            (N,) int (a ``TrackState``): new segments get new identities.
        """
        masks = np.asarray(segments.mask)
        if self.grid != masks.shape[1:]:
            self._clear(masks.shape[1:])  # a new resolution is a new video; identities keep counting
        before = self._move(cues)
        rows = self.rows = sparse_rows(masks)
        matches, unmatched_tracks, new = assign(iou_of(self.cells, rows), self.iou_threshold)
        return self._book(segments, rows, before, matches, unmatched_tracks, new)

    def follow(self, segments: sv.Detections, cues: FrameCues | None = None) -> sv.Detections:
        """A frame the network did not see: ``segments`` are the last frame's, carried by the flow
        (``carry.carry``), each still holding its track's id; they continue their tracks as they are,
        with no matching (half ``update``'s time), and the other tracks move and age as on any frame.

        Args:
            segments: N carried segments with ``mask`` (N, h, w) bool and the ``tracker_id`` ``update``
                gave them (a row whose track is gone starts a new one).
            cues: the frame's optical flow, as for ``update``.

        Returns:
            The same N rows with ``tracker_id`` and ``data["track_state"]`` as ``update`` gives.
        """
        masks = np.asarray(segments.mask)
        if self.grid != masks.shape[1:] or segments.tracker_id is None:
            return self.update(segments, cues)
        before = self._move(cues)
        rows = self.rows = sparse_rows(masks)
        # Track ids ascend (new tracks are appended with higher ones): each segment's track by bisection.
        at = np.searchsorted(self.ids, segments.tracker_id)
        found = at < len(self)
        found[found] = self.ids[at[found]] == segments.tracker_id[found]
        matches = np.stack([at[found], np.flatnonzero(found)], axis=1)
        unmatched_tracks = np.setdiff1d(np.arange(len(self)), matches[:, 0])
        return self._book(segments, rows, before, matches, unmatched_tracks, np.flatnonzero(~found))

    def _move(self, cues: FrameCues | None) -> np.ndarray:
        """Every track, lost ones too, moved with what is under it (or its velocity) to this frame;
        their (T, 2) centroids before."""
        flow = cues.flow if cues is not None else None
        before = centroids_of(self.cells, self.grid)
        self.cells = move_cells(self.cells, self.grid, flow, None if flow is not None else self.velocity)
        return before

    def _book(
        self,
        segments: sv.Detections,
        rows: sparse.csr_matrix,
        before: np.ndarray,
        matches: np.ndarray,
        unmatched_tracks: np.ndarray,
        new: np.ndarray,
    ) -> sv.Detections:
        """The tracks after this frame's (K, 2) (track, segment) ``matches``: matched ones take their
        segment's cells (``rows``) and count a hit, the others a miss, segments ``new`` start tracks."""
        out_ids = np.zeros(rows.shape[0], int)
        out_state = np.zeros(rows.shape[0], int)
        tracks, seen = matches[:, 0], matches[:, 1]
        moved = (centroids_of(rows, self.grid)[seen] - before[tracks]) / (self.missed[tracks, None] + 1)
        self.velocity[tracks] = 0.5 * self.velocity[tracks] + 0.5 * moved
        self.hits[tracks] = np.where(self.state[tracks] == TrackState.LOST, 1, self.hits[tracks] + 1)
        self.missed[tracks] = 0
        confirmed = (self.hits[tracks] >= self.min_hits) | (self.state[tracks] != TrackState.TENTATIVE)
        self.state[tracks] = np.where(confirmed, TrackState.CONFIRMED, TrackState.TENTATIVE)
        out_ids[seen], out_state[seen] = self.ids[tracks], self.state[tracks]
        # A tentative track that misses a frame was noise: it goes at once; others wait as lost.
        keep = np.ones(len(self), bool)
        keep[unmatched_tracks] = self.state[unmatched_tracks] != TrackState.TENTATIVE
        self.missed[unmatched_tracks] += 1
        self.hits[unmatched_tracks] = 0
        self.state[unmatched_tracks] = TrackState.LOST
        keep &= self.missed <= self.lost_buffer
        # Kept tracks (matched ones with their segment's cells), then new ones: one gather from both stacked.
        source = np.arange(len(self))
        source[tracks] = len(self) + seen
        self.cells = _pick_rows(self.cells, rows, np.concatenate([source[keep], len(self) + new]))
        self._keep_columns(keep)
        new_ids = np.arange(self._next_id, self._next_id + len(new))
        self._next_id += len(new)
        self._append(new_ids)
        out_ids[new], out_state[new] = new_ids, self.state[len(self) - len(new) :]
        self._bound_lost()

        # A new Detections sharing the arrays: the input is not modified.
        return dataclasses.replace(segments, tracker_id=out_ids, data={**segments.data, TRACK_STATE: out_state})

    def _keep(self, keep: np.ndarray) -> None:
        """Keep the tracks where (T,) bool ``keep`` is True, cells and columns."""
        self.cells = self.cells[np.flatnonzero(keep)]
        self._keep_columns(keep)

    def _keep_columns(self, keep: np.ndarray) -> None:
        self.ids, self.state = self.ids[keep], self.state[keep]
        self.hits, self.missed, self.velocity = self.hits[keep], self.missed[keep], self.velocity[keep]

    def _append(self, ids: np.ndarray) -> None:
        """Columns for new tracks whose cells are already the last rows of ``cells``."""
        self.ids = np.concatenate([self.ids, ids])
        first = TrackState.CONFIRMED if self.min_hits <= 1 else TrackState.TENTATIVE
        self.state = np.concatenate([self.state, np.full(len(ids), first)])
        self.hits = np.concatenate([self.hits, np.ones(len(ids), int)])
        self.missed = np.concatenate([self.missed, np.zeros(len(ids), int)])
        self.velocity = np.concatenate([self.velocity, np.zeros((len(ids), 2))])

    def _bound_lost(self) -> None:
        lost = np.flatnonzero(self.state == TrackState.LOST)
        if len(lost) > self.max_lost:
            oldest = lost[np.argsort(-self.missed[lost], kind="stable")[: len(lost) - self.max_lost]]
            keep = np.ones(len(self), bool)
            keep[oldest] = False
            self._keep(keep)


def _pick_rows(first: sparse.csr_matrix, second: sparse.csr_matrix, pick: np.ndarray) -> sparse.csr_matrix:
    """Rows ``pick`` (K,) int of the rows of ``first`` followed by those of ``second``, as one CSR matrix of
    cell masks (``sparse_rows``): one gather of their cells (scipy's vstack, then indexing, took 3x as long)."""
    indptr = np.concatenate([first.indptr, second.indptr[1:] + first.indptr[-1]])
    indices = np.concatenate([first.indices, second.indices])
    lengths = np.diff(indptr)[pick]
    out_indptr = np.concatenate([[0], np.cumsum(lengths)])
    at = np.repeat(indptr[pick] - out_indptr[:-1], lengths) + np.arange(out_indptr[-1])
    picked = sparse.csr_matrix(
        (np.ones(len(at), np.float32), indices[at], out_indptr), shape=(len(pick), first.shape[1])
    )
    picked.has_sorted_indices = first.has_sorted_indices and second.has_sorted_indices
    return picked
