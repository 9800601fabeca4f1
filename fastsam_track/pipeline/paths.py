"""The one rule for a run's paths, checked before anything is opened.

Every path a run reads (its sources, prompts, config, segments cache, model, calibration,
lists of sources, a demo's own input) and every path it writes is collected first; then:

- a written path is a regular file or does not exist (a folder output: a folder or nothing):
  a device node, a FIFO or a socket is refused, so ``--stats /dev/null`` or
  ``--save-tracks /dev/full`` never replaces the system's node with a file;
- no written path resolves (symlinks, hard links, ``..``) to a read path, to a folder that
  holds one, or to another written path, or lies inside a written folder (which
  ``--overwrite`` replaces whole).

``check_paths`` raises ``OutputError`` (exit 2) in one line naming the option, the path and
what it is.

Example:
    >>> check_paths({"--stats": Path("/dev/null")}, {})
    Traceback (most recent call last):
    ...
    fastsam_track.errors.OutputError: --stats '/dev/null' is a character device, not a file: give a file name
"""

from __future__ import annotations

import os
import stat
from collections.abc import Collection
from pathlib import Path

from fastsam_track.errors import OutputError

__all__ = ["check_paths", "kind_of"]

_KINDS = (
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISREG, "a file"),
)


def kind_of(path: str | Path) -> str | None:
    """What ``path`` is once symlinks are followed ("a file", "a folder", "a FIFO", ...), or None when absent.

    Example:
        >>> kind_of("/dev/null"), kind_of("/"), kind_of("/no/such/path")
        ('a character device', 'a folder', None)
    """
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    return next((name for test, name in _KINDS if test(mode)), "a special file")


def _resolved(path: str | Path) -> Path:
    return Path(os.path.realpath(path))


def _same(a: str | Path, b: str | Path) -> bool:
    """One file or folder: by device and inode when both exist (hard links), else by resolved path."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return _resolved(a) == _resolved(b)


def _inside(path: str | Path, folder: str | Path) -> bool:
    """Whether ``path`` resolves to somewhere under ``folder`` (not the folder itself)."""
    return _resolved(folder) in _resolved(path).parents


def check_paths(written: dict[str, Path], read: dict[str, Path], folders: Collection[str] = ()) -> None:
    """Apply the rule to a run's paths (see the module's docstring).

    Args:
        written: each output's option (``"-o"``, ``"--save-masks (a)"``) to its path.
        read: what each input is (``"source"``, ``"--prompts file"``) to its path; inputs that
            are not local paths (stream URLs, webcams) are left out by the caller.
        folders: the keys of ``written`` that name folders (mask and edge folders).

    Raises:
        OutputError: the first path that breaks the rule, in one line.
    """
    for name, path in written.items():
        kind = kind_of(path)
        expected = "a folder" if name in folders else "a file"
        if kind is not None and kind != expected:
            raise OutputError(f"{name} {str(path)!r} is {kind}, not {expected}: give {expected} name")
    for name, path in written.items():
        for what, source in read.items():
            if _same(path, source):
                raise OutputError(f"{name} {str(path)!r} is the {what} {str(source)!r}: give the output another name")
            if _inside(source, path):
                held = f"holds the {what} {str(source)!r}"
                raise OutputError(f"{name} {str(path)!r} {held}: give the output another name")
    named = list(written.items())
    for i, (name, path) in enumerate(named):
        for other, second in named[i + 1 :]:
            if _same(path, second):
                raise OutputError(f"{name} and {other} name the same path {str(path)!r}: give each its own")
            for outer, inner in ((name, other), (other, name)):
                if outer in folders and _inside(written[inner], written[outer]):
                    raise OutputError(
                        f"{inner} {str(written[inner])!r} is inside the {outer} folder {str(written[outer])!r}: "
                        "give it a path outside"
                    )
