"""The page shows state: a status bar, each object's state, a banner when the source ends or
fails, pause and resume with clicks on the paused frame, keys; at a desktop's and a phone's size."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fastsam_track.pipeline.keyframes import Keyframes
from fastsam_track.pipeline.outputs.web import WebServer
from fastsam_track.pipeline.processor import FrameProcessor
from fastsam_track.pipeline.prompts.inbox import PromptInbox
from fastsam_track.pipeline.runner import run
from fastsam_track.trackers.objects import ObjectTracker
from fastsam_track.trackers.segment_tracker import SegmentTracker
from fastsam_track.types import Frame, PointPrompt
from tests.pipeline.test_web import _launch, _live, _Page, _request, _Squares

WAIT_MS = 60_000


class _Running:
    """The squares through the real runner into the page, in a thread; keyframes every 3 frames."""

    def __init__(self, squares: _Squares, server: WebServer, inbox: PromptInbox, frames: Iterator[Frame] | None = None):
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.prompts: list[PointPrompt] = []
        processor = FrameProcessor(tracker=SegmentTracker(), objects=ObjectTracker(), inbox=inbox, carry=True)
        take = inbox.take

        def recording_take(index: int) -> list[Any]:  # what the frame loop was given, frames included
            taken = take(index)
            self.prompts += [p for p in taken if isinstance(p, PointPrompt)]
            return taken

        inbox.take = recording_take  # type: ignore[method-assign]
        source = frames if frames is not None else _live(squares.image, self.stop)
        self._thread = threading.Thread(
            target=self._run, args=(source, squares, processor, server.sink(0)), daemon=True
        )
        self._thread.start()

    def _run(self, source: Any, squares: _Squares, processor: FrameProcessor, sink: Any) -> None:
        try:
            run(source, squares.segment, processor, sinks=[sink], live=True, keyframes=Keyframes(every=3))
        except BaseException as error:  # the failing source's test reads it
            self.errors.append(error)

    def end(self) -> None:
        self.stop.set()
        self._thread.join(timeout=60)


def _wait_for_state(page: Any, object_id: int, *states: str) -> None:
    """Wait until the list shows object ``object_id`` in one of ``states``."""
    page.wait_for_function(
        "([id, states]) => states.includes("
        'document.querySelector(`#objects li[data-object="${id}"] .state`)?.dataset.state)',
        arg=[object_id, list(states)],
        timeout=WAIT_MS,
    )


def _field(page: Any, name: str) -> str:
    return page.locator(f'#statusbar [data-field="{name}"]').inner_text()


def _fits(page: Any) -> None:
    """Nothing wider than the window, and the whole picture on screen."""
    width = page.viewport_size["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    box = page.locator("#stream").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5 and box["width"] > 0


@pytest.mark.slow
@pytest.mark.needs("chromium")
def test_the_page_shows_status_states_pauses_and_ends(tmp_path: Path) -> None:
    from playwright import sync_api

    squares = _Squares()
    inbox = PromptInbox()
    # A second source, idle, keeps the page up after the squares' run has ended.
    server = WebServer(sources=[("squares", inbox), ("idle", None)])
    running = _Running(squares, server, inbox)
    try:
        with server.sink(1), sync_api.sync_playwright() as playwright:
            browser = _launch(playwright)
            chromium = browser.new_page(viewport={"width": 1280, "height": 800})
            chromium.goto(server.url, wait_until="domcontentloaded")
            page = _Page(chromium, (320, 240))

            # The status bar: name, state, a rate, frame age, dropped frames, the keyframe share, the frame.
            chromium.wait_for_function(
                "() => /^[1-9]/.test(document.querySelector('#statusbar [data-field=fps]').textContent)",
                timeout=WAIT_MS,
            )
            assert _field(chromium, "name") == "squares" and _field(chromium, "state") == "running"
            assert _field(chromium, "age").startswith("age ") and "p95" in _field(chromium, "age")
            assert _field(chromium, "dropped").endswith(" dropped")
            assert "% keyframes" in _field(chromium, "keyframes")  # every 3rd frame: about 33 %
            first = _field(chromium, "frame")
            chromium.wait_for_function(
                "(first) => document.querySelector('#statusbar [data-field=frame]').textContent !== first",
                arg=first,
                timeout=WAIT_MS,
            )

            # A click: the object listed with its id, colour and state.
            one = page.click(squares.centre(0))["object"]
            state = page.listed(one).locator(".state")
            # Keyframes every 3rd frame: between them a followed object is "carried", and the page's polls may
            # keep meeting those frames (a poll period in step with the frames), so either state says it is followed.
            _wait_for_state(chromium, one, "seen", "carried")
            assert state.inner_text() in ("seen", "carried") and f"object {one}" in page.listed(one).inner_text()

            # Pause (the space bar): the picture stays, the run goes on, and a click is a prompt of the frame shown.
            chromium.keyboard.press(" ")
            chromium.wait_for_selector("#paused-mark:not([hidden])", timeout=WAIT_MS)
            chromium.wait_for_function("() => document.getElementById('stream').dataset.frame !== undefined")
            shown = int(chromium.locator("#stream").get_attribute("data-frame"))
            assert 0 <= shown <= inbox.frame_index
            start = inbox.frame_index  # the run goes on while the view is paused
            assert _wait(lambda: inbox.frame_index > start + 2)
            assert chromium.locator("#stream").get_attribute("data-frame") == str(shown)
            assert _wait(lambda: f"paused on frame {shown}" in _field(chromium, "frame"))
            with chromium.expect_request(lambda r: "/prompt" in r.url) as sent:
                two = page.click(squares.centre(1))["object"]
            assert json.loads(sent.value.post_data)["frame"] == shown
            assert _wait(lambda: any(p.object_id == two and p.frame == shown for p in running.prompts))
            _wait_for_state(chromium, two, "seen", "carried")
            box = json.loads(_request(server, "GET", "/objects")[2])["objects"][1]["box"]
            assert np.abs(np.array(box) - squares.BOXES[1]).max() <= 2  # the click landed on the second square

            # Resume (the button): the stream again.
            chromium.locator("#pause").click()
            chromium.wait_for_selector("#paused-mark[hidden]", state="attached", timeout=WAIT_MS)
            assert chromium.locator("#stream").get_attribute("src").startswith("stream.mjpg")

            # The first square taken away: its object is no longer seen.
            squares.gone.add(0)
            _wait_for_state(chromium, one, "searching", "lost")

            # The keys are listed on the page; a desktop and a phone see it all, the video scaled to fit.
            assert "Space" in chromium.locator("#help").inner_text()
            _fits(chromium)
            chromium.screenshot(path=str(tmp_path / "desktop.png"))
            chromium.set_viewport_size({"width": 390, "height": 844})
            chromium.wait_for_timeout(300)  # a layout pass
            _fits(chromium)
            assert chromium.locator("#stream").bounding_box()["width"] <= 390
            chromium.screenshot(path=str(tmp_path / "phone.png"), full_page=True)
            phone = _Page(chromium, (320, 240))
            three = phone.click(squares.centre(2))["object"]  # clicks still land on the phone's smaller picture
            _wait_for_state(chromium, three, "seen", "carried")

            # The source ends: a banner says so, and the status bar too.
            running.end()
            chromium.wait_for_selector('#stream-status[data-state="finished"]', timeout=WAIT_MS)
            assert "ended" in chromium.locator("#stream-status").inner_text()
            assert _field(chromium, "state") == "finished"
            browser.close()
    finally:
        running.end()
    assert not running.errors, running.errors


def _wait(condition: Any, seconds: float = 60.0) -> bool:
    """Whether ``condition()`` turned true within ``seconds`` (polled)."""
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def _failing(squares: _Squares) -> Iterator[Frame]:
    for index in range(5):
        yield Frame(index, squares.image(index), index / 15)
    raise OSError("the camera's cable was pulled")


def test_a_failed_source_says_why_in_its_status() -> None:
    squares = _Squares()
    inbox = PromptInbox()
    server = WebServer(sources=[("cam", inbox), ("other", None)])
    with server.sink(1):  # the page stays up after the run's sink has left
        running = _Running(squares, server, inbox, frames=_failing(squares))
        running.end()
        status = json.loads(_request(server, "GET", "/status")[2])
    assert status["state"] == "failed" and "the camera's cable was pulled" in status["note"]
    assert status["frames"] >= 1 and status["frame"] >= 0  # a live source: older frames may be dropped


class _Lost:
    lost = "cam lost (end of stream)"


def test_a_reconnecting_source_says_so_and_a_paused_view_has_its_frame() -> None:
    inbox = PromptInbox()
    server = WebServer(sources=[("cam", inbox)])
    with server.sink(0).follow(_Lost()) as sink:
        sink.write(np.zeros((48, 64, 3), np.uint8))
        status = json.loads(_request(server, "GET", "/status")[2])
        assert (status["state"], status["note"]) == ("reconnecting", "cam lost (end of stream)")
        code, kind, _ = _request(server, "GET", "/frame.jpg")
        assert (code, kind) == (200, "image/jpeg")


def test_the_page_script_is_valid_javascript() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: apt-get install nodejs")
    script = Path(__file__).parents[2] / "fastsam_track" / "pipeline" / "outputs" / "web" / "static" / "page.js"
    checked = subprocess.run([node, "--check", str(script)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stderr
