"""`fastsam-track cluster --report`: a real fleet's status history drawn as one HTML page."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fastsam_track.report.cluster import read_history
from tests.cluster.conftest import SETTINGS


@pytest.mark.slow
def test_a_fleet_run_writes_its_report(ray_local: Any, tmp_path: Path, clips: Callable[[str, int], Path]) -> None:
    cameras = [{"source": str(clips(name, 30)), "output": f"{name}.mp4"} for name in ("a", "b")]
    (tmp_path / "fleet.yaml").write_text(
        json.dumps({"settings": SETTINGS, "segmenter": {"cpus": 1}, "cameras": cameras})
    )
    report = tmp_path / "fleet.html"
    command = [sys.executable, "-m", "fastsam_track.cli", "cluster", str(tmp_path / "fleet.yaml"), "--address", "auto"]
    done = subprocess.run([*command, "--status-every", "0.5", "--report", str(report)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    history, segmenters = read_history(tmp_path / "fleet.status.jsonl")
    assert sorted(history) == ["a", "b"] and len(segmenters) == 1
    assert history["a"]["state"][-1] == "finished" and max(history["a"]["fps"]) > 0
    page = report.read_text()
    assert all(f'<section id="{s}">' in page for s in ("summary", "cameras", "segmenters"))
    assert page.count("data:image/png;base64,") == 2 and "<script" not in page
