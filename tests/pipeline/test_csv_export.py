"""The per-frame CSV of objects and segments (``--save-csv``): its rows, and the export from the CLI,
the Python API and a fleet file."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import supervision as sv

from fastsam_track.api import track
from fastsam_track.cluster.fleet import fleet_from_data
from fastsam_track.pipeline.build import Outputs
from fastsam_track.pipeline.exports.csv_rows import COLUMNS, CsvWriter
from fastsam_track.types import OBJECT_STATE, BoxPrompt, Frame, ObjectState, SegmentedFrame


def _segmented(index: int = 0, tracker: bool = True, lost: tuple[int, ...] = ()) -> SegmentedFrame:
    """A 40x80 frame, masks on a 10x20 grid (one cell 4x4 pixels): two segments, one seen and one carried object."""
    masks = np.zeros((2, 10, 20), bool)
    masks[0, 1:3, 1:4] = True  # 6 cells: 96 pixels
    masks[1, 5:10, 10:20] = True  # 50 cells: 800 pixels
    segments = sv.Detections(
        xyxy=np.array([[4, 4, 16, 12], [40, 20, 80, 40]], np.float32),
        mask=masks,
        confidence=np.array([0.9, 0.51234], np.float32),
        tracker_id=np.array([7, 8]) if tracker else None,
    )
    objects = sv.Detections(
        xyxy=segments.xyxy.copy(),
        mask=masks.copy(),
        tracker_id=np.array([1, 2]),
        data={OBJECT_STATE: np.array([ObjectState.SEEN, ObjectState.CARRIED], np.int8)},
    )
    return SegmentedFrame(Frame(index, np.zeros((40, 80, 3), np.uint8), index / 25), segments, objects, lost=lost)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as file:
        reader = csv.DictReader(file)
        assert tuple(reader.fieldnames or ()) == COLUMNS
        return list(reader)


@pytest.mark.parametrize(
    ("segmented", "expected"),
    [
        # objects first, with their states; then segments, with their track ids and scores; areas in frame pixels
        (
            _segmented(0),
            [
                ["0", "0.000", "1", "object", "seen", "4.0", "4.0", "16.0", "12.0", "96", ""],
                ["0", "0.000", "2", "object", "carried", "40.0", "20.0", "80.0", "40.0", "800", ""],
                ["0", "0.000", "7", "segment", "", "4.0", "4.0", "16.0", "12.0", "96", "0.9"],
                ["0", "0.000", "8", "segment", "", "40.0", "20.0", "80.0", "40.0", "800", "0.5123"],
            ],
        ),
        # a lost object: a row without geometry; segments without tracking: no id
        (
            SegmentedFrame(_segmented(3).frame, _segmented(3, tracker=False).segments[:1], None, lost=(5,)),
            [
                ["3", "0.120", "5", "object", "lost", "", "", "", "", "", ""],
                ["3", "0.120", "", "segment", "", "4.0", "4.0", "16.0", "12.0", "96", "0.9"],
            ],
        ),
        # nothing on the frame: no rows (the header only)
        (
            SegmentedFrame(
                Frame(0, np.zeros((8, 8, 3), np.uint8), 0.0), sv.Detections(xyxy=np.zeros((0, 4), np.float32))
            ),
            [],
        ),
    ],
)
def test_rows(tmp_path: Path, segmented: SegmentedFrame, expected: list[list[str]]) -> None:
    with CsvWriter(tmp_path / "rows.csv") as writer:
        writer.write(segmented)
    assert [list(row.values()) for row in _rows(tmp_path / "rows.csv")] == expected


def test_the_header_comes_once_and_each_frame_is_flushed(tmp_path: Path) -> None:
    with CsvWriter(tmp_path / "rows.csv") as writer:
        writer.write(_segmented(0))
        writer.write(_segmented(1))
        staged = next(tmp_path.glob(".rows.csv.*.part")).read_text()  # both frames on disk already
        assert staged.count("frame,time") == 1 and staged.count("\n") == 9
    assert [row["frame"] for row in _rows(tmp_path / "rows.csv")] == ["0"] * 4 + ["1"] * 4


def _prompt_on(clip: Path) -> BoxPrompt:
    """A box around the first frame's first segment (the tiny model's masks are not the shapes')."""
    first = next(iter(track(clip, model="fastsam-tiny", imgsz=320, conf=0.25)))
    return BoxPrompt(0, 1, first.segments.xyxy[0])


def test_the_cli_writes_the_csv(tmp_path: Path, clip_path: Path) -> None:
    box = ",".join(f"{v:.0f}" for v in _prompt_on(clip_path).box)
    result = subprocess.run(
        [
            *(sys.executable, "-m", "fastsam_track.cli", "run", str(clip_path), "--model", "fastsam-tiny"),
            *("--imgsz", "320", "--conf", "0.25", "--no-progress", "--box", box, "--save-csv", str(tmp_path / "r.csv")),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    rows = _rows(tmp_path / "r.csv")
    assert {row["frame"] for row in rows} == {str(i) for i in range(12)}
    objects = [row for row in rows if row["kind"] == "object"]
    assert objects and {row["tracker_id"] for row in objects} == {"1"}
    assert {row["state"] for row in objects} <= {s.label for s in ObjectState}
    assert all(int(row["area"]) > 0 for row in rows if row["state"] != "lost")


def test_the_python_api_writes_the_csv(tmp_path: Path, clip_path: Path) -> None:
    outputs = Outputs(save_csv=tmp_path / "r.csv")
    results = list(track(clip_path, [_prompt_on(clip_path)], model="fastsam-tiny", imgsz=320, outputs=outputs))
    rows = _rows(tmp_path / "r.csv")
    per_frame = [
        (str(r.frame.index), len(r.objects) + len(r.lost) if r.objects is not None else len(r.lost), len(r.segments))
        for r in results
    ]
    counted = [
        (
            frame,
            sum(r["kind"] == "object" for r in rows if r["frame"] == frame),
            sum(r["kind"] == "segment" for r in rows if r["frame"] == frame),
        )
        for frame, _, _ in per_frame
    ]
    assert counted == per_frame and sum(n for _, n, _ in per_frame) > 0


def test_a_fleet_camera_saves_a_csv() -> None:
    from fastsam_track.cluster.workers import _outputs

    fleet = fleet_from_data({"cameras": [{"source": "rtsp://127.0.0.1:8554/yard", "save_csv": "rows/{name}.csv"}]})
    camera = fleet.cameras[0]
    assert camera.paths() == {"save_csv": Path("rows/yard.csv")}
    assert _outputs(camera, 0).save_csv == Path("rows/yard.csv")
    assert _outputs(camera, 2).save_csv == Path("rows/yard.2.csv")  # a restarted camera's incarnation
