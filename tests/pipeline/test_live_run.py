"""The command line on a real RTSP camera that is killed, restarted and frozen mid-run."""

import fcntl
import json
import os
import re
import signal
import struct
import subprocess
import sys
import termios
import threading
import time

import cv2
import numpy as np
from PIL import Image

from fastsam_track.synthetic import SyntheticClip
from tests.conftest import write_clip
from tests.support.waiting import Lines, wait_until


def _prompt_point(clip: SyntheticClip) -> tuple[int, int]:
    """The point deepest inside the largest shape of the clip's first frame."""
    _, truth = clip.frame(0)
    largest = truth[np.argmax(truth.sum(axis=(1, 2)))].astype(np.uint8)
    distance = cv2.distanceTransform(largest, cv2.DIST_L2, 5)
    y, x = np.unravel_index(np.argmax(distance), distance.shape)
    return int(x), int(y)


def _live_run(url: str, *options: str) -> subprocess.Popen[str]:
    """``fastsam-track run URL`` with the built-in model at imgsz 320 on one thread (steady on a busy
    machine: a 2-thread forward waits on a preempted thread), never giving up on the camera."""
    command = [sys.executable, "-m", "fastsam_track.cli", "run", url, "--model", "fastsam-tiny", "--imgsz", "320"]
    command += ["--threads", "1", "--reconnect-limit", "0", "--no-progress", *options]
    return subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)


def test_a_run_survives_kill_restart_and_freeze_and_keeps_the_selected_object(start_camera, tmp_path):
    # A slow scene served as the camera: after each gap the object is near where it was.
    clip = SyntheticClip(height=180, width=320, num_shapes=6, seed=3, motion=0.3)
    source = write_clip(tmp_path / "scene.mp4", frames=900, height=180, width=320, fps=25, seed=3, motion=0.3)
    camera = start_camera("--file", str(source))
    x, y = _prompt_point(clip)
    run = _live_run(
        camera.url,
        "--conf",
        "0.25",
        "--point",
        f"{x},{y}",
        "--save-masks",
        str(tmp_path / "masks"),
        "--stats",
        str(tmp_path / "stats.json"),
    )
    stderr = Lines(run.stderr)
    masks = tmp_path / "masks"

    def frames_past(count: int) -> bool:
        return masks.is_dir() and len(list(masks.iterdir())) > count

    try:
        # Each fault comes once the run has got somewhere (model loaded, frames out), however long that takes.
        wait_until(lambda: frames_past(20), "20 frames before the gaps")
        camera.kill()
        time.sleep(1.5)  # the camera is away for a while
        camera.restart()
        stderr.wait_for("reconnected")
        done = len(list(masks.iterdir()))
        wait_until(lambda: frames_past(done + 10), "10 frames after the restart")
        seen = len(stderr.timed)
        camera.freeze()
        time.sleep(5)  # longer than the 2 s read timeout
        camera.thaw()
        stderr.wait_for("reconnected", after=seen)
        done = len(list(masks.iterdir()))
        wait_until(lambda: frames_past(done + 30), "30 frames after the freeze")
        assert run.poll() is None, stderr.text  # still running through all of it
        run.send_signal(signal.SIGINT)
        run.wait(timeout=30)
        stderr.join()
    finally:
        run.kill()
    stderr = stderr.text
    assert run.returncode == 130, stderr
    assert stderr.count("reconnected") >= 2, stderr  # after the kill and after the freeze
    names = sorted((tmp_path / "masks").iterdir())
    frames = [int(p.stem) for p in names]
    assert frames == sorted(set(frames)) and len(frames) > 60  # indices only grow across reconnections
    present = [1 in np.unique(np.array(Image.open(p))) for p in names]
    assert sum(present[:20]) >= 18, "the object is selected and followed before the gaps"
    assert sum(present[-20:]) >= 15, "the object is followed after the kill, the restart and the freeze"
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["frames"] == len(frames) and stats["frame_age_ms"]["p95"] > 0


