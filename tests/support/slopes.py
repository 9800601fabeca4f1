"""A segment with a sloped edge, as the model gives it: logits that put the edge between the cells."""

from __future__ import annotations

import numpy as np
import supervision as sv

from fastsam_track.masks import quantize_logits
from fastsam_track.types import CUT, LOGITS

__all__ = ["sloped_segment"]


def sloped_segment(
    grid: tuple[int, int] = (12, 16), cell: int = 8, logits: bool = True
) -> tuple[sv.Detections, np.ndarray]:
    """One segment: the part of the frame above the line y = x / 2 + 10 (frame pixels).

    The logit at each cell centre is the centre's distance from the line in cells, times 4,
    so bilinear interpolation of the logits gives the line itself; the binary mask at the
    grid is a staircase of ``cell``-pixel steps.

    Args:
        grid: (h, w) cells of the mask grid; the frame is ``cell`` times larger.
        cell: pixels per cell.
        logits: give the segment ``data["logits"]`` and ``data["cut"]`` (to the whole frame),
            as the segmenter does; False: only the binary mask, as a segments replay does.

    Returns:
        The segment (``mask`` (1, h, w) bool) and its (H, W) bool mask at frame resolution.
    """
    height, width = grid[0] * cell, grid[1] * cell
    v, u = (np.mgrid[: grid[0], : grid[1]] + 0.5) * cell
    field = ((0.5 * u - v + 10) / cell * 4).astype(np.float32)[None]
    masks = field > 0
    boxes = sv.mask_to_xyxy(masks).astype(np.float32) * cell
    data = {LOGITS: quantize_logits(field), CUT: np.array([[0, 0, width, height]], np.float32) - boxes}
    segment = sv.Detections(
        xyxy=boxes,
        mask=masks,
        confidence=np.array([0.9], np.float32),
        data=data if logits else {},
    )
    y, x = np.mgrid[:height, :width] + 0.5
    return segment, 0.5 * x - y + 10 > 0
