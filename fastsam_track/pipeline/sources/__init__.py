"""Frame sources: video files, image folders, webcams and network streams, as iterators of ``Frame``.

``open_source`` picks the kind from what it is given.
"""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

from fastsam_track.errors import SourceError
from fastsam_track.pipeline.sources.base import Source
from fastsam_track.pipeline.sources.files import ImageFolderSource, VideoFileSource, status
from fastsam_track.pipeline.sources.live import Reconnect, StreamSource, WebcamSource, is_stream_url

__all__ = [
    "ImageFolderSource",
    "Reconnect",
    "Source",
    "SourceError",
    "StreamSource",
    "VideoFileSource",
    "WebcamSource",
    "open_source",
]


def open_source(
    spec: str | Path,
    *,
    vid_stride: int = 1,
    fps: float = 30.0,
    reconnect: Reconnect | None = None,
    on_event: Callable[[str], None] | None = None,
) -> Source:
    """Open a video file, an image folder, a webcam or a network stream.

    Args:
        spec: a webcam number (``"0"``), a stream URL (``rtsp://``, ``rtsps://``, ``http://``,
            ``https://``), a path to a video file or to a folder of images.
        vid_stride: keep every n-th frame.
        fps: frame rate given to an image folder.
        reconnect: backoff policy of a webcam or stream after losing it (None: the default policy).
        on_event: told, one line each, when a webcam or stream is lost and reconnected.

    Raises:
        SourceError: nothing readable at ``spec``.
    """
    if vid_stride < 1:
        raise SourceError(f"vid_stride must be 1 or more, got {vid_stride}")
    policy = reconnect if reconnect is not None else Reconnect()
    if isinstance(spec, str) and spec.isascii() and spec.isdigit():
        return WebcamSource(int(spec), reconnect=policy, vid_stride=vid_stride, on_event=on_event)
    if isinstance(spec, str) and is_stream_url(spec):
        return StreamSource(spec, reconnect=policy, vid_stride=vid_stride, on_event=on_event)
    path = Path(spec).expanduser()
    if stat.S_ISDIR(status(path).st_mode):
        return ImageFolderSource(path, fps=fps, vid_stride=vid_stride)
    return VideoFileSource(path, vid_stride=vid_stride)
