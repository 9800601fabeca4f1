"""The segments cache: everything-mode output saved as JSON lines, and replayed instead of the model.

One line per frame, masks as COCO compressed RLE (pycocotools, ``counts`` a string)::

    {"frame": 0, "height": 480, "width": 854, "mask_size": [60, 107], "segments": [
        {"rle": {"size": [60, 107], "counts": "..."}, "box": [x1, y1, x2, y2], "score": 0.93}]}

``height`` and ``width`` are the frame's; masks are stored at mask resolution
(``mask_size``, the RLE ``size``), exactly as the pipeline holds them, so a replay reproduces a run's tracking
bit for bit and the file is about 60 times smaller than at frame resolution. Resize a
decoded mask to (height, width), or use ``fastsam_track.masks.upsample_masks``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import supervision as sv

from fastsam_track.masks import mean_colors
from fastsam_track.pipeline.line_files import LineFileWriter
from fastsam_track.types import SegmentedFrame

__all__ = ["SegmentsCacheError", "SegmentsReplay", "SegmentsWriter", "decode_rle", "encode_rle"]


class SegmentsCacheError(ValueError):
    """A segments file that cannot be written or replayed."""


_MAX_MASK_SIDE = 4096


def _rle_total(counts: str) -> int:
    """Cells covered by the runs of a COCO compressed RLE string (pycocotools' ``rleFrString``)."""
    runs: list[int] = []
    codes = [ord(c) - 48 for c in counts]
    i = 0
    while i < len(codes):
        value, shift, more = 0, 0, True
        while more:
            if i == len(codes) or not 0 <= codes[i] < 64:
                raise ValueError("RLE counts is not a COCO compressed string")
            code = codes[i]
            value |= (code & 0x1F) << shift
            more, i, shift = bool(code & 0x20), i + 1, shift + 5
            if not more and code & 0x10:
                value |= -1 << shift
        value += runs[-2] if len(runs) > 2 else 0
        if value < 0:
            raise ValueError("RLE counts has a negative run")
        runs.append(value)
    return sum(runs)


def _check_rle(rle: Any, shape: tuple[int, int]) -> None:
    """Raise ValueError unless ``rle`` is a string-counts RLE of ``shape`` whose runs cover it exactly."""
    if not isinstance(rle, dict) or not isinstance(rle.get("counts"), str) or rle.get("size") != list(shape):
        raise ValueError(f"each rle must be {{'size': {list(shape)}, 'counts': str}}")
    if _rle_total(rle["counts"]) != shape[0] * shape[1]:
        raise ValueError(f"RLE runs do not cover the {shape[0]}x{shape[1]} mask")


def encode_rle(masks: np.ndarray) -> list[dict[str, Any]]:
    """(N, h, w) bool masks to N COCO RLE dicts with string ``counts``.

    Example:
        >>> rle = encode_rle(np.ones((1, 2, 3), bool))[0]
        >>> rle["size"], decode_rle([rle], (2, 3)).sum()
        ([2, 3], np.int64(6))
    """
    from pycocotools import mask as mask_util

    if len(masks) == 0:
        return []
    encoded = mask_util.encode(np.asfortranarray(masks.transpose(1, 2, 0).astype(np.uint8)))
    return [{"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")} for rle in encoded]


def decode_rle(rles: list[dict[str, Any]], shape: tuple[int, int]) -> np.ndarray:
    """N COCO RLE dicts to (N, h, w) bool masks of ``shape`` (h, w)."""
    from pycocotools import mask as mask_util

    if not rles:
        return np.zeros((0, *shape), bool)
    decoded = mask_util.decode([{"size": r["size"], "counts": r["counts"].encode("ascii")} for r in rles])
    return decoded.transpose(2, 0, 1).astype(bool)


class SegmentsWriter(LineFileWriter):
    """Write each frame's everything-mode segments as one JSON line (flushed per frame).

    Args:
        path: the ``.jsonl`` file to write.
    """

    what = "segments file"
    error = SegmentsCacheError

    def write(self, segmented: SegmentedFrame) -> None:
        """Append the frame's segments."""
        segments = segmented.segments
        height, width = segmented.frame.shape
        records = [
            {"rle": rle, "box": [round(float(v), 2) for v in box], "score": round(float(score), 4)}
            for rle, box, score in zip(
                encode_rle(np.asarray(segments.mask)),
                segments.xyxy,
                segments.confidence if segments.confidence is not None else np.ones(len(segments)),
                strict=True,
            )
        ]
        line = {
            "frame": segmented.frame.index,
            "height": height,
            "width": width,
            "mask_size": list(segmented.mask_shape),
            "segments": records,
        }
        self._append([json.dumps(line, separators=(",", ":")) + "\n"])


class SegmentsReplay:
    """Stand in for the ``Segmenter``: return the saved segments of each frame, in order.

    Args:
        path: a file written by ``SegmentsWriter`` (``--save-segments``).

    Raises:
        SegmentsCacheError: missing file, a malformed line, or frames that do not match the source.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise SegmentsCacheError(f"segments file not found: {str(self.path)!r}")
        self._lines = self._read()

    def _read(self):  # type: ignore[no-untyped-def]
        with self.path.open() as file:
            for number, line in enumerate(file, 1):
                if line.strip():
                    yield number, line

    def __call__(self, image: np.ndarray) -> sv.Detections:
        """The next frame's segments; the frame must have the size they were saved for."""
        try:
            number, line = next(self._lines)
        except StopIteration:
            raise SegmentsCacheError(f"{self.path.name} has fewer frames than the source") from None
        except UnicodeDecodeError as error:
            raise SegmentsCacheError(f"{self.path.name} is not UTF-8 text: {error}") from error
        where = f"{self.path.name} line {number}"
        try:
            record = json.loads(line)
            height, width = int(record["height"]), int(record["width"])
            entries = record["segments"]
            mask_h, mask_w = (int(v) for v in record["mask_size"])
            if not (0 < mask_h <= _MAX_MASK_SIDE and 0 < mask_w <= _MAX_MASK_SIDE):
                raise ValueError(f"mask_size must be 1 to {_MAX_MASK_SIDE} cells a side")
            with np.errstate(over="ignore"):  # past float32: inf, refused below
                boxes = np.array([e["box"] for e in entries], np.float32).reshape(-1, 4)
                scores = np.array([e["score"] for e in entries], np.float32)
            shapes_ok = len(boxes) == len(entries) and scores.shape == (len(entries),)
            if not shapes_ok or not (np.isfinite(boxes).all() and np.isfinite(scores).all()):
                raise ValueError("each segment needs a box of 4 finite numbers and one finite score")
            for entry in entries:
                _check_rle(entry["rle"], (mask_h, mask_w))
            masks = decode_rle([e["rle"] for e in entries], (mask_h, mask_w))
            if masks.shape[1:] != (mask_h, mask_w):
                raise ValueError(f"masks are {masks.shape[1:]}, mask_size says {(mask_h, mask_w)}")
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, IndexError, OverflowError) as error:
            raise SegmentsCacheError(f"{where}: not a segments record ({type(error).__name__}: {error})") from error
        if (height, width) != image.shape[:2]:
            raise SegmentsCacheError(
                f"{where} is for {width}x{height} frames, the source gives {image.shape[1]}x{image.shape[0]}"
            )
        # Colours are measured on the frame, as the segmenter does, not stored.
        return sv.Detections(
            xyxy=boxes,
            mask=masks,
            confidence=scores,
            class_id=np.zeros(len(boxes), int),
            data={"color": mean_colors(image, masks)},
        )
