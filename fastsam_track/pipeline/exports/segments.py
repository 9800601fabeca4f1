"""The segments cache: everything-mode output saved as JSON lines, and replayed instead of the model.

One line per frame, masks as COCO compressed RLE (pycocotools, ``counts`` a string)::

    {"frame": 0, "height": 480, "width": 854, "mask_size": [60, 107], "segments": [
        {"rle": {"size": [60, 107], "counts": "..."}, "box": [x1, y1, x2, y2], "score": 0.93}]}

``height`` and ``width`` are the frame's; masks are stored at mask resolution
(``mask_size``, the RLE ``size``), exactly as the pipeline holds them, so a replay reproduces a run's tracking
bit for bit and the file is about 60 times smaller than at frame resolution. Resize a
decoded mask to (height, width), or use ``fastsam_track.masks.upsample_masks``.

The first line names the source the segments were made from::

    {"fastsam_track_segments": 1, "width": 854, "height": 480, "frames": 82, "vid_stride": 1}

``frames`` is the number of frames the source gives at that stride (null when unknown: a
live stream). A replay matches records by their ``frame`` field and refuses a source whose
size, frame count or stride differs from the header's. Files written before the header
existed still replay, matched by ``frame``; only the size of each frame is checked then.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard

import numpy as np
import supervision as sv

from fastsam_track.documents import load_json
from fastsam_track.errors import SegmentsCacheError
from fastsam_track.masks import mean_colors
from fastsam_track.pipeline.exports.line_files import LineFileWriter
from fastsam_track.types import COLOR, Frame, SegmentedFrame

if TYPE_CHECKING:
    from fastsam_track.pipeline.sources.base import Source

__all__ = ["CachedSource", "SegmentsCacheError", "SegmentsReplay", "SegmentsWriter", "decode_rle", "encode_rle"]

_HEADER_KEY = "fastsam_track_segments"
_VERSION = 1


_MAX_MASK_SIDE = 4096
_MAX_LINE = 1 << 30  # bytes of a record: 4096 segments of 4096 x 4096 cells, in the worst RLE


@dataclass(frozen=True)
class CachedSource:
    """What a segments file says of its source, checked before a replay.

    Attributes:
        width: frame width in pixels.
        height: frame height in pixels.
        frames: frames the source gives at ``vid_stride``, or None when unknown (live streams).
        vid_stride: every n-th frame of the source was segmented.

    Example:
        >>> CachedSource(854, 480, 82, 2).mismatch(CachedSource(854, 480, 163, 1))
        'vid_stride 2, the run uses 1'
    """

    width: int
    height: int
    frames: int | None = None
    vid_stride: int = 1

    @classmethod
    def of(cls, source: Source, vid_stride: int) -> CachedSource:
        """What a segments file records of ``source`` read every ``vid_stride``-th frame."""
        width, height = source.size
        return cls(width, height, source.frame_count, vid_stride)

    def header(self) -> str:
        """The file's first line, newline included."""
        fields = {"width": self.width, "height": self.height, "frames": self.frames, "vid_stride": self.vid_stride}
        return json.dumps({_HEADER_KEY: _VERSION, **fields}, separators=(",", ":")) + "\n"

    def mismatch(self, run: CachedSource) -> str | None:
        """How ``run`` (the source being replayed onto) differs from this one, or None.

        A frame count unknown on either side is not compared.
        """
        if self.vid_stride != run.vid_stride:
            return f"vid_stride {self.vid_stride}, the run uses {run.vid_stride}"
        if (self.width, self.height) != (run.width, run.height):
            return f"{self.width}x{self.height} frames, the source gives {run.width}x{run.height}"
        if self.frames is not None and run.frames is not None and self.frames != run.frames:
            return f"{self.frames} frames, the source gives {run.frames}"
        return None


def _positive(value: Any) -> TypeGuard[int]:
    """Whether ``value`` is an int (not a bool) above 0."""
    return type(value) is int and value > 0


def _parse_header(line: str) -> CachedSource | None:
    """The source a header line names; None when the line is a record (a file without header).

    Raises:
        ValueError: the line is a header with bad fields.
    """
    try:
        fields = load_json(line)
    except ValueError:
        return None  # the record reader reports it, with its line number
    if not isinstance(fields, dict) or _HEADER_KEY not in fields:
        return None
    if type(fields[_HEADER_KEY]) is not int or fields[_HEADER_KEY] != _VERSION:
        raise ValueError(f"version {fields[_HEADER_KEY]!r} is not {_VERSION}; regenerate it with --save-segments")
    width, height, stride, frames = (fields.get(key) for key in ("width", "height", "vid_stride", "frames"))
    if not (_positive(width) and _positive(height) and _positive(stride)):
        raise ValueError("width, height and vid_stride must be positive integers")
    if not (frames is None or (type(frames) is int and frames >= 0)):
        raise ValueError("frames must be an integer >= 0 or null")
    return CachedSource(width, height, frames, stride)


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
        source: the source named in the header line; default: the first frame's size, an
            unknown frame count and stride 1.
    """

    what = "segments file"
    error = SegmentsCacheError

    def __init__(self, path: str | Path, source: CachedSource | None = None):
        super().__init__(path)
        self.source = source
        self._headed = False

    def write(self, segmented: SegmentedFrame) -> None:
        """Append the frame's segments (after the header line, on the first frame)."""
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
        lines = [json.dumps(line, separators=(",", ":")) + "\n"]
        if not self._headed:  # with the first frame, so a run that fails before it leaves no header-only file
            lines.insert(0, (self.source or CachedSource(width, height)).header())
            self._headed = True
        self._append(lines)


