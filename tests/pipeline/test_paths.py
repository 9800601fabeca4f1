"""One rule for every path of a run (issue 24): collected first, no output onto an input or another
output by any alias, outputs regular files or absent, and --overwrite touching only what is ours."""

from __future__ import annotations

import hashlib
import os
import socket
import stat
from pathlib import Path

import numpy as np
import pytest
import supervision as sv
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from fastsam_track.configs import load_config
from fastsam_track.errors import FastSamTrackError, OutputError
from fastsam_track.pipeline.build import Outputs, build
from fastsam_track.pipeline.paths import check_paths, kind_of
from fastsam_track.types import PointPrompt


def _setup(tmp: Path) -> dict[str, Path]:
    (tmp / "in").mkdir(exist_ok=True)
    if not (tmp / "in" / "clip.mp4").exists():
        (tmp / "in" / "clip.mp4").write_bytes(b"video")
    (tmp / "frames").mkdir(exist_ok=True)
    (tmp / "frames" / "00000.png").write_bytes(b"png")
    links = {"link.mp4": tmp / "in" / "clip.mp4"}
    for name, target in links.items():
        if not (tmp / name).is_symlink():
            (tmp / name).symlink_to(target)
    if not (tmp / "hard.mp4").exists():
        os.link(tmp / "in" / "clip.mp4", tmp / "hard.mp4")
    if not (tmp / "fifo").exists():
        os.mkfifo(tmp / "fifo")
    return {"source": tmp / "in" / "clip.mp4", "--calibration": tmp / "frames"}


@pytest.mark.parametrize(
    ("written", "folders", "message"),
    [
        ({"-o": "in/clip.mp4"}, (), r"^-o '.*in/clip.mp4' is the source"),  # the source itself
        ({"-o": "in/../in/clip.mp4"}, (), "is the source"),  # spelled with ..
        ({"-o": "link.mp4"}, (), "is the source"),  # a symlink to it
        ({"-o": "hard.mp4"}, (), "is the source"),  # a hard link to it
        ({"--save-masks": "frames"}, ("--save-masks",), "is the --calibration"),  # the calibration folder
        ({"--save-masks": "."}, ("--save-masks",), "holds the source"),  # a folder holding an input
        ({"--stats": "fifo"}, (), r"^--stats '.*fifo' is a FIFO, not a file"),
        ({"--save-tracks": "/dev/null"}, (), "is a character device, not a file"),
        ({"--stats": "in"}, (), "is a folder, not a file"),
        ({"--save-masks": "in/clip.mp4"}, ("--save-masks",), "is a file, not a folder"),
        ({"--stats": "x.json", "--save-tracks": "./x.json"}, (), "name the same path"),
        ({"--save-masks": "m", "--stats": "m/s.json"}, ("--save-masks",), "is inside the --save-masks folder"),
        ({"-o": "out.mp4", "--save-masks": "m"}, ("--save-masks",), None),  # all fine
    ],
)
def test_the_rule(tmp_path, written, folders, message):
    read = _setup(tmp_path)
    named = {k: tmp_path / v if not v.startswith("/") else Path(v) for k, v in written.items()}
    if message is None:
        check_paths(named, read, folders)
        return
    with pytest.raises(OutputError, match=message) as caught:
        check_paths(named, read, folders)
    assert "\n" not in str(caught.value)


def test_a_socket_is_refused(tmp_path):
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(tmp_path / "s.sock"))
        assert kind_of(tmp_path / "s.sock") == "a socket"
        with pytest.raises(OutputError, match="is a socket, not a file"):
            check_paths({"--stats": tmp_path / "s.sock"}, {})


