"""The page's HTTP side: one route table (``ROUTES``) and a small function per route.

Every request is checked in the same order: its ``Host`` and origin (``access``), its token
(except the page's static files, which hold nothing of the run's), the route and its method,
then the source it is about (``?source=N``, 0 when absent).
"""

from __future__ import annotations

import fcntl
import json
import re
import select
import socket
import struct
import sys
import termios
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastsam_track.pipeline.outputs.web import bodies
from fastsam_track.pipeline.outputs.web.access import authorized, check_host, check_origin
from fastsam_track.pipeline.outputs.web.bodies import HttpError
from fastsam_track.pipeline.outputs.web.catalog import PageSource, SourceCatalog
from fastsam_track.pipeline.outputs.web.hub import Slots

__all__ = ["ROUTES", "Route", "Site", "serve"]

_BOUNDARY = "frame"
_RETRY_AFTER = 2  # seconds a viewer turned away is told to wait
_STALL = 10.0  # seconds a viewer may leave sent frames unread (or stall a read or a write) before it is let go
_SNAPSHOT_WAIT = 2.0  # seconds /frame.jpg waits for a source's first frame
_STATIC = {"/page.js": "text/javascript", "/page.css": "text/css"}
_PAGE_HEADERS = {
    # The page's own files only; nothing from elsewhere, and no framing by other sites.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob:; frame-ancestors 'none'",
    # The token may be in the address: keep it out of Referer headers.
    "Referrer-Policy": "no-referrer",
}


@dataclass
class Site:
    """What the handler serves: the catalog, the stream slots and who may ask.

    Attributes:
        catalog: the sources.
        slots: the stream slots.
        host: the address or name served on.
        token: the token every request needs (None: none).
        max_body: largest POST body in bytes.
        url: the page's address, for a refused ``Host``.
        hostname: this machine's name.
    """

    catalog: SourceCatalog
    slots: Slots
    host: str
    token: str | None
    max_body: int
    url: Callable[[], str]
    hostname: str = ""


@dataclass(frozen=True)
class Route:
    """One path: its method, its answer, and what it needs.

    Attributes:
        method: GET or POST.
        answer: ``answer(handler, source number, source)``; the number and source are None for a route
            about no source.
        about: ``source`` (a listed source, checked), ``page`` (checked unless the catalog manages its
            sources: a removed source's page opens on another) or ``none``.
        public: served without the token (the page's static files).
        managing: exists only for a catalog that adds and removes sources.
        prompts: the source must take prompts.
    """

    method: str
    answer: Callable[[_Handler, int | None, PageSource | None], None]
    about: str = "source"
    public: bool = False
    managing: bool = False
    prompts: bool = False


def serve(address: tuple[str, int], site: Site) -> _Server:
    """An HTTP server of ``site`` bound to ``address`` (not yet serving: call ``serve_forever``)."""
    return _Server(address, site)


class _Server(ThreadingHTTPServer):
    """An HTTP server that knows its site and does not report clients that go away."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], site: Site):
        self.site = site
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Closed and timed-out connections are normal for a stream; anything else is one line on stderr."""
        error = sys.exc_info()[1]
        if not isinstance(error, OSError):
            log(f"a request failed: {type(error).__name__}: {error}")


