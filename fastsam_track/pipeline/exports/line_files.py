"""Text outputs written a frame at a time: each frame's lines are flushed at once, so a run
that stops midway leaves every finished frame complete on disk. A frame that cannot be
written whole (a full disk) is cut off again: the file keeps the frames before it.

The file is written under a hidden name beside its path and renamed into place when it is
closed (``output_files``): a reader or another run never sees half of it, and a run that
fails before its first frame leaves the previous file as it was."""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from fastsam_track.errors import OutputError, OutputFailed, io_reason
from fastsam_track.pipeline.outputs.files import check_writable, discard, finalise, staging_path

__all__ = ["LineFileWriter"]


class LineFileWriter:
    """A text file checked at construction, opened on entering ``with``, appended to per frame.

    Checking early (before a model loads) reports an unwritable path at once. On leaving
    ``with`` the file is renamed into place, unless the block failed before any line was
    written: then nothing is left behind. Subclasses name what they write (``what``) and the
    error they raise (``error``).

    Args:
        path: the file to write; its folder is created.
    """

    what = "file"
    error: type[ValueError] = ValueError

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._file: BinaryIO | None = None
        self._complete = 0  # bytes of the frames written whole
        self._staged = staging_path(self.path)
        self._lines = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise self._cannot(error.strerror) from error
        if self.path.is_dir():
            raise self._cannot("it is a folder")
        try:
            check_writable(self.path, self.what)
        except OutputError as error:
            raise self.error(str(error)) from None

    def _cannot(self, why: str | None) -> ValueError:
        return self.error(f"cannot write {self.what} {str(self.path)!r}: {why}")

    def __enter__(self) -> LineFileWriter:
        try:
            self._file = self._staged.open("wb", buffering=0)
        except OSError as error:
            raise self._cannot(error.strerror) from error
        return self

    def _append(self, lines: list[str]) -> None:
        """Write one frame's lines (each ending in a newline), unbuffered.

        Raises:
            OutputFailed: they could not all be written (a full disk, a file size limit); what
                was written of them is cut off, so the file ends with the last whole frame.
        """
        assert self._file is not None, "the writer is closed"
        data = "".join(lines).encode()
        try:
            view = memoryview(data)
            while view:  # a write may take part of it (the space left) and fail on the rest
                view = view[self._file.write(view) or 0 :]
        except OSError as error:
            os.ftruncate(self._file.fileno(), self._complete)
            raise OutputFailed(f"cannot write {self.what} {str(self.path)!r}: {io_reason(error)}") from error
        self._complete += len(data)
        self._lines += len(lines)

    def close(self, keep: bool = True) -> None:
        """Close the file and rename it into place (``keep``) or remove it; safe to call twice."""
        if self._file is None:
            return
        self._file.close()
        self._file = None
        if keep:
            finalise(self._staged, self.path)
        else:
            discard(self._staged)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close(keep=exc_type is None or self._lines > 0)