def _segment(image: np.ndarray) -> sv.Detections:
    mask = np.zeros((1, image.shape[0] // 4, image.shape[1] // 4), bool)
    mask[0, 2:10, 2:10] = True
    return sv.Detections(xyxy=np.array([[8, 8, 40, 40]], np.float32), mask=mask, confidence=np.ones(1, np.float32))


def _fingerprint(paths: list[Path]) -> dict[str, tuple[str, str]]:
    """What each path is, and the hash of its bytes (files) or of its entries' bytes (folders)."""
    seen = {}
    for path in paths:
        kind = kind_of(path) or "absent"
        digest = hashlib.sha256()
        if kind == "a file":
            digest.update(path.read_bytes())
        elif kind == "a folder":
            for entry in sorted(path.rglob("*")):
                digest.update(entry.name.encode() + (entry.read_bytes() if entry.is_file() else b""))
        seen[str(path)] = (kind, digest.hexdigest())
    return seen


# Aliases a written path can take: an input, a link to one, `..`, a node, a folder, or a new name.
ALIASES = st.sampled_from(
    [
        *("in/clip.mp4", "link.mp4", "hard.mp4", "in/../in/clip.mp4", "fifo", "frames", "in", "p.json"),
        *("new/a", "new/b", "new/c", "new/../new/c"),
    ]
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    video=st.one_of(st.none(), ALIASES.map(lambda a: a + ".mp4" if a.startswith("new") else a)),
    stats=st.one_of(st.none(), ALIASES),
    tracks=st.one_of(st.none(), ALIASES),
    masks=st.one_of(st.none(), ALIASES),
    overwrite=st.booleans(),
)
def test_no_input_ever_changes_whatever_the_outputs_are_called(
    tmp_path_factory, clip_path, video, stats, tracks, masks, overwrite
):
    tmp = tmp_path_factory.mktemp("paths")
    (tmp / "in").mkdir()
    (tmp / "in" / "clip.mp4").write_bytes(clip_path.read_bytes())
    (tmp / "p.json").write_text('{"prompts": []}')
    _setup(tmp)
    inputs = [tmp / "in" / "clip.mp4", tmp / "frames", tmp / "p.json", tmp / "fifo", tmp / "hard.mp4"]
    before = _fingerprint(inputs)
    outputs = Outputs(
        video=tmp / video if video else None,
        stats=tmp / stats if stats else None,
        save_tracks=tmp / tracks if tracks else None,
        save_masks=tmp / masks if masks else None,
        overwrite=overwrite,
    )
    config = load_config(overrides={"precision": "int8", "calibration": str(tmp / "frames")})
    prompts = [PointPrompt(0, 1, np.array([[20.0, 20.0]]), np.array([1]))]
    try:
        with build(
            config,
            tmp / "in" / "clip.mp4",
            prompts,
            outputs,
            inputs={"--prompts file": tmp / "p.json"},
            segment=_segment,
        ) as pipeline:
            pipeline.run()
    except FastSamTrackError as error:
        assert "\n" not in str(error)
    assert _fingerprint(inputs) == before
    assert stat.S_ISFIFO(os.stat(tmp / "fifo").st_mode)


def _frames(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_overwrite_replaces_a_mask_folder_whole_and_never_mixes_two_runs(tmp_path, clip_path):
    """A second run with --overwrite on a shorter clip: the folder holds its frames only, none of the first's."""
    from tests.conftest import write_clip

    short = write_clip(tmp_path / "short.mp4", frames=5, height=90, width=160)
    prompts = [PointPrompt(0, 1, np.array([[20.0, 20.0]]), np.array([1]))]
    masks = tmp_path / "masks"
    for source, overwrite in ((clip_path, False), (short, True)):
        with build(
            load_config(), source, prompts, Outputs(save_masks=masks, overwrite=overwrite), segment=_segment
        ) as p:
            p.run()
    assert _frames(masks) == [f"{i:05d}.png" for i in range(5)]
    assert {Image.open(masks / name).size for name in _frames(masks)} == {(160, 90)}
    assert _frames(tmp_path) == ["masks", "short.mp4"]  # no staged or old folder left
    (masks / "notes.txt").write_text("the user's")
    with pytest.raises(OutputError, match=r"holds 'notes\.txt', which is not a frame PNG of ours"):
        build(load_config(), short, prompts, Outputs(save_masks=masks, overwrite=True), segment=_segment)
    assert (masks / "notes.txt").read_text() == "the user's" and len(_frames(masks)) == 6


def test_a_mask_folder_being_written_is_refused_even_with_overwrite(tmp_path, clip_path):
    prompts = [PointPrompt(0, 1, np.array([[20.0, 20.0]]), np.array([1]))]
    outputs = Outputs(save_masks=tmp_path / "masks", overwrite=True)
    with build(load_config(), clip_path, prompts, outputs, segment=_segment):
        with pytest.raises(OutputError, match="being written by another run"):
            build(load_config(), clip_path, prompts, outputs, segment=_segment)


def test_a_missing_source_leaves_no_output_folder(tmp_path, clip_path):
    """A source list with a missing entry used to leave an empty output folder behind."""
    from fastsam_track.errors import SourceError

    outputs = Outputs(video=tmp_path / "out", save_tracks=tmp_path / "tracks")
    with pytest.raises(SourceError, match=r"^source not found: '.*missing\.mp4'$"):
        build(load_config(), [clip_path, tmp_path / "missing.mp4"], (), outputs, segment=_segment)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
