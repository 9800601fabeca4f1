"""What a frame tells the trackers beyond its segments: motion since the last frame, and colours.

OpenCV's DIS optical flow runs on a small grey copy of each frame (320 pixels wide: about
2 ms on one core) and is brought to the mask grid, where segments and objects live. The
flow is backward (from the new frame to the last one), so warping a mask is one gather:
each cell of the new frame takes the value of the cell it came from. Each cell's colour,
quantised to ``COLOR_BINS`` bins, lets an object be told from what surrounds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

from fastsam_track.errors import FlowError
from fastsam_track.masks import shrink
from fastsam_track.trackers.carry import gather

__all__ = ["COLOR_BINS", "FlowError", "FrameCues", "FrameFlow", "median_rows", "warp"]

_LEVELS = 8  # per BGR channel
COLOR_BINS = _LEVELS**3


@dataclass(frozen=True)
class FrameCues:
    """A frame's motion and colours on the mask grid.

    Attributes:
        flow: (h, w, 2) float32 backward flow (dx, dy) in cells: cell (y, x) of this frame was
            at (y + dy, x + dx) on the last frame; None on a video's first frame.
        colors: (h, w) int colour bin of each cell, in [0, ``COLOR_BINS``).
        residual: (h, w) float32 grey levels (0-255) the last frame, moved by the flow, is off
            this one in each cell: what the flow fails to explain (fast, deforming motion,
            things appearing); None on a first frame or when not asked for.
    """

    flow: np.ndarray | None
    colors: np.ndarray
    residual: np.ndarray | None = None

    @cached_property
    def scene(self) -> np.ndarray:
        """(2,) float32 (dx, dy): the scene's motion, the median of ``flow`` (0 without one); worked out once."""
        if self.flow is None:
            return np.zeros(2, np.float32)
        # Each component's median over a contiguous copy of it: 1.2x faster than over the strided components.
        return median_rows(self.flow.reshape(-1, 2).T.copy()).astype(np.float32, copy=False)


def median_rows(values: np.ndarray) -> np.ndarray:
    """(R,) ``np.median(values, axis=1)`` of an (R, n) float array, partitioned in place to get it: one selection of
    the upper middle value (and the lower one, for an even n, as the largest below it) instead of ``np.median``'s
    two and its overhead (70 against 120 us for the flow of a 90x160 grid); NaN where a row has one."""
    count = values.shape[1]
    if count == 0:
        return np.median(values, axis=1)
    half = count // 2
    values.partition(half, axis=1)
    middle = values[:, half].copy()
    if count % 2 == 0:
        middle = (values[:, :half].max(axis=1) + middle) / 2  # np.median's mean of the two, in the same dtype
    middle[np.isnan(values).any(axis=1)] = np.nan
    return middle


class FrameFlow:
    """The motion of each mask cell since the last frame.

    Args:
        width: width in pixels of the grey copy the flow is computed on.
        residual: also give each frame's ``FrameCues.residual`` (about 0.2 ms).

    Example:
        >>> image = np.zeros((90, 160, 3), np.uint8); image[30:60, 40:80] = 255
        >>> flow = FrameFlow()
        >>> flow.update(image, (45, 80)).flow is None  # the first frame has no motion yet
        True
        >>> flow.update(np.roll(image, 8, axis=1), (45, 80)).flow.shape
        (45, 80, 2)
    """

    def __init__(self, width: int = 320, residual: bool = False):
        self.width, self.residual = width, residual
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)  # type: ignore[attr-defined]
        # The medium preset without its variational refinement: on the DAVIS training sequences, the
        # truth moved one frame by it keeps J 0.874 against the preset's 0.867, at 2.1 ms a frame
        # against 3.4 (the refinement's smoothing seems to blur the flow across the objects' edges).
        self._fine = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)  # type: ignore[attr-defined]
        self._fine.setVariationalRefinementIterations(0)
        self._last: np.ndarray | None = None
        self._frame_shape: tuple[int, int] | None = None

    def reset(self) -> None:
        """Forget the last frame (a new video starts)."""
        self._last, self._frame_shape = None, None

    def update(self, image: np.ndarray, grid: tuple[int, ...], fine: bool = False) -> FrameCues:
        """This frame's backward flow to the last one and its colours, on the mask grid.

        Args:
            image: (H, W, 3) uint8 BGR frame, the same size as the last one.
            grid: (h, w) of the mask grid.
            fine: use DIS's finer search (medium preset, no refinement: about 2x the time,
                2 to 10 points better on fast motion): for a frame whose segments are carried by
                the flow alone.

        Raises:
            FlowError: the frame's size differs from the last frame's.
        """
        frame_shape = (int(image.shape[0]), int(image.shape[1]))
        if self._frame_shape is not None and frame_shape != self._frame_shape:
            raise FlowError(
                f"frame is {frame_shape[1]}x{frame_shape[0]} but the last one was "
                f"{self._frame_shape[1]}x{self._frame_shape[0]}: call reset() before a new video"
            )
        height = max(round(self.width * frame_shape[0] / frame_shape[1]), 8)
        small = shrink(image, (self.width, height))
        grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        last, self._last, self._frame_shape = self._last, grey, frame_shape
        h, w = int(grid[0]), int(grid[1])
        levels = cv2.resize(small, (w, h), interpolation=cv2.INTER_AREA) // (256 // _LEVELS)
        colors = (levels[..., 0].astype(np.intp) * _LEVELS + levels[..., 1]) * _LEVELS + levels[..., 2]
        if last is None:
            return FrameCues(None, colors)
        flow = (self._fine if fine else self._dis).calc(grey, last, None)  # (height, width, 2) pixels of the small copy
        scale = np.array([w / self.width, h / height], np.float32)  # small-copy pixels to cells
        cells = cv2.resize(flow, (w, h), interpolation=cv2.INTER_AREA) * scale
        return FrameCues(cells, colors, _residual(last, grey, cells) if self.residual else None)


def _residual(last: np.ndarray, grey: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """(h, w) float32 absolute grey difference per cell between ``grey`` and ``last`` moved by the (h, w, 2)
    backward ``flow`` (both grey images shrunk to the grid first; bilinear, edges repeated)."""
    h, w = flow.shape[:2]
    before = cv2.resize(last, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)
    now = cv2.resize(grey, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    moved = cv2.remap(before, xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return np.abs(moved - now)


def warp(masks: np.ndarray, flow: np.ndarray | None) -> np.ndarray:
    """(N, h, w) bool masks moved by a backward flow; what comes from outside the grid is empty.

    Args:
        masks: (N, h, w) bool.
        flow: (h, w, 2) float (dx, dy) from ``FrameFlow.update``, or None (no motion).

    Example:
        >>> m = np.zeros((1, 3, 4), bool); m[0, 1, 1] = True
        >>> flow = np.zeros((3, 4, 2), np.float32); flow[..., 0] = -1  # everything moved one cell right
        >>> warp(m, flow)[0].astype(int).tolist()
        [[0, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]]
    """
    if flow is None or len(masks) == 0:
        return masks
    return gather(masks, flow)
