"""``WebServer``: serving starts and stops with the sinks that use it."""

from __future__ import annotations

import secrets
import socket
import threading
from collections.abc import Sequence
from types import TracebackType
from typing import Any

import numpy as np

from fastsam_track.errors import SinkError, UsageError
from fastsam_track.pipeline.outputs.web.access import is_loopback
from fastsam_track.pipeline.outputs.web.catalog import SourceCatalog
from fastsam_track.pipeline.outputs.web.handler import Site, serve
from fastsam_track.pipeline.outputs.web.hub import FixedSources, Slots, SourceSink
from fastsam_track.pipeline.prompts.inbox import PromptInbox

__all__ = ["WebServer"]


class WebServer:
    """A frame sink that serves the stream of one or several sources and takes prompts from a browser page.

    Serving starts when the server or one of its sources' sinks (``sink``) enters its ``with``
    block (in a daemon thread), and stops when the last of them leaves it, which also ends
    every open stream; each source's frame loop may enter and leave its sink in its own
    thread. A source whose sinks have all left while others go on is over: its streams end
    after its last frame. Each written frame is encoded to JPEG once; stream clients always
    get the newest frame and skip the ones they were too slow for. Writing to the server
    itself writes to source 0.

    Args:
        host: the address to listen on; 127.0.0.1 keeps the page on this machine.
        port: the port; 0 picks a free one (see ``url``).
        inbox: where prompts from the page go, with one source; None serves the stream only
            (prompt endpoints answer 404).
        token: when given, every request must carry it (``?token=...`` or
            ``Authorization: Bearer ...``), else 401. On an address other than loopback
            (``is_loopback``) one is required: when None, one is generated
            (``secrets.token_urlsafe``, see ``token`` and ``token_generated``).
        sources: several sources instead of one: ``(name, inbox)`` for each, in order (source
            0 first); the page names them so and sends each source's prompts to its inbox
            (None: that source takes none). Each source needs its own inbox. None: one source
            named "source" with ``inbox``.
        catalog: sources that come and go instead (a ``SourceCatalog``), each with its frames
            and prompts elsewhere; the page can add and remove them. The server has no sinks
            then: serving lasts while the server is in its ``with`` block.
        max_clients: most streams at once, of all sources together; more are refused with
            503 (and ``Retry-After``). A viewer that leaves what it was sent unread for 10 s
            gives its slot back.
        idle: seconds a stream may go without a new frame before it gives its slot to a viewer
            waiting for one (a paused camera's or a stalled viewer's, so that they do not keep others out).
        jpeg_quality: 0 to 100.
        max_body: largest POST body in bytes; larger ones are refused with 413.

    Example:
        >>> import urllib.request
        >>> with WebServer() as server:
        ...     server.write(np.zeros((48, 64, 3), np.uint8))
        ...     with urllib.request.urlopen(server.url) as page:
        ...         page.status, page.headers.get_content_type()
        (200, 'text/html')

        Two sources, each written by its own frame loop:

        >>> import json
        >>> server = WebServer(sources=[("door", PromptInbox()), ("yard", PromptInbox())])
        >>> with server.sink(0) as door, server.sink(1) as yard:
        ...     door.write(np.zeros((48, 64, 3), np.uint8))
        ...     yard.write(np.zeros((96, 128, 3), np.uint8))
        ...     with urllib.request.urlopen(server.url + "sources") as listed:
        ...         json.load(listed)
        {'sources': [{'number': 0, 'name': 'door'}, {'number': 1, 'name': 'yard'}]}
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        inbox: PromptInbox | None = None,
        *,
        token: str | None = None,
        sources: Sequence[tuple[str, PromptInbox | None]] | None = None,
        catalog: SourceCatalog | None = None,
        max_clients: int = 4,
        jpeg_quality: int = 80,
        max_body: int = 4096,
        idle: float = 10.0,
    ):
        if not 0 <= jpeg_quality <= 100:
            raise UsageError(f"jpeg_quality must be 0 to 100, got {jpeg_quality}")
        if max_clients < 1 or max_body < 1:
            raise UsageError(f"max_clients and max_body must be at least 1, got {max_clients} and {max_body}")
        if token is not None and not token:
            raise UsageError("token must not be empty: give None to serve without one")
        if catalog is not None and (sources is not None or inbox is not None):
            raise UsageError("give a catalog or sources (or an inbox), not both")
        if sources is not None and inbox is not None:
            raise UsageError("give the inbox of each source in sources, not inbox as well")
        if not idle > 0:
            raise UsageError(f"idle must be more than 0 seconds, got {idle}")
        self._slots = Slots(max_clients, idle)
        self._fixed = FixedSources([("source", inbox)] if sources is None else sources, self._slots)
        self.catalog: SourceCatalog = catalog or self._fixed
        own = self.catalog is self._fixed  # the run's sources, written through this server's sinks
        # Beyond this machine, anyone who reaches the address could watch and prompt.
        self.token_generated = token is None and not is_loopback(host)
        if self.token_generated:
            token = secrets.token_urlsafe(16)
        self.host, self.port = host, port
        self.sources = tuple((feed.name, feed.inbox) for feed in self._fixed.feeds) if own else ()
        self.inbox = self.sources[0][1] if self.sources else None
        self.token, self.max_clients, self.jpeg_quality, self.max_body = token, max_clients, jpeg_quality, max_body
        self._life = threading.Lock()  # guards starting and stopping: sinks enter and leave from several threads
        self._users = 0  # sinks (or the server itself) inside their `with` block
        self._server: Any = None  # the HTTP server (handler.serve) while serving
        self._thread: threading.Thread | None = None
        # The server's own `with` and `write`: source 0's sink (none for a catalog's server, which only serves).
        self._own = self.sink(0) if own else None
        self._site = Site(self.catalog, self._slots, host, token, max_body, lambda: self.url, socket.gethostname())

    @property
    def url(self) -> str:
        """``http://HOST:PORT/`` of the running server (127.0.0.1 when listening on every address)."""
        if self._server is None:
            raise UsageError("the server is not running: use it (or one of its sinks) in a `with` block")
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        return f"http://{host}:{self._server.server_address[1]}/"

    def sink(self, number: int) -> SourceSink:
        """The frame sink of source ``number`` (0 to ``len(sources) - 1``), for that source's frame loop.

        Raises:
            UsageError: there is no such source (a catalog's sources have no sinks).
        """
        if self.catalog is not self._fixed:
            raise UsageError("a catalog's sources are written elsewhere: this server has no sinks")
        feeds = self._fixed.feeds
        if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number < len(feeds):
            raise UsageError(f"this server has sources 0 to {len(feeds) - 1}, got {number!r}")
        return SourceSink(feeds[number], number, self._use, self.jpeg_quality)

    def __enter__(self) -> WebServer:
        if self._own is not None:
            self._own.__enter__()
        else:
            self._use(+1)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._own is not None:
            self._own.__exit__(exc_type, exc, traceback)
        elif self._users > 0:
            self._use(-1)

    def write(self, image: np.ndarray) -> None:
        """Make an (H, W, 3) uint8 BGR frame the newest one of source 0's stream."""
        if self._own is None:
            raise UsageError("a catalog's sources are written elsewhere: this server has no sinks")
        self._own.write(image)

    @property
    def capture_time(self) -> Any:
        """Source 0's sink's ``capture_time`` (the runner sets it: the index of each frame shown)."""
        return self._own.capture_time if self._own is not None else False

    @capture_time.setter
    def capture_time(self, times: Any) -> None:
        if self._own is not None:
            self._own.capture_time = times

    def watch(self, stats: Any) -> None:
        """Show the run's ``RunStats`` in source 0's status (the runner calls it)."""
        if self._own is not None:
            self._own.watch(stats)

    def _use(self, change: int) -> None:
        """A sink (or the server) enters (+1) or leaves (-1): serve from the first, stop after the last."""
        with self._life:
            if change > 0 and self._users == 0:
                self._start()
            self._users += change
            if self._users == 0:
                self._stop()

    def _start(self) -> None:
        try:
            self._server = serve((self.host, self.port), self._site)
        except OSError as error:
            raise SinkError(f"cannot serve on {self.host}:{self.port}: {error.strerror}") from error
        self._slots.start()
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.1,), name="web", daemon=True)
        self._thread.start()

    def _stop(self) -> None:
        if self._server is None or self._thread is None:  # stopped already
            return
        self._slots.stop()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        self._server = self._thread = None
