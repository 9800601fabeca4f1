"""Text outputs written a frame at a time: each frame's lines are flushed at once, so a run
that stops midway leaves every finished frame complete on disk."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import IO

__all__ = ["LineFileWriter"]


class LineFileWriter:
    """A text file opened at construction, appended to per frame, closed on leaving ``with``.

    Subclasses name what they write (``what``) and the error they raise (``error``).

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
            self._file = self.path.open("w")
        except OSError as error:
            raise self.error(f"cannot write {self.what} {str(self.path)!r}: {error.strerror}") from error

    def __enter__(self) -> LineFileWriter:
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
