"""The annotated stream in a browser page, where a click or a drag prompts a new object.

``WebServer`` serves one source or several (``sources``: a name and an inbox each), or a
``SourceCatalog`` of sources that come and go (a cluster's cameras), from the standard
library's HTTP server. The page itself is three files (``static/page.html``, ``page.css``,
``page.js``). Routes (``handler.ROUTES``):

- ``GET /``: the page. Left click: a new object with a foreground point. Right click: a
  background point for the newest object. Drag: a new object with a box. It shows a status
  bar (``/status``), the objects with their state and a remove button, a banner when the
  source ended, failed or is reconnecting, and pauses (the run goes on; clicks on a paused
  view are prompts of the frame it shows). With several sources, a button per source.
- ``GET /sources``: ``{"sources": [{"number": 0, "name": "..."}, ...]}`` (a catalog's rows
  also give ``state``, ``note``, ``fps``, ``frames``, and ``"manage": true``).
- ``GET /stream.mjpg``: the newest frames as MJPEG (``multipart/x-mixed-replace``).
- ``GET /frame.jpg``: the newest frame as one JPEG, its index in ``X-Frame-Index``.
- ``GET /status``: the source's ``SourceStatus`` (state, note, fps, frame age median and p95,
  dropped frames, frames, keyframes and their share).
- ``GET /objects``: ``{"frame": N, "size": [W, H], "objects": [{"id": 1, "box": [x1, y1, x2, y2],
  "lost": false, "state": "seen", "color": "#rrggbb"}], "notice": {"number": 1, "text": "..."} or null}``.
- ``POST /prompt`` ``{"kind": "point", "x": X, "y": Y, "label": 1}`` or
  ``{"kind": "box", "box": [x1, y1, x2, y2]}`` (source frame pixels; ``"frame": N`` for a paused
  view's frame) answers ``{"object": id}``; ``POST /remove`` ``{"object": id}``; ``POST /clear`` ``{}``.
- A catalog that manages its sources: ``POST /sources/add`` ``{"source", "name", "output"}`` and
  ``POST /sources/remove?source=N`` ``{}``.

Every request takes ``?source=N`` (0 when absent); a ``source`` that is not listed is refused
with 400. With a ``token``, every request but the page's static files must carry it as
``?token=...`` or ``Authorization: Bearer ...``; a server on an address other than loopback
always has one. Other sites are kept out (``access``): a ``Host`` that does not name this
server is refused with 421, a request from another origin's page with 403.
"""

from fastsam_track.pipeline.outputs.web.access import check_host, is_loopback, parse_address
from fastsam_track.pipeline.outputs.web.catalog import PageSource, SourceCatalog
from fastsam_track.pipeline.outputs.web.hub import SourceSink
from fastsam_track.pipeline.outputs.web.server import WebServer

__all__ = [
    "PageSource",
    "SourceCatalog",
    "SourceSink",
    "WebServer",
    "check_host",
    "is_loopback",
    "parse_address",
]
