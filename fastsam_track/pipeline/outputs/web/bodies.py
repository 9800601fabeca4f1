"""The page's requests checked: POST bodies (``read_json``) and what each route takes from them.

Every POST body must be a JSON object (``Content-Type: application/json``, which a page of
another site cannot send without the browser asking first) with exactly the expected keys,
at most ``max_body`` bytes and nested at most ``MAX_DEPTH`` levels.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import numpy as np

from fastsam_track.documents import DocumentError, load_json
from fastsam_track.errors import FastSamTrackError, PromptError
from fastsam_track.pipeline.outputs.render import palette_colors
from fastsam_track.pipeline.outputs.web.catalog import PageSource, SourceCatalog

__all__ = ["MAX_DEPTH", "HttpError", "manage", "objects", "prompt", "read_json"]

MAX_DEPTH = 8  # JSON nesting a body may have; the prompts need 2
_DRAIN = 1 << 20  # bytes of a refused body read and dropped, so the client gets the answer, not a reset
_MAX_FIELD = 1000  # characters of each field of a source added from the page
_ADD_FIELDS = {"source", "name", "output"}


class HttpError(Exception):
    """A refused request: its status and a one-line message for the client."""

    def __init__(self, status: HTTPStatus, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.headers = status, headers


def read_json(content_type: str, length: str | None, read: Callable[[int], bytes], max_body: int) -> dict[str, Any]:
    """A request's body: a JSON object of at most ``max_body`` bytes, read from ``body``.

    Args:
        content_type: the request's media type (without parameters).
        length: its ``Content-Length`` header (None when absent).
        read: reads that many bytes of the connection.
        max_body: the most bytes taken.
    """
    if content_type != "application/json":
        raise HttpError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send JSON: Content-Type: application/json")
    if length is None:
        raise HttpError(HTTPStatus.LENGTH_REQUIRED, "a Content-Length header is required")
    if not re.fullmatch(r"\d{1,12}", length, re.ASCII):
        raise HttpError(HTTPStatus.BAD_REQUEST, f"Content-Length must be a number of bytes, got {length[:20]!r}")
    if int(length) > max_body:
        if int(length) <= _DRAIN:  # else the client may see a reset instead of the answer
            read(int(length))
        raise HttpError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"the body is {length} bytes; at most {max_body}")
    text = read(int(length))
    if len(text) < int(length):
        raise HttpError(HTTPStatus.BAD_REQUEST, f"the body ended after {len(text)} of {length} bytes")
    try:
        data = load_json(text, max_depth=MAX_DEPTH, max_bytes=max_body)
    except DocumentError as error:
        raise HttpError(HTTPStatus.BAD_REQUEST, f"the body is {error}") from error
    if not isinstance(data, dict):
        raise HttpError(HTTPStatus.BAD_REQUEST, f"the body must be a JSON object, got {type(data).__name__}")
    return data


def objects(view: dict[str, Any]) -> dict[str, Any]:
    """``/objects``'s answer: the view, each object with the colour the renderer draws its mask with
    (its id into the palette), as CSS."""
    listed = [dict(o) for o in view["objects"]]
    colours = palette_colors(np.array([o["id"] for o in listed], int))
    for item, (b, g, r) in zip(listed, colours.tolist(), strict=True):
        item["color"] = f"#{r:02x}{g:02x}{b:02x}"
    return {**view, "objects": listed}


def manage(catalog: SourceCatalog, number: int | None, body: dict[str, Any]) -> dict[str, Any]:
    """A catalog's ``/sources/add`` (``number`` None) or ``/sources/remove``, its body checked; the catalog's answer."""
    if number is None:
        _keys(body, _ADD_FIELDS, '{"source": "...", "name": "...", "output": "..."}')
        for key, value in body.items():
            if not isinstance(value, str) or len(value) > _MAX_FIELD:
                raise HttpError(HTTPStatus.BAD_REQUEST, f"{key} must be text of at most {_MAX_FIELD} characters")
        if not body["source"].strip():
            raise HttpError(HTTPStatus.BAD_REQUEST, "source must be a stream URL or a video path")
    else:
        _keys(body, set(), "{}")
    try:
        if number is None:
            return catalog.add({k: v.strip() for k, v in body.items()})
        return catalog.remove(number)
    except FastSamTrackError as error:
        raise HttpError(HTTPStatus.BAD_REQUEST, " ".join(str(error).split())[:500]) from error


def _keys(body: dict[str, Any], expected: set[str], form: str, optional: frozenset[str] = frozenset()) -> None:
    """Refuse a body without each ``expected`` key, or with a key neither expected nor ``optional``."""
    if not expected <= set(body) <= expected | optional:
        raise HttpError(HTTPStatus.BAD_REQUEST, f"expected {form}, got the keys {sorted(body)}")


def _number(value: Any, name: str) -> float:
    """A finite JSON number (not a boolean) as a float."""
    try:
        number = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise HttpError(HTTPStatus.BAD_REQUEST, f"{name} must be a finite number, got {json.dumps(value)[:40]}")
    return number


def _integer(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise HttpError(HTTPStatus.BAD_REQUEST, f"{name} must be an integer, got {json.dumps(value)[:40]}")
    return value


def prompt(source: PageSource, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """Apply a validated ``/prompt``, ``/remove`` or ``/clear`` to the source; the answer."""
    try:
        if path == "/clear":
            _keys(body, set(), "{}")
            source.clear()
            return {"cleared": True}
        if path == "/remove":
            _keys(body, {"object"}, '{"object": id}')
            object_id = _integer(body["object"], "object")
            if not source.remove(object_id):
                raise HttpError(HTTPStatus.NOT_FOUND, f"there is no object {object_id}")
            return {"object": object_id}
        return {"object": _prompt(source, body)}
    except PromptError as error:
        raise HttpError(HTTPStatus.BAD_REQUEST, " ".join(str(error).split())) from error


def _prompt(source: PageSource, body: dict[str, Any]) -> int:
    """Give the source a point or box prompt (of frame ``frame``, a paused view's, when given); the object's id."""
    frame = None if body.get("frame") is None else _integer(body["frame"], "frame")
    if frame is not None and not 0 <= frame < 1 << 62:
        raise HttpError(HTTPStatus.BAD_REQUEST, f"frame must be a frame index, 0 or more, got {frame}")
    if body.get("kind") == "point":
        _keys(
            body,
            {"kind", "x", "y", "label"},
            '{"kind": "point", "x": X, "y": Y, "label": 1 or 0}',
            frozenset({"frame"}),
        )
        label = _integer(body["label"], "label")
        return source.add_point(_number(body["x"], "x"), _number(body["y"], "y"), label, frame=frame)
    if body.get("kind") == "box":
        _keys(body, {"kind", "box"}, '{"kind": "box", "box": [x1, y1, x2, y2]}', frozenset({"frame"}))
        box = body["box"]
        if not isinstance(box, list) or len(box) != 4:
            raise HttpError(HTTPStatus.BAD_REQUEST, f"box must be [x1, y1, x2, y2], got {json.dumps(box)[:60]}")
        x1, y1, x2, y2 = (_number(v, "each box value") for v in box)
        return source.add_box(x1, y1, x2, y2, frame=frame)
    kind = json.dumps(body.get("kind"))[:40]
    raise HttpError(HTTPStatus.BAD_REQUEST, f'"kind" must be "point" or "box", got {kind}')
