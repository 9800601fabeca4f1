"""Prompts from the command line and from a JSON file, validated into ``types`` records.

CLI forms: ``--point X,Y[,LABEL][@FRAME[:SOURCE]]`` (points given on the same frame and
source make one object, as FastSAM's point prompt), ``--box X1,Y1,X2,Y2[@FRAME[:SOURCE]]``
and ``--text "WORDS"[@FRAME[:SOURCE]]`` (one object each); ``@:SOURCE`` is frame 0 of that
source. SOURCE is a source's name (ASCII letters, digits, ``-``, ``_``, ``.``) or its number,
counted from 0. File form (pixel coordinates of the source frame, frames from 0; ``"source"``,
a name or a number, is optional)::

    {"prompts": [
        {"frame": 0, "object": 1, "points": [[x, y], [x, y]], "labels": [1, 0]},
        {"frame": 0, "object": 2, "box": [x1, y1, x2, y2], "source": "left"},
        {"frame": 0, "object": 3, "text": "a red cup"},
        {"frame": 40, "object": 2, "remove": true, "source": 1}]}

A run with one source takes every prompt; with several, ``split_by_source`` hands each source
its own: point and box prompts must name their source, text and remove prompts without one go
to every source.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from fastsam_track.documents import DocumentError, load_json, read_text
from fastsam_track.errors import PromptError, UsageError
from fastsam_track.types import BoxPrompt, PointPrompt, Prompt, RemovePrompt, TextPrompt

__all__ = [
    "MAX_OBJECT_ID",
    "PromptError",
    "check_in_frame",
    "check_object_ids",
    "load_prompts",
    "parse_box",
    "parse_point",
    "parse_text",
    "prompt_from_record",
    "prompts_from_cli",
    "split_by_source",
]

_NUMBER = r"[-+]?\d+(?:\.\d+)?"
_NAME = r"[A-Za-z0-9_.-]+"
# @FRAME, @FRAME:SOURCE or @:SOURCE: groups (frame, source after a frame, source alone)
_WHERE = rf"(?:@(?:(\d+)(?::({_NAME}))?|:({_NAME})))?"
_POINT = re.compile(rf"^({_NUMBER}),({_NUMBER})(?:,([01]))?{_WHERE}$")
_BOX = re.compile(rf"^({_NUMBER}),({_NUMBER}),({_NUMBER}),({_NUMBER}){_WHERE}$")
_TEXT = re.compile(rf"^(.*?){_WHERE}$", re.DOTALL)
_TEXT_BAD_SOURCE = re.compile(r"@\d*:[^@]*$")  # words ending like @FRAME:SOURCE with a SOURCE that is not one
_SOURCE_HELP = "SOURCE a source name (ASCII letters, digits, - _ .) or number from 0"
_KEYS = {"frame", "object", "points", "labels", "box", "text", "remove", "source"}
_MAX_TEXT = 300  # characters; CLIP reads 77 tokens
_MAX_FRAME_DIGITS = 9
MAX_OBJECT_ID = 2**31 - 1  # ids are held in int32 columns and arrays


def _frame(digits: str | None, where: str) -> int:
    if digits is not None and len(digits) > _MAX_FRAME_DIGITS:
        raise PromptError(f"{where}: the frame number must have at most {_MAX_FRAME_DIGITS} digits")
    return int(digits or 0)


def parse_point(text: str) -> tuple[int, np.ndarray, int, str | None]:
    """``X,Y[,LABEL][@FRAME[:SOURCE]]`` to (frame, (2,) xy, label, source or None).

    Example:
        >>> frame, xy, label, source = parse_point("320,180,0@12:left")
        >>> frame, xy.tolist(), label, source
        (12, [320.0, 180.0], 0, 'left')
    """
    match = _POINT.match(text.replace(" ", ""))
    if not match:
        raise PromptError(
            f"--point {text!r}: expected X,Y[,LABEL][@FRAME[:SOURCE]], LABEL 1 (foreground) or 0 (background), "
            f"{_SOURCE_HELP}"
        )
    x, y, label, frame, source, only_source = match.groups()
    xy = np.array([float(x), float(y)])
    if not np.isfinite(xy).all():  # digits past the float range
        raise PromptError(f"--point {text!r}: X and Y must be finite numbers")
    return _frame(frame, f"--point {text!r}"), xy, int(label if label is not None else 1), source or only_source


def parse_box(text: str) -> tuple[int, np.ndarray, str | None]:
    """``X1,Y1,X2,Y2[@FRAME[:SOURCE]]`` to (frame, (4,) xyxy, source or None).

    Example:
        >>> frame, box, source = parse_box("10,20,110,220@:1")
        >>> frame, box.tolist(), source
        (0, [10.0, 20.0, 110.0, 220.0], '1')
    """
    match = _BOX.match(text.replace(" ", ""))
    if not match:
        raise PromptError(f"--box {text!r}: expected X1,Y1,X2,Y2[@FRAME[:SOURCE]], {_SOURCE_HELP}")
    *corners, frame, source, only_source = match.groups()
    box = np.array([float(v) for v in corners])
    if not np.isfinite(box).all():  # digits past the float range
        raise PromptError(f"--box {text!r}: the corners must be finite numbers")
    if box[2] <= box[0] or box[3] <= box[1]:
        raise PromptError(f"--box {text!r}: X2 must exceed X1 and Y2 exceed Y1")
    return _frame(frame, f"--box {text!r}"), box, source or only_source


def _check_text(text: Any, where: str) -> str:
    if not isinstance(text, str) or not text.strip() or len(text) > _MAX_TEXT:
        raise PromptError(f"{where}: the text must be 1 to {_MAX_TEXT} characters, got {json.dumps(text)[:60]}")
    return text.strip()


def parse_text(text: str) -> tuple[int, str, str | None]:
    """``WORDS[@FRAME[:SOURCE]]`` to (frame, words, source or None).

    Words that end like ``@FRAME:SOURCE`` with a SOURCE that is not a name or number are an
    error; an ``@`` followed by anything else is part of the words.

    Example:
        >>> parse_text("a red cup@40"), parse_text("a red cup@40:cam-2"), parse_text("me@home")
        ((40, 'a red cup', None), (40, 'a red cup', 'cam-2'), (0, 'me@home', None))
    """
    match = _TEXT.match(text)
    assert match is not None, "the pattern matches any string"
    words, frame, source, only_source = match.groups()
    if _TEXT_BAD_SOURCE.search(words):
        raise PromptError(f"--text {text!r}: expected WORDS[@FRAME[:SOURCE]], {_SOURCE_HELP}")
    return _frame(frame, f"--text {text!r}"), _check_text(words, f"--text {text!r}"), source or only_source


def prompts_from_cli(
    points: Sequence[str], boxes: Sequence[str], first_object: int = 1, texts: Sequence[str] = ()
) -> list[Prompt]:
    """Prompts from repeated ``--point``, ``--box`` and ``--text`` options.

    Points on the same frame and source form one object; every box and every text is an
    object of its own. Object ids count up from ``first_object``: point objects in the order
    their first point was given, then boxes, then texts. A prompt's ``source`` is the
    SOURCE it names, as text, or None.

    Example:
        >>> [type(p).__name__ for p in prompts_from_cli(["5,5", "9,9,0"], ["0,0,4,4@3"], texts=["a cup"])]
        ['PointPrompt', 'BoxPrompt', 'TextPrompt']
        >>> [(p.object_id, p.source) for p in prompts_from_cli(["5,5@0:left", "9,9@:right", "1,1@:left"], [])]
        [(1, 'left'), (2, 'right')]
    """
    prompts: list[Prompt] = []
    by_place: dict[tuple[int, str | None], list[tuple[np.ndarray, int]]] = defaultdict(list)
    for text in points:
        frame, xy, label, source = parse_point(text)
        by_place[frame, source].append((xy, label))
    next_id = first_object
    for (frame, source), given in by_place.items():
        if not any(label == 1 for _, label in given):
            of_source = f" of source {source}" if source is not None else ""
            raise PromptError(
                f"the points on frame {frame}{of_source} are all background (label 0): add a foreground point"
            )
        xy = np.array([p for p, _ in given])
        prompts.append(PointPrompt(frame, next_id, xy, np.array([label for _, label in given]), source=source))
        next_id += 1
    for text in boxes:
        frame, box, source = parse_box(text)
        prompts.append(BoxPrompt(frame, next_id, box, source=source))
        next_id += 1
    for text in texts:
        frame, words, source = parse_text(text)
        prompts.append(TextPrompt(frame, next_id, words, source=source))
        next_id += 1
    return prompts


def _number_list(value: Any, length: int | None, where: str, what: str) -> np.ndarray:
    ok = isinstance(value, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    if not ok or (length is not None and len(value) != length):
        size = f"{length} numbers" if length else "numbers"
        raise PromptError(f"{where}: {what} must be a list of {size}, got {json.dumps(value)[:60]}")
    try:
        array = np.array(value, float)
    except OverflowError:  # an integer past the float range
        array = np.array([np.inf])
    if not np.isfinite(array).all():
        raise PromptError(f"{where}: {what} must be finite numbers")
    return array


def _int(entry: dict[str, Any], key: str, minimum: int, maximum: int, where: str) -> int:
    value = entry.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= maximum:
        shown = json.dumps(value)[:60]
        raise PromptError(f"{where}: {key!r} must be an integer from {minimum} to {maximum}, got {shown}")
    return value


def _source(entry: dict[str, Any], where: str) -> str | None:
    """The entry's ``"source"`` as text: a name (a non-empty string) or a number from 0; None without one."""
    value = entry.get("source")
    if value is None and "source" not in entry:
        return None
    if isinstance(value, str) and value.strip() and len(value) <= _MAX_TEXT:
        return value
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**_MAX_FRAME_DIGITS:
        return str(value)
    raise PromptError(
        f"{where}: 'source' must be a source name (a non-empty string) or number (0 or more), "
        f"got {json.dumps(value)[:60]}"
    )


