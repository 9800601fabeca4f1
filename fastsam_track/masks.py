"""Mask-resolution segments to frame pixels: only where something is drawn or exported.

Masks travel through the pipeline at the model's prototype resolution (about 1/8 of the
frame for a 640-pixel input); these helpers are the only places that pay for full
resolution.

Where the model's mask logits are known (``Detections.data["logits"]``, quantized to
uint8 by ``quantize_logits``) they are what is upsampled, and thresholded only at frame
resolution, as ultralytics' ``retina_masks`` do: an edge then runs between the cells
instead of around them. Binary masks (a segments replay) are upsampled as levels 0 and 255,
so every helper takes either.
"""

from __future__ import annotations

import cv2
import numpy as np
import supervision as sv

from fastsam_track.types import CUT, LOGITS

__all__ = [
    "LOGIT_SCALE",
    "label_map",
    "label_map_of",
    "levels_of",
    "masked_crops",
    "mean_colors",
    "object_levels",
    "probabilities_of",
    "quantize_logits",
    "shrink",
    "upsample_masks",
]

_CV_MAX_CHANNELS = 128  # OpenCV 5 resizes at most 128 channels at once (4.x: 512)

LOGIT_SCALE = 16.0
"""Quantization steps per unit of logit: uint8 levels hold logits -8 to +8 in steps of 1/16.

Past |8| a mask is certain (sigmoid 0.9997); clipping there moves an interpolated edge by
at most 0.2 cell (where a cell of -100 meets one of +2), and the fine step matters more:
against retina masks on the built-in model's scenes, J is 0.996 with 16 steps, 0.992 with
8 (logits to ±16) and 0.985 with 4."""
_INSIDE = 128  # the level of a zero logit: a cell or pixel is inside its mask from this level up


def quantize_logits(logits: np.ndarray) -> np.ndarray:
    """Mask logits to uint8 levels, ``127.5 + 16 * logit`` rounded and clipped to 0-255 (a logit of exactly 0: 127).

    A level is 128 or more exactly where the logit is above 0 (where the mask is), and
    linear in the logit, so levels interpolate as logits do: a resized level map thresholded
    at 128 is the resized logit map thresholded at 0, to 1/32 of a logit. One OpenCV pass
    (scale, offset, round and saturate) and a check for zeros: 1.6x faster than numpy's
    four passes.

    Args:
        logits: (N, h, w) float32 mask logits.

    Returns:
        (N, h, w) uint8 levels.

    Example:
        >>> quantize_logits(np.array([[[-20.0, -0.01, 0.0, 0.01, 0.5, 20.0]]], np.float32)).tolist()
        [[[0, 127, 127, 128, 136, 255]]]
    """
    if logits.size == 0:
        return np.zeros(logits.shape, np.uint8)
    flat = logits.reshape(len(logits), -1)
    levels = cv2.addWeighted(flat, LOGIT_SCALE, flat, 0.0, _INSIDE - 0.5, dtype=cv2.CV_8U)
    zero = flat == 0  # 127.5 would round to 128: inside, where the mask (logit > 0) is not
    if zero.any():
        levels[zero] = _INSIDE - 1
    return levels.reshape(logits.shape)


def levels_of(detections: sv.Detections) -> np.ndarray:
    """(N, h, w) uint8 levels of ``detections``' masks: their quantized logits when the
    model gave them, else the binary masks as 0 and 255 (a replay, masks made by hand).

    Levels are 128 or more inside; a mask stack at another size than the logits' (masks
    made at frame size by a caller) is taken as binary.
    """
    mask = np.asarray(detections.mask)
    levels = detections.data.get(LOGITS)
    if levels is not None and np.shape(levels) == mask.shape:
        return np.asarray(levels)
    return mask.astype(np.uint8) * np.uint8(255)


_SIGMOID = (1.0 / (1.0 + np.exp(-(np.arange(256) - _INSIDE + 0.5) / LOGIT_SCALE))).astype(np.float32)


def probabilities_of(levels: np.ndarray) -> np.ndarray:
    """(N, h, w) uint8 levels to (N, h, w) float32 mask probabilities (each level's mid-logit through the sigmoid).

    Example:
        >>> [round(float(p), 3) for p in probabilities_of(np.array([0, 128, 255], np.uint8))]
        [0.0, 0.508, 1.0]
    """
    return _SIGMOID[levels]


