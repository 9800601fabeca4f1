"""The source's time and orientation kept, and every output in 4:2:0 (issue 24)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import supervision as sv

from fastsam_track.configs import load_config
from fastsam_track.pipeline.build import Outputs, build
from fastsam_track.pipeline.outputs.sinks import VideoFileSink
from fastsam_track.pipeline.runner import run
from fastsam_track.pipeline.sources import open_source
from fastsam_track.types import PointPrompt


def _segment(image: np.ndarray) -> sv.Detections:
    mask = np.zeros((1, image.shape[0] // 4, image.shape[1] // 4), bool)
    mask[0, 2:10, 2:10] = True
    return sv.Detections(xyxy=np.array([[8, 8, 40, 40]], np.float32), mask=mask, confidence=np.ones(1, np.float32))


def _write(path: Path, size: tuple[int, int], times: list[float], rotation: float = 0.0) -> Path:
    """A clip of ``size`` (W, H) with frames at ``times`` s (millisecond clock), a block at the stored top left."""
    width, height = size
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        if rotation:
            stream.set_display_rotation(rotation)
        for t in times:
            image = np.zeros((height, width, 3), np.uint8)
            image[20:60, 10:50] = 255
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts, frame.time_base = round(t * 1000), Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def _times(path: Path) -> tuple[list[float], tuple[int, int], str]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        times = [round(float(f.pts * stream.time_base), 3) for f in container.decode(stream)]
        return times, (stream.width, stream.height), stream.codec_context.pix_fmt


@pytest.mark.parametrize(
    "times",
    [
        [0, 0.13, 0.26, 0.4, 0.53, 0.66, 1.66],  # variable rate: the probe
        [i / 25 for i in range(10)],  # constant 25 fps
        [i * 1001 / 30000 for i in range(10)],  # constant 29.97 fps
    ],
)
def test_output_frames_keep_the_sources_times(tmp_path, times):
    source = _write(tmp_path / "in.mp4", (160, 96), times)
    with VideoFileSink(tmp_path / "out.mp4", fps=30) as sink:
        run(open_source(source), _segment, sinks=[sink])
    assert _times(tmp_path / "out.mp4")[0] == [round(t, 3) for t in times]


def test_a_display_matrix_is_applied_on_decode_and_prompts_are_in_its_coordinates(tmp_path):
    source = _write(tmp_path / "phone.mp4", (320, 180), [i / 30 for i in range(4)], rotation=-90)
    opened = open_source(source)
    assert opened.size == (180, 320)  # portrait, as a player shows it
    image = next(iter(opened)).image
    # stored rows 20:60, columns 10:50, turned a quarter clockwise: rows 10:50, columns 120:160
    assert image.shape == (320, 180, 3) and image[30, 140].min() > 200 and image[30, 30].max() < 50
    prompts = [PointPrompt(0, 1, np.array([[140.0, 300.0]]), np.array([1]))]  # y 300: only inside upright
    with build(load_config(), source, prompts, Outputs(video=tmp_path / "out.mp4"), segment=_segment) as pipeline:
        pipeline.run()
    assert _times(tmp_path / "out.mp4")[1] == (180, 320)


def test_an_odd_size_is_padded_by_one_pixel_into_4_2_0(tmp_path):
    # (an odd-sized source, 641x359 in the issue, decodes to odd-sized frames like these)
    frames = [np.full((95, 161, 3), 128, np.uint8)] * 3
    with VideoFileSink(tmp_path / "out.mp4", fps=30) as sink:
        for image in frames:
            sink.write(image)
    _, size, pix_fmt = _times(tmp_path / "out.mp4")
    assert size == (162, 96) and pix_fmt == "yuv420p"