def prompt_from_record(entry: Any, where: str) -> Prompt:
    """One prompt of the file form (``{"frame": 0, "object": 1, "points": [[x, y]]}``), checked;
    errors begin with ``where`` (e.g. ``"cameras.yaml: camera 'yard': prompt 1"``).

    Example:
        >>> prompt_from_record({"frame": 0, "object": 2, "box": [0, 0, 10, 10]}, "here").box.tolist()
        [0.0, 0.0, 10.0, 10.0]
    """
    return _entry(entry, where)


def _entry(entry: Any, where: str) -> Prompt:
    try:
        return _record(entry, where)
    except PromptError as error:
        if str(error).startswith(where):
            raise
        raise PromptError(f"{where}: {error}") from error  # a record's own check: say which prompt


def _record(entry: Any, where: str) -> Prompt:
    if not isinstance(entry, dict):
        raise PromptError(f"{where}: each prompt must be an object, got {type(entry).__name__}")
    unknown = sorted(set(entry) - _KEYS, key=str)
    if unknown:
        raise PromptError(f"{where}: unknown key {unknown[0]!r}; valid keys: {', '.join(sorted(_KEYS))}")
    frame = _int(entry, "frame", 0, 10**_MAX_FRAME_DIGITS - 1, where)
    object_id = _int(entry, "object", 1, MAX_OBJECT_ID, where)
    source = _source(entry, where)
    kinds = [k for k in ("points", "box", "text", "remove") if k in entry]
    if len(kinds) != 1:
        raise PromptError(f"{where}: give exactly one of 'points', 'box', 'text' or 'remove', got {kinds or 'none'}")
    if kinds == ["text"]:
        return TextPrompt(frame, object_id, _check_text(entry["text"], where), source=source)
    if kinds == ["remove"]:
        if entry["remove"] is not True:
            raise PromptError(f"{where}: 'remove' must be true")
        return RemovePrompt(frame, object_id, source=source)
    if kinds == ["box"]:
        box = _number_list(entry["box"], 4, where, "'box'")
        if box[2] <= box[0] or box[3] <= box[1]:
            raise PromptError(f"{where}: 'box' must be [x1, y1, x2, y2] with x2 > x1 and y2 > y1")
        return BoxPrompt(frame, object_id, box, source=source)
    points = entry["points"]
    if not isinstance(points, list) or not points:
        raise PromptError(f"{where}: 'points' must be a non-empty list of [x, y]")
    xy = np.stack([_number_list(p, 2, where, "each point") for p in points])
    given = entry.get("labels", [1] * len(points))
    if (
        not isinstance(given, list)
        or len(given) != len(points)
        or any(type(v) is not int or v not in (0, 1) for v in given)
    ):
        raise PromptError(f"{where}: 'labels' must be one 0 or 1 per point ({len(points)} points)")
    labels = np.array(given, int)
    if not (labels == 1).any():
        raise PromptError(f"{where}: at least one point must be foreground (label 1)")
    return PointPrompt(frame, object_id, xy, labels, source=source)


