"""A contact sheet: a few frames of a run's annotated video, side by side, each with its caption.

Frames are reached by seeking (PyAV), not by decoding the whole video, so a sheet of a long
run costs a few decodes from the nearest keyframes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from fastsam_track.errors import UsageError

__all__ = ["contact_sheet", "read_frames"]

_THUMB_WIDTH = 320
_COLUMNS = 3


def read_frames(video: str | Path, positions: Sequence[int]) -> list[np.ndarray]:
    """The frames at ``positions`` (counted from 0 in presentation order) of ``video``, as (H, W, 3) uint8 BGR.

    Raises:
        UsageError: the video cannot be opened.
    """
    import av

    try:
        container = av.open(str(video))
    except (av.error.FFmpegError, OSError) as error:
        raise UsageError(f"cannot open the run's video {str(video)!r}: {error}") from error
    images: list[np.ndarray] = []
    with container:
        stream = container.streams.video[0]
        rate = float(stream.average_rate or stream.guessed_rate or 30)
        base = float(stream.time_base or 1 / 90_000)
        start = stream.start_time or 0
        for position in sorted(positions):
            container.seek(int(position / rate / base) + start, stream=stream, backward=True)
            for frame in container.decode(stream):
                if frame.pts is not None and round((frame.pts - start) * base * rate) >= position:
                    images.append(frame.to_ndarray(format="bgr24"))
                    break
    return images


def contact_sheet(images: Sequence[np.ndarray], captions: Sequence[str]) -> bytes:
    """The images as a grid of thumbnails ``_COLUMNS`` wide, each with its caption beneath, as JPEG bytes
    (video frames: a fifth of a PNG's size)."""
    if not images:
        raise UsageError("a contact sheet needs at least one image")
    thumbs = []
    for image, caption in zip(images, captions, strict=True):
        height = round(image.shape[0] * _THUMB_WIDTH / image.shape[1])
        thumb = cv2.resize(image, (_THUMB_WIDTH, height), interpolation=cv2.INTER_AREA)
        band = np.full((22, _THUMB_WIDTH, 3), 255, np.uint8)
        cv2.putText(band, caption, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
        thumbs.append(np.vstack([thumb, band]))
    tallest = max(t.shape[0] for t in thumbs)
    thumbs = [np.vstack([t, np.full((tallest - t.shape[0], _THUMB_WIDTH, 3), 255, np.uint8)]) for t in thumbs]
    blank = np.full_like(thumbs[0], 255)
    thumbs += [blank] * (-len(thumbs) % _COLUMNS)
    rows = [np.hstack(thumbs[i : i + _COLUMNS]) for i in range(0, len(thumbs), _COLUMNS)]
    ok, jpeg = cv2.imencode(".jpg", np.vstack(rows), [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    return jpeg.tobytes()
