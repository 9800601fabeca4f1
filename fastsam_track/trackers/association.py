"""Association maths on mask stacks: overlaps, IoU and coverage matrices, and assignment.

numpy, scipy's sparse matrices, lapx, and OpenCV's scan for set cells. Masks are compared at
mask resolution (the model's prototype grid, about 90x160 for a 720p frame): one sparse
matrix product gives every pairwise intersection, 100x300 masks that tile a frame in a few
milliseconds.
"""

from __future__ import annotations

import cv2
import lap
import numpy as np
from scipy import sparse

from fastsam_track.errors import UsageError

__all__ = [
    "assign",
    "few_overlaps",
    "iou_of",
    "mask_coverage",
    "mask_iou",
    "mask_overlaps",
    "overlaps_of",
    "sparse_rows",
]


_FEW = 16  # at most this many masks on the left of ``overlaps_of`` are made dense


def mask_overlaps(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairwise intersections and the areas of two mask stacks of one resolution.

    Masks are compared as sparse rows of their cells: a frame's segments tile it, so each
    cell lies in a few masks and the product costs about the cells, not masks x masks x
    cells (85 segments against 316 tracks on a 90x160 grid: 5 ms instead of 60).

    Args:
        a: (N, h, w) bool masks.
        b: (M, h, w) bool masks.

    Returns:
        (N, M) float32 intersection areas, (N,) float32 areas of ``a``, (M,) float32 areas of ``b``.

    Example:
        >>> a = np.zeros((1, 2, 2), bool); a[0, 0] = True
        >>> inter, area_a, area_b = mask_overlaps(a, np.ones((2, 2, 2), bool))
        >>> inter.tolist(), area_a.tolist(), area_b.tolist()
        ([[2.0, 2.0]], [2.0], [4.0, 4.0])
    """
    if a.shape[1:] != b.shape[1:]:
        raise UsageError(f"mask stacks differ in resolution: {a.shape[1:]} and {b.shape[1:]}")
    return overlaps_of(sparse_rows(a), sparse_rows(b))


def sparse_rows(masks: np.ndarray) -> sparse.csr_matrix:
    """(N, h * w) float32 CSR matrix of (N, h, w) bool masks: one row per mask, 1 at its cells."""
    count, cells = len(masks), int(np.prod(masks.shape[1:]))
    if masks.size == 0 or masks.ndim != 3 or masks.dtype != bool or masks.size >= 2**31:
        found = np.flatnonzero(masks)
        indptr, indices = np.searchsorted(found, np.arange(count + 1) * cells), found % cells
    else:
        # OpenCV's scan of the stack as one (N * h, w) image: twice as fast as np.flatnonzero on 100
        # masks of a 90x160 grid (0.08 ms against 0.18), in the same row-major order; its int32 (x, y)
        # points give each mask's cells and where its rows start without a flat index's division.
        h, w = masks.shape[1:]
        points = cv2.findNonZero(np.ascontiguousarray(masks).reshape(-1, w).view(np.uint8))
        points = np.zeros((0, 2), np.int32) if points is None else points.reshape(-1, 2)
        indptr = np.searchsorted(points[:, 1], np.arange(count + 1, dtype=np.int32) * h).astype(np.int32)
        indices = points[:, 1] % h * w + points[:, 0]
    return sparse.csr_matrix((np.ones(len(indices), np.float32), indices, indptr), shape=(count, cells))


def overlaps_of(a: sparse.csr_matrix, b: sparse.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``mask_overlaps`` of masks given as ``sparse_rows``: (N, M) intersections, (N,) and (M,) areas."""
    if a.shape[0] <= _FEW:
        # A few masks (prompted objects) against a frame's segments: the few as dense rows counted over the
        # segments' cells (``_counts``; a product with them as dense columns was 2.5x faster than the sparse
        # product and its transposition, this twice as fast again).
        flat = np.zeros((a.shape[0], a.shape[1]), bool)
        flat[np.repeat(np.arange(a.shape[0]), np.diff(a.indptr)), a.indices] = True
        inter = _counts(flat, b)
    else:
        inter = np.asarray((a @ b.T).toarray(), np.float32).reshape(a.shape[0], b.shape[0])
    return inter, np.diff(a.indptr).astype(np.float32), np.diff(b.indptr).astype(np.float32)


def few_overlaps(masks: np.ndarray, cells: sparse.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """``overlaps_of(sparse_rows(masks), cells)``'s (K, N) intersections and (K,) areas for (K, h, w) bool masks (a
    few prompted objects) against N masks as ``sparse_rows``: the few as dense columns straight away."""
    if len(masks) > _FEW:
        return overlaps_of(sparse_rows(masks), cells)[:2]
    flat = masks.reshape(len(masks), cells.shape[1])
    return _counts(flat, cells), np.count_nonzero(flat, axis=1).astype(np.float32)


def _counts(flat: np.ndarray, cells: sparse.csr_matrix) -> np.ndarray:
    """(K, N) float32: how many cells of each of N masks given as ``sparse_rows`` (ones, each cell once) each of K
    (K, h * w) bool masks holds: their values at the N masks' cells, summed over each mask's run of them (the
    product with the K as float32 columns took twice as long, a running count and its differences at the rows'
    ends 1.5x: integer counts, the same)."""
    starts = cells.indptr[:-1]
    filled = starts < cells.indptr[1:]
    held = np.take(np.asarray(flat, bool), cells.indices, axis=1).view(np.uint8)
    if len(starts) and filled.all():
        return np.add.reduceat(held, starts, axis=1, dtype=np.int32).astype(np.float32)
    # reduceat gives an empty run the next value, not 0: the empty masks are left out of it
    counts = np.zeros((len(flat), len(starts)), np.int32)
    if filled.any():
        counts[:, filled] = np.add.reduceat(held, starts[filled], axis=1, dtype=np.int32)
    return counts.astype(np.float32)


def iou_of(a: sparse.csr_matrix, b: sparse.csr_matrix) -> np.ndarray:
    """``mask_iou`` of masks given as ``sparse_rows``: (N, M) float32."""
    return _iou(*overlaps_of(a, b))


def mask_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) float32 intersection over union of (N, h, w) and (M, h, w) bool masks; 0 for two empty masks.

    Example:
        >>> a = np.zeros((1, 2, 2), bool); a[0, 0] = True
        >>> mask_iou(a, np.ones((1, 2, 2), bool)).tolist()
        [[0.5]]
        >>> mask_iou(a, np.zeros((0, 2, 2), bool)).shape
        (1, 0)
    """
    return _iou(*mask_overlaps(a, b))


def _iou(inter: np.ndarray, area_a: np.ndarray, area_b: np.ndarray) -> np.ndarray:
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def mask_coverage(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) float32: the fraction of each mask of ``b`` that lies inside each mask of ``a``.

    Example:
        >>> a = np.zeros((1, 2, 2), bool); a[0, 0] = True
        >>> mask_coverage(a, np.ones((1, 2, 2), bool)).tolist()
        [[0.5]]
    """
    inter, _, area_b = mask_overlaps(a, b)
    return np.divide(inter, area_b[None, :], out=np.zeros_like(inter), where=area_b[None, :] > 0)


def assign(score: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best one-to-one matching of rows to columns that maximises the total score.

    Pairs scoring below ``threshold`` are never matched.

    Args:
        score: (N, M) float similarities, higher is better.
        threshold: the lowest score a match may have.

    Returns:
        (K, 2) int matches as (row, column), the unmatched rows and the unmatched columns.

    Example:
        >>> matches, rows, cols = assign(np.array([[0.9, 0.1], [0.8, 0.7]]), 0.5)
        >>> matches.tolist(), rows.tolist(), cols.tolist()
        ([[0, 0], [1, 1]], [], [])
    """
    n, m = score.shape
    # Only rows and columns with a pair above the threshold can match: lost tracks far from every
    # segment (most of them) stay out of the solver.
    eligible = score >= threshold
    rows, cols = np.flatnonzero(eligible.any(axis=1)), np.flatnonzero(eligible.any(axis=0))
    if len(rows) == 0:
        return np.zeros((0, 2), int), np.arange(n), np.arange(m)
    sub = score[np.ix_(rows, cols)]
    # lapjv solves in float64: converting first spares it a slower conversion of its own
    _, row_to_col, _ = lap.lapjv((1.0 - sub).astype(np.float64), extend_cost=True, cost_limit=1.0 - threshold + 1e-9)
    found = np.flatnonzero(row_to_col >= 0)
    matches = np.stack([rows[found], cols[row_to_col[found]]], axis=1)
    matches = matches[score[matches[:, 0], matches[:, 1]] >= threshold]
    # (masks, not np.setdiff1d: that sorts, and took as long as the solver)
    unmatched_rows, unmatched_cols = np.ones(n, bool), np.ones(m, bool)
    unmatched_rows[matches[:, 0]], unmatched_cols[matches[:, 1]] = False, False
    return matches.astype(int), np.flatnonzero(unmatched_rows), np.flatnonzero(unmatched_cols)