def _decoded_times(path) -> list[float]:
    """Presentation times (s) of the frames PyAV decodes from ``path``; [] while it is not playable yet."""
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            return [float(frame.pts * frame.time_base) for frame in container.decode(stream)]
    except (av.error.FFmpegError, IndexError, OSError):
        return []


def test_a_live_recording_keeps_real_time_and_plays_after_sigkill(rtsp_camera, tmp_path):
    # Used to: stamp frames at the camera's nominal rate (a gap vanished, playback ran fast), and
    # leave an MP4 without its index when killed outright (unplayable).
    run = _live_run(rtsp_camera.url, "-o", str(tmp_path / "live.mp4"))
    stderr = Lines(run.stderr)

    def recording() -> list[float]:
        parts = list(tmp_path.glob(".live.mp4.*.part"))
        return _decoded_times(parts[0]) if parts else []

    try:
        # The file plays while it is written: its first fragment is out (a keyframe every 2 s).
        before = len(wait_until(recording, "the first fragment of the recording"))
        rtsp_camera.freeze()
        time.sleep(6)  # the camera is away: past the 2 s read timeout, then a reconnection
        rtsp_camera.thaw()
        stderr.wait_for("reconnected")
        wait_until(lambda: len(recording()) > before + 100, "two fragments after the gap")
        assert run.poll() is None, stderr.text
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=30)
    finally:
        run.kill()
    assert not (tmp_path / "live.mp4").exists()  # never finalised: the recording is its staged name
    (part,) = tmp_path.glob(".live.mp4.*.part")
    times = _decoded_times(part)
    assert len(times) > before + 100, stderr.text
    steps = np.diff(times)
    assert (steps > 0).all()
    # The 6 s freeze shows as a gap (less the frames buffered before it, read late: a 4 s
    # freeze gave 2.8 s); at the nominal rate every step would be 0.04 s.
    assert steps.max() > 3.0, steps.max()
    assert np.median(steps) < 0.5  # among frames at the rate they were processed


class _Terminal:
    """A pseudo-terminal of 120 columns for a child's stderr, and what it would show.

    The child sees a terminal (a progress bar is drawn); what it writes is read by a thread.
    """

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        self._output = bytearray()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:  # EIO: every writer has closed the terminal
                return
            if not chunk:
                return
            self._output += chunk

    @property
    def text(self) -> str:
        return self._output.decode(errors="replace")

    def lines(self) -> list[str]:
        """The lines the terminal shows: a carriage return goes back to the start of the line, text overwrites."""
        shown: list[str] = []
        line: list[str] = []
        column = 0
        for char in self.text:
            if char == "\n":
                shown.append("".join(line).rstrip())
                line, column = [], 0
            elif char == "\r":
                column = 0
            else:
                line[column : column + 1] = [char]
                column += 1
        return [*shown, "".join(line).rstrip()]

    def close(self) -> None:
        os.close(self.slave)
        self._thread.join(timeout=10)
        os.close(self.master)


def test_reconnection_messages_start_on_their_own_line_beside_the_progress_bar(rtsp_camera, tmp_path):
    # Used to: print "stream ... lost ..., reconnecting" straight after the progress bar's text on its line.
    terminal = _Terminal()
    command = [sys.executable, "-m", "fastsam_track.cli", "run", rtsp_camera.url, "--model", "fastsam-tiny"]
    command += ["--imgsz", "320", "--threads", "1", "--reconnect-limit", "0", "-o", str(tmp_path / "live.mp4")]
    run = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=terminal.slave)

    def bar_drawn(after: int = 0) -> bool:
        return "fps=" in terminal.text[after:]

    try:
        wait_until(bar_drawn, "the progress bar")
        rtsp_camera.kill()
        wait_until(lambda: "reconnecting" in terminal.text, "the loss to be reported")
        rtsp_camera.restart()
        wait_until(lambda: "reconnected" in terminal.text, "the reconnection")
        seen = terminal.text.index("reconnected")
        wait_until(lambda: bar_drawn(seen), "the progress bar after the reconnection")
        run.send_signal(signal.SIGINT)
        run.wait(timeout=30)
    finally:
        run.kill()
        terminal.close()
    assert run.returncode == 130, terminal.text
    lines = terminal.lines()
    messages = [line for line in lines if "fastsam-track:" in line]
    assert any(re.match(r"fastsam-track: .* lost \(.*\), reconnecting$", m) for m in messages), lines
    assert any(re.match(r"fastsam-track: .* reconnected after \d+ attempt\(s\)$", m) for m in messages), lines
    glued = [line for line in messages if not line.startswith("fastsam-track:")]
    assert not glued, glued
    assert any("fps=" in line for line in lines)  # the bar was there, on lines of its own


