"""The fleet report from a status history: a row per camera, restarts marked, segmenter utilisation."""

from __future__ import annotations

import base64
import re

import pytest

from fastsam_track.errors import UsageError
from fastsam_track.report.cluster import StatusLog, read_history, write_cluster_report


def _status(step: int) -> dict:
    return {
        "cameras": [
            {"name": "yard", "state": "running", "fps": 9.0 + step % 3, "age_ms": 80.0, "restarts": int(step >= 5)},
            {
                "name": "door",
                "state": "finished" if step == 9 else "running",
                "fps": 5.0,
                "age_ms": 150.0,
                "restarts": 0,
            },
        ],
        "segmenters": [{"node": "ab12cd34", "state": "running", "utilisation": 0.1 * step, "batch": 1.5}],
    }


def test_the_report_has_a_row_per_camera_and_the_segmenters(tmp_path):
    with StatusLog(tmp_path / "fleet.status.jsonl") as log:
        for step in range(10):
            log.write(_status(step))
    cameras, segmenters = read_history(log.path)
    assert segmenters["ab12cd34"]["batch"] == [1.5] * 10
    assert cameras["yard"]["restarts"] == [0] * 5 + [1] * 5 and cameras["door"]["state"][-1] == "finished"
    page = write_cluster_report(log.path, tmp_path / "fleet.html").read_text()
    for section in ("summary", "cameras", "segmenters"):
        assert f'<section id="{section}">' in page
    images = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page)
    assert len(images) == 2 and all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    assert "spent 45% of its time in model passes" in page  # the mean of 0.0 .. 0.9


def test_a_broken_history_is_a_usage_error(tmp_path):
    (tmp_path / "bad.jsonl").write_text('{"cameras": []}\n')  # no time
    with pytest.raises(UsageError, match="not a fleet status line"):
        read_history(tmp_path / "bad.jsonl")
    with pytest.raises(UsageError, match="no status history"):
        read_history(tmp_path / "none.jsonl")
