from fractions import Fraction

import av
import numpy as np
import pytest

from fastsam_track.errors import SinkError
from fastsam_track.pipeline.outputs.sinks import VideoFileSink


def _probe(path):
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return frames, stream.codec_context.name, (stream.width, stream.height), stream.average_rate


@pytest.mark.parametrize(
    ("size", "fps", "written"),
    [
        ((96, 64), 25, (96, 64)),  # even size: 4:2:0
        # odd size and NTSC rate: padded by one pixel into 4:2:0 (every pixel kept, every player plays it)
        ((97, 63), Fraction(30000, 1001), (98, 64)),
    ],
)
def test_writes_playable_h264(tmp_path, size, fps, written):
    path = tmp_path / "out.mp4"
    with VideoFileSink(path, fps=fps) as sink:
        for value in range(10):
            sink.write(np.full((size[1], size[0], 3), value * 20, np.uint8))
    assert _probe(path) == (10, "h264", written, fps)
    with av.open(str(path)) as container:
        assert container.streams.video[0].codec_context.pix_fmt == "yuv420p"


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


@pytest.mark.parametrize("name", ["out.mp4", "out.MKV", "out.mov"])
def test_a_video_appears_whole_when_finalised_and_the_old_one_stays_until_then(tmp_path, name):
    path = tmp_path / name
    with VideoFileSink(path, fps=25) as sink:
        for _ in range(3):
            sink.write(np.zeros((64, 96, 3), np.uint8))
    with VideoFileSink(path, fps=25) as sink:
        for _ in range(60):  # past the encoder's look-ahead: packets are written
            sink.write(np.full((64, 96, 3), 200, np.uint8))
        assert _probe(path)[0] == 3  # a reader meanwhile sees the previous file, whole
        assert [p.name.startswith(f".{name}.") and p.suffix == ".part" for p in tmp_path.iterdir()].count(True) == 1
    assert _probe(path)[0] == 60
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_a_symlinked_output_writes_its_target(tmp_path):
    (tmp_path / "videos").mkdir()
    (tmp_path / "latest.mp4").symlink_to(tmp_path / "videos" / "take.mp4")
    with VideoFileSink(tmp_path / "latest.mp4", fps=25) as sink:
        sink.write(np.zeros((64, 96, 3), np.uint8))
    assert (tmp_path / "latest.mp4").is_symlink() and _probe(tmp_path / "videos" / "take.mp4")[0] == 1


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("out", "it has no extension; give a name ending in .mp4"),  # PyAV cannot tell the format
        ("out.webm", "its extension '.webm' is not a video container for H.264"),  # WebM takes no H.264
        ("out.txt", "its extension '.txt' is not a video container"),
    ],
)
def test_a_video_name_without_a_container_is_refused_at_construction(tmp_path, name, message):
    with pytest.raises(SinkError, match=message):
        VideoFileSink(tmp_path / name, fps=25)
    assert list(tmp_path.iterdir()) == []


def test_a_live_recording_is_stamped_with_capture_times_and_fragmented(tmp_path):
    # A recording killed before it is closed (os._exit: no trailer, as SIGKILL) still plays,
    # and its frames keep their capture times: a 2.6 s gap stays a gap.
    import subprocess
    import sys

    code = """
import os, sys
import numpy as np
from fastsam_track.pipeline.outputs.sinks import VideoFileSink
times = [i * 0.04 for i in range(60)] + [5 + i * 0.04 for i in range(60)]
sink = VideoFileSink(sys.argv[1], fps=25, live=True, capture_time=lambda image: times[int(image[0, 0, 0])])
for n in range(len(times)):
    sink.write(np.full((64, 96, 3), n, np.uint8))
os._exit(9)
"""
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "live.mp4")], check=False, timeout=300)
    assert not (tmp_path / "live.mp4").exists()
    (part,) = tmp_path.glob(".live.mp4.*.part")
    with av.open(str(part)) as container:
        times = [float(f.pts * f.time_base) for f in container.decode(container.streams.video[0])]
    assert 60 < len(times) < 120  # every fragment before the last keyframe (one every 50 frames here)
    steps = np.diff(times)
    assert np.allclose(steps[:55], 0.04, atol=0.002) and steps.max() == pytest.approx(5 - 59 * 0.04, abs=0.002)


def test_a_recording_of_a_file_keeps_its_nominal_rate(tmp_path):
    with VideoFileSink(tmp_path / "out.mp4", fps=25) as sink:
        for n in range(10):
            sink.write(np.full((64, 96, 3), n, np.uint8))
    with av.open(str(tmp_path / "out.mp4")) as container:
        stream = container.streams.video[0]
        assert stream.average_rate == 25 and stream.frames == 10
