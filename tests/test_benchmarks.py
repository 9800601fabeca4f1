"""The benchmarks still run (short versions), so their tables stay reproducible."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SPEED_SMOKE = ("--frames", "2", "--repeats", "1", "--imgsz", "320", "--models", "fastsam-tiny", "--no-write")


def _table_rows(script: str, *args: str) -> list[str]:
    """Run a benchmark without touching its README; return the first cell of each table row."""
    result = subprocess.run(
        [sys.executable, f"benchmarks/{script}", *args, "--no-write"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    return [row.split("|")[1].strip() for row in rows[1:]]


def test_propagation_benchmark_runs_and_prints_every_row():
    for module in ("trackeval", "vos_benchmark", "trackers"):
        pytest.importorskip(module, reason='the benchmark extra is not installed: pip install -e ".[bench]"')
    names = _table_rows("propagation.py", "--seeds", "1", "--frames", "12")
    assert names == ["translate", "rotate_scale", "occlusion", "exit_reentry", "distractors", "**mean**"]


def test_speed_benchmark_runs_every_row():
    for module in ("openvino", "onnxruntime"):
        pytest.importorskip(module, reason="the openvino and onnx extras are not installed")
    result = subprocess.run(
        [sys.executable, "benchmarks/speed.py", *SPEED_SMOKE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    rows = [line.split("|")[2].strip() for line in result.stdout.splitlines() if line.startswith("| fastsam")]
    assert rows[:3] == ["network alone, torch", "network alone, onnx", "network alone, openvino"]
    assert rows[3].startswith("floor: decode, network, encode only, ")
    assert sum(row.startswith("**ours**") for row in rows) == 4
    assert [row.split(" (")[0] for row in rows[-2:]] == [
        "ultralytics FastSAM.track, defaults",
        "ultralytics FastSAM.track, docs' settings",
    ]


def test_text_prompt_benchmark_runs():
    pytest.importorskip("open_clip", reason='the text extra is not installed: pip install -e ".[text]"')
    names = _table_rows("text_prompt.py", "--masks", "4", "--repeats", "1")
    assert names[0] == "crops, masked and blanked (ours)" and names[-1].startswith("100 frames, ours")


@pytest.mark.needs("gstreamer")
def test_live_latency_benchmark_runs():
    names = _table_rows("live_latency.py", "--seconds", "4", "--imgsz", "320")
    assert names == ["4 s"]


def test_a_2000_frame_soak_holds_memory_and_frees_lost_tracks():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from soak import soak

    figures = soak(2000)
    assert figures["frames"] == 2000
    assert figures["growth"] < 50, figures  # MB from the end of the warm-up to the end
    assert figures["age_p95"] < 2000, figures  # frames wait in bounded queues, never pile up
    assert figures["tracks_end"] <= figures["tracks_max"] < 200, figures  # lost tracks are freed
