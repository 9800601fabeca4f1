"""The live demos run as a newcomer runs them."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import av

from tests.support.waiting import Lines, wait_until

DEMOS = Path(__file__).resolve().parents[2] / "demos"


def test_the_webcam_demo_without_a_camera_says_so_in_one_line():
    result = subprocess.run(
        [sys.executable, str(DEMOS / "webcam_live.py")], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        == "webcam_live: no webcam at index 0: the device is absent or busy (the capture did not open)"
    )


def test_the_rtsp_demo_follows_a_box_on_a_real_camera(rtsp_camera, tmp_path):
    env = {**os.environ, "FASTSAM_MODEL": "fastsam-tiny", "DEMO_OUTPUT": str(tmp_path / "out.mp4")}
    demo = subprocess.Popen(
        [sys.executable, str(DEMOS / "rtsp_camera.py"), rtsp_camera.url, "100,60,220,180"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stdout, stderr = Lines(demo.stdout), Lines(demo.stderr)
    try:
        # Loading the model and exporting it for the stream take seconds to minutes: wait for frames, not a time.
        stdout.wait_for(r"^25 frames")
        # Recorded like the command line's: a staged file that plays while written (fragments), and locked.
        wait_until(lambda: _frames(next(tmp_path.glob(".out.mp4.*.part"), None)), "the first fragment")
        second = subprocess.run(
            [sys.executable, str(DEMOS / "rtsp_camera.py"), rtsp_camera.url, "100,60,220,180"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        demo.send_signal(signal.SIGINT)
        demo.wait(timeout=30)
        stdout.join()
        stderr.join()
    finally:
        demo.kill()
    assert demo.returncode == 0 and "stopped" in stdout.text, stderr.text
    assert second.returncode == 1 and second.stderr == (
        f"rtsp_camera: output {str(tmp_path / 'out.mp4')!r} is being written by another run (process {demo.pid}): "
        "wait for it, give another name, or --overwrite\n"
    )
    assert _frames(tmp_path / "out.mp4") >= 25  # each frame reported is written before the end
    assert sorted(p.name for p in tmp_path.glob("*out.mp4*")) == ["out.mp4"]  # renamed into place, lock removed


def _frames(path: Path | None) -> int:
    """Frames PyAV decodes from ``path`` (0 while it is not playable yet)."""
    if path is None:
        return 0
    try:
        with av.open(str(path)) as container:
            return sum(1 for _ in container.decode(video=0))
    except (av.error.FFmpegError, OSError):
        return 0
