"""The build layer's decisions: source names, where each source's outputs go, which runs are paced."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from fastsam_track.configs import RunConfig
from fastsam_track.errors import UsageError
from fastsam_track.pipeline.build import Outputs, build, source_names
from fastsam_track.pipeline.exports.registry import OUTPUTS


@pytest.mark.parametrize(
    ("specs", "expected"),
    [
        (["a.mp4"], ["a"]),  # one file: its stem
        (["clips/a.mp4", "other/a.mp4", "a.mkv"], ["a", "a-2", "a-3"]),  # repeats are numbered
        (["rtsp://u:p@cam:8554/yard/", "http://host:8080"], ["yard", "host"]),  # a stream: its path, else host
        (["0", "12"], ["webcam0", "webcam12"]),  # webcams
        (["frames/", "my clip (1).mp4"], ["frames", "my-clip-1"]),  # a folder; unsafe characters dropped
        ([], []),  # no sources, no names
    ],
)
def test_source_names(specs, expected):
    assert source_names(specs) == expected


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        # one source: the paths as given
        (["a"], {"-o": "v.mp4", "--save-masks": "m", "--save-tracks": "t.txt", "--stats": "s.json"}),
        # several: a folder each, a file or folder per source inside it; the stats stay one file
        (
            ["a", "b"],
            {
                "-o (a)": "v.mp4/a.mp4",
                "-o (b)": "v.mp4/b.mp4",
                "--save-masks (a)": "m/a",
                "--save-masks (b)": "m/b",
                "--save-tracks (a)": "t.txt/a.txt",
                "--save-tracks (b)": "t.txt/b.txt",
                "--stats": "s.json",
            },
        ),
    ],
)
def test_each_source_writes_under_its_name(names, expected):
    outputs = Outputs(video=Path("v.mp4"), save_masks=Path("m"), save_tracks=Path("t.txt"), stats=Path("s.json"))
    assert {k: str(v) for k, v in outputs.paths(names).items()} == expected
    assert {k: str(v) for k, v in outputs.source_paths(names, len(names) - 1).items()} == {
        k.split(" (")[0]: v for k, v in expected.items() if k != "--stats" and (len(names) == 1 or "(b)" in k)
    }


@pytest.mark.parametrize(
    ("outputs", "live", "expected"),
    [
        (Outputs(serve=":8080"), False, True),  # a file on a page: its own rate
        (Outputs(serve=":8080", pace=False), False, False),  # --no-pace
        (Outputs(serve=":8080"), True, False),  # a camera is real time already
        (Outputs(video=Path("o.mp4")), False, False),  # no page (a file to a file): as fast as it goes
    ],
)
def test_which_runs_are_paced(outputs, live, expected):
    assert outputs.paced(live) == expected


def test_nothing_to_write_is_said_by_any():
    assert not Outputs().any and Outputs(save_tracks=Path("t.txt")).any
    assert not Outputs(stats=Path("s.json")).any  # the run's figures alone are not worth a run


def test_outputs_are_the_registry_s():
    """Every registered output is a keyword and an attribute of ``Outputs``; anything else is refused."""
    outputs = Outputs({name: f"{name}.out" for name in OUTPUTS})
    assert {name: getattr(outputs, name) for name in OUTPUTS} == {name: Path(f"{name}.out") for name in OUTPUTS}
    assert Outputs(save_edges=Path("e")).edges and Outputs(save_masks=Path("m")).max_object_id == 255
    assert dataclasses.replace(outputs, show=True).files == outputs.files
    with pytest.raises(TypeError, match="unknown keyword 'save_everything'"):
        Outputs(save_everything=Path("x"))
    with pytest.raises(AttributeError):
        _ = outputs.save_everything


@pytest.mark.parametrize(
    ("sources", "outputs", "message"),
    [
        ([], Outputs(), "no sources given"),
        (["a.mp4", "b.mp4"], Outputs(video=Path("o.mp4")), "with several sources, -o names a folder"),
        (["a.mp4"], Outputs(save_masks=Path("m")), "--save-masks writes prompted objects"),
    ],
)
def test_usage_errors_come_before_anything_opens(sources, outputs, message, tmp_path):
    with pytest.raises(UsageError, match=message):
        build(RunConfig(model="fastsam-tiny"), [str(tmp_path / s) for s in sources], outputs=outputs)
    assert not list(tmp_path.iterdir())  # nothing written, nothing locked
