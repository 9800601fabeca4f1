"""Output files that are never half written and never destroy what they should not.

- Staged: a file output is written under a hidden name in its own folder
  (``.out.mp4.<pid>-<n>.part``) and renamed into place when it is finalised, so a reader,
  a player or a second run sees the previous file or the whole new one, never half of one.
  A process killed outright leaves its ``.part`` file beside the output; the next run on
  that output removes it (``remove_stale``: the pid in its name is gone).
- Checked up front (before a model loads): the folder can be written (a file is created
  and removed there), a video name has a container PyAV muxes H.264 into, a frame folder
  is empty (or, with ``--overwrite``, holds only frame PNGs). That an output is not an
  input, nor another output, nor a device, is ``pipeline.paths``'s rule.
- Locked: a run holds a lock on each output (``.out.mp4.lock`` beside it, ``flock``, so a
  killed run's lock dies with it); a second run on the same output is refused.
"""

from __future__ import annotations

import fcntl
import itertools
import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

from fastsam_track.errors import OutputError

__all__ = [
    "VIDEO_FORMATS",
    "OutputError",
    "OutputLocks",
    "check_frame_folder",
    "check_writable",
    "check_writable_folder",
    "discard",
    "finalise",
    "output_of",
    "remove_stale",
    "staging_path",
    "video_format",
    "write_text",
]

# Containers that take H.264 from PyAV, by file extension: the muxer named explicitly, since a staged name has none.
VIDEO_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}

_FRAME_FILE = re.compile(r"^\d+\.png$")
# staging_path's names (and a replaced frame folder's, renamed .old)
_STAGED = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)-\d+\.(?:part|old)$")
_counter = itertools.count()


def staging_path(path: str | Path) -> Path:
    """A fresh hidden name beside ``path`` (symlinks followed) to write it under until it is finalised.

    Example:
        >>> staging_path("/tmp/out.mp4").name.startswith(".out.mp4.")
        True
    """
    target = Path(os.path.realpath(path))
    return target.with_name(f".{target.name}.{os.getpid()}-{next(_counter)}.part")


def finalise(staged: Path, path: str | Path) -> None:
    """Rename the staged file into place (atomic: readers see the old file or the new one)."""
    os.replace(staged, os.path.realpath(path))


def discard(staged: Path) -> None:
    """Remove a staged file that is not wanted (the run failed before writing anything)."""
    staged.unlink(missing_ok=True)


def write_text(path: str | Path, text: str) -> None:
    """Write a whole text file, staged and renamed into place."""
    staged = staging_path(path)
    try:
        staged.write_text(text)
        finalise(staged, path)
    finally:
        discard(staged)


def check_writable(path: str | Path, what: str) -> None:
    """Raise ``OutputError`` unless a file can be created beside ``path``; its folder is created.

    A file is created there and removed: this answers for read-only file systems and for
    root alike, where permission bits alone would not.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{what} {str(path)!r} is a folder: give a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        probe = staging_path(path)
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        probe.unlink()
    except OSError as error:
        raise OutputError(f"cannot write {what} {str(path)!r}: {error.strerror}") from error


def check_writable_folder(folder: str | Path, what: str) -> None:
    """Raise ``OutputError`` unless files can be created in ``folder``; it is created (with its parents)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create {what} {str(folder)!r}: {error.strerror}") from error
    try:
        probe = staging_path(folder / "probe")
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        probe.unlink()
    except OSError as error:
        raise OutputError(f"cannot write in {what} {str(folder)!r}: {error.strerror}") from error


def video_format(path: str | Path) -> str:
    """The muxer for a video file name, from its extension; ``OutputError`` for one PyAV cannot write H.264 into.

    Example:
        >>> video_format("out.MP4")
        'mp4'
    """
    suffix = Path(path).suffix.lower()
    if suffix in VIDEO_FORMATS:
        return VIDEO_FORMATS[suffix]
    valid = ", ".join(VIDEO_FORMATS)
    why = f"its extension {suffix!r} is not a video container for H.264" if suffix else "it has no extension"
    raise OutputError(f"cannot write video {str(path)!r}: {why}; give a name ending in {valid}")


