"""The live demos run as a newcomer runs them."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av

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
    try:
        time.sleep(10)
        demo.send_signal(signal.SIGINT)
        stdout, stderr = demo.communicate(timeout=30)
    finally:
        demo.kill()
    assert demo.returncode == 0 and "stopped" in stdout, stderr
    with av.open(str(tmp_path / "out.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) >= 3  # a few on a busy machine; about 100 on a quiet one
