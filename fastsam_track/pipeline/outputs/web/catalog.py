"""What the page shows: a catalog of sources (``SourceCatalog``), each a ``PageSource``.

The page's server knows sources only through these two protocols. A run's fixed sources
(``hub.FixedSources``) are one catalog, a cluster's cameras (``cluster.page.FleetPage``)
another, whose sources come and go while the page is open and whose frames and prompts live
in other processes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from fastsam_track.pipeline.status import SourceStatus

__all__ = ["PageSource", "SourceCatalog"]


class PageSource(Protocol):
    """One source of the page: its frames, its status, its objects and the prompts it takes.

    Its prompt methods are ``PromptInbox``'s: they raise ``PromptError`` (the page shows its
    message) for a prompt that cannot be taken, also when the source cannot be reached.
    """

    takes_prompts: bool  # False: its objects and prompt routes answer 404

    def next_jpeg(self, after: int, done: Callable[[], bool]) -> tuple[int, bytes, int] | None:
        """The newest frame as (sequence number, JPEG, frame index) once its sequence number is above
        ``after`` (numbers count up from 1; the index is -1 when unknown); None when ``done()`` turns
        true or the source is over (its last frame was given) or gone."""
        ...

    def status(self) -> SourceStatus:
        """What the source is doing now."""
        ...

    def view(self) -> dict[str, Any]:
        """``{"frame": N, "size": [W, H] or None, "objects": [{"id", "box", "lost", "state"}], "notice": ...}``
        (``prompts.inbox.inbox_view``)."""
        ...

    def add_point(self, x: float, y: float, label: int = 1, frame: int | None = None) -> int: ...
    def add_box(self, x1: float, y1: float, x2: float, y2: float, frame: int | None = None) -> int: ...
    def remove(self, object_id: int) -> bool: ...
    def clear(self) -> None: ...


class SourceCatalog(Protocol):
    """The page's sources, each a ``PageSource`` with a number.

    A source keeps its number while it is listed, and a number is not given to another source
    afterwards. With ``manage``, the page can add and remove sources; ``add`` and ``remove``
    then raise a ``FastSamTrackError`` whose message the page shows.
    """

    manage: bool

    def listing(self) -> list[dict[str, Any]]:
        """The sources in order: ``{"number": N, "name": "...", ...}`` each."""
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
