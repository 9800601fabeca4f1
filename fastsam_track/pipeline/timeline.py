"""A run's time series: one JSON line per frame out, streamed beside the ``--stats`` file.

``--stats run.json`` keeps its totals; ``run.frames.jsonl`` (``timeline_path``) gets a line per
frame as it goes out: its index, source time and capture time, its age, the milliseconds each
stage worked since the frame before it went out, whether the network saw it (a keyframe) or the
flow carried it, its number of segments, the dropped frames and reconnections so far, and each
prompted object's id, state (``ObjectState``), area and box. Lines and not one ``frames`` array
in the stats JSON: an array would have to be held whole (or the file rewritten) until the run
ends, while a line per frame is written and forgotten, so memory stays flat on an endless
stream, a crash keeps every frame written before it, and a reader (``fastsam_track.report``)
streams it back the same way.

Example:
    >>> import numpy as np, supervision as sv
    >>> from fastsam_track.types import Frame, SegmentedFrame
    >>> segments = sv.Detections(xyxy=np.zeros((2, 4), np.float32), mask=np.zeros((2, 4, 4), bool))
    >>> segmented = SegmentedFrame(Frame(7, np.zeros((8, 8, 3), np.uint8), 0.25), segments, lost=(3,))
    >>> record = frame_record(segmented, captured=1.5, age_ms=40.0, stage_ms={"segment": 20.0}, keyframe=True)
    >>> record["frame"], record["segments"], record["objects"]
    (7, 2, [{'id': 3, 'state': 'lost', 'area': 0, 'box': None}])
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import IO, Any

import numpy as np

from fastsam_track.types import OBJECT_STATE, ObjectState, SegmentedFrame

__all__ = ["SourceTimeline", "Timeline", "frame_record", "timeline_path"]

_SUFFIX = ".frames.jsonl"


def timeline_path(stats: str | Path) -> Path:
    """The time series written beside the stats file ``stats``.

    Example:
        >>> timeline_path("out/run.json").as_posix()
        'out/run.frames.jsonl'
    """
    stats = Path(stats)
    return stats.with_name(stats.stem + _SUFFIX)


def frame_record(
    segmented: SegmentedFrame,
    *,
    captured: float,
    age_ms: float,
    stage_ms: dict[str, float],
    keyframe: bool,
    dropped: int = 0,
    reconnects: int = 0,
    source: str | None = None,
) -> dict[str, Any]:
    """One frame's line of the time series.

    Args:
        segmented: the frame as it went out.
        captured: seconds from the start of the run to the frame's capture (its decoding).
        age_ms: capture to out, in ms.
        stage_ms: milliseconds each stage worked since the previous frame went out.
        keyframe: whether the network saw the frame (False: carried by the optical flow).
        dropped: frames a live source dropped so far.
        reconnects: reconnections of a live source so far.
        source: the source's name in a run of several (None: the only one).

    Returns:
        JSON-ready values; ``objects`` lists each prompted object as ``{"id", "state", "area", "box"}``,
        ``area`` in frame pixels and ``box`` (x1, y1, x2, y2) in frame pixels, ``None`` for a lost one.
    """
    record: dict[str, Any] = {} if source is None else {"source": source}
    record.update(
        frame=int(segmented.frame.index),
        t=round(float(segmented.frame.timestamp), 4),
        captured=round(captured, 4),
        age_ms=round(age_ms, 2),
        ms={stage: round(ms, 2) for stage, ms in stage_ms.items()},
        keyframe=bool(keyframe),
        segments=len(segmented.segments),
        dropped=int(dropped),
        reconnects=int(reconnects),
        objects=_objects(segmented),
    )
    return record


def _objects(segmented: SegmentedFrame) -> list[dict[str, Any]]:
    """The prompted objects with a mask (area scaled from mask to frame pixels), then the lost ones."""
    rows: list[dict[str, Any]] = []
    objects = segmented.objects
    if objects is not None and len(objects):
        ids = objects.tracker_id if objects.tracker_id is not None else np.arange(len(objects))
        states = objects.data.get(OBJECT_STATE, np.zeros(len(objects), np.int8))
        if objects.mask is not None:
            masks = np.asarray(objects.mask)
            height, width = segmented.frame.shape
            scale = height * width / (masks.shape[1] * masks.shape[2])
            areas = np.rint(masks.reshape(len(objects), -1).sum(axis=1) * scale).astype(int)
        else:
            areas = np.zeros(len(objects), int)
        boxes = np.round(objects.xyxy.astype(float), 1)
        rows = [
            {"id": int(i), "state": ObjectState(int(s)).label, "area": int(a), "box": b.tolist()}
            for i, s, a, b in zip(ids, states, areas, boxes, strict=True)
        ]
    rows += [{"id": int(i), "state": ObjectState.LOST.label, "area": 0, "box": None} for i in segmented.lost]
    return rows


class Timeline:
    """The time-series file of a run: a context manager, written by one ``SourceTimeline`` per source.

    Each line is written and flushed as its frame goes out (several sources' loops write from
    their own threads, under one lock), so nothing accumulates in memory.

    Args:
        path: the JSON-lines file (``timeline_path`` of the stats file).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._file: IO[str] | None = None
        self._lock = threading.Lock()
        self.started = time.monotonic()  # capture times count from here

    def __enter__(self) -> Timeline:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("w", encoding="utf-8")
        self.started = time.monotonic()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def write(self, record: dict[str, Any]) -> None:
        """Append one frame's record (``frame_record``) as a line."""
        line = json.dumps(record, separators=(",", ":")) + "\n"
        with self._lock:
            if self._file is not None:
                self._file.write(line)
                self._file.flush()

    def source(self, name: str | None = None, frames: Any = None) -> SourceTimeline:
        """The recorder one source's frame loop calls (``name`` None for a run's only source;
        ``frames``, the source, is asked for its ``reconnects`` count)."""
        return SourceTimeline(self, name, frames)


class SourceTimeline:
    """Turns one source's frames, as they go out, into ``Timeline`` lines (the runner calls ``record``)."""

    def __init__(self, timeline: Timeline, name: str | None, frames: Any):
        self._timeline, self._name, self._frames = timeline, name, frames
        self._totals: dict[str, float] = {}

    def record(self, segmented: SegmentedFrame, captured: float, keyframe: bool, stats: Any) -> None:
        """Write the line of a frame that just went out.

        Args:
            segmented: the frame.
            captured: its capture time (``time.monotonic``).
            keyframe: whether the network saw it.
            stats: the source's ``RunStats``: stage totals (their increase since the last frame
                is this frame's share), dropped frames.
        """
        now = time.monotonic()
        totals = dict(stats.stage_ms)
        stage_ms = {stage: total - self._totals.get(stage, 0.0) for stage, total in totals.items()}
        self._totals = totals
        self._timeline.write(
            frame_record(
                segmented,
                captured=captured - self._timeline.started,
                age_ms=(now - captured) * 1000,
                stage_ms=stage_ms,
                keyframe=keyframe,
                dropped=stats.dropped,
                reconnects=int(getattr(self._frames, "reconnects", 0)),
                source=self._name,
            )
        )