class _Handler(BaseHTTPRequestHandler):
    """One request: check it, route it, answer."""

    server: _Server
    timeout = _STALL  # seconds a client may stall a read or a write
    server_version = "fastsam-track"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: no line per request."""

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        site = self.server.site
        try:
            self._check_origin()
            query = parse_qs(url.query, keep_blank_values=True)  # a blank ?source= is refused, not taken for 0
            route = ROUTES.get(url.path)
            public = route is not None and route.public
            if not public and not authorized(site.token, query.get("token", []), self.headers.get("Authorization")):
                raise HttpError(HTTPStatus.UNAUTHORIZED, "a valid token is required: add ?token=... to the address")
            if route is None or (route.managing and not site.catalog.manage):
                raise HttpError(HTTPStatus.NOT_FOUND, f"no such page: {url.path}")
            if self.command != route.method:
                raise HttpError(HTTPStatus.METHOD_NOT_ALLOWED, f"{url.path} takes {route.method}, not {self.command}")
            number, source = None, None
            if route.about == "source" or (route.about == "page" and not site.catalog.manage):
                number, source = self._source(query)
            if route.prompts and source is not None and not source.takes_prompts:
                which = "this server takes" if len(site.catalog.listing()) <= 1 else f"source {number} takes"
                raise HttpError(HTTPStatus.NOT_FOUND, f"{which} no prompts: it was started without an inbox")
            route.answer(self, number, source)
        except HttpError as error:
            self.send_json(error.status, {"error": str(error)}, error.headers)
        except OSError:  # the client went away (a closed tab, a page switching sources): nothing to say
            pass
        except Exception as error:  # a bug: one line in the run's terminal, a one-line answer, the server goes on
            log(f"{self.command} {url.path} failed: {type(error).__name__}: {error}")
            self.send_json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"the server failed: {type(error).__name__}"})

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _dispatch

    def _check_origin(self) -> None:
        """Refuse requests for another site's name (421) and requests from another site's page (403)."""
        site = self.server.site
        hosts = self.headers.get_all("Host") or []
        if len(hosts) > 1:
            raise HttpError(HTTPStatus.BAD_REQUEST, "more than one Host header")
        host = hosts[0] if hosts else None
        why = check_host(host, site.host, self.connection.getsockname()[0], site.hostname)
        if why is not None:
            raise HttpError(HTTPStatus.MISDIRECTED_REQUEST, f"{why}: open {site.url()}")
        why = check_origin(host, self.headers.get("Origin"), self.headers.get("Sec-Fetch-Site"))
        if why is not None:
            raise HttpError(HTTPStatus.FORBIDDEN, why)

    def _source(self, query: dict[str, list[str]]) -> tuple[int, PageSource]:
        """The source a request is about (``?source=N``, 0 when absent), and its number."""
        catalog = self.server.site.catalog
        given = query.get("source", ["0"])
        number = int(given[0]) if len(given) == 1 and re.fullmatch(r"\d{1,9}", given[0], re.ASCII) else None
        source = catalog.source(number) if number is not None else None
        if number is not None and source is not None:
            return number, source
        numbers = [row["number"] for row in catalog.listing()]
        which = (
            f"0 to {len(numbers) - 1} (see /sources)"
            if numbers == list(range(len(numbers))) and not catalog.manage
            else "one of the numbers /sources lists"
        )
        got = repr(given[0][:20]) if len(given) == 1 else f"{len(given)} of them"
        raise HttpError(HTTPStatus.BAD_REQUEST, f"source must be one number, {which}, got {got}")

    def send(self, status: HTTPStatus, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        """Answer with ``body``."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        route = ROUTES.get(urlsplit(self.path).path)
        if status == HTTPStatus.METHOD_NOT_ALLOWED and route is not None:
            self.send_header("Allow", route.method)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status: HTTPStatus, data: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        """Answer with ``data`` as JSON."""
        self.send(status, json.dumps(data).encode(), "application/json", headers)

    def body(self) -> dict[str, Any]:
        """The request's JSON body, checked (``bodies.read_json``)."""
        length = self.headers.get("Content-Length")
        return bodies.read_json(self.headers.get_content_type(), length, self.rfile.read, self.server.site.max_body)

    def stream(self, source: PageSource) -> None:
        """The source's frames as MJPEG while the viewer reads them."""
        slots = self.server.site.slots
        if not slots.take():
            raise HttpError(
                HTTPStatus.SERVICE_UNAVAILABLE,
                f"every viewer slot is taken ({slots.most} at once): try again later",
                {"Retry-After": str(_RETRY_AFTER)},
            )
        viewer = _Viewer(self.connection)
        try:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={_BOUNDARY}")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(f"--{_BOUNDARY}\r\n".encode())
            sequence = 0
            while (newest := source.next_jpeg(sequence, lambda: slots.stopping or viewer.gone(slots))) is not None:
                first = sequence == 0
                sequence, jpeg, _ = newest
                head = f"Content-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
                part = head + jpeg + f"\r\n--{_BOUNDARY}\r\n".encode()
                # Chromium shows a picture once the next one starts: the first one twice is on screen at once,
                # not at the source's next frame (a while for a slow model, never for a paused camera).
                self.wfile.write(part * 2 if first else part)
                self.wfile.flush()
                viewer.sent()
        except OSError:
            pass  # the viewer went away, or stalled
        finally:
            slots.give_back()


