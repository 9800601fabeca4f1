"""Text outputs written a frame at a time: each frame's lines are flushed at once, so a run
that stops midway leaves every finished frame complete on disk."""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import IO

__all__ = ["LineFileWriter"]


class LineFileWriter:
    """A text file checked at construction, opened on entering ``with``, appended to per frame.

    Checking early (before a model loads) reports an unwritable path at once; opening late
    leaves no empty file behind when the run fails before its first frame. Subclasses name
    what they write (``what``) and the error they raise (``error``).

    Args:
        path: the file to write; its folder is created.
    """

    what = "file"
    error: type[ValueError] = ValueError

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._file: IO[str] | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise self._cannot(error.strerror) from error
        if self.path.is_dir() or not os.access(self.path.parent, os.W_OK):
            raise self._cannot("it is a folder" if self.path.is_dir() else "its folder is not writable")

    def _cannot(self, why: str | None) -> ValueError:
        return self.error(f"cannot write {self.what} {str(self.path)!r}: {why}")

    def __enter__(self) -> LineFileWriter:
        try:
            self._file = self.path.open("w")
        except OSError as error:
            raise self._cannot(error.strerror) from error
        return self

    def _append(self, lines: list[str]) -> None:
        """Write one frame's lines (each ending in a newline) and flush them."""
        assert self._file is not None, "the writer is closed"
        self._file.writelines(lines)
        self._file.flush()

    def close(self) -> None:
        """Close the file; safe to call twice."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