class SegmentsReplay:
    """Stand in for the ``Segmenter``: return the saved segments of each frame, matched by ``frame``.

    Called with an image alone, the n-th call is frame ``n * vid_stride`` (every frame of the
    source, in order). Frames passed through ``follow`` are known by their index instead, so a
    run that drops frames (a live source) still gets each frame's own record.

    Args:
        path: a file written by ``SegmentsWriter`` (``--save-segments``).
        source: the source replayed onto; its size, frame count and stride are checked against
            the file's header line at once (a file without one is checked frame by frame).

    Raises:
        SegmentsCacheError: missing file, a malformed line, a header that names another source,
            or frames that do not match the source.
    """

    def __init__(self, path: str | Path, source: CachedSource | None = None):
        self.path = Path(path)
        if not self.path.is_file():
            raise SegmentsCacheError(f"segments file not found: {str(self.path)!r}")
        self._lines = self._read()
        self.header = self._read_header()
        if self.header is not None and source is not None and (why := self.header.mismatch(source)) is not None:
            raise SegmentsCacheError(
                f"{self.path.name} was saved with {why}: replay it with the source and --vid-stride it was "
                "saved from, or save it again with --save-segments"
            )
        self._stride = self.header.vid_stride if self.header is not None else 1
        self._calls = 0
        self._ahead: tuple[int, int, dict[str, Any]] | None = None  # a record read past a frame not asked for
        self._known: dict[int, tuple[Frame, int]] = {}  # id(image) -> (frame, index), from ``follow``
        self._lock = threading.Lock()

    def _read(self) -> Iterator[tuple[int, str]]:
        with self.path.open() as file:
            for number, line in enumerate(file, 1):
                if line.strip():
                    yield number, line

    def _next_line(self) -> tuple[int, str] | None:
        try:
            return next(self._lines)
        except StopIteration:
            return None
        except UnicodeDecodeError as error:
            raise SegmentsCacheError(f"{self.path.name} is not UTF-8 text: {error}") from error

    def _read_header(self) -> CachedSource | None:
        first = self._next_line()
        if first is None:
            return None
        number, line = first
        try:
            header = _parse_header(line)
        except ValueError as error:
            raise SegmentsCacheError(f"{self.path.name} line {number}: not a segments header ({error})") from error
        if header is None:  # a file from before the header: its first line is a record
            self._lines = _chain(first, self._lines)
        return header

    def follow(self, frames: Iterable[Frame]) -> Iterator[Frame]:
        """Yield ``frames`` unchanged, noting each one's index for the call on its image."""
        for frame in frames:
            with self._lock:
                self._known[id(frame.image)] = (frame, frame.index)
            yield frame

    def _index_of(self, image: np.ndarray) -> int:
        """The frame index of ``image``: noted by ``follow``, else the next frame in order."""
        with self._lock:
            frame, index = self._known.pop(id(image), (None, -1))
            if frame is not None and frame.image is image:
                for key in [k for k, (_, i) in self._known.items() if i < index]:  # frames the run dropped
                    del self._known[key]
                return index
        index = self._calls * self._stride
        self._calls += 1
        return index

    def _record_for(self, index: int) -> tuple[int, dict[str, Any]]:
        """The line number and record of frame ``index``; records of earlier frames are passed over."""
        while True:
            if self._ahead is not None:
                frame, number, record = self._ahead
                self._ahead = None
            else:
                line = self._next_line()
                if line is None:
                    raise SegmentsCacheError(f"{self.path.name} has fewer frames than the source (no frame {index})")
                number, text = line
                try:
                    record = load_json(text, max_bytes=_MAX_LINE)  # bounded: depth, size
                    frame = record["frame"]
                    if type(frame) is not int or frame < 0:
                        raise ValueError(f"'frame' must be an integer >= 0, got {frame!r}")
                except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
                    raise SegmentsCacheError(
                        f"{self.path.name} line {number}: not a segments record ({type(error).__name__}: {error})"
                    ) from error
            if frame == index:
                return number, record
            if frame > index:
                self._ahead = (frame, number, record)
                later = self._line_of(index)
                if later is not None:  # there, after a later frame's: the lines were shuffled
                    raise SegmentsCacheError(
                        f"{self.path.name} is out of frame order: frame {index} is on line {later}, after "
                        f"frame {frame} on line {number}; keep the lines in the order --save-segments wrote them"
                    )
                raise SegmentsCacheError(
                    f"{self.path.name} has no record for frame {index} (line {number} is frame {frame}): "
                    "it was saved from another source or --vid-stride; save it again with --save-segments"
                )

    def infer(self, image: np.ndarray) -> Callable[[], sv.Detections]:
        """``protocol.Segment``'s two phases: the record is read now (in frame order), and given later."""
        segments = self(image)
        return lambda: segments

    def _line_of(self, index: int) -> int | None:
        """The line of frame ``index``'s record further on in the file, or None (read only to word an error)."""
        while (line := self._next_line()) is not None:
            number, text = line
            try:
                if load_json(text, max_bytes=_MAX_LINE).get("frame") == index:
                    return number
            except (ValueError, AttributeError):
                continue
        return None

    def __call__(self, image: np.ndarray) -> sv.Detections:
        """The segments saved for this image's frame; the frame must have the size they were saved for."""
        number, record = self._record_for(self._index_of(image))
        where = f"{self.path.name} line {number}"
        try:
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
        except (KeyError, TypeError, ValueError, IndexError, OverflowError) as error:
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
            data={COLOR: mean_colors(image, masks)},
        )


def _chain(first: tuple[int, str], rest: Iterator[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    """``first``, then ``rest``."""
    yield first
    yield from rest
