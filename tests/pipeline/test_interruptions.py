"""Interrupted runs leave nothing half-written (issue 24): a full disk, a killed run's leftovers."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import supervision as sv

from fastsam_track.configs import load_config
from fastsam_track.pipeline.build import Outputs, build
from fastsam_track.types import PointPrompt
from tests.conftest import write_clip


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 96 KiB tmpfs: a real full disk (root only; skipped with the reason elsewhere)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(disk)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (root is needed): {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_full_disk_leaves_no_partial_file_and_names_the_users_output(tmp_path: Path, small_disk: Path) -> None:
    clip = write_clip(tmp_path / "clip.mp4", frames=40, height=360, width=640, motion=6.0)
    (small_disk / "out.mp4").write_bytes(b"an earlier video")
    (tmp_path / "lossless.yaml").write_text("crf: 0\n")  # a video far larger than the disk
    result = subprocess.run(
        [
            *(sys.executable, "-m", "fastsam_track.cli", "run", str(clip), "--no-progress", "--overwrite"),
            *("-o", str(small_disk / "out.mp4"), "--save-tracks", str(small_disk / "tracks.txt")),
            *("--model", "fastsam-tiny", "--imgsz", "320", "--config", str(tmp_path / "lossless.yaml")),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1, result.stderr
    message = result.stderr.strip().splitlines()[-1]
    assert ".part" not in message and ("out.mp4" in message or "tracks.txt" in message), message
    assert "No space left on device" in message
    assert (small_disk / "out.mp4").read_bytes() == b"an earlier video"  # kept whole
    assert not [p.name for p in small_disk.iterdir() if p.name.endswith(".part")]


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _segment(image: np.ndarray) -> sv.Detections:
    mask = np.zeros((1, image.shape[0] // 4, image.shape[1] // 4), bool)
    mask[0, 2:10, 2:10] = True
    return sv.Detections(xyxy=np.array([[8, 8, 40, 40]], np.float32), mask=mask, confidence=np.ones(1, np.float32))


def test_a_killed_runs_leftovers_are_removed_at_start_and_nothing_else(tmp_path: Path, clip_path: Path) -> None:
    dead, alive = _dead_pid(), __import__("os").getpid()
    masks = tmp_path / "masks"
    masks.mkdir()
    (masks / "00000.png").write_bytes(b"a killed run's frame")
    left = [
        tmp_path / f".out.mp4.{dead}-0.part",  # a killed run's video
        tmp_path / f".tracks.txt.{dead}-3.part",
        masks / f".00001.png.{dead}-7.part",  # its PNG being written
    ]
    kept = [
        tmp_path / f".out.mp4.{alive}-99999.part",  # a live process's
        tmp_path / f".other.mp4.{dead}-0.part",  # beside another file, not ours to judge
        masks / "notes.part",
    ]
    for path in left + kept:
        path.write_bytes(b"")
    (tmp_path / f".masks.{dead}-1.part").mkdir()  # a killed --overwrite run's new folder
    left.append(tmp_path / f".masks.{dead}-1.part")
    outputs = Outputs(video=tmp_path / "out.mp4", save_tracks=tmp_path / "tracks.txt", save_masks=masks, overwrite=True)
    prompts = [PointPrompt(0, 1, np.array([[20.0, 20.0]]), np.array([1]))]
    with pytest.raises(Exception, match=r"notes\.part"):  # --overwrite: a file not ours in the folder is refused
        build(load_config(), clip_path, prompts, outputs, segment=_segment)
    (masks / "notes.part").unlink()
    kept.remove(masks / "notes.part")
    with build(load_config(), clip_path, prompts, outputs, segment=_segment) as pipeline:
        pipeline.run()
    assert not [p for p in left if p.exists()]
    assert all(p.exists() for p in kept)
    assert sorted(p.name for p in masks.iterdir()) == [f"{i:05d}.png" for i in range(12)]
