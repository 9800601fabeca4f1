"""Mask and track exports in the formats the field reads.

- ``DavisMaskWriter``: one indexed-palette PNG per frame at source resolution, pixel value
  the prompted object's id (0 background), named ``00000.png``... by frame index: the
  DAVIS convention that VOS tools (DAVIS and vos-benchmark evaluators) read.
- ``MotsWriter``: everything-mode tracks in the MOTS text format, one line per track and
  frame, ``frame id class height width rle`` (KITTI MOTS: frames from 0, class 1,
  non-overlapping masks as COCO RLE), which TrackEval reads.
- ``EdgeWriter``: the frame's edge map as an 8-bit greyscale PNG per frame (BSDS500 style).
- ``ProposalWriter``: class-agnostic object proposals, one JSON line per frame:
  ``{"frame": 0, "height": H, "width": W, "proposals": [{"box": [x1, y1, x2, y2], "score": s}]}``,
  boxes in frame pixels, best first: the input of proposal-recall evaluation (COCO, LVIS).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np

from fastsam_track.errors import ExportError
from fastsam_track.masks import label_map_of
from fastsam_track.pipeline.exports.line_files import LineFileWriter
from fastsam_track.pipeline.exports.segments import encode_rle
from fastsam_track.pipeline.outputs.files import discard, finalise, staging_path
from fastsam_track.types import OBJECT_STATE, PROPAGATED, TRACK_STATE, ObjectState, SegmentedFrame, TrackState

_FRAME_FILE = re.compile(r"^\d+\.png$")

__all__ = ["DavisMaskWriter", "EdgeWriter", "ExportError", "MotsWriter", "ProposalWriter", "davis_palette"]


def davis_palette() -> np.ndarray:
    """(256, 3) uint8: the DAVIS / PASCAL VOC colour map (bit-interleaved label index)."""
    labels = np.arange(256)
    palette = np.zeros((256, 3), np.uint8)
    for shift in range(8):
        for channel in range(3):
            palette[:, channel] |= (((labels >> channel) & 1) << (7 - shift)).astype(np.uint8)
        labels = labels >> 3
    return palette


class _PngFolder:
    """A folder of per-frame PNGs, named by frame index (``00000.png``...); created at once.

    Each PNG is written under a hidden name and renamed into place, so a reader of the
    folder (while the run goes on) never opens half of one. A folder that already holds
    frames (an earlier run's, which ``--overwrite`` let through: the build refuses any other
    content) is not emptied: the frames go to a new hidden folder beside it
    (``.masks.<pid>-<n>.part``), which replaces it whole, by rename, when the writer is
    closed after at least one frame; a run killed before that leaves the old folder whole.

    Attributes:
        target: the folder the user named.
        folder: where this run's PNGs are written (``target``, or the new folder until closed).
    """

    what = "folder"

    def __init__(self, folder: str | Path):
        self.target = self.folder = Path(folder)
        self._frames = 0
        try:
            self.target.mkdir(parents=True, exist_ok=True)
            if any(self.target.iterdir()):
                self.folder = staging_path(self.target)
                self.folder.mkdir()
        except OSError as error:
            raise ExportError(f"cannot create {self.what} {str(self.target)!r}: {error.strerror}") from error

    def __enter__(self) -> _PngFolder:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.folder == self.target:
            return
        new, self.folder = self.folder, self.target
        if not self._frames:  # nothing written: the earlier frames stay
            shutil.rmtree(new, ignore_errors=True)
            return
        old = staging_path(self.target).with_suffix(".old")
        try:
            os.rename(self.target, old)
            os.rename(new, self.target)
        except OSError as error:
            raise ExportError(f"cannot replace {self.what} {str(self.target)!r}: {error.strerror}") from error
        # The earlier run's frames, and only those: anything else put there meanwhile stays in ``old``.
        for entry in old.iterdir():
            if _FRAME_FILE.match(entry.name) and entry.is_file():
                entry.unlink()
        with contextlib.suppress(OSError):
            old.rmdir()

    def path(self, segmented: SegmentedFrame) -> Path:
        """Where this frame's PNG goes."""
        return self.folder / f"{segmented.frame.index:05d}.png"

    def _save(self, segmented: SegmentedFrame, write: Callable[[Path], object]) -> None:
        """Write this frame's PNG with ``write(a staged path)``, then rename it into place."""
        path = self.path(segmented)
        staged = staging_path(path)
        try:
            write(staged)
            finalise(staged, path)
            self._frames += 1
        except OSError as error:
            raise ExportError(f"cannot write {str(path)!r}: {error.strerror}") from error
        finally:
            discard(staged)


