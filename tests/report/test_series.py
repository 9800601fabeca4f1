"""The time series read back binned, and the report drawn from a long synthetic one."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fastsam_track.errors import UsageError
from fastsam_track.report import write_report
from fastsam_track.report.figures import fps_and_age, keyframe_strip, object_timeline, stage_stack
from fastsam_track.report.page import bottleneck
from fastsam_track.report.series import ABSENT, MAX_BINS, read_series
from fastsam_track.types import ObjectState


def synthetic_records(frames: int, lost_at: int = 4001, second_from: int = 5000):
    """A 30 fps run: object 1 seen on keyframes (every 3rd), carried between, lost on frame ``lost_at``;
    object 2 prompted at ``second_from``; a frame dropped every 1000; a reconnection at frame 7000."""
    for i in range(frames):
        objects = [{"id": 1, "state": "lost" if i == lost_at else ("seen" if i % 3 == 0 else "carried")}]
        if i >= second_from:
            objects.append({"id": 2, "state": "trial", "area": 50, "box": [0, 0, 5, 10]})
        yield {
            "frame": i,
            "t": i / 30,
            "captured": i / 30,
            "age_ms": 60.0 + (500.0 if i == 6000 else 0.0),
            "ms": {"decode": 1.0, "segment": 20.0 if i % 3 == 0 else 0.5, "track": 8.0, "render": 2.0, "encode": 3.0},
            "keyframe": i % 3 == 0,
            "segments": 40,
            "dropped": i // 1000,
            "reconnects": int(i >= 7000),
            "objects": objects,
        }


def _write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_a_long_series_is_binned_and_keeps_every_loss(tmp_path):
    series = read_series(_write(tmp_path / "run.frames.jsonl", synthetic_records(10_000)), picks=6)[0]
    assert series.frames == 10_000 and series.per_bin == 3 and len(series.frame) == 3334 <= MAX_BINS
    assert series.keyframes == 3334 and np.allclose(series.keyframe[:-1], 1 / 3)
    assert series.stage_ms["segment"][0] == pytest.approx((20 + 0.5 + 0.5) / 3)
    ones = series.objects[1]
    assert ones[4001 // 3] == ObjectState.LOST  # one lost frame among three still shows
    assert ones[0] == ObjectState.CARRIED  # the worst of seen, carried, carried
    assert (series.objects[2][: 5000 // 3] == ABSENT).all() and series.objects[2][-1] == ObjectState.TRIAL
    assert series.age_max_ms[6000 // 3] == 560.0 and series.age_ms[6000 // 3] == pytest.approx(60 + 500 / 3)
    assert sorted(series.picks) == [0, 2000, 4000, 5999, 7999, 9999]


def test_a_short_series_keeps_every_frame_and_a_cut_last_line_is_left_out(tmp_path):
    path = _write(tmp_path / "run.frames.jsonl", synthetic_records(10))
    path.write_text(path.read_text() + '{"frame": 10, "t"')  # a run killed mid-line
    series = read_series(path)[0]
    assert series.frames == 10 and series.per_bin == 1 and series.frame.tolist() == list(range(10))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]\n", "expected a JSON object per line"),  # a line that is not an object
        ("{oops}\n", "not a JSON line"),  # broken, and not the last line cut short
    ],
)
def test_a_broken_series_is_a_usage_error(tmp_path, text, message):
    path = tmp_path / "run.frames.jsonl"
    path.write_text(text)
    with pytest.raises(UsageError, match=message):
        read_series(path)


def test_each_figure_is_drawn_and_events_are_marked(tmp_path):
    series = read_series(_write(tmp_path / "run.frames.jsonl", synthetic_records(9000)))[0]
    png, marked = fps_and_age(series)
    assert png.startswith(b"\x89PNG") and len(marked) == 2  # dropped frames and the reconnection
    for draw in (stage_stack, object_timeline, keyframe_strip):
        assert draw(series).startswith(b"\x89PNG")


def test_sources_of_a_run_get_a_section_each(tmp_path):
    records = [{**r, "source": name} for r in synthetic_records(30) for name in ("a", "b")]
    _write(tmp_path / "run.frames.jsonl", records)
    stats = tmp_path / "run.json"
    stats.write_text(json.dumps([{"source": "a", "frames": 30}, {"source": "b", "frames": 30}]))
    page = write_report(stats, tmp_path / "run.html").read_text()
    assert 'id="objects"' in page and 'id="objects-1"' in page and "Source b" in page


def test_the_bottleneck_is_the_longest_stage():
    assert bottleneck({"decode": 1.0, "segment": 2.0, "track": 7.0}).startswith("The bottleneck is tracking")
    assert bottleneck({}) == "No stage took measurable time."
