"""Shared fixtures: generated clips and the built-in model, all made on the spot, offline."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

# OpenVINO's converter and NNCF send usage telemetry unless told they run in CI: the sender forks the
# test process from a worker thread (an int8 export does it), and the interpreter's exit then waits on
# it forever (openvino-telemetry 2025.2). The tests are a CI run, and their subprocesses inherit this.
os.environ.setdefault("CI", "true")

from fastsam_track.pipeline.outputs.sinks import VideoFileSink
from fastsam_track.synthetic import SyntheticClip
from tests.support.credentials import leaked
from tests.support.system import missing


def pytest_configure(config: pytest.Config) -> None:
    """Runs started in the background by a shell without job control inherit SIGINT ignored, and so
    would the CLI runs the tests start and stop with Ctrl-C: give them the default handling back
    (a handled signal is reset to its default in a child, an ignored one stays ignored)."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """Fail a test whose captured output shows the test password (``tests/support/credentials.py``):
    every message the suite produces is checked for it, whatever printed it."""
    outcome = yield
    report = outcome.get_result()
    shown = leaked(report.sections)
    if shown and report.passed and not hasattr(item, "_password_shown"):  # once, not again at teardown
        item._password_shown = shown  # type: ignore[attr-defined]
        report.outcome = "failed"
        report.longrepr = f"the test password was printed, in: {', '.join(shown)}"


# Fixtures that start a real component: a test using one needs that component.
_FIXTURE_NEEDS = {"start_camera": "gstreamer", "xvfb": "x11"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests that use a component's fixture ``needs(component)`` (``-m needs`` selects them all),
    and skip, with what to install, those that need a component this machine lacks."""
    for item in items:
        for fixture, component in _FIXTURE_NEEDS.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(pytest.mark.needs(component))
        for mark in item.iter_markers("needs"):
            reasons = [reason for component in mark.args if (reason := missing(component))]
            if reasons:
                item.add_marker(pytest.mark.skip(reason="; ".join(reasons)))


def write_clip(
    path: Path, frames: int, height: int, width: int, fps: float = 25.0, seed: int = 3, motion: float = 2.0
) -> Path:
    """Write a synthetic H.264 clip of six shapes moving ``motion`` pixels a frame and return its path."""
    clip = SyntheticClip(height=height, width=width, num_shapes=6, seed=seed, motion=motion)
    with VideoFileSink(path, fps=fps, crf=18) as sink:
        for index in range(frames):
            sink.write(clip.frame(index)[0])
    return path


@pytest.fixture(scope="session")
def clip_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 12-frame 320x180 clip at 25 fps."""
    return write_clip(tmp_path_factory.mktemp("clips") / "clip.mp4", frames=12, height=180, width=320)


@pytest.fixture(scope="session")
def segmenter():  # type: ignore[no-untyped-def]
    """The built-in model at a 320-pixel input."""
    from fastsam_track.pipeline.model.segmenter import Segmenter

    return Segmenter("fastsam-tiny", imgsz=320, conf=0.25, device="cpu")


@pytest.fixture(scope="session")
def detection_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained detection (not segmentation) checkpoint."""
    import torch
    from ultralytics.nn.tasks import DetectionModel

    path = tmp_path_factory.mktemp("models") / "detect.pt"
    torch.save({"model": DetectionModel("yolov8n.yaml", nc=1, verbose=False), "train_args": {}}, path)
    return path
