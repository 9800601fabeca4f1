"""Mask-resolution segments to frame pixels: only where something is drawn or exported.

Masks travel through the pipeline at the model's prototype resolution (about 1/8 of the
frame for a 640-pixel input); these helpers are the only places that pay for full
resolution.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["label_map", "masked_crops", "mean_colors", "upsample_masks"]

_CV_MAX_CHANNELS = 128  # OpenCV 5 resizes at most 128 channels at once (4.x: 512)


def upsample_masks(masks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize a whole mask stack to frame resolution with bilinear interpolation.

    Args:
        masks: (N, h, w) bool masks at mask resolution.
        shape: (H, W) of the frame.

    Returns:
        (N, H, W) bool masks.

    Example:
        >>> upsample_masks(np.ones((2, 3, 4), bool), (6, 8)).shape
        (2, 6, 8)
    """
    height, width = shape
    if len(masks) == 0:
        return np.zeros((0, height, width), bool)
    # One cv2 call per chunk of channels instead of one per mask.
    planes = np.ascontiguousarray(masks.transpose(1, 2, 0)).astype(np.uint8) * 255
    chunks = [
        cv2.resize(planes[..., i : i + _CV_MAX_CHANNELS], (width, height), interpolation=cv2.INTER_LINEAR)
        for i in range(0, planes.shape[2], _CV_MAX_CHANNELS)
    ]
    resized = np.concatenate([c.reshape(height, width, -1) for c in chunks], axis=2)
    return resized.transpose(2, 0, 1) > 127


def label_map(masks: np.ndarray, shape: tuple[int, int], labels: np.ndarray) -> np.ndarray:
    """Paint masks into one (H, W) label image, smaller segments on top of larger ones.

    Each mask is upsampled only over the cells it covers (plus one around), with bilinear
    interpolation so edges are smooth rather than blocky. The cost follows the masks' area,
    not their boxes' (a box can be far larger than its mask); 100 masks at 720p take a few
    milliseconds, against 190 ms for upsampling the whole stack.

    Args:
        masks: (N, h, w) bool masks at mask resolution, covering the frame.
        shape: (H, W) of the frame.
        labels: (N,) positive ints written where each mask is.

    Returns:
        (H, W) int32 image: the label of the segment on top at each pixel, 0 where there is none.

    Example:
        >>> m = np.zeros((1, 4, 4), bool); m[0, 1:3, 1:3] = True
        >>> int(label_map(m, (8, 8), np.array([7]))[4, 4])
        7
    """
    height, width = shape
    out = np.zeros((height, width), np.int32)
    if len(masks) == 0:
        return out
    mh, mw = masks.shape[1:]
    sy, sx = height / mh, width / mw
    rows, cols = np.asarray(masks.any(axis=2)), np.asarray(masks.any(axis=1))  # (N, h), (N, w)
    # The covered cells' extent, widened by a cell so the interpolation sees the edge.
    y1 = np.maximum(rows.argmax(1) - 1, 0)
    y2 = np.minimum(mh - rows[:, ::-1].argmax(1) + 1, mh)
    x1 = np.maximum(cols.argmax(1) - 1, 0)
    x2 = np.minimum(mw - cols[:, ::-1].argmax(1) + 1, mw)
    areas = masks.sum(axis=(1, 2))
    for i in np.argsort(-areas, kind="stable"):
        if areas[i] == 0:
            continue
        X1, Y1 = round(x1[i] * sx), round(y1[i] * sy)
        X2, Y2 = min(round(x2[i] * sx), width), min(round(y2[i] * sy), height)
        crop = masks[i, y1[i] : y2[i], x1[i] : x2[i]].astype(np.uint8) * 255
        inside = cv2.resize(crop, (X2 - X1, Y2 - Y1), interpolation=cv2.INTER_LINEAR) > 127
        out[Y1:Y2, X1:X2][inside] = labels[i]
    return out