class _Viewer:
    """A stream's viewer: gone when it closed the connection, when it has left what it was sent
    unread for ``_STALL`` s, or when it has had no frame for ``Slots.idle`` s while another viewer
    waits for a slot (the page of a viewer let go reconnects)."""

    def __init__(self, connection: socket.socket):
        self._connection = connection
        self._unread_since: float | None = None
        self._last_frame = time.monotonic()

    def sent(self) -> None:
        """A frame went out."""
        self._last_frame = time.monotonic()

    def gone(self, slots: Slots) -> bool:
        if slots.wanted() and time.monotonic() - self._last_frame > slots.idle:
            return True
        try:
            readable, _, _ = select.select([self._connection], [], [], 0)
            if readable and not self._connection.recv(1, socket.MSG_PEEK):
                return True
            unread = struct.unpack("i", fcntl.ioctl(self._connection.fileno(), termios.TIOCOUTQ, b"\0" * 4))[0]
        except OSError:
            return True
        now = time.monotonic()
        if unread == 0:
            self._unread_since = None
        elif self._unread_since is None:
            self._unread_since = now
        return self._unread_since is not None and now - self._unread_since > _STALL


def log(message: str) -> None:
    """One line on stderr, about the page."""
    print(f"fastsam-track: web page: {' '.join(message.split())[:300]}", file=sys.stderr)


def _static(name: str) -> bytes:
    return resources.files("fastsam_track.pipeline.outputs.web").joinpath("static", name).read_bytes()


def _page(handler: _Handler, number: int | None, source: PageSource | None) -> None:
    handler.send(HTTPStatus.OK, _static("page.html"), "text/html; charset=utf-8", _PAGE_HEADERS)


def _file(handler: _Handler, number: int | None, source: PageSource | None) -> None:
    path = urlsplit(handler.path).path
    handler.send(HTTPStatus.OK, _static(path.lstrip("/")), f"{_STATIC[path]}; charset=utf-8")


def _listing(handler: _Handler, number: int | None, source: PageSource | None) -> None:
    catalog = handler.server.site.catalog
    handler.send_json(HTTPStatus.OK, {"sources": catalog.listing(), **({"manage": True} if catalog.manage else {})})


def _stream(handler: _Handler, number: int | None, source: PageSource | None) -> None:
    assert source is not None
    handler.stream(source)


def _snapshot(handler: _Handler, number: int | None, source: PageSource | None) -> None:
    """The newest frame as one JPEG, with its index (``X-Frame-Index``): a paused view's picture."""
    assert source is not None
    deadline = time.monotonic() + _SNAPSHOT_WAIT
    newest = source.next_jpeg(0, lambda: time.monotonic() > deadline)
    if newest is None:
        raise HttpError(HTTPStatus.NOT_FOUND, "no frame yet")
    handler.send(HTTPStatus.OK, newest[1], "image/jpeg", {"X-Frame-Index": str(newest[2])})


def _status(handler: _Handler, number: int | None, source: PageSource | None) -> None:
    assert source is not None
    handler.send_json(HTTPStatus.OK, source.status().as_dict())


def _objects(handler: _Handler, number: int | None, source: PageSource | None) -> None:
    assert source is not None
    handler.send_json(HTTPStatus.OK, bodies.objects(source.view()))


def _prompt(handler: _Handler, number: int | None, source: PageSource | None) -> None:
    assert source is not None
    handler.send_json(HTTPStatus.OK, bodies.prompt(source, urlsplit(handler.path).path, handler.body()))


def _add(handler: _Handler, number: int | None, source: PageSource | None) -> None:
    handler.send_json(HTTPStatus.OK, bodies.manage(handler.server.site.catalog, None, handler.body()))


def _remove_source(handler: _Handler, number: int | None, source: PageSource | None) -> None:
    assert number is not None
    handler.send_json(HTTPStatus.OK, bodies.manage(handler.server.site.catalog, number, handler.body()))


ROUTES: dict[str, Route] = {
    "/": Route("GET", _page, about="page"),
    "/page.js": Route("GET", _file, about="none", public=True),
    "/page.css": Route("GET", _file, about="none", public=True),
    "/sources": Route("GET", _listing, about="page"),
    "/stream.mjpg": Route("GET", _stream),
    "/frame.jpg": Route("GET", _snapshot),
    "/status": Route("GET", _status),
    "/objects": Route("GET", _objects, prompts=True),
    "/prompt": Route("POST", _prompt, prompts=True),
    "/remove": Route("POST", _prompt, prompts=True),
    "/clear": Route("POST", _prompt, prompts=True),
    "/sources/add": Route("POST", _add, about="none", managing=True),
    "/sources/remove": Route("POST", _remove_source, managing=True),
}
