"""Prompts given while a video plays (a click in a window or on a web page), for the frame loop.

A user interface thread adds clicks and boxes to a ``PromptInbox``; the frame loop takes
them on its next frame, where they become ordinary prompts of that frame, and publishes the
objects it sees so the interface can list them: an object seen once stays listed, marked lost
while it is not seen, until it is removed. A prompt that selects nothing is reported back
(``missed``) as a notice the interface shows. Left click: a new object with a foreground
point. Right click: a background point for the newest object given points, which is prompted
again with all its points (``ObjectPrompts``, which a cluster's controller shares). Drag: a new object with a box.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable

import numpy as np
import supervision as sv

from fastsam_track.errors import PromptError
from fastsam_track.pipeline.prompts.objects import ObjectPrompts
from fastsam_track.types import OBJECT_STATE, ObjectState, Prompt, RemovePrompt

__all__ = ["PromptInbox", "inbox_view"]


class PromptInbox:
    """A thread-safe hand-over of interactive prompts to the frame loop.

    Args:
        first_object: the id of the first object created here; later ones count up.
        max_objects: most objects at once (a page open to many users stays bounded).
        max_id: the largest id an object may have (255 with 8-bit mask PNGs), or None. Past
            it, a new object takes the lowest id that no object holds (not one of
            ``reserved``, not followed, not waiting in the inbox); when every id is held, a
            new object is refused with a ``PromptError`` saying why.
        reserved: ids this inbox never gives (the run's own prompts, which may start later).

    Example:
        >>> inbox = PromptInbox()
        >>> inbox.publish(0, (360, 640), None)
        >>> inbox.add_point(100, 50), inbox.add_point(120, 60, label=0), inbox.add_box(10, 10, 90, 90)
        (1, 1, 2)
        >>> [(type(p).__name__, p.frame, p.object_id) for p in inbox.take(7)]
        [('PointPrompt', 7, 1), ('BoxPrompt', 7, 2)]
        >>> inbox.take(8)
        []

        With 8-bit masks and object 255 prompted from a file, a click takes a free id:

        >>> inbox = PromptInbox(first_object=256, max_id=255, reserved={255})
        >>> inbox.publish(0, (360, 640), None)
        >>> inbox.add_point(100, 50), inbox.add_box(10, 10, 90, 90)
        (1, 2)
    """

    def __init__(
        self,
        first_object: int = 1,
        max_objects: int = 255,
        *,
        max_id: int | None = None,
        reserved: Iterable[int] = (),
    ):
        self._lock = threading.Lock()
        self._objects = ObjectPrompts(first_object, max_objects, max_id=max_id, reserved=reserved)
        self._pending: list[Prompt] = []
        self._frame_shape: tuple[int, int] | None = None
        self._frame_index = -1
        self._seen: dict[int, list[float]] = {}  # every object seen and not removed: its last box
        self._visible: set[int] = set()  # those seen on the newest frame
        self._states: dict[int, int] = {}  # their ``ObjectState`` on it
        self._notices = 0
        self._notice: dict[str, object] | None = None

    @property
    def frame_index(self) -> int:
        """Index of the newest frame the loop has published (-1 before the first)."""
        with self._lock:
            return self._frame_index

    @property
    def frame_size(self) -> tuple[int, int] | None:
        """(W, H) of the frames, once the loop has published one."""
        with self._lock:
            return None if self._frame_shape is None else (self._frame_shape[1], self._frame_shape[0])

    def _check_inside(self, xy: np.ndarray) -> None:
        if self._frame_shape is None:
            raise PromptError("no frame yet: prompts are taken once the video plays")
        height, width = self._frame_shape
        if not np.isfinite(xy).all() or (xy < 0).any() or (xy[:, 0] > width).any() or (xy[:, 1] > height).any():
            raise PromptError(f"{xy.tolist()} is outside the {width}x{height} frame")

    def _held(self) -> set[int]:
        """Ids held besides the objects prompted here: those seen, and those of prompts not yet taken."""
        return set(self._seen) | self._visible | {p.object_id for p in self._pending}

    def add_point(self, x: float, y: float, label: int = 1, frame: int | None = None) -> int:
        """A foreground point (label 1) starts a new object; a background point (label 0)
        refines the newest one. Returns the object's id.

        ``frame``: the index of the frame the point was given on (a paused view's), kept as the
        prompt's frame; it is applied on the next frame processed. None: the next frame's.

        Raises:
            PromptError: outside the frame, before the first frame, a background point with
                no object to refine, or too many objects.
        """
        if label not in (0, 1):
            raise PromptError(f"label must be 1 (foreground) or 0 (background), got {label!r}")
        with self._lock:
            self._check_inside(np.array([[x, y]], float))
            given = -1 if frame is None else frame
            if label == 1:
                prompt = self._objects.new_points(given, [[x, y]], [1], self._held())
            else:
                prompt = self._objects.add_points(given, [[x, y]], [0])
            self._pending = [p for p in self._pending if p.object_id != prompt.object_id]
            self._pending.append(prompt)
            return prompt.object_id

    def add_box(self, x1: float, y1: float, x2: float, y2: float, frame: int | None = None) -> int:
        """A new object selected by a box; returns its id. ``frame`` as ``add_point``'s.

        Raises:
            PromptError: an empty box, outside the frame, before the first frame, or too many objects.
        """
        box = np.array([x1, y1, x2, y2], float)
        with self._lock:
            self._check_inside(box.reshape(2, 2))
            if box[2] <= box[0] or box[3] <= box[1]:
                raise PromptError("a box needs x2 > x1 and y2 > y1")
            prompt = self._objects.new_box(-1 if frame is None else frame, box, self._held())
            self._pending.append(prompt)
            return prompt.object_id

    def remove(self, object_id: int) -> bool:
        """Stop following an object; False if there is no such object."""
        with self._lock:
            known = object_id in self._objects.held or object_id in self._seen
            if known:
                self._objects.forget(object_id)
                self._seen.pop(object_id, None)
                self._pending = [p for p in self._pending if p.object_id != object_id]
                self._pending.append(RemovePrompt(-1, object_id))
            return known

    def put(self, prompt: Prompt) -> None:
        """A ready prompt, with an object id of the caller's (a cluster's controller): applied on the next frame."""
        with self._lock:
            self._objects.note(prompt)
            self._pending.append(prompt)

    def clear(self) -> None:
        """Stop following every object."""
        with self._lock:
            ids = self._objects.held | set(self._seen)
            for object_id in ids:
                self._objects.forget(object_id)
            self._seen.clear()
            self._pending = [RemovePrompt(-1, object_id) for object_id in sorted(ids)]

    def objects(self) -> list[dict[str, object]]:
        """The objects seen and not removed, by id:
        ``[{"id": 1, "box": [x1, y1, x2, y2], "lost": False, "state": "seen"}, ...]``.

        ``lost``: not seen on the newest frame (its box is the last one seen). A lost object stays
        listed until it is removed, also once the tracker has stopped looking for it. ``state``:
        its ``ObjectState`` on the newest frame (``label``), ``lost`` when not seen on it.
        """
        with self._lock:
            lost = ObjectState.LOST.label
            return [
                {
                    "id": i,
                    "box": list(box),
                    "lost": i not in self._visible,
                    "state": ObjectState(self._states[i]).label if i in self._visible else lost,
                }
                for i, box in sorted(self._seen.items())
            ]

    def notice(self) -> dict[str, object] | None:
        """The newest notice for the user, ``{"number": n, "text": "..."}`` (numbered from 1), or None."""
        with self._lock:
            return None if self._notice is None else dict(self._notice)

    # The frame loop's side.

    def take(self, frame_index: int) -> list[Prompt]:
        """The prompts given since the last call, as prompts of frame ``frame_index`` (those given on a
        frame of their own, a paused view's, keep it)."""
        with self._lock:
            pending, self._pending = self._pending, []
        return [prompt if 0 <= prompt.frame <= frame_index else _on_frame(prompt, frame_index) for prompt in pending]

    def publish(self, frame_index: int, frame_shape: tuple[int, int], objects: sv.Detections | None) -> None:
        """Record the newest frame's (H, W) and the objects seen on it."""
        seen: dict[int, list[float]] = {}
        states: dict[int, int] = {}
        if objects is not None and objects.tracker_id is not None:
            seen = {
                int(i): [round(float(v), 1) for v in box]
                for i, box in zip(objects.tracker_id, objects.xyxy, strict=True)
            }
            column = objects.data.get(OBJECT_STATE)
            given = np.full(len(objects), ObjectState.SEEN) if column is None else np.asarray(column)
            states = dict(zip(np.asarray(objects.tracker_id).tolist(), given.tolist(), strict=True))
        with self._lock:
            self._frame_index, self._frame_shape = frame_index, frame_shape
            # A prompt taken but not yet applied may remove an object still seen on this frame: it stays removed.
            removed = {p.object_id for p in self._pending if isinstance(p, RemovePrompt)}
            seen = {i: box for i, box in seen.items() if i not in removed}
            self._seen.update(seen)
            self._visible = set(seen)
            self._states = states

    def missed(self, object_id: int, reason: str) -> None:
        """Report that the prompt of ``object_id`` selected nothing (``reason`` says why): it is forgotten, and
        a notice tells the user."""
        with self._lock:
            if object_id in self._seen:  # a refinement that failed: the object goes on as it was
                text = f"object {object_id}: the last click selected nothing ({reason}); it goes on as before"
            else:
                self._objects.forget(object_id)
                text = f"object {object_id} selected nothing ({reason}): click inside a shape, or drag a box around it"
            self._notices += 1
            self._notice = {"number": self._notices, "text": text}


def _on_frame(prompt: Prompt, frame_index: int) -> Prompt:
    """The same prompt, given on ``frame_index``."""
    return dataclasses.replace(prompt, frame=frame_index)


def inbox_view(inbox: PromptInbox) -> dict[str, object]:
    """What a page lists of an inbox's source: ``{"frame", "size", "objects", "notice"}``
    (``frame_index``, ``frame_size`` as [W, H] or None, ``objects()``, ``notice()``)."""
    size = inbox.frame_size
    return {
        "frame": inbox.frame_index,
        "size": None if size is None else list(size),
        "objects": inbox.objects(),
        "notice": inbox.notice(),
    }
