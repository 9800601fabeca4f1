"""A fleet's web page, served by the driver: the cameras with their state, the chosen one's live
frames, clicks that prompt it, and a form and buttons to add and remove cameras.

It is the single-process page (``pipeline.outputs.web.WebServer``) over a ``SourceCatalog`` of
the fleet's cameras: ``FleetPage`` lists them from the controller's status (refreshed every
``refresh`` s, and at once after an add or a remove) and each camera is a ``PageSource`` whose
frames and prompts live in its actor:

- frames: the camera keeps its newest annotated frame and encodes it to JPEG when asked
  (``CameraWorker.frame``); the page fetches the shown camera's at most ``fps`` times a
  second, once for all its viewers. Raw frames never leave the camera's machine, and a camera
  nobody watches encodes nothing.
- clicks: prompts through the controller (``Controller.prompt_object``), which gives the
  object its id and keeps the prompt, so a restarted camera gets it again; a right click adds a
  background point to the newest object given points (``add=True``).
- objects and notices: the camera's inbox (``CameraWorker.view``), as the single-process page.

Example (not run here: it starts Ray):

    with start_fleet(load_fleet("cameras.yaml"), serve="127.0.0.1:8080") as running:
        print(running.page.url)
        running.wait()
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastsam_track.errors import FastSamTrackError, PromptError, UsageError
from fastsam_track.pipeline.status import SourceStatus

__all__ = ["FleetPage", "serve_fleet"]

_CALL = 5.0  # seconds a page request waits for an actor's answer
_POLL = 0.2  # seconds between checks, while a stream waits for a frame, that it is still wanted
_EMPTY_VIEW: dict[str, Any] = {"frame": -1, "size": None, "objects": [], "notice": None}


class FleetPage:
    """The fleet's cameras for the web page (a ``SourceCatalog``), and the page's server.

    Use ``serve_fleet`` (or ``start_fleet(..., serve=...)``), which makes one and starts serving.
    Each camera's status on the page (``/status``) is its row of the controller's status.

    Args:
        running: the fleet (``start_fleet``'s ``FleetRun``).
        host: the address to serve on (127.0.0.1: this machine only).
        port: the port (0: a free one, see ``url``).
        token: as ``WebServer``'s (None: ``$FASTSAM_TRACK_TOKEN``, else none on loopback and a
            generated one on other addresses).
        folder: where the relative paths of cameras added from the page are taken from; their
            outputs must be inside it.
        fps: most frames a second fetched from the shown camera.
        refresh: seconds between the controller's status reads for the list.
        max_clients: most streams at once.
    """

    manage = True  # cameras are added and removed from the page

    def __init__(
        self,
        running: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        token: str | None = None,
        folder: str | Path | None = None,
        fps: float = 10.0,
        refresh: float = 1.0,
        max_clients: int = 4,
    ):
        from fastsam_track.pipeline.outputs.web import WebServer

        if not fps > 0 or not refresh > 0:
            raise UsageError(f"fps and refresh must be more than 0, got {fps} and {refresh}")
        self._running, self._fps, self._refresh = running, fps, refresh
        self.folder = Path(folder if folder is not None else Path.cwd()).resolve()
        self._lock = threading.RLock()
        self._cameras: dict[str, _RemoteCamera] = {}  # listed, by name, in the controller's order
        self._rows: dict[str, dict[str, Any]] = {}
        self._numbers = 0  # numbers given so far: a camera added later gets the next one
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        token = token or os.environ.get("FASTSAM_TRACK_TOKEN") or None
        self.server = WebServer(host, port, token=token, catalog=self, max_clients=max_clients)

    @property
    def url(self) -> str:
        """``http://HOST:PORT/`` of the page (with ``?token=...`` when it needs one)."""
        url = self.server.url
        return f"{url}?token={self.server.token}" if self.server.token else url

    @property
    def token(self) -> str | None:
        """The token every request needs (None: none)."""
        return self.server.token

    def start(self) -> FleetPage:
        """Read the cameras, serve, and keep the list up to date in a thread."""
        self.update()
        self.server.__enter__()
        self._thread = threading.Thread(target=self._watch, name="fleet-page", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving (open streams end) and updating."""
        self._stop.set()
        with self._lock:
            for camera in self._cameras.values():
                camera.gone = True
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
            self.server.__exit__(None, None, None)

    def __enter__(self) -> FleetPage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _watch(self) -> None:
        while not self._stop.wait(self._refresh):
            try:
                self.update()
            except Exception:  # the cluster going away: the list stays as it was, and the run's owner is told
                pass

    def update(self) -> None:
        """Read the cameras and their states from the controller: new ones get a number, removed ones
        are gone (their streams end)."""
        asked = time.monotonic()  # a camera added after this is not in the answer, and stays listed
        status = self._running.status()["cameras"]
        handles = self._running.handles()["cameras"]
        with self._lock:
            listed: dict[str, _RemoteCamera] = {}
            for row in status:
                name = row["name"]
                camera = self._cameras.get(name)
                if camera is None and name in handles:
                    camera = _RemoteCamera(
                        self._numbers, name, self._running.controller, handles[name], self._fps, self._row
                    )
                    self._numbers += 1
                if camera is not None:
                    listed[name] = camera
                    self._rows[name] = row
            for name, camera in self._cameras.items():
                if name in listed:
                    continue
                if camera.listed_at > asked:
                    listed[name] = camera
                else:
                    camera.gone = True
                    self._rows.pop(name, None)
            self._cameras = listed

    # The SourceCatalog's side, called from the page's request threads.

    def listing(self) -> list[dict[str, Any]]:
        """Each camera: ``{"number", "name", "state", "note", "fps", "frames", "restarts"}``."""
        with self._lock:
            return [
                {
                    "number": camera.number,
                    "name": name,
                    **{k: self._rows[name].get(k) for k in ("state", "note", "fps", "frames", "restarts")},
                }
                for name, camera in self._cameras.items()
            ]

    def _row(self, name: str) -> dict[str, Any]:
        """Camera ``name``'s newest row of the controller's status ({} when it has none)."""
        with self._lock:
            return dict(self._rows.get(name, {}))

    def source(self, number: int) -> _RemoteCamera | None:
        """The camera listed with ``number``, or None."""
        with self._lock:
            return next((c for c in self._cameras.values() if c.number == number), None)

    def add(self, fields: dict[str, str]) -> dict[str, Any]:
        """Add a camera: ``source`` (a stream URL or a video path), ``name`` and ``output`` ("" for none:
        the name from the source; an output is needed). Relative paths are taken from ``folder``.

        Raises:
            UsageError: a bad field, an output outside ``folder``, or the controller refused it.
        """
        source = fields.get("source", "").strip()
        if not source:
            raise UsageError("give a source: a stream URL (rtsp://...) or a video path")
        data: dict[str, Any] = {"source": source if _is_url(source) else str(self._inside(source, "source", False))}
        if fields.get("name"):
            data["name"] = fields["name"]
        if fields.get("output"):
            data["output"] = str(self._inside(fields["output"], "output", True))
        name = _unwrapped(lambda: self._running.add_camera(data))
        # Listed at once, as starting (a status round would wait for its actor to start); updated from then on.
        handle = self._running.handles()["cameras"][name]
        with self._lock:
            camera = self._cameras.get(name)
            if camera is None:
                camera = _RemoteCamera(self._numbers, name, self._running.controller, handle, self._fps, self._row)
                camera.listed_at = time.monotonic()
                self._numbers += 1
                self._cameras[name] = camera
                self._rows[name] = {"name": name, "state": "starting", "note": "", "fps": 0.0, "frames": 0}
            return {"number": camera.number, "name": name}

    def remove(self, number: int) -> dict[str, Any]:
        """Stop camera ``number`` (its outputs finalised) and forget it; ``{"name", "state", "frames"}``."""
        camera = self.source(number)
        if camera is None:
            raise UsageError(f"there is no camera {number}: see /sources")
        final = _unwrapped(lambda: self._running.remove_camera(camera.name))
        with self._lock:
            camera.gone = True
            self._cameras.pop(camera.name, None)
            self._rows.pop(camera.name, None)
        return {"name": camera.name, "state": final.get("state"), "frames": final.get("frames")}

    def _inside(self, text: str, what: str, check: bool) -> Path:
        """``text`` as a path from ``folder``; with ``check``, refused unless inside it (outputs are written)."""
        path = (self.folder / Path(text).expanduser()).resolve()
        if check and not path.is_relative_to(self.folder):
            raise UsageError(f"{what} {text!r} is outside {self.folder}: a page writes only inside the fleet's folder")
        return path


def serve_fleet(
    running: Any,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    token: str | None = None,
    folder: str | Path | None = None,
    fps: float = 10.0,
) -> FleetPage:
    """Serve ``running``'s web page from this process; the ``FleetPage``, serving (``close`` it, or use
    it in a ``with`` block). See ``FleetPage`` for the arguments.

    Raises:
        SinkError: the address cannot be served on.
    """
    return FleetPage(running, host, port, token=token, folder=folder, fps=fps).start()


class _RemoteCamera:
    """One camera of the page (a ``PageSource``): its frames and view from its actor, prompts through
    the controller."""

    takes_prompts = True

    def __init__(
        self, number: int, name: str, controller: Any, handle: Any, fps: float, row: Callable[[str], dict[str, Any]]
    ):
        self.number, self.name, self._row = number, name, row
        self._controller, self._handle, self._interval = controller, handle, 1.0 / fps
        self.gone = False  # removed from the fleet (or the page closed): its streams end
        self.listed_at = 0.0  # when the page listed it ahead of the controller's status (an add from the page)
        self._lock = threading.Lock()
        self._known: tuple[int, int] | None = None  # the camera's (incarnation, frame number) of the newest
        self._jpeg: bytes | None = None
        self._index = -1  # the camera's index of the newest frame's
        self._sequence = 0  # frames fetched: the page's numbers, which go on across the camera's restarts
        self._asked = 0.0
        self._asking = False
        self._view: dict[str, Any] = _EMPTY_VIEW

    def next_jpeg(self, after: int, done: Callable[[], bool]) -> tuple[int, bytes, int] | None:
        """The newest frame once newer than ``after``, fetched at most ``fps`` times a second for all
        viewers together; None when ``done()`` or the camera is gone."""
        import ray

        while not (done() or self.gone):
            with self._lock:
                if self._jpeg is not None and self._sequence > after:
                    return self._sequence, self._jpeg, self._index
                wait = self._asked + self._interval - time.monotonic()
                ask = wait <= 0 and not self._asking
                if ask:
                    self._asking, self._asked = True, time.monotonic()
            if not ask:
                time.sleep(min(max(wait, 0.01), _POLL))
                continue
            try:
                newest = ray.get(self._handle.frame.remote(self._known), timeout=_CALL)
            except Exception:  # restarting, busy or gone: asked again at the next turn
                newest = None
            with self._lock:
                self._asking = False
                if newest is not None:
                    self._known, self._jpeg = (newest[0], newest[1]), newest[2]
                    self._index = newest[3] if len(newest) > 3 else -1
                    self._sequence += 1
        return None

    def status(self) -> SourceStatus:
        """The camera's row of the controller's status, as the page shows it."""
        row = self._row(self.name)
        fields = {
            f: row[f]
            for f in ("state", "note", "fps", "age_ms", "age_p95_ms", "dropped", "frames", "keyframes", "frame")
            if row.get(f) is not None
        }
        return SourceStatus(self.name, **fields)

    def view(self) -> dict[str, Any]:
        """The camera's objects and notice (what it said last while it does not answer)."""
        import ray

        try:
            self._view = ray.get(self._handle.view.remote(), timeout=_CALL)
        except Exception:  # restarting or busy: what it said last
            pass
        return self._view

    def _prompt(self, record: dict[str, Any], add: bool = False) -> int:
        return int(_unwrapped(lambda: self._call("prompt_object", record, add)[0], PromptError))

    def _call(self, method: str, *args: Any) -> Any:
        import ray

        return ray.get(getattr(self._controller, method).remote(self.name, *args), timeout=60)

    def add_point(self, x: float, y: float, label: int = 1, frame: int | None = None) -> int:
        if label not in (0, 1):
            raise PromptError(f"label must be 1 (foreground) or 0 (background), got {label!r}")
        point = {"points": [[x, y]]}
        return self._prompt(point if label == 1 else {**point, "labels": [0]}, add=label == 0)

    def add_box(self, x1: float, y1: float, x2: float, y2: float, frame: int | None = None) -> int:
        if x2 <= x1 or y2 <= y1:
            raise PromptError("a box needs x2 > x1 and y2 > y1")
        return self._prompt({"box": [x1, y1, x2, y2]})

    def remove(self, object_id: int) -> bool:
        self._prompt({"object": object_id, "remove": True})
        return True

    def clear(self) -> None:
        _unwrapped(lambda: self._call("clear"), PromptError)


def _is_url(source: str) -> bool:
    return "://" in source or (source.isascii() and source.isdigit())


def _unwrapped(call: Callable[[], Any], kind: type[FastSamTrackError] = UsageError) -> Any:
    """``call()``, with an error of an actor (a refused prompt, camera or removal) raised as ``kind``
    with the first cause's message, and an actor that does not answer said so."""
    from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError

    try:
        return call()
    except RayTaskError as error:
        cause: BaseException = error
        while isinstance(cause, RayTaskError) and cause.cause is not None and cause.cause is not cause:
            cause = cause.cause
        message = str(cause) if isinstance(cause, FastSamTrackError) else f"{type(cause).__name__}: {cause}"
        raise kind(" ".join(message.split())) from None
    except (RayActorError, GetTimeoutError) as error:
        raise kind(f"the camera is not answering (restarting, or gone): try again ({type(error).__name__})") from None
