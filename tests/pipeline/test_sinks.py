from fractions import Fraction

import av
import numpy as np
import pytest

from fastsam_track.pipeline.sinks import SinkError, VideoFileSink


def _probe(path):
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return frames, stream.codec_context.name, (stream.width, stream.height), stream.average_rate


@pytest.mark.parametrize(
    ("size", "fps"),
    [
        ((96, 64), 25),  # even size: 4:2:0
        ((97, 63), Fraction(30000, 1001)),  # odd size and NTSC rate: every pixel kept
    ],
)
def test_writes_playable_h264(tmp_path, size, fps):
    path = tmp_path / "out.mp4"
    with VideoFileSink(path, fps=fps) as sink:
        for value in range(10):
            sink.write(np.full((size[1], size[0], 3), value * 20, np.uint8))
    assert _probe(path) == (10, "h264", size, fps)


def test_finalised_when_the_run_fails_midway(tmp_path):
    path = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError, match="midway"), VideoFileSink(path, fps=25) as sink:
        for _ in range(7):
            sink.write(np.zeros((64, 96, 3), np.uint8))
        raise RuntimeError("midway")
    assert _probe(path)[0] == 7


def test_finalised_on_ctrl_c(tmp_path):
    path = tmp_path / "out.mp4"
    with pytest.raises(KeyboardInterrupt), VideoFileSink(path, fps=25) as sink:
        for _ in range(5):
            sink.write(np.zeros((64, 96, 3), np.uint8))
        raise KeyboardInterrupt
    assert _probe(path)[0] == 5


def test_nothing_written_leaves_no_file(tmp_path):
    path = tmp_path / "out.mp4"
    with VideoFileSink(path, fps=25):
        pass
    assert not path.exists()


@pytest.mark.parametrize(
    ("make_path", "message"),
    [
        (lambda tmp: tmp, "is a folder"),  # a folder, not a file
        (lambda tmp: tmp / "file.txt" / "out.mp4", "cannot create the folder"),  # its parent is a file
    ],
)
def test_unwritable_output(tmp_path, make_path, message):
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(SinkError, match=message):
        VideoFileSink(make_path(tmp_path), fps=25)