def object_levels(masks: np.ndarray, members: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Levels of prompted objects, from the levels of the segments they are made of.

    An object's mask is a union of segments, clipped, smoothed or carried by the optical
    flow. Each cell keeps the object's own inside/outside decision; where the segments'
    highest level (the max of the member segments' logits) agrees with it, that level is
    kept, so the object's edge runs where its segments' edges run, between the cells. Where
    it disagrees (a cell the flow added, a merged neighbour clipped off), the cell is made
    certain (255 inside, 0 outside) and the edge there is the binary mask's, smoothed.

    Args:
        masks: (K, h, w) bool object masks.
        members: (K, N) bool: the segments each object is made of.
        levels: (N, h, w) uint8 levels of the frame's segments.

    Returns:
        (K, h, w) uint8 levels, 128 or more exactly where ``masks`` is True.

    Example:
        >>> masks = np.array([[[False, True, True]]]); levels = np.array([[[90, 140, 60]]], np.uint8)
        >>> object_levels(masks, np.array([[True]]), levels).tolist()
        [[[90, 140, 255]]]
    """
    out = masks.astype(np.uint8) * np.uint8(255)
    # A few prompted objects a frame: one max over each one's members.
    for k in np.flatnonzero(members.any(axis=1)):
        best = levels[members[k]].max(axis=0)
        agree = masks[k] == (best >= _INSIDE)
        np.copyto(out[k], best, where=agree)
    return out


def _as_levels(masks: np.ndarray) -> np.ndarray:
    """Bool masks as uint8 levels 0 and 255; uint8 levels unchanged."""
    return masks if masks.dtype == np.uint8 else masks.astype(np.uint8) * np.uint8(255)


def upsample_masks(masks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize a whole mask stack to frame resolution with bilinear interpolation, then threshold.

    Args:
        masks: (N, h, w) bool masks or uint8 levels (``levels_of``) at mask resolution.
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
    planes = np.ascontiguousarray(_as_levels(masks).transpose(1, 2, 0))
    chunks = [
        cv2.resize(planes[..., i : i + _CV_MAX_CHANNELS], (width, height), interpolation=cv2.INTER_LINEAR)
        for i in range(0, planes.shape[2], _CV_MAX_CHANNELS)
    ]
    resized = np.concatenate([c.reshape(height, width, -1) for c in chunks], axis=2)
    return resized.transpose(2, 0, 1) >= _INSIDE


def label_map(
    masks: np.ndarray, shape: tuple[int, int], labels: np.ndarray, boxes: np.ndarray | None = None
) -> np.ndarray:
    """Paint masks into one (H, W) label image, smaller segments on top of larger ones.

    Each mask is upsampled only over the cells it covers (plus one around), with bilinear
    interpolation before the threshold: from logit levels, edges fall between the cells
    where the model puts them; from binary masks, they follow the cells with their corners
    cut. The cost follows the masks' area, not their boxes' (a box can be far larger than
    its mask); 100 masks at 720p take a few milliseconds, against 190 ms for upsampling the
    whole stack.

    Args:
        masks: (N, h, w) bool masks or uint8 levels (``levels_of``) at mask resolution,
            covering the frame.
        shape: (H, W) of the frame.
        labels: (N,) positive ints written where each mask is.
        boxes: (N, 4) xyxy frame-pixel boxes each mask is cut to, pixel by pixel, as
            ultralytics' ``crop_mask`` cuts retina masks; None: no cut.

    Returns:
        (H, W) image: the label of the segment on top at each pixel, 0 where there is none;
        uint8 when every label fits a byte (cheaper to paint, colour and compare), else int32.

    Example:
        >>> m = np.zeros((1, 4, 4), bool); m[0, 1:3, 1:3] = True
        >>> int(label_map(m, (8, 8), np.array([7]))[4, 4])
        7
    """
    height, width = shape
    small = len(labels) == 0 or int(np.max(labels)) <= 255
    out = np.zeros((height, width), np.uint8 if small else np.int32)
    if len(masks) == 0:
        return out
    levels = _as_levels(masks)
    cells = levels >= _INSIDE  # a pixel can be inside only between cells of which one is
    mh, mw = masks.shape[1:]
    sy, sx = height / mh, width / mw
    rows, cols = np.asarray(cells.any(axis=2)), np.asarray(cells.any(axis=1))  # (N, h), (N, w)
    # The covered cells' extent, widened by a cell so the interpolation sees the edge.
    y1 = np.maximum(rows.argmax(1) - 1, 0)
    y2 = np.minimum(mh - rows[:, ::-1].argmax(1) + 1, mh)
    x1 = np.maximum(cols.argmax(1) - 1, 0)
    x2 = np.minimum(mw - cols[:, ::-1].argmax(1) + 1, mw)
    # A pixel is in its box when its index is in [x1, x2) and [y1, y2): from the rounded-up corners.
    cut = None if boxes is None else np.ceil(np.asarray(boxes, np.float64)).astype(int)
    if cut is not None:  # nor is a cell outside the box (widened by one) resized: the logits go on past it
        x1 = np.maximum(x1, np.floor(cut[:, 0] / sx).astype(int) - 1)
        y1 = np.maximum(y1, np.floor(cut[:, 1] / sy).astype(int) - 1)
        x2 = np.minimum(x2, np.ceil(cut[:, 2] / sx).astype(int) + 1)
        y2 = np.minimum(y2, np.ceil(cut[:, 3] / sy).astype(int) + 1)
    areas = cells.sum(axis=(1, 2))
    # Each crop's pixels (as Python ints: numpy scalars cost more than the painting in this loop).
    X1, Y1 = np.round(x1 * sx), np.round(y1 * sy)
    X2, Y2 = np.minimum(np.round(x2 * sx), width), np.minimum(np.round(y2 * sy), height)
    pixels = np.stack([X1, Y1, X2, Y2], axis=1).astype(int).tolist()
    crops = np.stack([x1, y1, x2, y2], axis=1).tolist()
    corners = None if cut is None else cut.tolist()
    values = np.asarray(labels).tolist()
    for i in np.argsort(-areas, kind="stable").tolist():
        cx1, cy1, cx2, cy2 = crops[i]
        if areas[i] == 0 or cx2 <= cx1 or cy2 <= cy1:
            continue
        X1, Y1, X2, Y2 = pixels[i]
        resized = cv2.resize(levels[i, cy1:cy2, cx1:cx2], (X2 - X1, Y2 - Y1), interpolation=cv2.INTER_LINEAR)
        # The pixels painted: the resized crop's, within the box when there is one.
        left, top, right, bottom = X1, Y1, X2, Y2
        if corners is not None:
            bx1, by1, bx2, by2 = corners[i]
            left, top, right, bottom = max(left, bx1), max(top, by1), min(right, bx2), min(bottom, by2)
            if right <= left or bottom <= top:
                continue
        inside = resized[top - Y1 : bottom - Y1, left - X1 : right - X1] >= _INSIDE
        if small:  # OpenCV's masked copy: twice as fast as numpy's boolean assignment
            cv2.copyTo(np.full(inside.shape, values[i], np.uint8), inside.view(np.uint8), out[top:bottom, left:right])
        else:
            out[top:bottom, left:right][inside] = values[i]
    return out


def label_map_of(detections: sv.Detections, shape: tuple[int, int], labels: np.ndarray) -> np.ndarray:
    """``label_map`` of ``detections`` as they are drawn and exported: their logits upsampled
    and cut to their boxes (``xyxy + data["cut"]``) when they have them, else their masks.

    Returns:
        (H, W) image of ``labels`` (uint8 when they fit a byte, else int32), 0 where there is no mask.
    """
    cut = detections.data.get(CUT)
    boxes = None if cut is None else np.asarray(detections.xyxy) + np.asarray(cut)
    return label_map(levels_of(detections), shape, labels, boxes)


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
    small = shrink(image, (w, h)).reshape(-1, 3).astype(np.float32)
    flat = masks.reshape(len(masks), h * w).astype(np.float32)
    return (flat @ small) / np.maximum(flat.sum(axis=1, keepdims=True), 1.0)


def shrink(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """An (H, W, 3) image resized to ``size`` (width, height) about as an area average would, 3-5x faster.

    OpenCV's area resize by a fraction is slow on a full frame (1.3-1.7 ms for 720p or 480p to
    320 wide); a bilinear resize to twice the size, then an area halving, costs 0.3-0.5 ms and
    differs from it by less than one grey level on average.
    """
    width, height = size
    if image.shape[1] <= 2 * width:
        return cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    double = cv2.resize(image, (2 * width, 2 * height), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(double, size, interpolation=cv2.INTER_AREA)


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