def mean_colors(image: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Mean colour of each segment, measured on the frame shrunk to the mask grid.

    The object tracker compares these to tell a lost object from a look-alike of another
    colour; shrinking the frame first keeps the cost to one resize and one matrix product.

    Args:
        image: (H, W, 3) uint8 BGR frame.
        masks: (N, h, w) bool masks at mask resolution.

    Returns:
        (N, 3) float32 BGR means (zeros for empty masks).

    Example:
        >>> image = np.zeros((8, 8, 3), np.uint8); image[:, 4:] = 200
        >>> m = np.zeros((1, 4, 4), bool); m[0, :, 2:] = True
        >>> mean_colors(image, m).tolist()
        [[200.0, 200.0, 200.0]]
    """
    h, w = masks.shape[1:]
    small = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA).reshape(-1, 3).astype(np.float32)
    flat = masks.reshape(len(masks), h * w).astype(np.float32)
    return (flat @ small) / np.maximum(flat.sum(axis=1, keepdims=True), 1.0)


def masked_crops(image: np.ndarray, masks: np.ndarray, boxes: np.ndarray, size: int, fill: int = 255) -> np.ndarray:
    """Each segment cut out of its frame for an image encoder (CLIP): its box, with the
    pixels outside its mask set to ``fill``, padded to a square and resized.

    Blanking the background matters: plain box crops of overlapping segments look alike,
    and the encoder then matches the wrong one (FastSAM's own text prompt blanks to white).

    Args:
        image: (H, W, 3) uint8 frame, any channel order (kept).
        masks: (N, h, w) bool masks at mask resolution.
        boxes: (N, 4) float boxes xyxy in frame pixels.
        size: side of the square crops.
        fill: value of the blanked and padded pixels.

    Returns:
        (N, size, size, 3) uint8 crops (all ``fill`` for a box that misses the frame).

    Example:
        >>> image = np.zeros((8, 8, 3), np.uint8); m = np.zeros((1, 4, 4), bool); m[0, :2, :2] = True
        >>> crops = masked_crops(image, m, np.array([[0.0, 0.0, 8.0, 8.0]]), 4)
        >>> crops[0, :, :, 0].tolist()
        [[0, 0, 255, 255], [0, 0, 255, 255], [255, 255, 255, 255], [255, 255, 255, 255]]
    """
    height, width = image.shape[:2]
    mh, mw = masks.shape[1:]
    sy, sx = height / mh, width / mw
    out = np.full((len(masks), size, size, 3), fill, np.uint8)
    corners = np.clip(np.round(boxes).astype(int), 0, [width, height, width, height])
    for i, (x1, y1, x2, y2) in enumerate(corners):
        if x2 <= x1 or y2 <= y1:
            continue
        # The mask cells under the box, upsampled to the pixels they cover, then cut to the box.
        gx1, gy1 = int(x1 / sx), int(y1 / sy)
        gx2, gy2 = min(int(np.ceil(x2 / sx)), mw), min(int(np.ceil(y2 / sy)), mh)
        px1, py1 = round(gx1 * sx), round(gy1 * sy)
        px2, py2 = max(min(round(gx2 * sx), width), x2), max(min(round(gy2 * sy), height), y2)
        cells = masks[i, gy1:gy2, gx1:gx2].astype(np.uint8) * 255
        inside = cv2.resize(cells, (px2 - px1, py2 - py1), interpolation=cv2.INTER_LINEAR) > 127
        inside = inside[y1 - py1 : y2 - py1, x1 - px1 : x2 - px1]
        crop = np.where(inside[..., None], image[y1:y2, x1:x2], np.uint8(fill))
        side = max(x2 - x1, y2 - y1)
        top, left = (side - (y2 - y1)) // 2, (side - (x2 - x1)) // 2
        square = np.full((side, side, 3), fill, np.uint8)
        square[top : top + y2 - y1, left : left + x2 - x1] = crop
        shrink = side > size
        out[i] = cv2.resize(square, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    return out
