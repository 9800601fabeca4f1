"""Mask motion on the mask grid: masks as sparse rows of cells moved by a flow or a velocity, centroids,
widening."""

from __future__ import annotations

import functools

import cv2
import numpy as np
from scipy import sparse

__all__ = ["boxes_of", "cell_grid", "centroid", "centroids_of", "grow", "move_cells", "shift", "touches_edge"]


def move_cells(
    cells: sparse.csr_matrix, grid: tuple[int, int], flow: np.ndarray | None, velocity: np.ndarray | None
) -> sparse.csr_matrix:
    """Sparse rows of masks (``association.sparse_rows``), each cell moved to where it is on this frame.

    Args:
        cells: (T, h * w) CSR rows of T masks.
        grid: (h, w).
        flow: (h, w, 2) backward flow (dx, dy) of the frame (``FrameFlow``): a cell at p moves to
            about p - flow(p). None: move by ``velocity``.
        velocity: (T, 2) (dy, dx) cells per frame of each mask, used when ``flow`` is None (None: stay).

    Returns:
        (T, h * w) CSR rows; cells that leave the grid are gone, cells that land together count once.

    Example:
        >>> from fastsam_track.trackers.association import sparse_rows
        >>> m = np.zeros((1, 2, 3), bool); m[0, 0, 0] = True
        >>> moved = move_cells(sparse_rows(m), (2, 3), None, np.array([[1.0, 2.0]]))
        >>> moved.toarray().reshape(2, 3).astype(int).tolist()
        [[0, 0, 0], [0, 0, 1]]
    """
    h, w = grid
    if flow is None and (velocity is None or not np.any(np.abs(velocity) >= 0.5)):
        return cells
    count, size = cells.shape
    # (row, cell) keys in int32 when they fit: half the bytes to sort.
    dtype = np.int32 if count * size < 2**31 else np.int64
    row = np.repeat(np.arange(count, dtype=dtype), np.diff(cells.indptr))
    if flow is not None:
        # Where each cell of the grid lands (-1: off the grid), worked out once per grid cell and read for every
        # track's cells (lost tracks make those about 3x the grid's).
        ys, xs = cell_grid(h, w).reshape(2, size)  # float64, as the int + float32 sums were: the same positions
        moves = flow.reshape(-1, 2)
        land = _landing(ys - moves[:, 1], xs - moves[:, 0], h, w)
    else:
        assert velocity is not None
        y, x = np.divmod(cells.indices, w)
        land = _landing(y + np.take(velocity[:, 0], row), x + np.take(velocity[:, 1], row), h, w)
    to = np.take(land, cells.indices) if flow is not None else land
    # One sort of (row, cell) keys orders every row's cells and brings the cells that land together
    # side by side (scipy's sum_duplicates on the same rows took twice as long).
    key = (row * dtype(size) + to)[to >= 0]
    # Mostly in order already when the flow is small (cells land where they were): timsort, adaptive, sorts that
    # in a fifth of quicksort's time, and a random order in ten times it; either gives the same keys.
    key = np.sort(key, kind="stable" if np.count_nonzero(key[1:] < key[:-1]) < len(key) // 32 else "quicksort")
    first = np.ones(len(key), bool)
    np.not_equal(key[1:], key[:-1], out=first[1:])
    key = key[first]
    # Each row's cells start at its first key: the rows' ends by bisection, each cell its key less its row's start
    # (a divmod of every key took 3.5x as long: integer division).
    indptr = np.searchsorted(key, np.arange(count + 1, dtype=dtype) * dtype(size)).astype(dtype)
    cell = key - np.repeat(np.arange(0, count * size, size, dtype=dtype), np.diff(indptr))
    moved = sparse.csr_matrix((np.ones(len(cell), np.float32), cell, indptr), shape=cells.shape)
    moved.has_sorted_indices = True
    return moved


def _landing(y: np.ndarray, x: np.ndarray, h: int, w: int) -> np.ndarray:
    """Flat cell indices of float (y, x) positions rounded to the nearest cell (half to even), -1 off the (h, w)
    grid; of the positions' integer dtype when they fit."""
    y2, x2 = np.rint(y).astype(np.intp), np.rint(x).astype(np.intp)
    inside = (y2.view(np.uintp) < h) & (x2.view(np.uintp) < w)  # (a negative one is a large unsigned one)
    flat = y2 * w
    flat += x2
    flat[~inside] = -1
    return flat.astype(np.int32 if h * w < 2**31 else np.intp)


def centroids_of(cells: sparse.csr_matrix, grid: tuple[int, int]) -> np.ndarray:
    """(T, 2) float (y, x) centres of masks given as sparse rows of cells; zeros for empty ones.

    Example:
        >>> from fastsam_track.trackers.association import sparse_rows
        >>> m = np.zeros((1, 4, 4), bool); m[0, 2:4, 0:2] = True
        >>> centroids_of(sparse_rows(m), (4, 4)).tolist()
        [[2.5, 0.5]]
    """
    ys, xs = _coordinates(*grid)
    area = np.maximum(np.diff(cells.indptr), 1).astype(float)
    return np.stack([cells @ ys, cells @ xs], axis=1) / area[:, None]


@functools.lru_cache(maxsize=4)
def cell_grid(h: int, w: int) -> np.ndarray:
    """(2, h, w) float64 ``np.mgrid[0:h, 0:w]``: each cell's row and column, read-only (cached: the same for every
    frame)."""
    grid = np.mgrid[0:h, 0:w].astype(np.float64)
    grid.flags.writeable = False
    return grid


@functools.lru_cache(maxsize=4)
def _coordinates(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """(h * w,) float32 row and (h * w,) float32 column of each cell of an (h, w) grid, read-only (cached: the
    same for every frame)."""
    ys, xs = cell_grid(h, w).reshape(2, h * w).astype(np.float32)  # whole numbers: exact in float32
    ys.flags.writeable = xs.flags.writeable = False
    return ys, xs


def shift(mask: np.ndarray, dy: float, dx: float) -> np.ndarray:
    """(h, w) bool mask moved by whole cells; what leaves the grid is gone.

    Example:
        >>> shift(np.eye(3, dtype=bool), 0, 1).astype(int).tolist()
        [[0, 1, 0], [0, 0, 1], [0, 0, 0]]
    """
    dy, dx = round(dy), round(dx)
    h, w = mask.shape
    out = np.zeros_like(mask)
    if abs(dy) >= h or abs(dx) >= w:
        return out
    out[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = mask[
        max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


def centroid(mask: np.ndarray) -> np.ndarray:
    """(2,) float (y, x) centre of an (h, w) bool mask; zeros for an empty one."""
    rows, cols = np.count_nonzero(mask, axis=1), np.count_nonzero(mask, axis=0)
    count = int(rows.sum())
    # Integer sums of the cells' rows and columns (exact), divided once: np.nonzero's means, in a third of the time.
    return (
        np.array([int(rows @ np.arange(len(rows))) / count, int(cols @ np.arange(len(cols))) / count])
        if count
        else np.zeros(2)
    )


def grow(mask: np.ndarray, cells: int) -> np.ndarray:
    """Dilate an (h, w) bool mask by ``cells`` with a square.

    Example:
        >>> grow(np.eye(3, dtype=bool)[:1], 1).astype(int).tolist()
        [[1, 1, 0]]
    """
    if cells <= 0:
        return mask
    kernel = np.ones((2 * cells + 1, 2 * cells + 1), np.uint8)
    return cv2.dilate(mask.view(np.uint8), kernel).view(bool)


def touches_edge(mask: np.ndarray) -> bool:
    """Whether an (h, w) bool mask reaches the grid's border."""
    return bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())


def boxes_of(stack: np.ndarray, frame_shape: tuple[int, int]) -> np.ndarray:
    """(K, 4) float32 xyxy frame-pixel boxes of (K, h, w) bool masks."""
    if len(stack) == 0:
        return np.zeros((0, 4), np.float32)
    h, w = stack.shape[1:]
    rows, cols = np.asarray(stack.any(axis=2)), np.asarray(stack.any(axis=1))
    y1, y2 = rows.argmax(1), h - rows[:, ::-1].argmax(1)
    x1, x2 = cols.argmax(1), w - cols[:, ::-1].argmax(1)
    scale = np.array([frame_shape[1] / w, frame_shape[0] / h] * 2)
    return (np.stack([x1, y1, x2, y2], 1) * scale).astype(np.float32)
