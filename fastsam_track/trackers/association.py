"""Association maths on mask stacks: overlaps, IoU and coverage matrices, and assignment.

Pure numpy and lapx. Masks are compared at mask resolution (the model's prototype
grid, about 90x160 for a 720p frame): one matrix product gives every pairwise
intersection, 100x100 masks in a few milliseconds.
"""

from __future__ import annotations

import lap
import numpy as np

__all__ = ["assign", "mask_coverage", "mask_iou", "mask_overlaps"]


def mask_overlaps(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairwise intersections and the areas of two mask stacks of one resolution.

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
        raise ValueError(f"mask stacks differ in resolution: {a.shape[1:]} and {b.shape[1:]}")
    pixels = int(np.prod(a.shape[1:]))
    bytes_a, bytes_b = a.reshape(len(a), pixels).view(np.uint8), b.reshape(len(b), pixels).view(np.uint8)
    inter = bytes_a.astype(np.float32) @ bytes_b.astype(np.float32).T
    return inter, bytes_a.sum(1, dtype=np.int32).astype(np.float32), bytes_b.sum(1, dtype=np.int32).astype(np.float32)


def mask_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) float32 intersection over union of (N, h, w) and (M, h, w) bool masks; 0 for two empty masks.

    Example:
        >>> a = np.zeros((1, 2, 2), bool); a[0, 0] = True
        >>> mask_iou(a, np.ones((1, 2, 2), bool)).tolist()
        [[0.5]]
        >>> mask_iou(a, np.zeros((0, 2, 2), bool)).shape
        (1, 0)
    """
    inter, area_a, area_b = mask_overlaps(a, b)
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
    if n == 0 or m == 0:
        return np.zeros((0, 2), int), np.arange(n), np.arange(m)
    _, row_to_col, _ = lap.lapjv(1.0 - score, extend_cost=True, cost_limit=1.0 - threshold + 1e-9)
    rows = np.flatnonzero(row_to_col >= 0)
    matches = np.stack([rows, row_to_col[rows]], axis=1)
    matches = matches[score[matches[:, 0], matches[:, 1]] >= threshold]
    unmatched_rows = np.setdiff1d(np.arange(n), matches[:, 0])
    unmatched_cols = np.setdiff1d(np.arange(m), matches[:, 1])
    return matches.astype(int), unmatched_rows, unmatched_cols
