"""The fleet file: what a good one gives, and the one-line error of each bad one (no Ray needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fastsam_track.cli import main
from fastsam_track.cluster.fleet import fleet_from_data, load_fleet
from fastsam_track.errors import ConfigError

CAMERA = {"source": "rtsp://127.0.0.1:8554/yard", "output": "out/yard.mp4"}


def test_a_good_fleet(tmp_path: Path) -> None:
    (tmp_path / "cameras.yaml").write_text(
        "settings: {model: fastsam-tiny, imgsz: 320}\n"
        "segmenter: {cpus: 2, wait_ms: 10}\n"
        "camera_cpus: 0.5\n"
        "defaults: {output: 'out/{name}.mp4', save_tracks: 'tracks/{name}.txt'}\n"
        "cameras:\n"
        "  - source: rtsp://10.0.0.5:8554/yard\n"
        "    prompts: [{points: [[320, 180]]}, {box: [0, 0, 50, 50], frame: 4}]\n"
        "  - {name: gate, source: clips/gate.mp4, resources: {site-b: 0.01}, save_tracks: gate.txt}\n"
    )
    fleet = load_fleet(tmp_path / "cameras.yaml")
    yard, gate = fleet.cameras
    assert fleet.config.imgsz == 320 and fleet.segmenter.cpus == 2 and fleet.segmenter.wait_ms == 10
    assert fleet.camera_cpus == 0.5
    assert (yard.name, yard.live, yard.output) == ("yard", True, tmp_path / "out/yard.mp4")
    # prompts get frame 0 and objects 1, 2... unless they say otherwise
    assert [(p["frame"], p["object"]) for p in yard.prompts] == [(0, 1), (4, 2)]
    # a file is relative to the fleet file; a camera's own key wins over the defaults
    assert (gate.source, gate.live) == (str(tmp_path / "clips/gate.mp4"), False)
    assert gate.save_tracks == tmp_path / "gate.txt" and gate.resources == {"site-b": 0.01}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        # not a mapping, no cameras
        ([CAMERA], "a fleet must be a mapping"),
        ({"cameras": []}, "'cameras' must be a non-empty list"),
        # an unknown key, at the top and in a camera
        ({"camera": [CAMERA]}, "the fleet: unknown key 'camera'"),
        ({"cameras": [{**CAMERA, "ouput": "x.mp4"}]}, "camera 0: unknown key 'ouput'"),
        # a bad run setting is the config's own error
        ({"settings": {"imgsz": 100}, "cameras": [CAMERA]}, "imgsz must be a positive multiple of 32"),
        ({"settings": {"precision": "int8"}, "cameras": [CAMERA]}, "int8 in a fleet needs 'calibration'"),
        # cameras: no source, two of one name, nothing written, a bad prompt, a bad output
        ({"cameras": [{"output": "x.mp4"}]}, "camera 0: 'source' must be"),
        ({"cameras": [CAMERA, {**CAMERA, "output": "b.mp4"}]}, "two cameras are called 'yard'"),
        ({"cameras": [{"source": "a.mp4"}]}, "camera 'a': nothing to write"),
        ({"cameras": [{**CAMERA, "prompts": [{"points": [[1]]}]}]}, "camera 'yard': prompt 0: each point must be"),
        ({"cameras": [{**CAMERA, "output": "out/yard.png"}]}, "'output': cannot write video"),
        ({"cameras": [{**CAMERA, "rtsp_out": "http://x"}]}, "'rtsp_out' must be an rtsp:// URL"),
        ({"cameras": [{**CAMERA, "name": "a b"}]}, "'name' must be letters"),
        # two cameras writing one file
        ({"cameras": [CAMERA, {**CAMERA, "name": "gate"}]}, "output '/f/out/yard.mp4' is also camera 'yard'"),
        # sizes
        ({"segmenter": {"cpus": 0}, "cameras": [CAMERA]}, "must take some cpus or gpus"),
        ({"camera_cpus": -1, "cameras": [CAMERA]}, "camera_cpus must be a number >= 0"),
        ({"cameras": [{**CAMERA, "resources": {"a": "x"}}]}, "resource 'a' must be a number"),
    ],
)
def test_a_bad_fleet_is_one_clear_error(data: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        fleet_from_data(data, Path("/f"))


def test_the_command_says_what_is_wrong_with_the_fleet_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.yaml").write_text("cameras: [{source: a.mp4}]\n")
    assert main(["cluster", str(tmp_path / "bad.yaml")]) == 2
    assert capsys.readouterr().err.strip() == (
        "fastsam-track: error: bad.yaml: camera 'a': nothing to write: give 'output', 'rtsp_out' or a 'save_*' key "
        "(or 'defaults')"
    )
    assert main(["cluster", str(tmp_path / "none.yaml")]) == 2
    assert main(["cluster", str(tmp_path / "bad.yaml"), "--status-every", "0"]) == 2


def test_the_readme_fleet_file_is_a_good_fleet(tmp_path: Path) -> None:
    import re

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("### Many cameras on Ray", 1)[1]
    example = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert example is not None
    (tmp_path / "cameras.yaml").write_text(example.group(1))
    fleet = load_fleet(tmp_path / "cameras.yaml")
    assert [c.name for c in fleet.cameras] == ["yard", "gate", "monday"]
    assert fleet.cameras[1].resources == {"site-b": 0.01} and fleet.cameras[2].live is False
    assert fleet.cameras[0].save_masks == tmp_path / "masks/yard"


def test_without_ray_a_fleet_says_which_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from fastsam_track.cluster import start_fleet
    from fastsam_track.errors import UsageError

    monkeypatch.setitem(sys.modules, "ray", None)  # an import of ray now fails as if it were not installed
    fleet = fleet_from_data({"cameras": [CAMERA]}, Path("/f"))
    with pytest.raises(UsageError, match=r"the cluster needs Ray: pip install 'fastsam-track\[cluster\]'"):
        start_fleet(fleet)


def test_every_registered_output_is_a_camera_key(tmp_path: Path) -> None:
    """The fleet file's output keys are the registry's: each one given is the camera's, by that key."""
    from fastsam_track.pipeline.exports.registry import FLEET_KEYS

    names = {key: f"{key}/{{name}}{kind.suffixes[0] if kind.suffixes else ''}" for key, kind in FLEET_KEYS.items()}
    camera = fleet_from_data({"cameras": [{"source": "rtsp://127.0.0.1:8554/yard", **names}]}, tmp_path).cameras[0]
    assert set(camera.paths()) == set(FLEET_KEYS)
    assert camera.save_tracks == tmp_path / "save_tracks/yard.txt"


def test_a_killed_cameras_half_written_frame_is_removed_and_its_whole_frames_kept(tmp_path: Path) -> None:
    """The next incarnation puts the killed one's files in place: its masks folder keeps the whole PNGs and
    loses the frame it was writing (staged under a dead pid), so the folder holds frames only."""
    from fastsam_track.cluster.workers import _rescue_previous

    camera = fleet_from_data(
        {"cameras": [{"name": "a", "source": "rtsp://127.0.0.1:8554/a", "save_masks": "masks/{name}"}]}, tmp_path
    ).cameras[0]
    folder = tmp_path / "masks" / "a"
    folder.mkdir(parents=True)
    (folder / "00000.png").write_bytes(b"whole")
    half = folder / f".00001.png.{_dead_pid()}-0.part"
    half.write_bytes(b"half")
    _rescue_previous(camera, 1)
    assert sorted(p.name for p in folder.iterdir()) == ["00000.png"]


def _dead_pid() -> int:
    """The id of a process that has ended."""
    import subprocess

    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid
