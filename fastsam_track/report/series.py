"""A run's time series (``--stats``' ``.frames.jsonl``) read back in bounded memory, binned for plotting.

The file is read twice, as a stream: once to count its lines, once to fold them into at most
``MAX_BINS`` bins per source (consecutive frames averaged; an object's state in a bin is the
worst it had there, so one lost frame still shows). So a report of a run of any length holds a
few thousand points per figure, and a 10,000-frame run is plotted frame by frame up to 4,000.

Example:
    >>> import json, tempfile, pathlib
    >>> lines = [{"frame": i, "t": i / 30, "captured": i / 30, "age_ms": 50.0, "ms": {"segment": 20.0},
    ...           "keyframe": i % 2 == 0, "segments": 3, "dropped": 0, "reconnects": 0,
    ...           "objects": [{"id": 1, "state": "seen" if i < 3 else "lost", "area": 10, "box": None}]}
    ...          for i in range(5)]
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "run.frames.jsonl"
    >>> _ = path.write_text("".join(json.dumps(line) + "\\n" for line in lines))
    >>> series = read_series(path)[0]
    >>> series.frames, series.keyframes, series.objects[1].tolist()
    (5, 3, [0, 0, 0, 4, 4])
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fastsam_track.errors import UsageError
from fastsam_track.types import ObjectState

__all__ = ["ABSENT", "MAX_BINS", "Series", "read_series"]

MAX_BINS = 4000  # points per figure: finer than a figure's pixels, few enough to draw in a blink
ABSENT = -1  # an object's code in a bin before it was prompted (or after it was removed)
_STATES = {state.label: int(state) for state in ObjectState}


@dataclass
class Series:
    """One source's time series, in bins of ``per_bin`` consecutive frames out.

    Attributes:
        source: the source's name (None: a run's only source).
        frames: frames out.
        per_bin: frames per bin (1 up to ``MAX_BINS`` frames).
        frame: (B,) int64 index of each bin's first frame in the source.
        captured: (B,) float64 seconds from the run's start to the capture of each bin's last frame.
        out: (B,) float64 seconds from the run's start to each bin's last frame going out.
        age_ms: (B,) float64 mean frame age; ``age_max_ms`` (B,) the largest.
        stage_ms: stage name to (B,) float64 mean ms per frame.
        keyframe: (B,) float64 share of the bin's frames the network saw (1.0 or 0.0 at one frame a bin).
        keyframes: frames the network saw in all.
        segments: (B,) float64 mean segments per frame.
        dropped: (B,) int64 frames dropped before the bin's frames (by a live source).
        reconnects: (B,) int64 reconnections before the bin's frames.
        objects: object id to (B,) int8 worst ``ObjectState`` in the bin (``ABSENT`` before the object).
        picks: records of a few frames spread over the run (for the contact sheet), by position out.
    """

    source: str | None
    frames: int
    per_bin: int
    frame: np.ndarray
    captured: np.ndarray
    out: np.ndarray
    age_ms: np.ndarray
    age_max_ms: np.ndarray
    stage_ms: dict[str, np.ndarray]
    keyframe: np.ndarray
    keyframes: int
    segments: np.ndarray
    dropped: np.ndarray
    reconnects: np.ndarray
    objects: dict[int, np.ndarray]
    picks: dict[int, dict[str, Any]] = field(default_factory=dict)


class _Bins:
    """Folds one source's records into bins as they stream by."""

    def __init__(self, source: str | None, per_bin: int, picks: set[int]):
        self.source, self.per_bin, self.want = source, per_bin, picks
        self.rows: list[tuple[float, ...]] = []  # per bin: frame, captured, out, age mean, age max, segments, ...
        self.stages: dict[str, list[float]] = {}
        self.objects: dict[int, list[int]] = {}
        self.picks: dict[int, dict[str, Any]] = {}
        self.count = 0
        self.keyframes = 0
        self._open: list[dict[str, Any]] = []

    def add(self, record: dict[str, Any]) -> None:
        if self.count in self.want:
            self.picks[self.count] = record
        self.count += 1
        self.keyframes += bool(record.get("keyframe", True))
        self._open.append(record)
        if len(self._open) == self.per_bin:
            self._close()

    def _close(self) -> None:
        bin_ = self._open
        if not bin_:
            return
        self._open = []
        ages = [float(r.get("age_ms", 0.0)) for r in bin_]
        last = bin_[-1]
        captured = float(last.get("captured", 0.0))
        self.rows.append(
            (
                float(bin_[0].get("frame", 0)),
                captured,
                captured + ages[-1] / 1000,
                sum(ages) / len(ages),
                max(ages),
                sum(float(r.get("segments", 0)) for r in bin_) / len(bin_),
                sum(bool(r.get("keyframe", True)) for r in bin_) / len(bin_),
                float(bin_[0].get("dropped", 0)),
                float(bin_[0].get("reconnects", 0)),
            )
        )
        done = len(self.rows) - 1
        for stage in {s for r in bin_ for s in r.get("ms", {})} | set(self.stages):
            column = self.stages.setdefault(stage, [0.0] * done)
            column.append(sum(float(r.get("ms", {}).get(stage, 0.0)) for r in bin_) / len(bin_))
        worst: dict[int, int] = {}
        for record in bin_:
            for row in record.get("objects", ()):
                code = _STATES.get(row.get("state"), int(ObjectState.SEEN))
                worst[int(row["id"])] = max(worst.get(int(row["id"]), ABSENT), code)
        for object_id in set(worst) | set(self.objects):
            self.objects.setdefault(object_id, [ABSENT] * done).append(worst.get(object_id, ABSENT))

    def series(self) -> Series:
        self._close()
        table = np.array(self.rows, float).reshape(-1, 9)
        return Series(
            source=self.source,
            frames=self.count,
            per_bin=self.per_bin,
            frame=table[:, 0].astype(np.int64),
            captured=table[:, 1],
            out=table[:, 2],
            age_ms=table[:, 3],
            age_max_ms=table[:, 4],
            stage_ms={stage: np.array(values) for stage, values in self.stages.items()},
            keyframe=table[:, 6],
            keyframes=self.keyframes,
            segments=table[:, 5],
            dropped=table[:, 7].astype(np.int64),
            reconnects=table[:, 8].astype(np.int64),
            objects={i: np.array(codes, np.int8) for i, codes in sorted(self.objects.items())},
            picks=self.picks,
        )


def read_series(path: str | Path, picks: int = 0) -> list[Series]:
    """Each source's binned time series from a ``.frames.jsonl`` file, in the order sources first appear.

    Args:
        path: the time series (``pipeline.timeline.timeline_path`` of a stats file).
        picks: how many records to keep, spread evenly over each source's frames (a contact sheet's).

    Raises:
        UsageError: the file is missing or a line is not a JSON object.
    """
    path = Path(path)
    counts: dict[str | None, int] = {}
    for record in _records(path):
        counts[record.get("source")] = counts.get(record.get("source"), 0) + 1
    bins: dict[str | None, _Bins] = {}
    for source, count in counts.items():
        wanted = {round(k * (count - 1) / (picks - 1)) for k in range(picks)} if picks > 1 else set(range(picks))
        bins[source] = _Bins(source, max(1, math.ceil(count / MAX_BINS)), wanted)
    for record in _records(path):
        bins[record.get("source")].add(record)
    return [b.series() for b in bins.values()]


def _records(path: Path) -> Iterator[dict[str, Any]]:
    try:
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as error:
                    if not line.endswith("\n"):  # the last line of a run cut off mid-write
                        return
                    raise UsageError(f"{path}:{number}: not a JSON line ({error.msg})") from error
                if not isinstance(record, dict):
                    raise UsageError(f"{path}:{number}: expected a JSON object per line, got {type(record).__name__}")
                yield record
    except FileNotFoundError as error:
        raise UsageError(f"no time series at {path} (written by `run --stats`)") from error
