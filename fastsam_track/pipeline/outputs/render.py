"""Everything-mode overlay: translucent masks with contours, one colour per segment.

One label image is painted per frame and coloured through a lookup table, instead of
blending each mask on its own (supervision's MaskAnnotator took 151 ms per 720p frame
with 100 masks here; this takes about 10 ms with 35, see benchmarks/README.md).
"""

from __future__ import annotations

import cv2
import numpy as np
import supervision as sv

from fastsam_track.errors import UsageError
from fastsam_track.masks import label_map_of
from fastsam_track.types import SegmentedFrame

__all__ = ["SegmentRenderer", "palette_colors"]


def _palette() -> np.ndarray:
    """(K, 3) uint8 BGR colours of supervision's default palette."""
    return np.array([c.as_bgr() for c in sv.ColorPalette.DEFAULT.colors], np.uint8)


_PALETTE = _palette()


def palette_colors(keys: np.ndarray) -> np.ndarray:
    """(N, 3) uint8 BGR colour of each of (N,) int keys (track or object ids): the colour its mask is drawn with.

    Example:
        >>> palette_colors(np.array([1, 1 + len(_PALETTE)])).tolist() == [_PALETTE[1].tolist()] * 2
        True
    """
    return _PALETTE[np.asarray(keys, int).reshape(-1) % len(_PALETTE)]


class SegmentRenderer:
    """Draw segments over their frame.

    Colours follow ``tracker_id`` when segments are tracked or objects prompted (so a
    segment keeps its colour across frames) and the row order otherwise.

    Args:
        opacity: weight of the mask colour, 0 (invisible) to 1 (opaque).
        contour_thickness: contour width in pixels; 0 draws no contours.
        edges: draw the edge map (``SegmentedFrame.edges``) instead of the segments.

    Example:
        >>> from fastsam_track.types import Frame
        >>> masks = np.zeros((1, 4, 4), bool); masks[0, :2, :2] = True
        >>> segments = sv.Detections(xyxy=np.array([[0, 0, 4, 4]], np.float32), mask=masks)
        >>> image = SegmentRenderer().render(SegmentedFrame(Frame(0, np.zeros((8, 8, 3), np.uint8), 0.0), segments))
        >>> bool(image[1, 1].any()), bool(image[6, 6].any())
        (True, False)
    """

    def __init__(self, opacity: float = 0.5, contour_thickness: int = 2, edges: bool = False):
        if not 0.0 <= opacity <= 1.0:
            raise UsageError(f"opacity must be between 0 and 1, got {opacity}")
        if contour_thickness < 0:
            raise UsageError(f"contour_thickness must be 0 or more, got {contour_thickness}")
        self.opacity = opacity
        self.contour_thickness = contour_thickness
        self.edges = edges

    def render(self, segmented: SegmentedFrame) -> np.ndarray:
        """The (H, W, 3) uint8 BGR frame with its segments drawn on a copy (what the run's sinks show).

        With prompts (``segmented.objects`` is not None) only the prompted objects are
        drawn, coloured by object id; otherwise every segment. With ``edges``, the frame's
        edge map (``segmented.edges``) is drawn instead: white edges on black.
        """
        if self.edges:
            if segmented.edges is None:
                raise UsageError("the renderer draws edge maps: run with edges=True")
            return cv2.cvtColor(segmented.edges, cv2.COLOR_GRAY2BGR)
        segments = segmented.objects if segmented.objects is not None else segmented.segments
        return self.annotate(segmented.frame.image.copy(), segments)

    def annotate(self, scene: np.ndarray, detections: sv.Detections) -> np.ndarray:
        """Draw ``detections``' masks on ``scene`` (in place, and returned), as supervision's annotators do.

        Args:
            scene: (H, W, 3) uint8 BGR image.
            detections: masks (N, h, w) bool at mask resolution (the grid of ``SegmentedFrame``,
                stretched over the whole image; with ``data["logits"]``, those are upsampled
                and thresholded, for edges between the cells) or at the image's own (H, W);
                coloured by ``tracker_id`` when set, else by row.

        Returns:
            ``scene``, so it chains with supervision's annotators
            (``sv.BoxAnnotator().annotate(renderer.annotate(scene, d), d)``).
        """
        if len(detections) == 0 or detections.mask is None:
            return scene
        keys = detections.tracker_id if detections.tracker_id is not None else np.arange(len(detections))
        lut = np.zeros((len(detections) + 1, 3), np.uint8)
        lut[1:] = palette_colors(np.asarray(keys))
        labels = label_map_of(detections, scene.shape[:2], np.arange(1, len(detections) + 1))
        colour = _colour(labels, lut)
        inside = (labels > 0).view(np.uint8)
        blended = cv2.addWeighted(scene, 1.0 - self.opacity, colour, self.opacity, 0.0)
        # OpenCV's masked copies: numpy's copyto(where=) took 7 ms per 720p frame, these 0.5.
        cv2.copyTo(blended, inside, scene)
        if self.contour_thickness:
            edge = _edges(labels).view(np.uint8)
            if self.contour_thickness > 1:
                kernel = np.ones((self.contour_thickness,) * 2, np.uint8)
                edge = np.bitwise_and(cv2.dilate(edge, kernel), inside)
            cv2.copyTo(colour, edge, scene)
        return scene


def _colour(labels: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 colour of each pixel's label: OpenCV's colour map while labels fit a byte
    (``label_map`` then gives uint8; 5x faster than a 3-channel ``cv2.LUT``)."""
    if labels.dtype != np.uint8:
        return lut[labels]
    table = np.zeros((256, 1, 3), np.uint8)
    table[: len(lut), 0] = lut
    return cv2.applyColorMap(labels, table)


_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))


def _edges(labels: np.ndarray) -> np.ndarray:
    """(H, W) bool: labelled pixels whose right, left, lower or upper neighbour has another label."""
    if labels.dtype == np.uint8:  # the cross's max and min differ there: one OpenCV call, 3x faster
        return (cv2.morphologyEx(labels, cv2.MORPH_GRADIENT, _CROSS) > 0) & (labels > 0)
    edge = np.zeros(labels.shape, bool)
    horizontal = labels[:, 1:] != labels[:, :-1]
    vertical = labels[1:, :] != labels[:-1, :]
    edge[:, :-1] |= horizontal
    edge[:, 1:] |= horizontal
    edge[:-1, :] |= vertical
    edge[1:, :] |= vertical
    return edge & (labels > 0)
