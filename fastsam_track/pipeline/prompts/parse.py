"""Prompts from the command line and from a JSON file, validated into ``types`` records.

CLI forms: ``--point X,Y[,LABEL][@FRAME]`` (points given on the same frame make one
object, as FastSAM's point prompt), ``--box X1,Y1,X2,Y2[@FRAME]`` and
``--text "WORDS"[@FRAME]`` (one object each). File form (pixel coordinates of the source
frame, frames from 0)::

    {"prompts": [
        {"frame": 0, "object": 1, "points": [[x, y], [x, y]], "labels": [1, 0]},
        {"frame": 0, "object": 2, "box": [x1, y1, x2, y2]},
        {"frame": 0, "object": 3, "text": "a red cup"},
        {"frame": 40, "object": 2, "remove": true}]}
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fastsam_track.errors import PromptError
from fastsam_track.types import BoxPrompt, PointPrompt, Prompt, RemovePrompt, TextPrompt

__all__ = [
    "PromptError",
    "check_in_frame",
    "check_object_ids",
    "load_prompts",
    "parse_box",
    "parse_point",
    "parse_text",
    "prompts_from_cli",
]

_NUMBER = r"[-+]?\d+(?:\.\d+)?"
_POINT = re.compile(rf"^({_NUMBER}),({_NUMBER})(?:,([01]))?(?:@(\d+))?$")
_BOX = re.compile(rf"^({_NUMBER}),({_NUMBER}),({_NUMBER}),({_NUMBER})(?:@(\d+))?$")
_TEXT = re.compile(r"^(.*?)(?:@(\d+))?$", re.DOTALL)
_KEYS = {"frame", "object", "points", "labels", "box", "text", "remove"}
_MAX_TEXT = 300  # characters; CLIP reads 77 tokens
_MAX_FRAME_DIGITS = 9


def _frame(digits: str | None, where: str) -> int:
    if digits is not None and len(digits) > _MAX_FRAME_DIGITS:
        raise PromptError(f"{where}: the frame number must have at most {_MAX_FRAME_DIGITS} digits")
    return int(digits or 0)


def parse_point(text: str) -> tuple[int, np.ndarray, int]:
    """``X,Y[,LABEL][@FRAME]`` to (frame, (2,) xy, label).

    Example:
        >>> frame, xy, label = parse_point("320,180,0@12")
        >>> frame, xy.tolist(), label
        (12, [320.0, 180.0], 0)
    """
    match = _POINT.match(text.replace(" ", ""))
    if not match:
        raise PromptError(f"--point {text!r}: expected X,Y[,LABEL][@FRAME], LABEL 1 (foreground) or 0 (background)")
    x, y, label, frame = match.groups()
    return _frame(frame, f"--point {text!r}"), np.array([float(x), float(y)]), int(label if label is not None else 1)


def parse_box(text: str) -> tuple[int, np.ndarray]:
    """``X1,Y1,X2,Y2[@FRAME]`` to (frame, (4,) xyxy).

    Example:
        >>> parse_box("10,20,110,220")[1].tolist()
        [10.0, 20.0, 110.0, 220.0]
    """
    match = _BOX.match(text.replace(" ", ""))
    if not match:
        raise PromptError(f"--box {text!r}: expected X1,Y1,X2,Y2[@FRAME]")
    *corners, frame = match.groups()
    box = np.array([float(v) for v in corners])
    if box[2] <= box[0] or box[3] <= box[1]:
        raise PromptError(f"--box {text!r}: X2 must exceed X1 and Y2 exceed Y1")
    return _frame(frame, f"--box {text!r}"), box


def _check_text(text: Any, where: str) -> str:
    if not isinstance(text, str) or not text.strip() or len(text) > _MAX_TEXT:
        raise PromptError(f"{where}: the text must be 1 to {_MAX_TEXT} characters, got {json.dumps(text)[:60]}")
    return text.strip()


def parse_text(text: str) -> tuple[int, str]:
    """``WORDS[@FRAME]`` to (frame, words).

    Example:
        >>> parse_text("a red cup@40")
        (40, 'a red cup')
    """
    match = _TEXT.match(text)
    assert match is not None, "the pattern matches any string"
    words, frame = match.groups()
    return _frame(frame, f"--text {text!r}"), _check_text(words, f"--text {text!r}")


def prompts_from_cli(
    points: Sequence[str], boxes: Sequence[str], first_object: int = 1, texts: Sequence[str] = ()
) -> list[Prompt]:
    """Prompts from repeated ``--point``, ``--box`` and ``--text`` options.

    Points on the same frame form one object; every box and every text is an object of
    its own. Object ids count up from ``first_object`` in the order the options were given.

    Example:
        >>> [type(p).__name__ for p in prompts_from_cli(["5,5", "9,9,0"], ["0,0,4,4@3"], texts=["a cup"])]
        ['PointPrompt', 'BoxPrompt', 'TextPrompt']
    """
    prompts: list[Prompt] = []
    by_frame: dict[int, list[tuple[np.ndarray, int]]] = defaultdict(list)
    for text in points:
        frame, xy, label = parse_point(text)
        by_frame[frame].append((xy, label))
    next_id = first_object
    for frame, given in by_frame.items():
        if not any(label == 1 for _, label in given):
            raise PromptError(f"the points on frame {frame} are all background (label 0): add a foreground point")
        xy = np.array([p for p, _ in given])
        prompts.append(PointPrompt(frame, next_id, xy, np.array([label for _, label in given])))
        next_id += 1
    for text in boxes:
        frame, box = parse_box(text)
        prompts.append(BoxPrompt(frame, next_id, box))
        next_id += 1
    for text in texts:
        frame, words = parse_text(text)
        prompts.append(TextPrompt(frame, next_id, words))
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


def _int(entry: dict[str, Any], key: str, minimum: int, where: str) -> int:
    value = entry.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise PromptError(f"{where}: {key!r} must be an integer >= {minimum}, got {json.dumps(value)}")
    return value


def _entry(entry: Any, where: str) -> Prompt:
    if not isinstance(entry, dict):
        raise PromptError(f"{where}: each prompt must be an object, got {type(entry).__name__}")
    unknown = sorted(set(entry) - _KEYS, key=str)
    if unknown:
        raise PromptError(f"{where}: unknown key {unknown[0]!r}; valid keys: {', '.join(sorted(_KEYS))}")
    frame, object_id = _int(entry, "frame", 0, where), _int(entry, "object", 1, where)
    kinds = [k for k in ("points", "box", "text", "remove") if k in entry]
    if len(kinds) != 1:
        raise PromptError(f"{where}: give exactly one of 'points', 'box', 'text' or 'remove', got {kinds or 'none'}")
    if kinds == ["text"]:
        return TextPrompt(frame, object_id, _check_text(entry["text"], where))
    if kinds == ["remove"]:
        if entry["remove"] is not True:
            raise PromptError(f"{where}: 'remove' must be true")
        return RemovePrompt(frame, object_id)
    if kinds == ["box"]:
        box = _number_list(entry["box"], 4, where, "'box'")
        if box[2] <= box[0] or box[3] <= box[1]:
            raise PromptError(f"{where}: 'box' must be [x1, y1, x2, y2] with x2 > x1 and y2 > y1")
        return BoxPrompt(frame, object_id, box)
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
    return PointPrompt(frame, object_id, xy, labels)


def load_prompts(path: str | Path) -> list[Prompt]:
    """Read and validate a prompts JSON file.

    Raises:
        PromptError: unreadable file, bad JSON, unknown keys, wrong types; the message
            names the file and the prompt's position.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except OSError as error:
        raise PromptError(f"cannot read prompts file {str(path)!r}: {error.strerror}") from error
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError, an integer past Python's digit limit
        raise PromptError(f"prompts file {str(path)!r} is not valid JSON: {error}") from error
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
    """Raise ``PromptError`` for an object id below 1 or, when given, above ``maximum``.

    An 8-bit mask export (``--save-masks``) holds ids 1-255 (0 is the background); checked
    here, before a model loads, rather than on the frame where the object first shows.

    Example:
        >>> check_object_ids([RemovePrompt(0, 300)], maximum=255)
        Traceback (most recent call last):
        ...
        fastsam_track.errors.PromptError: object 300 on frame 0: ids must be 1 to 255 (8-bit masks)
    """
    for prompt in prompts:
        if prompt.object_id < 1 or (maximum is not None and prompt.object_id > maximum):
            bound = f"1 to {maximum} (8-bit masks)" if maximum is not None else "1 or more"
            raise PromptError(f"object {prompt.object_id} on frame {prompt.frame}: ids must be {bound}")
