"""Frame sources: video files (PyAV) and image folders, as iterators of ``Frame``."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from fastsam_track.errors import SourceError, io_reason
from fastsam_track.pipeline.sources.base import Source
from fastsam_track.types import Frame

if TYPE_CHECKING:
    import av


__all__ = ["IMAGE_SUFFIXES", "ImageFolderSource", "VideoFileSource", "status"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


_DECODE_THREADS = 2


def status(path: Path) -> os.stat_result:
    """``path``'s file status (symbolic links followed).

    Raises:
        SourceError: nothing is there, or it cannot be looked at (a folder on the way without
            permission).
    """
    try:
        return path.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise SourceError(f"source not found: {str(path)!r}") from None
    except OSError as error:
        raise SourceError(f"cannot read source {str(path)!r}: {error.strerror}") from error


def _quarter_turns(container: Any, stream: Any) -> int:
    """``np.rot90``'s ``k`` that shows the stream's frames as its display matrix says (a phone's portrait
    video is stored sideways with a rotation of -90 or 90); 0 without one. Read on the first frame, so
    call it on a container opened for this alone."""
    import av

    try:
        first = next(container.decode(stream), None)
    except av.error.FFmpegError:
        return 0
    rotation = float(getattr(first, "rotation", 0) or 0)
    return round(rotation / 90) % 4


class VideoFileSource(Source):
    """Decode a video file with PyAV (threaded decoding), in BGR, as it is displayed.

    A rotation in the stream's display matrix (phones record portrait video sideways and say so
    there) is applied on decode: every stage, prompt and output then sees the picture upright, as
    a player shows it, and points are given in its coordinates; outputs carry no rotation (a
    browser's MJPEG stream or an RTSP push could not carry one).

    Args:
        path: the video file.
        vid_stride: keep every n-th frame (1 keeps all).

    Attributes:
        frames_decoded: frames decoded by the last iteration (before ``vid_stride``).
        packets_lost: corrupt packets skipped by the last iteration.
        frames_missing: frames the container declared but the last complete iteration did not decode.

    Raises:
        SourceError: the file is missing, unreadable, not a regular file (a FIFO, a device) or has
            no video stream.
    """

    def __init__(self, path: str | Path, vid_stride: int = 1):
        import av

        self.path = Path(path)
        self.vid_stride = vid_stride
        self.frames_decoded = 0
        self.packets_lost = 0
        self.frames_missing = 0
        if not stat.S_ISREG(status(self.path).st_mode):  # a FIFO or a device would block or never end
            raise SourceError(
                f"source {str(self.path)!r} is not a regular file: give a video file or a folder of images"
            )
        try:
            with av.open(str(self.path)) as container:
                if not container.streams.video:
                    raise SourceError(f"no video stream in {str(self.path)!r}")
                stream = container.streams.video[0]
                rate = stream.average_rate or stream.guessed_rate or Fraction(30)
                self.fps = Fraction(rate) / vid_stride
                self.turns = _quarter_turns(container, stream)
                width, height = stream.codec_context.width, stream.codec_context.height
                self.size = (height, width) if self.turns % 2 else (width, height)
                frames = stream.frames or None
                self.frame_count = -(-frames // vid_stride) if frames else None
        except av.error.FFmpegError as error:
            raise SourceError(f"cannot read video {str(self.path)!r}: {io_reason(error)}") from error

    def __iter__(self) -> Iterator[Frame]:
        """Decode packet by packet: a corrupt packet is skipped and counted, a truncated file ends the frames."""
        import av

        self.frames_decoded = 0
        self.packets_lost = 0
        self.frames_missing = 0
        container = av.open(str(self.path))
        try:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            # ffmpeg's default, cores + 1 frame threads, took 9.8 ms of CPU per 720p frame on 2 cores
            # against 6.7 with two threads, for the same decoding time: CPU the network then lacks.
            stream.codec_context.thread_count = _DECODE_THREADS
            time_base = float(stream.time_base or 0)
            for frame in self._decode(container, stream):
                index = self.frames_decoded
                self.frames_decoded += 1
                if index % self.vid_stride:
                    continue
                timestamp = frame.pts * time_base if frame.pts is not None else index / float(self.fps)
                image: np.ndarray = frame.to_ndarray(format="bgr24")
                if self.turns:  # as displayed: the display matrix applied
                    image = np.ascontiguousarray(np.rot90(image, self.turns))
                yield Frame(index=index, image=image, timestamp=timestamp)
            if stream.frames:
                self.frames_missing = max(stream.frames - self.frames_decoded, 0)
        finally:
            container.close()

    def _decode(self, container: av.container.InputContainer, stream: av.VideoStream) -> Iterator[av.VideoFrame]:
        """The frames of ``stream``; counts the packets that fail to decode, stops where demuxing fails."""
        import av

        packets = container.demux(stream)
        while True:
            try:
                packet = next(packets)
            except (StopIteration, av.error.FFmpegError):  # the end, or a truncated container
                return
            try:
                yield from packet.decode()
            except av.error.FFmpegError:
                self.packets_lost += 1

    def damage_report(self) -> str | None:
        """One line on the frames that could not be decoded by the last iteration, or None when none were lost."""
        lost = max(self.frames_missing, self.packets_lost)
        if not lost:
            return None
        return (
            f"{self.path.name}: {lost} of {self.frames_decoded + lost} frames could not be decoded "
            f"(truncated or corrupt file); the run used the {self.frames_decoded} that did"
        )


class ImageFolderSource(Source):
    """Images of a folder in name order, as frames of a video at ``fps``.

    An image that cannot be read (empty, cut short, not an image) is skipped and counted, as
    a corrupt packet of a video is; its frame index stays unused, so later frames keep the
    index of their position in the folder.

    Attributes:
        unreadable: names of the images the last iteration skipped.

    Raises:
        SourceError: the folder cannot be listed, holds no readable images or they differ in size.
    """

    def __init__(self, path: str | Path, fps: float = 30.0, vid_stride: int = 1):
        self.path = Path(path)
        try:
            names = list(self.path.iterdir())
        except OSError as error:
            raise SourceError(f"cannot read folder {str(self.path)!r}: {error.strerror}") from error
        self.files = sorted(p for p in names if p.suffix.lower() in IMAGE_SUFFIXES)[::vid_stride]
        if not self.files:
            raise SourceError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in folder {str(self.path)!r}")
        first = next((image for path in self.files if (image := self._read(path)) is not None), None)
        if first is None:
            others = f" (nor the other {len(self.files) - 1})" if len(self.files) > 1 else ""
            raise SourceError(f"cannot read image {str(self.files[0])!r}{others}")
        self.size = (first.shape[1], first.shape[0])
        self.fps = Fraction(fps).limit_denominator(1001) / vid_stride
        self.frame_count = len(self.files)
        self.vid_stride = vid_stride
        self.unreadable: list[str] = []

    @staticmethod
    def _read(path: Path) -> np.ndarray | None:
        """The image as (H, W, 3) uint8 BGR, or None when it cannot be read."""
        try:
            data = np.fromfile(path, np.uint8)
        except OSError:
            return None
        # imdecode, not imread: an empty or damaged file is None here, not a warning on stderr.
        return cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None

    def __iter__(self) -> Iterator[Frame]:
        self.unreadable = []
        for position, path in enumerate(self.files):
            image = self._read(path)
            if image is None:
                self.unreadable.append(path.name)
                continue
            if (image.shape[1], image.shape[0]) != self.size:
                raise SourceError(f"{path.name} is {image.shape[1]}x{image.shape[0]}, the first image {self.size}")
            index = position * self.vid_stride
            yield Frame(index=index, image=image, timestamp=index / float(self.fps * self.vid_stride))

    def damage_report(self) -> str | None:
        """One line on the images the last iteration could not read, or None when it read them all."""
        if not self.unreadable:
            return None
        shown = ", ".join(self.unreadable[:3]) + (", ..." if len(self.unreadable) > 3 else "")
        used = len(self.files) - len(self.unreadable)
        return (
            f"{self.path.name}: {len(self.unreadable)} of {len(self.files)} images could not be read ({shown}); "
            f"the run used the {used} that could"
        )
