"""``--show``: the annotated video in an OpenCV window, with mouse prompts.

Left click: a new object with a foreground point. Right click: a background point for
the newest object. Left drag: a new object with a box. Keys: ``c`` clears every object,
``space`` or ``p`` pauses and resumes, ``q`` or ``Esc`` ends the run (so does closing the
window). OpenCV aborts the whole process when a window opens without a display, so the
display is checked first and its absence is a ``WindowError``.
"""

from __future__ import annotations

import os
import queue
import socket
import threading
import time
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np

from fastsam_track.errors import PromptError, WindowError
from fastsam_track.pipeline.prompts.inbox import PromptInbox
from fastsam_track.types import StopRun

__all__ = ["WindowError", "WindowSink", "display_available"]

_DRAG_PX = 6  # a press and release farther apart than this is a box, not a click
_MESSAGE_SECONDS = 3.0
_QUIT_KEYS = {ord("q"), 27}
_PAUSE_KEYS = {ord(" "), ord("p")}


def display_available(display: str | None = None) -> bool:
    """Whether an X display answers at ``display`` (default ``$DISPLAY``).

    Example:
        >>> display_available("")
        False
    """
    display = os.environ.get("DISPLAY", "") if display is None else display
    host, _, number = display.rpartition(":")
    number = number.split(".")[0]
    if not number.isdigit():
        return False
    try:
        if host in ("", "unix"):
            with socket.socket(socket.AF_UNIX) as conn:
                conn.settimeout(1.0)
                conn.connect(str(Path("/tmp/.X11-unix") / f"X{number}"))
        else:
            socket.create_connection((host, 6000 + int(number)), timeout=1.0).close()
    except OSError:
        return False
    return True


class WindowSink:
    """Show frames in a window; mouse prompts go to ``inbox``.

    Every OpenCV window call runs on one thread of the sink's own (Qt windows belong to the
    thread that made them: closing one from another thread hangs). ``write`` hands it the
    newest frame, waits while the window is paused, and raises ``StopRun`` once it is closed.

    Args:
        inbox: where clicks and boxes go (None: a view-only window).
        title: the window's title.

    Raises:
        WindowError: there is no display.
    """

    def __init__(self, inbox: PromptInbox | None = None, title: str = "fastsam-track"):
        self.inbox, self.title = inbox, title
        self._frames: queue.Queue[np.ndarray] = queue.Queue(maxsize=1)
        self._playing, self._closed, self._closing = threading.Event(), threading.Event(), threading.Event()
        self._shown: np.ndarray | None = None
        self._press: tuple[int, int] | None = None
        self._message, self._message_until = "", 0.0
        if not display_available():
            shown = os.environ.get("DISPLAY") or "not set"
            raise WindowError(f"--show needs a display (DISPLAY is {shown}): use --serve for a browser page instead")

    def __enter__(self) -> WindowSink:
        self._playing.set()
        _GUI.add(self)
        return self

    def write(self, image: np.ndarray) -> None:
        """Show one (H, W, 3) uint8 BGR frame (waits while paused).

        Raises:
            StopRun: the window was closed (q, Esc or its close button).
        """
        while not self._playing.wait(0.1):
            if self._closed.is_set():
                break
        if self._closed.is_set():
            raise StopRun("window closed")
        try:
            self._frames.get_nowait()  # not shown yet: the newer frame replaces it
        except queue.Empty:
            pass
        self._frames.put(image)

    def _open(self) -> None:
        """Make the window (on the GUI thread)."""
        # No Qt toolbar or context menu: image pixels start at the window corner and right clicks are ours.
        cv2.namedWindow(self.title, cv2.WINDOW_AUTOSIZE | cv2.WINDOW_GUI_NORMAL)
        if self.inbox is not None:
            cv2.setMouseCallback(self.title, self._on_mouse)

    def _show(self) -> None:
        """Show the newest frame, if one came (on the GUI thread)."""
        try:
            self._shown = self._frames.get_nowait()
        except queue.Empty:
            pass
        if self._shown is not None:
            cv2.imshow(self.title, self._caption(self._shown))

    def _close(self) -> None:
        """Destroy the window (on the GUI thread); ``write`` then raises ``StopRun``."""
        self._closed.set()
        cv2.destroyWindow(self.title)
        cv2.waitKey(1)

    def _handle(self, key: int) -> bool:
        """React to a key; False once the window is to close."""
        if key in _QUIT_KEYS or cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
            return False
        if key in _PAUSE_KEYS:
            if self._playing.is_set():
                self._playing.clear()
                self._say("paused")
            else:
                self._playing.set()
                self._say("playing")
        if key == ord("c") and self.inbox is not None:
            self.inbox.clear()
            self._say("cleared")
        return True

    def _on_mouse(self, event: int, x: int, y: int, flags: int, param: object) -> None:
        assert self.inbox is not None
        try:
            if event == cv2.EVENT_LBUTTONDOWN:
                self._press = (x, y)
            elif event == cv2.EVENT_LBUTTONUP and self._press is not None:
                (x0, y0), self._press = self._press, None
                if max(abs(x - x0), abs(y - y0)) > _DRAG_PX:
                    self._say(f"object {self.inbox.add_box(min(x0, x), min(y0, y), max(x0, x), max(y0, y))}: box")
                else:
                    self._say(f"object {self.inbox.add_point(x, y, 1)}: point")
            elif event == cv2.EVENT_RBUTTONUP:
                self._say(f"object {self.inbox.add_point(x, y, 0)}: background point")
        except PromptError as error:
            self._say(str(error))

    def _say(self, message: str) -> None:
        self._message, self._message_until = message, time.monotonic() + _MESSAGE_SECONDS

    def _caption(self, image: np.ndarray) -> np.ndarray:
        if time.monotonic() > self._message_until:
            return image
        image = image.copy()
        cv2.putText(image, self._message, (10, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(image, self._message, (10, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
        return image

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._closing.set()
        self._playing.set()
        self._closed.wait(timeout=5)  # the GUI thread destroys the window


class _Windows:
    """The one thread every window lives on: OpenCV's Qt windows belong to the thread that made them,
    and windows made on two threads dead-lock Qt, so several sources' windows share this one.

    Each pass shows every window's newest frame, then reads one key: OpenCV does not say which
    window a key was typed in, so keys (q, space, c) act on every window; clicks go to the
    window clicked (each has its own mouse callback).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: list[WindowSink] = []
        self._thread: threading.Thread | None = None

    def add(self, window: WindowSink) -> None:
        with self._lock:
            self._windows.append(window)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="window", daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        opened: list[WindowSink] = []
        while True:
            with self._lock:
                for window in [w for w in self._windows if w not in opened]:
                    window._open()
                    opened.append(window)
                for window in [w for w in opened if w._closing.is_set()]:
                    self._drop(window, opened)
                if not opened:
                    self._thread = None  # a window added later starts a new thread
                    return
            for window in opened:
                window._show()
            key = cv2.waitKey(15) & 0xFF
            with self._lock:
                for window in [w for w in opened if not w._handle(key)]:
                    self._drop(window, opened)

    def _drop(self, window: WindowSink, opened: list[WindowSink]) -> None:
        window._close()
        opened.remove(window)
        self._windows.remove(window)


_GUI = _Windows()
