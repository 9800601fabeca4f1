import os
from fractions import Fraction

import cv2
import numpy as np
import pytest

from fastsam_track.errors import SourceError
from fastsam_track.pipeline.sources import open_source
from fastsam_track.pipeline.sources.files import ImageFolderSource, VideoFileSource


def test_video_file_frames(clip_path):
    source = open_source(clip_path)
    assert isinstance(source, VideoFileSource)
    assert (source.fps, source.size, source.frame_count) == (Fraction(25), (320, 180), 12)
    frames = list(source)
    assert [f.index for f in frames] == list(range(12))
    assert frames[0].image.shape == (180, 320, 3) and frames[0].image.dtype == np.uint8
    assert frames[5].timestamp == pytest.approx(5 / 25)


def test_video_stride(clip_path):
    source = open_source(clip_path, vid_stride=5)
    assert [f.index for f in source] == [0, 5, 10]
    assert source.fps == 5 and source.frame_count == 3


def test_image_folder(tmp_path):
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i:03d}.png"), np.full((40, 60, 3), i * 50, np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    source = open_source(tmp_path, fps=10)
    assert isinstance(source, ImageFolderSource)
    frames = list(source)
    assert (source.size, source.frame_count, len(frames)) == ((60, 40), 3, 3)
    assert frames[2].image[0, 0, 0] == 100 and frames[2].timestamp == pytest.approx(0.2)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp / "missing.mp4", "source not found"),  # no such file
        (lambda tmp: tmp, "no images"),  # an empty folder
        (lambda tmp: (tmp / "junk.mp4").write_bytes(b"\0junk" * 100) and tmp / "junk.mp4", "cannot read video"),
        (lambda tmp: os.mkfifo(tmp / "pipe.mp4") or tmp / "pipe.mp4", "is not a regular file"),  # would block
        (lambda tmp: "/dev/null", "is not a regular file"),  # a device
        (lambda tmp: (tmp / "clip.mp4").write_bytes(b"") or tmp / "clip.mp4" / "frame.png", "source not found"),
    ],
)
def test_unreadable_sources(tmp_path, make, message):
    with pytest.raises(SourceError, match=message):
        open_source(make(tmp_path))


def test_a_folder_given_as_a_video_file(tmp_path):
    with pytest.raises(SourceError, match="is not a regular file"):
        VideoFileSource(tmp_path)