def load_prompts(path: str | Path) -> list[Prompt]:
    """Read and validate a prompts JSON file.

    Raises:
        PromptError: unreadable file, bad JSON, unknown keys, wrong types; the message
            names the file and the prompt's position.
    """
    path = Path(path)
    try:
        data = load_json(read_text(path))
    except OSError as error:
        raise PromptError(f"cannot read prompts file {str(path)!r}: {error.strerror}") from error
    except DocumentError as error:  # too large or deep, bad UTF-8, not JSON
        raise PromptError(f"prompts file {str(path)!r}: {error}") from None
    if not isinstance(data, dict) or set(data) != {"prompts"} or not isinstance(data["prompts"], list):
        raise PromptError(f'prompts file {str(path)!r} must be {{"prompts": [...]}}')
    return [_entry(entry, f"{path.name} prompt {i}") for i, entry in enumerate(data["prompts"])]


def check_in_frame(prompts: list[Prompt], size: tuple[int, int]) -> None:
    """Raise ``PromptError`` for a point or box outside a (W, H) frame."""
    width, height = size
    for prompt in prompts:
        if isinstance(prompt, PointPrompt):
            xy = prompt.points
        elif isinstance(prompt, BoxPrompt):
            xy = prompt.box.reshape(2, 2)
        else:
            continue
        if (xy < 0).any() or (xy[:, 0] > width).any() or (xy[:, 1] > height).any():
            where = f"object {prompt.object_id} on frame {prompt.frame}"
            raise PromptError(f"{where}: {xy.tolist()} is outside the {width}x{height} frame")