def test_a_several_source_live_recording_keeps_real_time_is_locked_and_plays_after_sigkill(start_camera, tmp_path):
    # Used to: write each source's file at the camera's nominal rate without fragments (unplayable
    # after a kill, a gap vanished), unlike the one-source run.
    cameras = [start_camera(), start_camera()]
    out = tmp_path / "out"
    run = _live_run(cameras[0].url, "--source", cameras[1].url, "-o", str(out))
    stderr = Lines(run.stderr)

    def recording(n: int) -> list[float]:
        # the cameras' URLs end in /cam: the sources are named cam and cam-2
        parts = list(out.glob(f".{('cam', 'cam-2')[n]}.mp4.*.part")) if out.is_dir() else []
        return _decoded_times(parts[0]) if parts else []

    try:
        before = [len(wait_until(lambda n=n: recording(n), f"the first fragment of source {n}")) for n in (0, 1)]
        cameras[0].freeze()
        time.sleep(6)  # past the 2 s read timeout, then a reconnection; the other source goes on
        cameras[0].thaw()
        stderr.wait_for("reconnected")
        wait_until(lambda: len(recording(0)) > before[0] + 50, "fragments of source 0 after the gap")
        command = [sys.executable, "-m", "fastsam_track.cli", "run", cameras[0].url, "--source", cameras[1].url]
        second = subprocess.run(
            [*command, "-o", str(out), "--model", "fastsam-tiny", "--no-progress"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.poll() is None, stderr.text
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=30)
    finally:
        run.kill()
    assert second.returncode == 2, second.stderr
    assert re.fullmatch(
        rf"fastsam-track: error: output '{re.escape(str(out))}/cam.mp4' is being written by another run "
        rf"\(process {run.pid}\): wait for it, give another name, or --overwrite\n",
        second.stderr,
    ), second.stderr
    assert not list(out.glob("cam*.mp4"))  # never finalised: each recording is its staged name
    times = [recording(n) for n in (0, 1)]
    assert len(times[0]) > before[0] + 50 and len(times[1]) > before[1], stderr.text
    for steps in (np.diff(times[0]), np.diff(times[1])):
        assert (steps > 0).all() and np.median(steps) < 0.5
    assert np.diff(times[0]).max() > 3.0  # the 6 s freeze is a gap in source 0's recording


def test_a_camera_lost_past_its_reconnection_limit_is_exit_1_and_the_recording_plays(start_camera, tmp_path):
    """A failure at run time, not a usage error: exit 1, one line; what was recorded is finalised."""
    camera = start_camera()
    out = tmp_path / "out.mp4"
    command = [sys.executable, "-m", "fastsam_track.cli", "run", camera.url, "--model", "fastsam-tiny", "--imgsz"]
    command += ["320", "--threads", "1", "--reconnect-limit", "1", "--no-progress", "-o", str(out)]
    run = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    stderr = Lines(run.stderr)
    try:
        wait_until(lambda: bool(list(tmp_path.glob(".out.mp4.*.part"))), "the recording to start")
        wait_until(lambda: len(_decoded_times(next(tmp_path.glob(".out.mp4.*.part")))) > 5, "frames recorded")
        camera.kill()  # and it does not come back
        run.wait(timeout=120)
        stderr.join()
    finally:
        run.kill()
    assert run.returncode == 1, stderr.text
    assert f"fastsam-track: error: stream {camera.url} lost: 1 reconnection attempts failed" in stderr.text
    assert len(_decoded_times(out)) > 5
