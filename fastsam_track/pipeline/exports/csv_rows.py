"""A per-frame CSV of the prompted objects and the everything-mode segments, one row each.

Columns (named as supervision's ``CSVSink`` names those it has)::

    frame,time,tracker_id,kind,state,x_min,y_min,x_max,y_max,area,confidence

``frame`` the frame index, ``time`` its timestamp in seconds; ``kind`` is ``object`` (a prompted
object: ``tracker_id`` its object id, ``state`` its ``ObjectState`` label: seen, carried,
searching, trial, lost) or ``segment`` (``tracker_id`` its track id, empty without tracking;
``state`` empty). Boxes are in frame pixels, ``area`` the mask's area in frame pixels,
``confidence`` the segment's score. An object the tracker searches for without a mask on the
frame has a ``lost`` row with the geometry left empty. Objects come first, then segments.
"""

from __future__ import annotations

import csv
import io

import numpy as np
import supervision as sv

from fastsam_track.errors import ExportError
from fastsam_track.pipeline.exports.line_files import LineFileWriter
from fastsam_track.types import OBJECT_STATE, ObjectState, SegmentedFrame

__all__ = ["COLUMNS", "CsvWriter"]

COLUMNS = ("frame", "time", "tracker_id", "kind", "state", "x_min", "y_min", "x_max", "y_max", "area", "confidence")


class CsvWriter(LineFileWriter):
    """Write each frame's objects and segments as CSV rows (flushed per frame; the header with the first).

    Args:
        path: the ``.csv`` file to write.
    """

    what = "CSV file"
    error = ExportError

    def write(self, segmented: SegmentedFrame) -> None:
        """Append the frame's rows: its objects, its lost objects, then its segments."""
        frame = segmented.frame
        rows: list[list[object]] = []
        if segmented.objects is not None and len(segmented.objects):
            objects = segmented.objects
            states = (
                np.asarray(objects.data[OBJECT_STATE])
                if OBJECT_STATE in objects.data
                else np.full(len(objects), ObjectState.SEEN)
            )
            labels = [ObjectState(int(s)).label for s in states]
            rows += _rows(objects, frame.shape, "object", labels)
        rows += [[int(i), "object", ObjectState.LOST.label, "", "", "", "", "", ""] for i in segmented.lost]
        rows += _rows(segmented.segments, frame.shape, "segment", [""] * len(segmented.segments))
        text = io.StringIO()
        out = csv.writer(text, lineterminator="\n")
        if self._lines == 0:
            out.writerow(COLUMNS)
        out.writerows([[frame.index, f"{frame.timestamp:.3f}", *row] for row in rows])
        self._append(text.getvalue().splitlines(keepends=True))


def _rows(detections: sv.Detections, frame_shape: tuple[int, int], kind: str, states: list[str]) -> list[list[object]]:
    """``[id, kind, state, x_min, y_min, x_max, y_max, area, confidence]`` per row of ``detections``."""
    count = len(detections)
    if count == 0:
        return []
    ids = detections.tracker_id if detections.tracker_id is not None else [""] * count
    scores = detections.confidence if detections.confidence is not None else [""] * count
    areas = _areas(detections, frame_shape)
    boxes = np.round(np.asarray(detections.xyxy, np.float64), 1).tolist()
    return [
        [ids[n] if ids[n] == "" else int(ids[n]), kind, states[n], *boxes[n], int(areas[n]), _score(scores[n])]
        for n in range(count)
    ]


def _areas(detections: sv.Detections, frame_shape: tuple[int, int]) -> np.ndarray:
    """(N,) each mask's area in frame pixels (masks are at mask resolution: each cell counts for its share of
    the frame), or each box's without masks."""
    if detections.mask is None:
        return np.round(detections.box_area)
    masks = np.asarray(detections.mask)
    cell = frame_shape[0] * frame_shape[1] / (masks.shape[1] * masks.shape[2])
    return np.round(masks.sum(axis=(1, 2)) * cell)


def _score(score: object) -> object:
    return "" if score == "" else round(float(score), 4)  # type: ignore[arg-type]