def check_object_ids(prompts: Sequence[Prompt], maximum: int | None = None) -> None:
    """Raise ``PromptError`` for an object id below 1 or above ``maximum`` (None: ``MAX_OBJECT_ID``), or a frame
    number past 9 digits.

    An 8-bit mask export (``--save-masks``) holds ids 1-255 (0 is the background); checked
    here, before a model loads, rather than on the frame where the object first shows.

    Example:
        >>> check_object_ids([RemovePrompt(0, 300)], maximum=255)
        Traceback (most recent call last):
        ...
        fastsam_track.errors.PromptError: object 300 on frame 0: ids must be 1 to 255 (8-bit masks)
    """
    for prompt in prompts:
        if not 1 <= prompt.object_id <= (maximum if maximum is not None else MAX_OBJECT_ID):
            bound = f"1 to {maximum} (8-bit masks)" if maximum is not None else f"1 to {MAX_OBJECT_ID}"
            raise PromptError(f"object {prompt.object_id} on frame {prompt.frame}: ids must be {bound}")
        if not 0 <= prompt.frame < 10**_MAX_FRAME_DIGITS:
            raise PromptError(
                f"object {prompt.object_id}: frame {prompt.frame} must be 0 to {10**_MAX_FRAME_DIGITS - 1}"
            )


def split_by_source(prompts: Sequence[Prompt], names: Sequence[str]) -> list[list[Prompt]]:
    """Hand each source of a run its own prompts.

    A prompt's ``source`` is a name in ``names`` (an exact match comes first) or a number
    counted from 0 in decimal digits. With one source, a prompt without a source is that
    source's. With several, a point, box or mask prompt must name its source; a text or
    remove prompt without one goes to every source (each source looks for the words, or
    drops the object, on its own). Each placed record is a copy with ``source`` set to its
    source's name; the order of ``prompts`` is kept.

    Args:
        prompts: the run's prompts, from the command line, a file or both.
        names: the sources' names, one per source, in the run's order.

    Returns:
        One list of prompts per source, in the order of ``names``.

    Raises:
        PromptError: a source that names none of ``names``, a name two sources share, or,
            with several sources, a point, box or mask prompt without a source.
        ValueError: no names, or a name that is not a non-empty string.

    Example:
        >>> prompts = prompts_from_cli(["5,5@:right"], ["0,0,4,4@3:0"], texts=["a cup"])
        >>> [[(p.object_id, p.source) for p in own] for own in split_by_source(prompts, ["left", "right"])]
        [[(2, 'left'), (3, 'left')], [(1, 'right'), (3, 'right')]]
        >>> split_by_source([BoxPrompt(0, 4, [0, 0, 4, 4])], ["left", "right"])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        fastsam_track.errors.PromptError: object 4: with several sources, name the source: X,Y@FRAME:SOURCE ...
    """
    if not names or not all(isinstance(name, str) and name.strip() for name in names):
        raise UsageError(f"split_by_source needs one non-empty name per source, got {list(names)!r}")
    numbered = ", ".join(f"{number} {name!r}" for number, name in enumerate(names))
    placed: list[list[Prompt]] = [[] for _ in names]
    for prompt in prompts:
        if prompt.source is not None:
            numbers = [_source_number(prompt, names, numbered)]
        elif len(names) == 1 or isinstance(prompt, TextPrompt | RemovePrompt):
            numbers = list(range(len(names)))
        else:
            raise PromptError(
                f"object {prompt.object_id}: with several sources, name the source: X,Y@FRAME:SOURCE "
                f'or a "source" key (sources: {numbered})'
            )
        for number in numbers:
            own = prompt if prompt.source == names[number] else replace(prompt, source=names[number])
            placed[number].append(own)
    return placed


def _source_number(prompt: Prompt, names: Sequence[str], numbered: str) -> int:
    """The number of the source ``prompt.source`` names: a name first, else a number in range."""
    source = prompt.source
    assert source is not None
    matches = [number for number, name in enumerate(names) if name == source]
    if len(matches) > 1:
        raise PromptError(
            f"object {prompt.object_id} on frame {prompt.frame}: sources {matches[0]} and {matches[1]} are both "
            f"named {source!r}: give the source's number instead"
        )
    if matches:
        return matches[0]
    if source.isascii() and source.isdigit() and int(source) < len(names):
        return int(source)
    raise PromptError(
        f"object {prompt.object_id} on frame {prompt.frame}: no source {source!r}; give a name or number of "
        f"the sources: {numbered}"
    )
