"""FastSAM's prompt selection on one frame's segments, at mask resolution.

Points: masks that contain a foreground point are painted in, masks that contain a
background point painted out, largest first, so the smallest mask under a point decides
its pixels (FastSAM's ``point_prompt``). Boxes: the mask whose IoU with the box region is
highest (FastSAM's ``box_prompt``).
"""

from __future__ import annotations

import numpy as np

from fastsam_track.errors import PromptMiss

__all__ = ["PromptMiss", "PromptWarning", "select_by_box", "select_by_points", "smooth_mask", "to_grid"]


class PromptWarning(UserWarning):
    """A prompt was skipped (it selected nothing); the run goes on without that object.

    Args:
        object_id: the prompt's object.
        frame: the prompt's frame.
        reason: why it selected nothing.

    Example:
        >>> warning = PromptWarning(4, 0, "no segment to match 'red'")
        >>> str(warning), warning.object_id, warning.reason
        ("object 4 on frame 0: no segment to match 'red'", 4, "no segment to match 'red'")
    """

    def __init__(self, object_id: int, frame: int, reason: str):
        super().__init__(f"object {object_id} on frame {frame}: {reason}")
        self.object_id, self.frame, self.reason = object_id, frame, reason


def to_grid(xy: np.ndarray, frame_shape: tuple[int, int], mask_shape: tuple[int, int]) -> np.ndarray:
    """(K, 2) frame-pixel (x, y) coordinates to (K, 2) float coordinates on the mask grid.

    Example:
        >>> to_grid(np.array([[640.0, 360.0]]), (720, 1280), (90, 160)).tolist()
        [[80.0, 45.0]]
    """
    scale = np.array([mask_shape[1] / frame_shape[1], mask_shape[0] / frame_shape[0]])
    return np.asarray(xy, float).reshape(-1, 2) * scale


def select_by_points(masks: np.ndarray, cells: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The object that foreground and background points select.

    Args:
        masks: (N, h, w) bool segments of the frame.
        cells: (K, 2) float (x, y) point positions on the mask grid.
        labels: (K,) int, 1 foreground, 0 background.

    Returns:
        (h, w) bool mask of the object.

    Raises:
        PromptMiss: no segment holds a foreground point, or background points remove all of it.

    Example:
        >>> masks = np.zeros((3, 4, 4), bool); masks[0, :, :2] = True; masks[1, :, 2:] = True; masks[2] = True
        >>> select_by_points(masks, np.array([[0.0, 0.0], [3.0, 3.0]]), np.array([1, 0])).sum(axis=0).tolist()
        [4, 4, 0, 0]
    """
    h, w = masks.shape[1:]
    xy = np.clip(np.floor(cells).astype(int), 0, [w - 1, h - 1])
    hits = masks[:, xy[:, 1], xy[:, 0]]  # (N, K): segment n holds point k
    foreground = (hits & (labels == 1)).any(1)
    background = (hits & (labels == 0)).any(1)
    chosen = np.flatnonzero(foreground | background)
    if not foreground.any():
        raise PromptMiss("no segment contains a foreground point")
    # Largest first: the smallest chosen mask over a pixel decides it (background wins a tie).
    areas = masks[chosen].sum(axis=(1, 2))
    chosen = chosen[np.argsort(-areas, kind="stable")]
    stack = masks[chosen]
    top = np.argmax(stack * np.arange(1, len(chosen) + 1)[:, None, None], axis=0)
    selected = stack.any(0) & (foreground & ~background)[chosen][top]
    if not selected.any():
        raise PromptMiss("background points remove every segment that holds a foreground point")
    return selected


def select_by_box(masks: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The segment whose mask best fills a box.

    Args:
        masks: (N, h, w) bool segments of the frame.
        box: (4,) float xyxy on the mask grid.

    Returns:
        (h, w) bool mask of the segment with the highest IoU against the box region.

    Raises:
        PromptMiss: no segment overlaps the box.

    Example:
        >>> masks = np.zeros((2, 8, 8), bool); masks[0, :4, :4] = True; masks[1] = True
        >>> select_by_box(masks, np.array([0.0, 0, 4, 4])).sum()
        np.int64(16)
    """
    h, w = masks.shape[1:]
    x1, y1 = np.clip(np.floor(box[:2]).astype(int), 0, [w, h])
    x2, y2 = np.clip(np.ceil(box[2:]).astype(int), 0, [w, h])
    inside = masks[:, y1:y2, x1:x2].sum(axis=(1, 2))
    box_area = max((x2 - x1) * (y2 - y1), 1)
    iou = inside / (box_area + masks.sum(axis=(1, 2)) - inside + 1e-9)
    if len(masks) == 0 or inside.max() == 0:
        raise PromptMiss("no segment overlaps the box")
    return masks[int(np.argmax(iou))].copy()


def _dilate(mask: np.ndarray) -> np.ndarray:
    padded = np.pad(mask, 1)
    h, w = mask.shape
    return np.logical_or.reduce([padded[dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)])


def _erode(mask: np.ndarray) -> np.ndarray:
    return ~_dilate(~mask)


def smooth_mask(mask: np.ndarray, iterations: int = 1) -> np.ndarray:
    """Morphological close then open with a 3x3 square, as FastSAM smooths a selected mask.

    Args:
        mask: (h, w) bool.
        iterations: the kernel's reach in cells; 0 returns the mask unchanged.

    Example:
        >>> m = np.zeros((9, 9), bool); m[2:7, 2:7] = True; m[4, 4] = False; m[0, 0] = True
        >>> smooth_mask(m).sum()  # the hole is filled, the speck removed
        np.int64(25)
    """
    out = mask
    for _ in range(iterations):
        out = _dilate(out)
    for _ in range(iterations):
        out = _erode(out)
    for _ in range(iterations):
        out = _erode(out)
    for _ in range(iterations):
        out = _dilate(out)
    return out
