"""The objects prompted while a video runs: one rule for their ids and for refining them.

Shared by the page's and window's ``PromptInbox`` and by a cluster's controller, which gives a
camera's prompts from another process. A new object takes the next id up, never one given
before (a removed object's id is not given again) while ids stay under ``max_id``, then the
lowest id no object holds. Points given to an object are kept: a background point (or points
added to an object) prompts it again with all of them, the newest object given points when no
object is named.
"""

from __future__ import annotations

from collections.abc import Iterable, Set
from typing import Any

import numpy as np

from fastsam_track.errors import PromptError, UsageError
from fastsam_track.types import BoxPrompt, PointPrompt, Prompt, RemovePrompt

__all__ = ["ObjectPrompts"]


class ObjectPrompts:
    """Ids and points of the objects prompted so far (not thread-safe: its owner locks).

    Args:
        first_object: the id of the first new object; later ones count up.
        max_objects: most objects at once.
        max_id: the largest id an object may have (255 with 8-bit mask PNGs), or None.
        reserved: ids never given (prompts of the run's own, which may start later).

    Example:
        >>> objects = ObjectPrompts()
        >>> objects.note(PointPrompt(0, 4, [[10, 10]]))  # a prompt with its own id: new ids count on past it
        >>> first = objects.new_points(-1, [[1, 2]], [1])
        >>> refined = objects.add_points(-1, [[3, 4]], [0])  # a background point: the newest object given points
        >>> first.object_id, refined.object_id, refined.points.tolist(), refined.labels.tolist()
        (5, 5, [[1.0, 2.0], [3.0, 4.0]], [1, 0])
    """

    def __init__(
        self, first_object: int = 1, max_objects: int = 255, *, max_id: int | None = None, reserved: Iterable[int] = ()
    ):
        if first_object < 1 or (max_id is not None and max_id < 1):
            raise UsageError(f"object ids start at 1, got first_object={first_object}, max_id={max_id}")
        self._next, self._max_objects, self._max_id = first_object, max_objects, max_id
        self.reserved = frozenset(reserved)
        self.held: set[int] = set()  # objects prompted and not removed
        self._points: dict[int, tuple[list[list[float]], list[int]]] = {}  # those given points, newest last

    def new_id(self, also_held: Set[int] = frozenset()) -> int:
        """An id for a new object (``also_held``: ids the owner knows are taken, e.g. objects still seen).

        Raises:
            PromptError: ``max_objects`` objects already, or every id up to ``max_id`` is held.
        """
        if len(self.held) >= self._max_objects:
            raise PromptError(f"at most {self._max_objects} objects at once: remove one first")
        while self._next in self.reserved:
            self._next += 1
        if self._max_id is None or self._next <= self._max_id:
            self._next += 1
            self.held.add(self._next - 1)
            return self._next - 1
        taken = self.reserved | self.held | also_held
        free = next((i for i in range(1, self._max_id + 1) if i not in taken), None)
        if free is None:
            raise PromptError(
                f"no object id left: 8-bit mask PNGs (--save-masks) hold ids 1 to {self._max_id}, "
                "and every one is taken: remove an object first"
            )
        self.held.add(free)
        return free

    def note(self, prompt: Prompt) -> None:
        """A prompt given with its own id: later new objects count on past it; its points are kept (a box,
        text or removal replaces them)."""
        object_id = prompt.object_id
        self._next = max(self._next, object_id + 1)
        self._points.pop(object_id, None)
        if isinstance(prompt, RemovePrompt):
            self.held.discard(object_id)
            return
        self.held.add(object_id)
        if isinstance(prompt, PointPrompt):
            self._points[object_id] = (prompt.points.tolist(), prompt.labels.tolist())

    def new_points(self, frame: int, points: Any, labels: Any, also_held: Set[int] = frozenset()) -> PointPrompt:
        """A new object selected by (K, 2) ``points`` with (K,) ``labels``, on ``frame``."""
        prompt = PointPrompt(frame, self.new_id(also_held), points, labels)
        self.note(prompt)
        return prompt

    def new_box(self, frame: int, box: Any, also_held: Set[int] = frozenset()) -> BoxPrompt:
        """A new object selected by ``box`` [x1, y1, x2, y2], on ``frame``."""
        prompt = BoxPrompt(frame, self.new_id(also_held), box)
        self.note(prompt)
        return prompt

    def add_points(self, frame: int, points: Any, labels: Any, object_id: int | None = None) -> PointPrompt:
        """(K, 2) ``points`` with (K,) ``labels`` added to those of ``object_id`` (None: the newest object
        given points); the prompt that selects it again with all of them.

        Raises:
            PromptError: no object given points, or ``object_id`` was not given points.
        """
        target = next(reversed(self._points), None) if object_id is None else object_id
        if target not in self._points:
            raise PromptError(
                "a background point refines an object given points: add a foreground point first"
                if object_id is None
                else f"object {object_id} was not given points: there is nothing to add to"
            )
        old_points, old_labels = self._points[target]
        new = np.asarray(points, float).reshape(-1, 2).tolist()
        prompt = PointPrompt(
            frame, target, np.array(old_points + new), np.array(old_labels + np.asarray(labels, int).tolist())
        )
        self.note(prompt)
        return prompt

    def forget(self, object_id: int) -> bool:
        """Whether ``object_id`` was held; it is not from now on (its id is not given again while ids count up)."""
        held = object_id in self.held
        self.note(RemovePrompt(0, object_id))
        return held