def check_frame_folder(folder: str | Path, what: str, overwrite: bool) -> None:
    """Refuse a non-empty folder of per-frame PNGs, unless ``overwrite`` and it holds only frame PNGs.

    Nothing is removed here: with ``overwrite`` the run writes a new folder beside it and
    renames it into place when it ends (``exports.writers``), so a reader never sees two
    runs' frames mixed. A folder holding anything else (files that are not ours) is refused
    even then, so ``--overwrite`` never deletes a file it did not write.
    """
    folder = Path(folder)
    try:
        entries = list(folder.iterdir()) if folder.is_dir() else []
    except OSError as error:
        raise OutputError(f"cannot read {what} {str(folder)!r}: {error.strerror}") from error
    if not entries:
        return
    if not overwrite:
        raise OutputError(
            f"{what} {str(folder)!r} is not empty ({len(entries)} entries): give an empty or new folder, "
            "or --overwrite to replace its frame PNGs"
        )
    foreign = sorted(e.name for e in entries if not (_FRAME_FILE.match(e.name) and e.is_file() and not e.is_symlink()))
    if foreign:
        raise OutputError(
            f"{what} {str(folder)!r} holds {foreign[0]!r}, which is not a frame PNG of ours: --overwrite replaces "
            "a folder of frame PNGs only; move it or give another folder"
        )


def output_of(path: str | Path) -> Path:
    """The output a staged file stands for (``staging_path``'s name undone); any other path unchanged.

    Example:
        >>> output_of("/tmp/.out.mp4.4242-0.part"), output_of("masks/00001.png")
        (PosixPath('/tmp/out.mp4'), PosixPath('masks/00001.png'))
    """
    path = Path(path)
    match = _STAGED.match(path.name)
    return path.with_name(match["name"]) if match else path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's: alive
        return True
    return True


def remove_stale(paths: Iterable[str | Path], folders: Iterable[str | Path] = ()) -> list[Path]:
    """Remove what killed runs left half-written: the staged files (and folders) of processes that are
    gone, beside each output and inside each frame folder. Only names of ours with a dead pid are touched.

    Returns:
        The paths removed.
    """
    candidates: list[tuple[Path, str | None]] = []
    for path in paths:
        target = Path(os.path.realpath(path))
        candidates += [(entry, target.name) for entry in _entries(target.parent)]
    for folder in folders:
        candidates += [(entry, None) for entry in _entries(Path(os.path.realpath(folder)))]
    removed = []
    for entry, name in candidates:
        match = _STAGED.match(entry.name)
        if not match or (name is not None and match["name"] != name) or _alive(int(match["pid"])):
            continue
        if name is None and not _FRAME_FILE.match(match["name"]):
            continue  # inside a frame folder, only a frame's staged PNG
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except OSError:
            continue  # not ours to remove after all (another user's folder): left as it is
        removed.append(entry)
    return removed


def _entries(folder: Path) -> list[Path]:
    try:
        return list(folder.iterdir())
    except OSError:
        return []


class OutputLocks:
    """Locks on outputs, held until ``release`` (or the process ends): one run per output.

    Each lock is a file beside its output, ``.<name>.lock``, holding the process id; an
    ``flock`` on it is the lock, so a run killed outright does not leave a stale one. The
    file is removed on release. An output folder inside a folder no one may write in is
    not locked (no run can lock it).

    Args:
        paths: the outputs (files or folders; their folders must exist).
        overwrite: take the locks that are free and go on past the held ones, instead of refusing.

    Raises:
        OutputError: an output is locked by another run (and not ``overwrite``).
    """

    def __init__(self, paths: Iterable[str | Path], *, overwrite: bool = False):
        self._held: list[tuple[Path, int]] = []
        self.add(paths, overwrite=overwrite)

    def add(self, paths: Iterable[str | Path], *, overwrite: bool = False) -> None:
        """Lock more outputs (all or none: on a refusal every lock taken is released)."""
        try:
            for path in paths:
                self._lock(Path(path), overwrite)
        except BaseException:
            self.release()
            raise

    def _lock(self, path: Path, overwrite: bool) -> None:
        target = Path(os.path.realpath(path))
        lock = target.with_name(f".{target.name}.lock")
        while True:
            try:
                fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
            except PermissionError:  # a writable folder in a read-only one: no run can lock it, so none is refused
                return
            except OSError as error:
                raise OutputError(f"cannot lock output {str(path)!r}: {error.strerror}") from error
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                os.close(fd)
                if overwrite:
                    return
                raise OutputError(
                    f"output {str(path)!r} is being written by another run (process {holder}): "
                    "wait for it, give another name, or --overwrite"
                ) from None
            try:
                current = os.stat(lock).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                current = False
            if current:  # not a lock file its holder removed while this run waited for it
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
                self._held.append((lock, fd))
                return
            os.close(fd)

    def release(self) -> None:
        """Remove the lock files and unlock; safe to call twice."""
        while self._held:
            lock, fd = self._held.pop()
            lock.unlink(missing_ok=True)
            os.close(fd)

    def __enter__(self) -> OutputLocks:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
