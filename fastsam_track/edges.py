"""Zero-shot edge detection from everything-mode output, as in the FastSAM paper (BSDS500).

Each segment's mask probability map is Sobel-filtered, the strongest response over all
segments is kept at each cell, and the result is brought to frame size and thinned by
non-maximum suppression along the gradient, the usual edge NMS. Filtering happens at
mask resolution (about 1/8 of the frame), so the cost is one resize of a single map.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["edge_map"]

_SOBEL_STEP = 4.0  # Sobel magnitude of a unit step: the response of a sharp, certain mask edge


def _sobel(stack: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, h, w) float maps to their (N, h, w) x and y Sobel derivatives (edges replicated)."""
    p = np.pad(stack, ((0, 0), (1, 1), (1, 1)), mode="edge")
    smooth_rows = p[:, :-2] + 2 * p[:, 1:-1] + p[:, 2:]  # (N, h, w + 2): [1, 2, 1] down the columns
    smooth_cols = p[:, :, :-2] + 2 * p[:, :, 1:-1] + p[:, :, 2:]  # (N, h + 2, w): [1, 2, 1] along the rows
    return smooth_rows[:, :, 2:] - smooth_rows[:, :, :-2], smooth_cols[:, 2:] - smooth_cols[:, :-2]


def _thin(magnitude: np.ndarray, gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """Keep the (H, W) magnitudes that are maxima across the edge (gradient direction in four bins)."""
    angle = (np.rad2deg(np.arctan2(gy, gx)) + 180.0) % 180.0
    direction = ((angle + 22.5) // 45).astype(int) % 4  # 0: horizontal gradient, 1: 45°, 2: vertical, 3: 135°
    p = np.pad(magnitude, 1)
    h, w = magnitude.shape
    # Neighbours on both sides along each of the four directions: (dy, dx) offsets.
    offsets = ((0, 1), (1, 1), (1, 0), (1, -1))
    keep = np.zeros_like(magnitude, bool)
    for k, (dy, dx) in enumerate(offsets):
        ahead = p[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]
        behind = p[1 - dy : 1 - dy + h, 1 - dx : 1 - dx + w]
        keep |= (direction == k) & (magnitude >= ahead) & (magnitude > behind)  # a plateau keeps one side
    return np.where(keep, magnitude, 0.0)


def edge_map(probabilities: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The edge map of a frame's segments.

    Args:
        probabilities: (N, h, w) float mask probabilities in [0, 1] at mask resolution
            (binary masks work too: their edges are then as sharp as the grid).
        shape: (H, W) of the frame.

    Returns:
        (H, W) uint8 edge strength, 0 off edges and 255 on a sharp, certain mask edge, one
        pixel wide.

    Example:
        >>> masks = np.zeros((1, 8, 8), np.float32); masks[0, :, 4:] = 1.0
        >>> edges = edge_map(masks, (16, 16))
        >>> np.flatnonzero(edges[8] > 128).tolist()  # the mask starts at pixel 8
        [7]
    """
    height, width = shape
    if len(probabilities) == 0:
        return np.zeros(shape, np.uint8)
    gx, gy = _sobel(np.asarray(probabilities, np.float32))
    strength = np.hypot(gx, gy)  # (N, h, w)
    winner = np.argmax(strength, axis=0)[None]  # the segment with the strongest edge at each cell
    gx, gy = np.take_along_axis(gx, winner, 0)[0], np.take_along_axis(gy, winner, 0)[0]
    size = (width, height)
    magnitude = cv2.resize(np.hypot(gx, gy), size, interpolation=cv2.INTER_LINEAR)
    gx, gy = cv2.resize(gx, size, interpolation=cv2.INTER_LINEAR), cv2.resize(gy, size, interpolation=cv2.INTER_LINEAR)
    thin = _thin(magnitude, gx, gy)
    return np.clip(thin * (255.0 / _SOBEL_STEP), 0, 255).astype(np.uint8)
