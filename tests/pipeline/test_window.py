"""``--show``: a real OpenCV window on a virtual X display, clicked with xdotool."""

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from fastsam_track.errors import WindowError
from fastsam_track.pipeline.outputs.window import WindowSink, display_available
from fastsam_track.synthetic import SyntheticClip
from tests.conftest import write_clip
from tests.support.waiting import wait_until


@pytest.fixture
def xvfb():
    """A private X display (Xvfb) as ``DISPLAY`` value; stopped by its process id.

    A test using it needs the X tools (``tests/conftest.py`` marks it, and skips it when absent).
    """
    for number in range(90, 120):
        if not os.path.exists(f"/tmp/.X11-unix/X{number}"):
            break
    display = f":{number}"
    server = subprocess.Popen(["Xvfb", display, "-nolisten", "tcp", "-screen", "0", "1024x768x24"])
    try:
        wait_until(
            lambda: subprocess.run(["xdpyinfo", "-display", display], capture_output=True).returncode == 0,
            "Xvfb to answer",
            timeout=30,
        )
        yield display
    finally:
        server.kill()
        server.wait(timeout=10)


def _xdotool(display, *args):
    return subprocess.run(["xdotool", *args], env={**os.environ, "DISPLAY": display}, capture_output=True, text=True)


def test_a_click_in_the_window_selects_an_object_and_q_ends_the_run(xvfb, tmp_path):
    clip = SyntheticClip(height=180, width=320, num_shapes=6, seed=3, motion=0.3)
    source = write_clip(tmp_path / "scene.mp4", frames=2000, height=180, width=320, fps=25, seed=3, motion=0.3)
    # The prompts file uses id 255, the last an 8-bit mask PNG holds: the click's object takes the
    # lowest free id, 1 (it used to be given 256, and the mask export failed on it mid-run).
    prompts = tmp_path / "prompts.json"
    prompts.write_text('{"prompts": [{"frame": 1990, "object": 255, "remove": true}]}')
    run = subprocess.Popen(
        [
            *(sys.executable, "-m", "fastsam_track.cli", "run", str(source), "--show", "--model", "fastsam-tiny"),
            *(
                "--imgsz",
                "320",
                "--conf",
                "0.25",
                "--threads",
                "1",
                "--no-progress",
                "--save-masks",
                str(tmp_path / "m"),
                "--prompts",
                str(prompts),
            ),
        ],
        env={**os.environ, "DISPLAY": xvfb},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    masks = tmp_path / "m"

    def written() -> list[Path]:
        return sorted(masks.glob("*.png")) if masks.is_dir() else []

    try:
        # The window opens once the model is loaded and exported, the first frames come after: waits, not times.
        window = wait_until(lambda: _xdotool(xvfb, "search", "--name", "fastsam-track").stdout.split(), "the window")
        done = len(wait_until(lambda: written()[4:], "5 frames"))
        # Click the largest shape where it is now (frames are processed as fast as they decode).
        _, truth = clip.frame(done + 10)
        largest = truth[np.argmax(truth.sum(axis=(1, 2)))].astype(np.uint8)
        y, x = np.unravel_index(np.argmax(cv2.distanceTransform(largest, cv2.DIST_L2, 5)), largest.shape)
        _xdotool(xvfb, "mousemove", "--window", window[0], str(x), str(y), "click", "1")
        # The click has selected the object (each PNG appears whole), then 10 more frames.
        wait_until(lambda: 1 in np.array(Image.open(written()[-1])), "the selection")
        done = len(written())
        wait_until(lambda: len(written()) > max(done + 10, 20), "frames after the selection")
        _xdotool(xvfb, "windowfocus", window[0])  # no window manager here: focus by hand, then type
        _xdotool(xvfb, "key", "q")
        _, stderr = run.communicate(timeout=30)
    finally:
        run.kill()
    assert run.returncode == 0, stderr  # q ends the run normally
    names = sorted((tmp_path / "m").iterdir())
    assert 20 < len(names) < 2000  # it stopped early, on the key
    selected = [1 in np.unique(np.array(Image.open(p))) for p in names]
    assert any(selected), stderr
    first = selected.index(True)
    assert sum(selected[first:]) >= 0.9 * len(selected[first:]), "the clicked object is followed from the click on"
    mask = np.array(Image.open(names[first])) == 1
    assert (mask & largest.astype(bool)).sum() > 0.5 * mask.sum()  # and it is the shape that was clicked


def test_without_a_display_the_window_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    assert not display_available()
    with pytest.raises(WindowError, match="--show needs a display"):
        WindowSink()


def test_several_sources_get_a_window_each_and_a_click_goes_to_its_own_source(xvfb, tmp_path):
    clip = SyntheticClip(height=180, width=320, num_shapes=6, seed=3, motion=0.3)
    a = write_clip(tmp_path / "a.mp4", frames=2000, height=180, width=320, fps=25, seed=3, motion=0.3)
    b = write_clip(tmp_path / "b.mp4", frames=2000, height=180, width=320, fps=25, seed=3, motion=0.3)
    command = [sys.executable, "-m", "fastsam_track.cli", "run", str(a), "--source", str(b), "--show"]
    command += ["--model", "fastsam-tiny", "--imgsz", "320", "--conf", "0.25", "--threads", "1", "--no-progress"]
    command += ["--save-masks", str(tmp_path / "m")]
    run = subprocess.Popen(command, env={**os.environ, "DISPLAY": xvfb}, stderr=subprocess.PIPE, text=True)
    masks = {name: tmp_path / "m" / name for name in ("a", "b")}

    def written(name: str) -> list[Path]:
        return sorted(masks[name].glob("*.png")) if masks[name].is_dir() else []

    try:
        windows = {
            name: wait_until(
                lambda n=name: _xdotool(xvfb, "search", "--name", f"fastsam-track: {n}$").stdout.split(),
                f"the window of {name}",
            )
            for name in ("a", "b")
        }
        done = len(wait_until(lambda: written("b")[4:], "5 frames of b"))
        _, truth = clip.frame(done + 10)
        largest = truth[np.argmax(truth.sum(axis=(1, 2)))].astype(np.uint8)
        y, x = np.unravel_index(np.argmax(cv2.distanceTransform(largest, cv2.DIST_L2, 5)), largest.shape)
        # Without a window manager both windows open at the corner, one over the other: b is put beside a.
        _xdotool(xvfb, "windowmove", windows["b"][0], "400", "0")
        wait_until(
            lambda: _xdotool(xvfb, "getwindowgeometry", windows["b"][0]).stdout.count("Position: 400,"), "b moved"
        )
        _xdotool(xvfb, "mousemove", "--window", windows["b"][0], str(x), str(y), "click", "1")
        wait_until(lambda: 1 in np.array(Image.open(written("b")[-1])), "the selection on b")
        for name in ("a", "b"):  # q in each window ends its source; the run ends with the last
            _xdotool(xvfb, "windowfocus", windows[name][0])
            _xdotool(xvfb, "key", "q")
        _, stderr = run.communicate(timeout=60)
    finally:
        run.kill()
    assert run.returncode == 0, stderr
    assert any(1 in np.unique(np.array(Image.open(p))) for p in written("b"))
    assert not any(np.array(Image.open(p)).any() for p in written("a")), "the click on b's window selected on a"
