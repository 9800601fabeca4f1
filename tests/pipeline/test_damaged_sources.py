"""Truncated, corrupt and non-video files: decoded as far as they go, the loss counted, or a one-line error."""

import subprocess
import sys
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from fastsam_track.errors import SourceError
from fastsam_track.pipeline.sources import open_source
from fastsam_track.pipeline.sources.files import VideoFileSource
from tests.conftest import write_clip

FRAMES = 60


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 60-frame H.264 MP4 (PyAV writes its moov atom at the end)."""
    return write_clip(tmp_path_factory.mktemp("damaged") / "clip.mp4", frames=FRAMES, height=180, width=320)


@pytest.fixture(scope="module")
def clip_ts(clip: Path) -> Path:
    """The same packets remuxed into MPEG-TS, a format that streams (no index at the end)."""
    path = clip.with_suffix(".ts")
    with av.open(str(clip)) as source, av.open(str(path), "w") as target:
        stream = source.streams.video[0]
        output = target.add_stream_from_template(stream)
        for packet in source.demux(stream):
            if packet.dts is not None:  # the empty flush packet
                packet.stream = output
                target.mux(packet)
    return path


def _truncated(path: Path, name: str, keep: float = 0.6) -> Path:
    data = path.read_bytes()
    copy = path.with_name(name)
    copy.write_bytes(data[: int(len(data) * keep)])
    return copy


def _corrupt(path: Path, name: str, size: int = 4096) -> Path:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + size] = np.random.default_rng(0).integers(0, 256, size, dtype=np.uint8).tobytes()
    copy = path.with_name(name)
    copy.write_bytes(bytes(data))
    return copy


def _decode_all(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="bgr24") for frame in container.decode(video=0)]


def test_mp4_truncated_is_a_one_line_source_error(clip):
    assert clip.read_bytes().rfind(b"moov") > len(clip.read_bytes()) // 2  # the index is cut off with the tail
    with pytest.raises(SourceError, match="cannot read video") as error:
        VideoFileSource(_truncated(clip, "truncated.mp4"))
    assert "\n" not in str(error.value)


def test_ts_truncated_decodes_up_to_the_cut(clip_ts):
    source = VideoFileSource(_truncated(clip_ts, "truncated.ts"))
    frames = list(source)
    assert 0.3 * FRAMES < len(frames) < 0.8 * FRAMES
    assert [f.index for f in frames] == list(range(len(frames))) and source.frames_decoded == len(frames)
    whole = _decode_all(clip_ts)
    assert all(np.array_equal(f.image, whole[f.index]) for f in frames[:-1])  # the last one may be cut through
    assert source.frame_count is None and source.frames_missing == 0  # MPEG-TS declares no frame count


def test_mp4_corrupt_skips_the_bad_packets(clip):
    source = VideoFileSource(_corrupt(clip, "corrupt.mp4"))
    frames = list(source)
    assert 0 < len(frames) < FRAMES and source.frames_decoded == len(frames)
    assert [f.index for f in frames] == list(range(len(frames)))
    assert source.packets_lost > 0 and source.frames_missing == FRAMES - len(frames)
    report = source.damage_report()
    assert report == (
        f"corrupt.mp4: {FRAMES - len(frames)} of {FRAMES} frames could not be decoded (truncated or corrupt file); "
        f"the run used the {len(frames)} that did"
    )


def test_mp4_corrupt_with_stride(clip):
    source = VideoFileSource(_corrupt(clip, "corrupt-stride.mp4"), vid_stride=3)
    indices = [f.index for f in source]
    assert indices == list(range(0, source.frames_decoded, 3)) and source.frames_missing > 0


def test_ts_corrupt_iterates_without_raising(clip_ts):
    source = VideoFileSource(_corrupt(clip_ts, "corrupt.ts"))
    frames = list(source)
    assert 0 < len(frames) <= FRAMES and [f.index for f in frames] == list(range(len(frames)))


def test_intact_clip_has_no_damage(clip):
    source = VideoFileSource(clip)
    assert len(list(source)) == FRAMES
    assert (source.frames_decoded, source.packets_lost, source.frames_missing) == (FRAMES, 0, 0)
    assert source.damage_report() is None


@pytest.mark.parametrize(
    "content",
    [np.random.default_rng(1).bytes(50_000), b"just some notes\n" * 100, b""],
    ids=["random", "text", "empty"],
)
def test_not_a_video_is_a_one_line_source_error(tmp_path, content):
    path = tmp_path / "clip.mp4"
    path.write_bytes(content)
    with pytest.raises(SourceError, match=rf"^cannot read video '{path}': [A-Z][a-z ]+$") as error:
        VideoFileSource(path)
    # FFmpeg's words once, without PyAV's "[Errno 1094995529]" nor the path again
    assert "Errno" not in str(error.value) and str(error.value).count("clip.mp4") == 1


def test_cli_runs_a_corrupt_file_and_reports_the_loss(clip, tmp_path):
    damaged = _corrupt(clip, "damaged.mp4")
    source = VideoFileSource(damaged)
    decoded = len(list(source))
    output = tmp_path / "out.mp4"
    command = ["run", damaged, "--model", "fastsam-tiny", "--imgsz", "320", "-o", output, "--no-progress"]
    result = subprocess.run(
        [sys.executable, "-m", "fastsam_track.cli", *map(str, command)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert f"fastsam-track: warning: {source.damage_report()}" in result.stderr.splitlines()
    assert len(_decode_all(output)) == decoded


def _folder(path, count=6):
    path.mkdir()
    for index in range(count):
        cv2.imwrite(str(path / f"{index:04d}.png"), np.full((48, 64, 3), index * 40, np.uint8))
    return path


@pytest.mark.parametrize(
    ("damage", "skipped"),
    [
        ({"0002.png": b""}, ["0002.png"]),  # an empty file (a copy that failed)
        ({"0002.png": b"\x89PNG cut short"}, ["0002.png"]),  # a cut PNG
        ({"0000.png": b"", "0004.png": b"not an image"}, ["0000.png", "0004.png"]),  # the first too
        ({}, []),  # intact
    ],
)
def test_an_unreadable_image_in_a_folder_is_skipped_and_counted(tmp_path, damage, skipped):
    folder = _folder(tmp_path / "frames")
    for name, content in damage.items():
        (folder / name).write_bytes(content)
    source = open_source(folder)
    frames = list(source)
    assert [f.index for f in frames] == [i for i in range(6) if f"{i:04d}.png" not in skipped]  # indices kept
    assert source.size == (64, 48) and source.unreadable == skipped
    if skipped:
        assert source.damage_report() == (
            f"frames: {len(skipped)} of 6 images could not be read ({', '.join(skipped)}); "
            f"the run used the {6 - len(skipped)} that could"
        )
    else:
        assert source.damage_report() is None


def test_a_folder_without_one_readable_image_is_a_source_error(tmp_path):
    folder = _folder(tmp_path / "frames", count=2)
    for path in folder.iterdir():
        path.write_bytes(b"")
    with pytest.raises(SourceError, match=r"^cannot read image '.*0000.png' \(nor the other 1\)$"):
        open_source(folder)


def test_cli_runs_a_folder_with_an_empty_image_and_reports_it(tmp_path):
    folder = _folder(tmp_path / "frames")
    (folder / "0003.png").write_bytes(b"")
    output = tmp_path / "out.mp4"
    command = ["run", folder, "--model", "fastsam-tiny", "--imgsz", "320", "-o", output, "--no-progress"]
    result = subprocess.run(
        [sys.executable, "-m", "fastsam_track.cli", *map(str, command)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert "fastsam-track: warning: frames: 1 of 6 images could not be read (0003.png)" in result.stderr
    assert len(_decode_all(output)) == 5