class DavisMaskWriter(_PngFolder):
    """Write the prompted objects of each frame as an indexed PNG (object ids up to 255).

    Args:
        folder: where the PNGs go; created if missing.
    """

    what = "mask folder"

    def __init__(self, folder: str | Path):
        super().__init__(folder)
        self._palette = davis_palette().reshape(-1).tolist()

    def write(self, segmented: SegmentedFrame) -> None:
        """Write ``<frame index>.png`` with the frame's objects (an empty image when there are none).

        The PNG's text chunks name the objects on the frame (``objects``), those whose mask
        the optical flow carried because no segment confirmed it (``propagated``) and those
        searched for with no mask (``lost``), as space-separated ids, and each object's
        ``ObjectState`` (``states``: ``id:state`` pairs, lost ones included); DAVIS tools read
        only the pixels.
        """
        from PIL import Image, PngImagePlugin

        objects = segmented.objects
        height, width = segmented.frame.shape
        info = PngImagePlugin.PngInfo()
        ids = np.zeros(0, int) if objects is None else np.asarray(objects.tracker_id)
        flagged = (
            ids[np.asarray(objects.data[PROPAGATED], bool)]
            if objects is not None and PROPAGATED in objects.data
            else ids[:0]
        )
        info.add_text("objects", " ".join(map(str, ids.tolist())))
        info.add_text("propagated", " ".join(map(str, flagged.tolist())))
        known = objects is not None and OBJECT_STATE in objects.data
        codes = np.asarray(objects.data[OBJECT_STATE]).tolist() if objects is not None and known else []
        states = [f"{i}:{ObjectState(s).label}" for i, s in zip(ids.tolist(), codes, strict=True)] if known else []
        info.add_text("states", " ".join(states + [f"{i}:{ObjectState.LOST.label}" for i in segmented.lost]))
        info.add_text("lost", " ".join(map(str, segmented.lost)))
        if objects is None or len(objects) == 0:
            labels = np.zeros((height, width), np.uint8)
        else:
            if ids.max() > 255:
                raise ExportError(f"object id {ids.max()} does not fit an 8-bit DAVIS mask (1-255)")
            labels = label_map_of(objects, (height, width), ids).astype(np.uint8)
        image = Image.fromarray(labels, mode="P")
        image.putpalette(self._palette)
        self._save(segmented, lambda staged: image.save(staged, format="PNG", pnginfo=info))


class EdgeWriter(_PngFolder):
    """Write each frame's edge map (``SegmentedFrame.edges``) as an 8-bit greyscale PNG.

    Args:
        folder: where the PNGs go; created if missing.
    """

    what = "edge folder"

    def write(self, segmented: SegmentedFrame) -> None:
        """Write ``<frame index>.png``; the run must compute edges (``run(..., edges=True)``)."""
        if segmented.edges is None:
            raise ExportError("edge maps were not computed: run with edges=True")
        encoded, png = cv2.imencode(".png", segmented.edges)
        if not encoded:
            raise ExportError(f"cannot encode the edge map of frame {segmented.frame.index} as PNG")
        self._save(segmented, lambda staged: staged.write_bytes(png.tobytes()))


class MotsWriter(LineFileWriter):
    """Write everything-mode tracks as MOTS text lines (flushed per frame).

    Overlapping segments are resolved as they are drawn: the smaller segment keeps a
    shared pixel. Segments without an id (tracking off) and tentative tracks are not written.

    Args:
        path: the ``.txt`` file to write.
    """

    CLASS_ID = 1
    what = "tracks file"
    error = ExportError

    def write(self, segmented: SegmentedFrame) -> None:
        """Append one line per tracked segment of the frame."""
        segments = segmented.segments
        if segments.tracker_id is None or len(segments) == 0:
            return
        if TRACK_STATE in segments.data:
            # Tentative tracks (seen once) are mostly noise: only confirmed ones are exported.
            segments = segments[np.flatnonzero(segments.data[TRACK_STATE] == TrackState.CONFIRMED)]  # type: ignore[assignment]
        height, width = segmented.frame.shape
        ids = np.asarray(segments.tracker_id)
        labels = label_map_of(segments, (height, width), np.arange(1, len(ids) + 1))
        # One full-resolution mask at a time: a whole stack of them would be N x H x W bytes.
        lines = [
            f"{segmented.frame.index} {ids[row - 1]} {self.CLASS_ID} {height} {width} "
            f"{encode_rle((labels == row)[None])[0]['counts']}\n"
            for row in np.unique(labels[labels > 0])
        ]
        self._append(lines)


class ProposalWriter(LineFileWriter):
    """Write each frame's segment boxes and scores as object proposals (JSON lines, flushed per frame).

    Args:
        path: the ``.jsonl`` file to write.
    """

    what = "proposals file"
    error = ExportError

    def write(self, segmented: SegmentedFrame) -> None:
        """Append the frame's line, proposals by descending score."""
        segments = segmented.segments
        scores = segments.confidence if segments.confidence is not None else np.ones(len(segments), np.float32)
        order = np.argsort(-scores, kind="stable")
        height, width = segmented.frame.shape
        proposals = [
            {"box": [round(float(v), 1) for v in segments.xyxy[i]], "score": round(float(scores[i]), 4)} for i in order
        ]
        record = {"frame": segmented.frame.index, "height": height, "width": width, "proposals": proposals}
        self._append([json.dumps(record, separators=(",", ":")) + "\n"])
