"""Every error fastsam-track raises on purpose, under one base class.

A caller catches ``FastSamTrackError`` for all of them. Each carries the exit code the
command gives for it: 2 for a usage error (a bad argument, an unusable file or address
given), 1 for a failure at run time that no argument caused (``RunFailure``: a camera lost
past its reconnection limit, a full disk).

Example:
    >>> issubclass(SourceLost, SourceError) and SourceLost.exit_code
    1
    >>> ConfigError("imgsz must be a positive multiple of 32, got 100").exit_code
    2
"""

from __future__ import annotations

import re
import reprlib

__all__ = [
    "ClipError",
    "ConfigError",
    "ExportError",
    "FastSamTrackError",
    "FlowError",
    "ModelError",
    "OutputError",
    "OutputFailed",
    "PromptError",
    "PromptMiss",
    "RunFailure",
    "SegmentsCacheError",
    "SinkError",
    "SourceError",
    "SourceLost",
    "UsageError",
    "WindowError",
    "io_reason",
    "mask_credentials",
    "shown",
]


class FastSamTrackError(Exception):
    """Base of every fastsam-track error; ``exit_code`` is what the command exits with for it."""

    exit_code = 2


class UsageError(FastSamTrackError, ValueError):
    """Arguments that cannot be used together or at all (the command's own checks)."""


class RunFailure(FastSamTrackError):
    """A failure at run time that no argument caused: the command exits with 1."""

    exit_code = 1


class ConfigError(FastSamTrackError, ValueError):
    """A configuration value or file that cannot be used."""


class SourceError(FastSamTrackError, ValueError):
    """A source that cannot be opened or read."""


class SourceLost(RunFailure, SourceError):
    """A camera or stream that stayed away past its reconnection limit."""


class ModelError(FastSamTrackError, ValueError):
    """A model name or checkpoint that cannot be used."""


class ClipError(FastSamTrackError, ValueError):
    """CLIP cannot be loaded: the extra is missing, the model is unknown or its weights are not reachable."""


class PromptError(FastSamTrackError, ValueError):
    """A prompt that cannot be used: malformed, or outside the frame."""


class PromptMiss(FastSamTrackError, ValueError):
    """A prompt that selects nothing on its frame."""


class OutputError(FastSamTrackError, ValueError):
    """An output that cannot, or must not, be written."""


class OutputFailed(RunFailure, OutputError):
    """An output that could be opened but not written to the end (a full disk, a file size limit)."""


class SinkError(FastSamTrackError, ValueError):
    """An annotated-video output that cannot be written."""


class ExportError(FastSamTrackError, ValueError):
    """An export that cannot be written."""


class SegmentsCacheError(FastSamTrackError, ValueError):
    """A segments file that cannot be written or replayed."""


class WindowError(FastSamTrackError, ValueError):
    """A window cannot be opened (no display)."""


class FlowError(FastSamTrackError, ValueError):
    """Frames that cannot be compared (different sizes)."""


def io_reason(error: BaseException) -> str:
    """One line on why an I/O call failed: the system's or FFmpeg's words, without the error number or the path.

    PyAV's own text is ``[Errno 1094995529] Invalid data found when processing input: 'x.mp4'``;
    the number is FFmpeg's tag for the error and the path (which may be a URL with
    credentials) is in the caller's message already.

    Example:
        >>> io_reason(PermissionError(13, "Permission denied", "x.mp4"))
        'Permission denied'
    """
    text = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return str(text).splitlines()[0]


# scheme://user:password@ : everything between the scheme and the last "@" before the path
_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s'\"<>]*@")


def mask_credentials(text: str) -> str:
    """``text`` (a URL, or a message with URLs in it) with every URL's user name and password replaced by ``***``.

    Every message that may name a URL goes through this one function: a stream source, an RTSP
    push, a cluster's camera, an error from FFmpeg that quotes its input.

    Example:
        >>> mask_credentials("rtsp://admin:secret@10.0.0.5:554/stream1")
        'rtsp://***@10.0.0.5:554/stream1'
        >>> mask_credentials("rtsp://u:p@ss@cam/a: refused; retrying rtsp://cam/b")
        'rtsp://***@cam/a: refused; retrying rtsp://cam/b'
    """
    return _CREDENTIALS.sub(r"\1***@", text)


_SHOWN = reprlib.Repr()
_SHOWN.maxlevel, _SHOWN.maxstring, _SHOWN.maxother, _SHOWN.maxlong = 3, 80, 80, 40
_SHOWN.maxlist = _SHOWN.maxdict = _SHOWN.maxtuple = _SHOWN.maxset = 6


def shown(value: object) -> str:
    """``repr(value)`` cut short (a few items a level, a few levels), for a message: a value a user gave
    can be a huge or deeply nested structure, and a message stays one short line.

    Example:
        >>> shown(list(range(100))), shown("x" * 200)[:12]
        ('[0, 1, 2, 3, 4, 5, ...]', "'xxxxxxxxxxx")
    """
    return _SHOWN.repr(value)
