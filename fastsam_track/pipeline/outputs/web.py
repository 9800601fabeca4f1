"""The annotated stream in a browser page, where a click or a drag prompts a new object.

``WebServer`` serves one source or several (``sources``: a name and an inbox each), from the
standard library's HTTP server:

- ``GET /``: a self-contained page (inline script and style) showing the stream. Left click:
  a new object with a foreground point. Right click: a background point for the newest object.
  Drag: a new object with a box. It lists the objects seen, each with a remove button. With
  several sources, a button per source above the stream switches the stream, the list and
  where clicks go (``/?source=N`` opens the page on source N).
- ``GET /sources``: ``{"sources": [{"number": 0, "name": "..."}, ...]}``, in order.
- ``GET /stream.mjpg``: the newest frames as MJPEG (``multipart/x-mixed-replace``).
- ``GET /objects``: ``{"frame": N, "size": [W, H], "objects": [{"id": 1, "box": [x1, y1, x2, y2],
  "lost": false, "color": "#rrggbb"}], "notice": {"number": 1, "text": "..."} or null}``: every
  object seen and not removed (a lost one keeps its last box), in the colour its mask is drawn
  with, and the newest notice of a prompt that selected nothing.
- ``POST /prompt`` ``{"kind": "point", "x": X, "y": Y, "label": 1}`` or
  ``{"kind": "box", "box": [x1, y1, x2, y2]}`` (source frame pixels) answers ``{"object": id}``;
  ``POST /remove`` ``{"object": id}``; ``POST /clear`` ``{}``.

Every request takes ``?source=N``, the number of the source it is about (0, the first, when
absent): ``/stream.mjpg?source=1`` is the second source's stream, ``/prompt?source=1`` prompts
its inbox, and no other. A ``source`` that is not one of the numbers ``/sources`` lists (or
is given twice) is refused with 400.

A *catalog* (``SourceCatalog``, e.g. a cluster's cameras) instead of fixed sources makes the
list dynamic: its sources come and go while the page is open, keep their numbers while they
are listed, and each is a ``PageSource``, whose frames and prompts live elsewhere (another
process, another machine). ``/sources`` then also gives each source's ``state`` (and
``note``, ``fps``, ``frames``) and ``"manage": true``, and the page has a form to add a source
and a button to remove each:

- ``POST /sources/add`` ``{"source": "rtsp://... or a path", "name": "" or a name, "output": ""
  or a video path}`` answers ``{"number": N, "name": "..."}``;
- ``POST /sources/remove?source=N`` ``{}`` answers the source's last state.

Every POST body must be a JSON object (``Content-Type: application/json``, which a page of
another site cannot send without the browser asking first) with exactly the expected keys,
at most ``max_body`` bytes and nested at most ``_MAX_DEPTH`` levels. Errors answer
``{"error": "one line"}``. With a ``token``, every request must carry it as ``?token=...``
(``?token=...&source=1``) or ``Authorization: Bearer ...``; a server on an address other
than loopback always has one (generated when none is given).

At most ``max_clients`` streams are open at once, whatever their sources (a page shows one
at a time); more are refused with 503 and ``Retry-After``. A stream whose viewer went away
gives its slot back at once, and a request that finds every slot taken waits a moment for
one (a page switching sources closes its old stream as it opens the new one).

Other sites are kept out (``check_host``): the ``Host`` header must name this server, or the
request is refused with 421 (DNS rebinding: a page of another site whose name is made to
point at this machine), and a request a page of another origin sends (``Origin``, or
``Sec-Fetch-Site`` other than ``same-origin`` or ``none``) is refused with 403.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import math
import re
import secrets
import select
import socket
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import cv2
import numpy as np

from fastsam_track.errors import FastSamTrackError, PromptError, SinkError, UsageError
from fastsam_track.pipeline.outputs.render import palette_colors
from fastsam_track.pipeline.prompts.inbox import PromptInbox

__all__ = [
    "PageSource",
    "SourceCatalog",
    "SourceSink",
    "WebServer",
    "check_host",
    "inbox_view",
    "is_loopback",
    "parse_address",
]

_BOUNDARY = "frame"
_MAX_DEPTH = 8  # JSON nesting a body may have; the prompts need 2
_DRAIN = 1 << 20  # bytes of a refused body read and dropped, so the client gets the answer, not a reset
_RETRY_AFTER = 2  # seconds a viewer turned away is told to wait
_SLOT_WAIT = 2.0  # seconds a stream request waits for a slot when all are taken, before the 503
_POLL = 0.2  # seconds between checks, while a stream waits for a frame, that its viewer is still there
_MAX_FIELD = 1000  # characters of each field of a source added from the page
_ADD_FIELDS = {"source", "name", "output"}
_ROUTES = {
    "/": "GET",
    "/sources": "GET",
    "/stream.mjpg": "GET",
    "/objects": "GET",
    "/prompt": "POST",
    "/remove": "POST",
    "/clear": "POST",
    "/sources/add": "POST",
    "/sources/remove": "POST",
}
_NO_SOURCE = ("/", "/sources", "/sources/add")  # routes of a catalog's page that are about no source in particular
_PAGE_HEADERS = {
    # Inline script and style only; nothing from elsewhere, and no framing by other sites.
    "Content-Security-Policy": "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "frame-ancestors 'none'",
    # The token may be in the address: keep it out of Referer headers.
    "Referrer-Policy": "no-referrer",
}

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>fastsam-track</title>
<style>
  body { font: 14px system-ui, sans-serif; margin: 1em; background: #111; color: #eee; }
  #sources { margin-bottom: 0.5em; }
  #sources button { margin-right: 0.3em; }
  #sources button[aria-pressed="true"] { background: #eee; color: #111; font-weight: bold; }
  #sources .entry { display: inline-block; margin: 0 0.8em 0.3em 0; }
  #add-source { margin-bottom: 0.5em; }
  #stream { display: block; max-width: 100%; cursor: crosshair; user-select: none; }
  #status, #stream-status { color: #f88; min-height: 1.2em; }
  #stream-status:empty { display: none; }
  #objects li { margin: 0.2em 0; }
  #objects li.lost { color: #999; }
  .swatch { display: inline-block; width: 0.9em; height: 0.9em; margin-right: 0.4em; vertical-align: -0.1em;
            border: 1px solid #eee; }
  .state { margin: 0 0.4em; font-style: italic; }
</style>
</head>
<body>
<nav id="sources" aria-label="sources" hidden></nav>
<form id="add-source" aria-label="add a source" hidden>
  <input name="source" placeholder="rtsp://... or a video path" aria-label="source" size="32" required>
  <input name="name" placeholder="name (optional)" aria-label="name" size="12">
  <input name="output" placeholder="output video (out/NAME.mp4)" aria-label="output" size="24">
  <button type="submit">add</button>
</form>
<img id="stream" src="stream.mjpg" alt="the annotated stream" draggable="false">
<p id="stream-status"></p>
<p>Left click: a new object. Right click: a background point for the newest object. Drag: a box.</p>
<p id="status"></p>
<ul id="objects"></ul>
<button id="clear" type="button">clear</button>
<script>
"use strict";
const address = new URLSearchParams(location.search);
const token = address.get("token");
const img = document.getElementById("stream");
const status = document.getElementById("status");
const list = document.getElementById("objects");
const streamStatus = document.getElementById("stream-status");
const switcher = document.getElementById("sources");
const adder = document.getElementById("add-source");
const RETRY_MS = 2000;
let stateShown = null;  // the text of the shown source's state, while the stream status says it
let manage = false;  // sources come and go (a cluster's cameras): the list is kept up to date, with add and remove
let current = Number(address.get("source") || 0);  // the source shown (the server refuses the page for a bad one)

// A path of the server with the token and the source (none for source 0, the default), and more parameters.
function url(path, source = current, more = {}) {
  const query = new URLSearchParams();
  if (token) query.set("token", token);
  if (source) query.set("source", source);
  for (const [name, value] of Object.entries(more)) query.set(name, value);
  const text = query.toString();
  return text ? path + "?" + text : path;
}
// Chromium keeps a playing stream open after its src changes, until the new one answers: the src goes first,
// so that the old stream gives its viewer slot back before the new one asks for one.
function openStream(more = {}) {
  img.removeAttribute("src");
  img.src = url("stream.mjpg", current, more);
}
if (url("stream.mjpg") !== "stream.mjpg") openStream();

// The stream failed (all viewer slots taken, or the server gone): say why, and try again.
let retries = 0, retry = null;
img.addEventListener("error", async () => {
  const source = current;
  let why = "the stream is not available";
  try {
    const response = await fetch(url("stream.mjpg", source));
    if (response.headers.get("Content-Type") === "application/json") why = (await response.json()).error;
    else response.body.cancel();  // a slot was free after all: give it back at once
  } catch (error) {
    why = "the server is not answering";
  }
  if (source !== current) return;  // switched meanwhile: the new stream is another story
  streamStatus.textContent = why + "; retrying every " + RETRY_MS / 1000 + " s";
  clearTimeout(retry);
  retry = setTimeout(() => {
    retries += 1;
    openStream({retry: retries});
  }, RETRY_MS);
});
// The image's data-source: the source whose frames it shows, once its stream has given one.
img.addEventListener("load", () => { streamStatus.textContent = ""; img.dataset.source = current; });

// The server's answer, or null when it refused (its reason shown, if about the source shown).
async function post(path, body, source = current) {
  try {
    const response = await fetch(url(path, source), {
      method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
    const reply = await response.json();
    if (source === current) status.textContent = response.ok ? "" : reply.error;
    return response.ok ? reply : null;
  } catch (error) {
    status.textContent = "the server is not answering";
    return null;
  }
}

// Displayed pixels to source frame pixels.
function framePoint(event) {
  const rect = img.getBoundingClientRect();
  const x = (event.clientX - rect.left) * img.naturalWidth / img.clientWidth;
  const y = (event.clientY - rect.top) * img.naturalHeight / img.clientHeight;
  return [Math.min(Math.max(x, 0), img.naturalWidth), Math.min(Math.max(y, 0), img.naturalHeight)];
}

// A click goes to the source whose frame was pressed on.
let press = null;
img.addEventListener("contextmenu", (event) => event.preventDefault());
img.addEventListener("mousedown", (event) => {
  event.preventDefault();
  if (!img.naturalWidth || img.dataset.source !== String(current)) return;  // no frame of this source yet
  const at = framePoint(event);
  press = {button: event.button, clientX: event.clientX, clientY: event.clientY, at: at, source: current};
});
window.addEventListener("mouseup", (event) => {
  if (!press || event.button !== press.button) return;
  const [x, y] = press.at, [x2, y2] = framePoint(event);
  const dragged = Math.hypot(event.clientX - press.clientX, event.clientY - press.clientY) > 5;
  if (press.button === 0 && dragged) {
    const box = [Math.min(x, x2), Math.min(y, y2), Math.max(x, x2), Math.max(y, y2)];
    post("prompt", {kind: "box", box: box}, press.source);
  } else if (press.button === 0 || press.button === 2) {
    post("prompt", {kind: "point", x: x, y: y, label: press.button === 0 ? 1 : 0}, press.source);
  }
  press = null;
});
document.getElementById("clear").addEventListener("click", () => post("clear", {}));

// One object: a swatch of the colour its mask is drawn with, its box, "lost" while not seen, a remove button.
function listItem(object, key) {
  const source = current;
  const item = document.createElement("li");
  item.dataset.object = object.id;
  item.dataset.key = key;
  item.className = object.lost ? "lost" : "";
  const swatch = document.createElement("span");
  swatch.className = "swatch";
  swatch.style.backgroundColor = object.color;
  const state = document.createElement("span");
  state.className = "state";
  state.textContent = object.lost ? "lost" : "";
  const remove = document.createElement("button");
  remove.type = "button";
  remove.textContent = "remove";
  remove.addEventListener("click", () => post("remove", {object: object.id}, source));
  const box = document.createElement("span");
  box.className = "box";
  item.append(swatch, "object " + object.id + " ", box, state, remove);
  return item;
}

// The list is changed in place: an entry stays the same element while its object is, so a click on it lands.
function showObjects(objects) {
  const items = objects.map((object) => {
    const key = object.id + " " + object.lost + " " + object.color;
    let item = list.querySelector(`li[data-object="${object.id}"]`);
    if (!item || item.dataset.key !== key) item = listItem(object, key);
    item.querySelector(".box").textContent = "[" + object.box.map(Math.round).join(", ") + "]";
    return item;
  });
  if (items.length !== list.children.length || items.some((item, i) => list.children[i] !== item)) {
    list.replaceChildren(...items);
  }
}

let noticeShown = null;  // the number of the newest notice seen; those from before the page opened are not shown
async function poll() {
  const source = current;
  if (source === null) {  // no source to show
    setTimeout(poll, 500);
    return;
  }
  try {
    const response = await fetch(url("objects", source));
    const reply = await response.json();
    if (source !== current) {
      // switched while asking: the answer is about the source no longer shown
    } else if (response.ok) {
      showObjects(reply.objects);
      const number = reply.notice ? reply.notice.number : 0;
      if (noticeShown !== null && number > noticeShown) status.textContent = reply.notice.text;
      noticeShown = number;
    } else {
      status.textContent = reply.error;
    }
  } catch (error) {
    status.textContent = "the server is not answering";
  }
  setTimeout(poll, 500);
}
poll();

// Several sources: a button each; the one pressed shows its stream and objects, and takes the clicks.
function show(source) {
  if (source === current) return;
  current = source;
  press = noticeShown = null;
  delete img.dataset.source;
  clearTimeout(retry);
  retries = 0;
  list.replaceChildren();
  status.textContent = streamStatus.textContent = "";
  for (const button of switcher.querySelectorAll("button[data-source]")) {
    button.setAttribute("aria-pressed", button.dataset.source == source);
  }
  if (source === null) {  // nothing left to show
    img.removeAttribute("src");
    return;
  }
  openStream();
  const page = new URLSearchParams(location.search);
  if (source) page.set("source", source); else page.delete("source");
  history.replaceState(null, "", page.toString() ? "?" + page : location.pathname);  // a reload stays on this source
}

// A source's entry: its button; with manage, in a group with its state and a remove button.
function sourceEntry(source) {
  const button = document.createElement("button");
  button.type = "button";
  button.dataset.source = source.number;
  button.setAttribute("aria-pressed", source.number === current);
  button.addEventListener("click", () => show(source.number));
  if (!manage) {
    button.textContent = source.name || "source " + source.number;
    return button;
  }
  const state = document.createElement("span");
  state.className = "state";
  button.append(source.name, state);
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "remove-source";
  remove.textContent = "remove";
  remove.addEventListener("click", async () => {
    remove.disabled = true;
    if (await post("sources/remove", {}, source.number)) await listSources();
    remove.disabled = false;
  });
  const entry = document.createElement("span");
  entry.className = "entry";
  entry.dataset.entry = source.number;
  entry.append(button, remove);
  return entry;
}

// Whether the list could be read; the switcher is changed in place, so that a press on it lands.
async function listSources() {
  let reply;
  try {
    const response = await fetch(url("sources"));
    reply = await response.json();
    if (!response.ok) throw new Error(reply.error);
  } catch (error) {
    return false;
  }
  manage = reply.manage === true;
  const entries = reply.sources.map((source) => {
    let entry = manage ? switcher.querySelector(`.entry[data-entry="${source.number}"]`) : null;
    if (!entry) entry = sourceEntry(source);
    if (manage) {
      const state = entry.querySelector(".state");
      const text = source.state ? " " + source.state : "";
      if (state.textContent !== text) state.textContent = text;
      entry.dataset.state = source.state || "";
      entry.title = source.note || "";
    }
    return entry;
  });
  if (entries.length !== switcher.children.length || entries.some((entry, i) => switcher.children[i] !== entry)) {
    switcher.replaceChildren(...entries);
  }
  switcher.dataset.count = reply.sources.length;
  switcher.hidden = !manage && reply.sources.length < 2;  // one source: the page as it always was
  adder.hidden = !manage;
  const shown = reply.sources.find((source) => source.number === current);
  if (manage && !shown) {
    show(reply.sources.length ? reply.sources[0].number : null);  // the one shown was removed
  } else if (shown) {  // why no new frames come, while none come
    const why = shown.note && ["failed", "reconnecting"].includes(shown.state);
    if (why) streamStatus.textContent = stateShown = shown.name + " " + shown.state + ": " + shown.note;
    else if (stateShown && streamStatus.textContent === stateShown) streamStatus.textContent = "";
  }
  return true;
}
async function watchSources() {
  const read = await listSources();
  if (!read || manage) setTimeout(watchSources, RETRY_MS);
}
watchSources();

adder.addEventListener("submit", async (event) => {
  event.preventDefault();
  const fields = Object.fromEntries(["source", "name", "output"].map((name) => [name, adder.elements[name].value]));
  const added = await post("sources/add", fields);
  if (added) {
    adder.reset();
    await listSources();
  }
});
</script>
</body>
</html>
"""


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` to (host, port); an empty host is 127.0.0.1, port 0 picks a free port.

    Example:
        >>> parse_address(":8080"), parse_address("0.0.0.0:80")
        (('127.0.0.1', 8080), ('0.0.0.0', 80))
    """
    host, colon, port = text.rpartition(":")
    if not colon or not re.fullmatch(r"\d{1,5}", port, re.ASCII) or int(port) > 65535:
        raise UsageError(f"--serve {text!r}: expected HOST:PORT with a port from 0 to 65535, e.g. 127.0.0.1:8080")
    if not re.fullmatch(r"[A-Za-z0-9.-]*", host):
        raise UsageError(f"--serve {text!r}: the host must be an IPv4 address or a host name, e.g. 127.0.0.1")
    return host or "127.0.0.1", int(port)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine only: ``localhost``, 127.0.0.0/8 or ::1.

    Example:
        >>> is_loopback("127.0.0.2"), is_loopback("localhost"), is_loopback("0.0.0.0"), is_loopback("cam.lan")
        (True, True, False, False)
    """
    address = _ip(host)
    return host.lower().rstrip(".") == "localhost" if address is None else address.is_loopback


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address ``name`` spells (``[::1]`` too), or None for a host name."""
    try:
        return ipaddress.ip_address(name.removeprefix("[").removesuffix("]"))
    except ValueError:
        return None


def check_host(host_header: str | None, bind_host: str, local_address: str, hostname: str = "") -> str | None:
    """Why a request's ``Host`` header does not name this server; None when it does.

    DNS rebinding makes a name of another site point at this machine, so that a page of
    that site can read this one: the browser then sends that name as ``Host``. Accepted:

    - an address (``127.0.0.1``, ``[::1]``) on loopback binds and the address the request
      arrived at; on a ``0.0.0.0`` bind, any address (only a typed address sends one, and every
      address that reaches the machine is its own, port forwarding included);
    - ``localhost`` on loopback and ``0.0.0.0`` binds;
    - the host name bound (``--serve NAME:PORT``), and on a ``0.0.0.0`` bind the machine's own
      name (``hostname``);
    - no ``Host`` at all (HTTP/1.0 clients; every browser sends one).

    The port is not compared: port forwarding changes it, and a rebinding page cannot choose
    the name, which is what is checked.

    Args:
        host_header: the request's ``Host`` (None when absent).
        bind_host: the address or name the server listens on ("" or 0.0.0.0: every address).
        local_address: the address of this machine the connection arrived at.
        hostname: this machine's name (``socket.gethostname()``).

    Example:
        >>> check_host("127.0.0.1:8080", "127.0.0.1", "127.0.0.1") is None
        True
        >>> check_host("evil.example:8080", "127.0.0.1", "127.0.0.1")
        "the Host 'evil.example:8080' is not this server's name"
    """
    if host_header is None:
        return None
    match = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::\d{1,5})?", host_header.strip(), re.ASCII)
    if match is None:
        return f"the Host {host_header[:80]!r} is not a host name or an address with a port"
    name = match.group(1).lower().rstrip(".")
    wildcard = bind_host in ("", "0.0.0.0")
    loopback = wildcard or is_loopback(bind_host)
    address = _ip(name)
    if address is not None:
        here = _ip(local_address)
        if wildcard or (loopback and address.is_loopback) or address == here or address == _ip(bind_host):
            return None
    elif name == bind_host.lower().rstrip(".") or (loopback and name == "localhost"):
        return None
    elif wildcard and hostname and name in (hostname.lower(), hostname.lower().split(".")[0]):
        return None
    return f"the Host {host_header[:80]!r} is not this server's name"


class _HttpError(Exception):
    """A refused request: its status and a one-line message for the client."""

    def __init__(self, status: HTTPStatus, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.headers = status, headers


@dataclass
class _Feed:
    """One source: its name, its inbox and its newest frame (guarded by ``WebServer._frame``)."""

    name: str
    inbox: PromptInbox | None
    jpeg: bytes | None = None
    sequence: int = 0  # frames written so far
    entered: int = 0  # its sinks now inside their `with` block
    ended: bool = False  # it had sinks entered and all have left: its streams end after its last frame


class PageSource(Protocol):
    """A source the page shows whose frames and prompts live elsewhere (a cluster's camera).

    Its prompt methods are ``PromptInbox``'s: they raise ``PromptError`` (the page shows its
    message) for a prompt that cannot be taken, also when the source cannot be reached.
    """

    def next_jpeg(self, after: int, done: Callable[[], bool]) -> tuple[int, bytes] | None:
        """The newest frame as (sequence number, JPEG) once its number is above ``after`` (numbers
        count up from 1); None when ``done()`` turns true or the source is gone for good."""
        ...

    def view(self) -> dict[str, Any]:
        """``{"frame": N, "size": [W, H] or None, "objects": [{"id", "box", "lost"}], "notice": ...}``
        (``PromptInbox``'s ``frame_index``, ``frame_size``, ``objects()`` and ``notice()``)."""
        ...

    def add_point(self, x: float, y: float, label: int = 1) -> int: ...
    def add_box(self, x1: float, y1: float, x2: float, y2: float) -> int: ...
    def remove(self, object_id: int) -> bool: ...
    def clear(self) -> None: ...


class SourceCatalog(Protocol):
    """Sources that come and go while the page is open (a cluster's cameras), each a ``PageSource``.

    Numbers are the catalog's: a source keeps its number while it is listed, and a number is not
    given to another source afterwards. ``add`` and ``remove`` raise a ``FastSamTrackError`` whose
    message the page shows.
    """

    def listing(self) -> list[dict[str, Any]]:
        """The sources in order: ``{"number": N, "name": "...", "state": "running", ...}`` each."""
        ...

    def source(self, number: int) -> PageSource | None:
        """Source ``number``, or None when it is not listed (any more)."""
        ...

    def add(self, fields: dict[str, str]) -> dict[str, Any]:
        """Add a source from the page's form (``source``, ``name``, ``output``; "" when not given);
        ``{"number": N, "name": "..."}``."""
        ...

    def remove(self, number: int) -> dict[str, Any]:
        """Stop source ``number`` and forget it; its last state."""
        ...


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
        catalog: sources that come and go instead (``SourceCatalog``), each with its frames and
            prompts elsewhere; the page can add and remove them. The server has no sinks then:
            serving lasts while the server is in its ``with`` block.
        max_clients: most streams at once, of all sources together; more are refused with
            503 (and ``Retry-After``).
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
    ):
        if not 0 <= jpeg_quality <= 100:
            raise UsageError(f"jpeg_quality must be 0 to 100, got {jpeg_quality}")
        if max_clients < 1 or max_body < 1:
            raise UsageError(f"max_clients and max_body must be at least 1, got {max_clients} and {max_body}")
        if token is not None and not token:
            raise UsageError("token must not be empty: give None to serve without one")
        if catalog is not None and (sources is not None or inbox is not None):
            raise UsageError("give a catalog or sources (or an inbox), not both")
        if catalog is not None:
            feeds: list[_Feed] = []
        else:
            feeds = [_Feed("source", inbox)] if sources is None else _feeds(sources, inbox)
        # Beyond this machine, anyone who reaches the address could watch and prompt.
        self.token_generated = token is None and not is_loopback(host)
        if self.token_generated:
            token = secrets.token_urlsafe(16)
        self.host, self.port, self.inbox = host, port, feeds[0].inbox if feeds else None
        self.sources = tuple((feed.name, feed.inbox) for feed in feeds)
        self.catalog = catalog
        self.token, self.max_clients, self.jpeg_quality, self.max_body = token, max_clients, jpeg_quality, max_body
        self._feeds = feeds
        self._frame = threading.Condition()  # guards the feeds, the stream count and stopping
        self._streams = 0
        self._stopping = False
        self._life = threading.Lock()  # guards starting and stopping: sinks enter and leave from several threads
        self._users = 0  # sinks inside their `with` block
        self._own = SourceSink(self, 0)  # the server's own `with` and `write`: source 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._hostname = socket.gethostname()

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
        if self.catalog is not None:
            raise UsageError("a catalog's sources are written elsewhere: this server has no sinks")
        if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number < len(self._feeds):
            raise UsageError(f"this server has sources 0 to {len(self._feeds) - 1}, got {number!r}")
        return SourceSink(self, number)

    def __enter__(self) -> WebServer:
        if self.catalog is None:
            self._own.__enter__()
        else:
            self._enter(None)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self.catalog is None:
            self._own.__exit__(exc_type, exc, traceback)
        elif self._users > 0:
            self._leave(None)

    def write(self, image: np.ndarray) -> None:
        """Make an (H, W, 3) uint8 BGR frame the newest one of source 0's stream."""
        self._own.write(image)

    # Called by the sinks, from their frame loops' threads.

    def _enter(self, number: int | None) -> None:
        """A sink of source ``number`` (None: a catalog's server itself) enters: serve, if nothing did yet."""
        with self._life:
            if self._users == 0:
                self._start()
            self._users += 1
            if number is None:
                return
            with self._frame:
                feed = self._feeds[number]
                feed.entered, feed.ended = feed.entered + 1, False

    def _leave(self, number: int | None) -> None:
        """A sink of source ``number`` (None: a catalog's server) leaves: end that source's streams if it was
        its last, stop if it was the last."""
        with self._life:
            if number is not None:
                with self._frame:
                    feed = self._feeds[number]
                    feed.entered -= 1
                    feed.ended = feed.entered == 0
                    self._frame.notify_all()
            self._users -= 1
            if self._users == 0:
                self._stop()

    def _start(self) -> None:
        try:
            self._server = _Server((self.host, self.port), self)
        except OSError as error:
            raise SinkError(f"cannot serve on {self.host}:{self.port}: {error.strerror}") from error
        self._stopping = False
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.1,), name="web", daemon=True)
        self._thread.start()

    def _stop(self) -> None:
        if self._server is None or self._thread is None:  # stopped already
            return
        with self._frame:
            self._stopping = True
            self._frame.notify_all()
            # Streams notice within a wait; one stuck writing to a stalled client gives up at its socket timeout.
            self._frame.wait_for(lambda: self._streams == 0, timeout=2.0)
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        self._server = self._thread = None

    def _write(self, number: int, image: np.ndarray) -> None:
        ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
        if not ok:
            raise SinkError(f"cannot encode a {image.shape} {image.dtype} frame to JPEG")
        with self._frame:
            feed = self._feeds[number]
            feed.jpeg, feed.sequence = encoded.tobytes(), feed.sequence + 1
            self._frame.notify_all()

    # Called from the request threads.

    def _authorized(self, query: dict[str, list[str]], authorization: str | None) -> bool:
        """Whether a request carries the token (always true without one)."""
        if self.token is None:
            return True
        given = query.get("token", [])
        if authorization is not None and authorization.startswith("Bearer "):
            given = [*given, authorization.removeprefix("Bearer ")]
        expected = self.token.encode()
        return len(given) == 1 and hmac.compare_digest(given[0].encode(), expected)

    def _source(self, query: dict[str, list[str]]) -> int:
        """The number of the source a request is about (``?source=N``, 0 when absent)."""
        given = query.get("source", ["0"])
        number = int(given[0]) if len(given) == 1 and re.fullmatch(r"\d{1,9}", given[0], re.ASCII) else None
        if self.catalog is not None:
            if number is not None and self.catalog.source(number) is not None:
                return number
            which = "one of the numbers /sources lists"
        else:
            last = len(self._feeds) - 1
            if number is not None and number <= last:
                return number
            which = f"0 to {last} (see /sources)"
        got = repr(given[0][:20]) if len(given) == 1 else f"{len(given)} of them"
        raise _HttpError(HTTPStatus.BAD_REQUEST, f"source must be one number, {which}, got {got}")

    def _target(self, number: int) -> PromptInbox | PageSource | None:
        """Where source ``number``'s prompts go (None: it takes none)."""
        if self.catalog is None:
            return self._feeds[number].inbox
        source = self.catalog.source(number)
        if source is None:
            raise _HttpError(HTTPStatus.NOT_FOUND, f"source {number} is gone: see /sources")
        return source

    def _listing(self) -> dict[str, Any]:
        if self.catalog is not None:
            return {"sources": self.catalog.listing(), "manage": True}
        return {"sources": [{"number": n, "name": feed.name} for n, feed in enumerate(self._feeds)]}

    def _open_stream(self) -> bool:
        """Take a stream slot, waiting a moment for one when all ``max_clients`` are in use; False if none frees."""
        with self._frame:
            self._frame.wait_for(lambda: self._streams < self.max_clients or self._stopping, timeout=_SLOT_WAIT)
            if self._streams >= self.max_clients or self._stopping:
                return False
            self._streams += 1
            return True

    def _close_stream(self) -> None:
        """Give a stream slot back."""
        with self._frame:
            self._streams -= 1
            self._frame.notify_all()

    def _next_jpeg(self, number: int, after: int, gone: Callable[[], bool]) -> tuple[int, bytes] | None:
        """Source ``number``'s newest frame once it is newer than sequence number ``after``; None when
        stopping, when that source is over and its last frame was sent, or when the viewer is ``gone()``."""
        if self.catalog is not None:
            source = self.catalog.source(number)
            return None if source is None else source.next_jpeg(after, lambda: self._stopping or gone())
        feed = self._feeds[number]
        with self._frame:
            while not self._stopping:
                if feed.jpeg is not None and feed.sequence > after:
                    return feed.sequence, feed.jpeg
                if feed.ended or gone():
                    return None
                self._frame.wait(timeout=_POLL)
            return None


class SourceSink:
    """The frame sink of one source of a ``WebServer`` (``WebServer.sink``), for that source's frame loop.

    Entering the first sink (or the server) starts serving and leaving the last one stops it;
    leaving the last sink of its source ends that source's streams after its last frame.

    Attributes:
        server: the ``WebServer`` it writes to.
        number: its source's number.
    """

    def __init__(self, server: WebServer, number: int):
        self.server, self.number = server, number
        self._entered = 0  # this sink's `with` blocks now open (leaving one not entered does nothing)
        self._lock = threading.Lock()

    def __enter__(self) -> SourceSink:
        with self._lock:
            self.server._enter(self.number)
            self._entered += 1
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        with self._lock:
            if self._entered == 0:
                return
            self._entered -= 1
            self.server._leave(self.number)

    def write(self, image: np.ndarray) -> None:
        """Make an (H, W, 3) uint8 BGR frame the newest one of this source's stream."""
        self.server._write(self.number, image)


def _feeds(sources: Sequence[tuple[str, PromptInbox | None]], inbox: PromptInbox | None) -> list[_Feed]:
    """The sources given to ``WebServer``, checked."""
    if inbox is not None:
        raise UsageError("give the inbox of each source in sources, not inbox as well")
    feeds: list[_Feed] = []
    for number, pair in enumerate(sources):
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise UsageError(f"each source must be (name, inbox), got {pair!r} for source {number}")
        name, its_inbox = pair
        if not isinstance(name, str) or not (its_inbox is None or isinstance(its_inbox, PromptInbox)):
            raise UsageError(
                f"source {number}: expected (str, PromptInbox or None), got ({type(name).__name__}, "
                f"{type(its_inbox).__name__})"
            )
        shared = next((n for n, feed in enumerate(feeds) if its_inbox is not None and feed.inbox is its_inbox), None)
        if shared is not None:
            raise UsageError(f"sources {shared} and {number} share one PromptInbox: give each source its own")
        feeds.append(_Feed(name, its_inbox))
    if not feeds:
        raise UsageError("sources is empty: give at least one (name, inbox), or None for one source")
    return feeds


class _Server(ThreadingHTTPServer):
    """An HTTP server that knows its ``WebServer`` and does not report clients that go away."""

    def __init__(self, address: tuple[str, int], web: WebServer):
        self.web = web
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Closed and timed-out connections are normal for a stream; anything else is one line on stderr."""
        error = sys.exc_info()[1]
        if not isinstance(error, OSError):
            _log(f"a request failed: {type(error).__name__}: {error}")


class _Handler(BaseHTTPRequestHandler):
    """One request: check the token, route, validate, answer."""

    server: _Server
    timeout = 10  # seconds a client may stall a read or a write
    server_version = "fastsam-track"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: no line per request."""

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        web = self.server.web
        try:
            self._check_origin()
            query = parse_qs(url.query, keep_blank_values=True)  # a blank ?source= is refused, not taken for 0
            if not web._authorized(query, self.headers.get("Authorization")):
                raise _HttpError(HTTPStatus.UNAUTHORIZED, "a valid token is required: add ?token=... to the address")
            method = _ROUTES.get(url.path)
            if method is None or (url.path.startswith("/sources/") and web.catalog is None):
                raise _HttpError(HTTPStatus.NOT_FOUND, f"no such page: {url.path}")
            if self.command != method:
                raise _HttpError(HTTPStatus.METHOD_NOT_ALLOWED, f"{url.path} takes {method}, not {self.command}")
            catalog = web.catalog
            if catalog is not None and url.path in _NO_SOURCE:
                # a catalog's page opens whatever its source (one removed meanwhile: it shows another)
                number, inbox = -1, None
            else:
                number = web._source(query)
                inbox = web._target(number)
            if url.path == "/sources/add" and catalog is not None:
                self._send_json(HTTPStatus.OK, _manage(catalog.add, self._read_json(), True))
            elif url.path == "/sources/remove" and catalog is not None:
                self._send_json(HTTPStatus.OK, _manage(lambda _: catalog.remove(number), self._read_json(), False))
            elif url.path == "/":
                self._send(HTTPStatus.OK, _PAGE.encode(), "text/html; charset=utf-8", _PAGE_HEADERS)
            elif url.path == "/sources":
                self._send_json(HTTPStatus.OK, web._listing())
            elif url.path == "/stream.mjpg":
                self._stream(number)
            elif inbox is None:
                which = "this server takes" if len(web._feeds) <= 1 else f"source {number} takes"
                raise _HttpError(HTTPStatus.NOT_FOUND, f"{which} no prompts: it was started without an inbox")
            elif url.path == "/objects":
                self._send_json(HTTPStatus.OK, _objects(inbox_view(inbox)))
            else:
                self._send_json(HTTPStatus.OK, _post(inbox, url.path, self._read_json()))
        except _HttpError as error:
            self._send_json(error.status, {"error": str(error)}, error.headers)
        except Exception as error:  # a bug: one line in the run's terminal, a one-line answer, the server goes on
            _log(f"{self.command} {url.path} failed: {type(error).__name__}: {error}")
            self._send_json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"the server failed: {type(error).__name__}"})

    def _check_origin(self) -> None:
        """Refuse requests for another site's name (421) and requests from another site's page (403)."""
        web = self.server.web
        hosts = self.headers.get_all("Host") or []
        if len(hosts) > 1:
            raise _HttpError(HTTPStatus.BAD_REQUEST, "more than one Host header")
        host = hosts[0] if hosts else None
        why = check_host(host, web.host, self.connection.getsockname()[0], web._hostname)
        if why is not None:
            raise _HttpError(HTTPStatus.MISDIRECTED_REQUEST, f"{why}: open {web.url}")
        origin = self.headers.get("Origin")
        if origin is not None and (host is None or origin.lower() != f"http://{host.strip().lower()}"):
            raise _HttpError(
                HTTPStatus.FORBIDDEN, f"requests from another site's page are refused (Origin {origin[:80]!r})"
            )
        site = self.headers.get("Sec-Fetch-Site")
        if site is not None and site not in ("same-origin", "none"):
            raise _HttpError(
                HTTPStatus.FORBIDDEN, f"requests from another site's page are refused (Sec-Fetch-Site {site[:20]!r})"
            )

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _dispatch

    def _send(self, status: HTTPStatus, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        if status == HTTPStatus.METHOD_NOT_ALLOWED:
            self.send_header("Allow", _ROUTES.get(urlsplit(self.path).path, "GET"))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, status: HTTPStatus, data: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(data).encode(), "application/json", headers)

    def _read_json(self) -> dict[str, Any]:
        """The request's body: a JSON object of at most ``max_body`` bytes."""
        if self.headers.get_content_type() != "application/json":
            raise _HttpError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send JSON: Content-Type: application/json")
        length = self.headers.get("Content-Length")
        if length is None:
            raise _HttpError(HTTPStatus.LENGTH_REQUIRED, "a Content-Length header is required")
        if not re.fullmatch(r"\d{1,12}", length, re.ASCII):
            raise _HttpError(HTTPStatus.BAD_REQUEST, f"Content-Length must be a number of bytes, got {length[:20]!r}")
        if int(length) > self.server.web.max_body:
            limit = self.server.web.max_body
            if int(length) <= _DRAIN:  # else the client may see a reset instead of the answer
                self.rfile.read(int(length))
            raise _HttpError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"the body is {length} bytes; at most {limit}")
        body = self.rfile.read(int(length))
        if len(body) < int(length):
            raise _HttpError(HTTPStatus.BAD_REQUEST, f"the body ended after {len(body)} of {length} bytes")
        depth = _depth(body)
        if depth > _MAX_DEPTH:
            raise _HttpError(HTTPStatus.BAD_REQUEST, f"the body nests {depth} levels deep; at most {_MAX_DEPTH}")
        try:
            data = json.loads(body, parse_constant=_no_constant, object_pairs_hook=_no_repeats)
        except ValueError as error:
            raise _HttpError(HTTPStatus.BAD_REQUEST, f"the body is not valid JSON: {error}") from error
        if not isinstance(data, dict):
            raise _HttpError(HTTPStatus.BAD_REQUEST, f"the body must be a JSON object, got {type(data).__name__}")
        return data

    def _stream(self, number: int) -> None:
        web = self.server.web
        if not web._open_stream():
            raise _HttpError(
                HTTPStatus.SERVICE_UNAVAILABLE,
                f"every viewer slot is taken ({web.max_clients} at once): try again later",
                {"Retry-After": str(_RETRY_AFTER)},
            )
        try:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={_BOUNDARY}")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(f"--{_BOUNDARY}\r\n".encode())
            sequence = 0
            while (newest := web._next_jpeg(number, sequence, self._gone)) is not None:
                first = sequence == 0
                sequence, jpeg = newest
                head = f"Content-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
                part = head + jpeg + f"\r\n--{_BOUNDARY}\r\n".encode()
                # Chromium shows a picture once the next one starts: the first one twice is on screen at once,
                # not at the source's next frame (a while for a slow model, never for a paused camera).
                self.wfile.write(part * 2 if first else part)
                self.wfile.flush()
        except OSError:
            pass  # the viewer went away
        finally:
            web._close_stream()

    def _gone(self) -> bool:
        """Whether the viewer has closed the connection: its slot is free at once, not at the next frame
        (which may be long: a paused camera, a source that ended), so a page can switch sources."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and not self.connection.recv(1, socket.MSG_PEEK)
        except OSError:
            return True


def _log(message: str) -> None:
    print(f"fastsam-track: web page: {' '.join(message.split())[:300]}", file=sys.stderr)


def _depth(body: bytes) -> int:
    """How deep the brackets of a JSON text nest (those inside strings not counted), without parsing it:
    the parser recurses once per level, so a few kilobytes of ``[`` end in a RecursionError.

    Example:
        >>> _depth(b'{"box": [1, 2]}'), _depth(b'"[[["'), _depth(b"[" * 4096)
        (2, 0, 4096)
    """
    # Strings (with their escapes) out first; then the running count of openers minus closers.
    text = re.sub(rb'"(?:[^"\\]|\\.)*"?', b"", body, flags=re.DOTALL)
    brackets = np.frombuffer(text, np.uint8)
    steps = np.isin(brackets, (ord("["), ord("{"))).astype(np.int64) - np.isin(brackets, (ord("]"), ord("}")))
    return int(np.cumsum(steps).max(initial=0))


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number JSON allows")


def _no_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data = dict(pairs)
    if len(data) != len(pairs):
        raise ValueError("a key is repeated")
    return data


def inbox_view(target: PromptInbox | PageSource) -> dict[str, Any]:
    """The frame, size, objects and notice of a source's prompts (``PageSource.view``)."""
    if not isinstance(target, PromptInbox):
        return target.view()
    size = target.frame_size
    return {
        "frame": target.frame_index,
        "size": None if size is None else list(size),
        "objects": target.objects(),
        "notice": target.notice(),
    }


def _objects(view: dict[str, Any]) -> dict[str, Any]:
    """``/objects``'s answer: the view, each object with the colour the renderer draws its mask with
    (its id into the palette), as CSS."""
    objects = [dict(o) for o in view["objects"]]
    colours = palette_colors(np.array([o["id"] for o in objects], int))
    for listed, (b, g, r) in zip(objects, colours.tolist(), strict=True):
        listed["color"] = f"#{r:02x}{g:02x}{b:02x}"
    return {**view, "objects": objects}


def _manage(act: Callable[[dict[str, str]], dict[str, Any]], body: dict[str, Any], adding: bool) -> dict[str, Any]:
    """A catalog's ``/sources/add`` (``adding``) or ``/sources/remove``, its body checked; the catalog's answer."""
    if adding:
        _keys(body, _ADD_FIELDS, '{"source": "...", "name": "...", "output": "..."}')
        for key, value in body.items():
            if not isinstance(value, str) or len(value) > _MAX_FIELD:
                raise _HttpError(HTTPStatus.BAD_REQUEST, f"{key} must be text of at most {_MAX_FIELD} characters")
        if not body["source"].strip():
            raise _HttpError(HTTPStatus.BAD_REQUEST, "source must be a stream URL or a video path")
    else:
        _keys(body, set(), "{}")
    try:
        return act({k: v.strip() for k, v in body.items()})
    except FastSamTrackError as error:
        raise _HttpError(HTTPStatus.BAD_REQUEST, " ".join(str(error).split())[:500]) from error


def _keys(body: dict[str, Any], expected: set[str], form: str) -> None:
    if set(body) != expected:
        raise _HttpError(HTTPStatus.BAD_REQUEST, f"expected {form}, got the keys {sorted(body)}")


def _number(value: Any, name: str) -> float:
    """A finite JSON number (not a boolean) as a float."""
    try:
        number = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise _HttpError(HTTPStatus.BAD_REQUEST, f"{name} must be a finite number, got {json.dumps(value)[:40]}")
    return number


def _integer(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _HttpError(HTTPStatus.BAD_REQUEST, f"{name} must be an integer, got {json.dumps(value)[:40]}")
    return value


def _post(inbox: PromptInbox | PageSource, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """Apply a validated POST to the inbox; its answer."""
    try:
        if path == "/clear":
            _keys(body, set(), "{}")
            inbox.clear()
            return {"cleared": True}
        if path == "/remove":
            _keys(body, {"object"}, '{"object": id}')
            object_id = _integer(body["object"], "object")
            if not inbox.remove(object_id):
                raise _HttpError(HTTPStatus.NOT_FOUND, f"there is no object {object_id}")
            return {"object": object_id}
        return {"object": _prompt(inbox, body)}
    except PromptError as error:
        raise _HttpError(HTTPStatus.BAD_REQUEST, " ".join(str(error).split())) from error


def _prompt(inbox: PromptInbox | PageSource, body: dict[str, Any]) -> int:
    """Give the inbox a point or box prompt; the object's id."""
    if body.get("kind") == "point":
        _keys(body, {"kind", "x", "y", "label"}, '{"kind": "point", "x": X, "y": Y, "label": 1 or 0}')
        label = _integer(body["label"], "label")
        return inbox.add_point(_number(body["x"], "x"), _number(body["y"], "y"), label)
    if body.get("kind") == "box":
        _keys(body, {"kind", "box"}, '{"kind": "box", "box": [x1, y1, x2, y2]}')
        box = body["box"]
        if not isinstance(box, list) or len(box) != 4:
            raise _HttpError(HTTPStatus.BAD_REQUEST, f"box must be [x1, y1, x2, y2], got {json.dumps(box)[:60]}")
        x1, y1, x2, y2 = (_number(v, "each box value") for v in box)
        return inbox.add_box(x1, y1, x2, y2)
    kind = json.dumps(body.get("kind"))[:40]
    raise _HttpError(HTTPStatus.BAD_REQUEST, f'"kind" must be "point" or "box", got {kind}')
