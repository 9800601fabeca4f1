"""A fleet on a local Ray instance: cameras from files and a real RTSP server, with prompts, through
segmenter and camera actors; their exports match a single-process run, and each failure (a
segmenter or camera actor killed, the RTSP server gone for a few seconds) is survived by the rest."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image

from fastsam_track.cluster import FleetRun, fleet_from_data, start_fleet
from fastsam_track.configs import load_config
from fastsam_track.pipeline.build import Outputs, build
from fastsam_track.pipeline.prompts.parse import prompt_from_record
from tests.cluster.conftest import SETTINGS
from tests.pipeline.conftest import RtspCamera
from tests.support.waiting import wait_until

pytestmark = pytest.mark.needs("gstreamer")

_names = itertools.count()
# prompts on shapes of the clips' first frames (clips("a"), clips("b"): seeds 0 and 1)
POINT_A = [{"points": [[285, 124]]}]
BOX_A = {"box": [97, 100, 165, 170]}
BOX_B = [{"box": [260, 90, 300, 133]}]


def _start(tmp_path: Path, cameras: list[dict[str, Any]]) -> FleetRun:
    """A fleet of ``cameras`` on the module's Ray instance (a controller of its own name)."""
    data = {"settings": SETTINGS, "segmenter": {"cpus": 1, "wait_ms": 20}, "camera_cpus": 0.25, "cameras": cameras}
    return start_fleet(fleet_from_data(data, tmp_path), name=f"fleet-{next(_names)}")


def _camera(name: str, source: Path | str, prompts: list[dict[str, Any]] | None = None, **paths: str) -> dict[str, Any]:
    """A camera writing every export (and a video) under ``<key>/<name>`` unless ``paths`` says otherwise."""
    default = {"output": f"out/{name}.mp4", "save_masks": f"masks/{name}", "save_tracks": f"tracks/{name}.txt"}
    return {"name": name, "source": str(source), "prompts": prompts or [], **default, **paths}


def _single_process(tmp_path: Path, source: Path, prompts: list[dict[str, Any]], tag: str) -> Path:
    """The same source, prompts and settings through ``fastsam-track run``'s pipeline in this process."""
    folder = tmp_path / f"single-{tag}"
    records = [prompt_from_record({"frame": 0, "object": n + 1, **p}, "test") for n, p in enumerate(prompts)]
    outputs = Outputs(save_masks=folder / "masks" if prompts else None, save_tracks=folder / "tracks.txt")
    with build(load_config(overrides=SETTINGS), source, records, outputs) as pipeline:
        pipeline.run()
    return folder


def _same_exports(reference: Path, tmp_path: Path, name: str) -> None:
    """The camera's mask PNGs and MOTS tracks are byte for byte the single-process run's."""
    assert (tmp_path / "tracks" / f"{name}.txt").read_bytes() == (reference / "tracks.txt").read_bytes()
    ours = sorted((tmp_path / "masks" / name).glob("*.png"))
    if not (reference / "masks").exists():  # no prompts: the camera's masks hold no object
        assert ours and not any(_objects(p) for p in ours)
        return
    assert [p.name for p in ours] == [p.name for p in sorted((reference / "masks").glob("*.png"))]
    for path in ours:
        assert path.read_bytes() == (reference / "masks" / path.name).read_bytes(), path


def _frames(video: Path) -> int:
    with av.open(str(video)) as container:
        return sum(1 for _ in container.decode(video=0))


def _camera_status(running: FleetRun, name: str) -> dict[str, Any]:
    return next(c for c in running.status()["cameras"] if c["name"] == name)


def _objects(mask_png: Path) -> set[int]:
    return set(np.unique(np.asarray(Image.open(mask_png))).tolist()) - {0}


def test_four_cameras_from_files_and_rtsp_with_prompts(
    ray_local: Any, tmp_path: Path, clips: Callable[[str, int], Path], start_camera: Callable[..., RtspCamera]
) -> None:
    a, b, server = clips("a", 30), clips("b", 30), start_camera("--file", str(clips("s", 250)))
    cameras = [
        _camera("a", a, POINT_A),
        _camera("b", b, BOX_B),
        _camera("c", server.url, [{"box": [0, 0, 320, 180]}]),
        _camera("d", server.url, [{"points": [[222, 26]]}]),  # on the stream clip's largest shape
    ]
    with _start(tmp_path, cameras) as running:
        wait_until(
            lambda: (
                {c["name"]: c for c in running.status()["cameras"]}.get("d", {}).get("frames", 0) >= 25
                and all(c["state"] == "finished" for c in running.status()["cameras"] if c["name"] in "ab")
            ),
            "both files to end and the streams to give 25 frames",
        )
        final = {c["name"]: c for c in running.stop()["cameras"]}
        segmenters = running.status()["segmenters"]
    assert {n: c["state"] for n, c in final.items()} == {
        "a": "finished",
        "b": "finished",
        "c": "stopped",
        "d": "stopped",
    }
    assert final["a"]["frames"] == final["b"]["frames"] == 30
    _same_exports(_single_process(tmp_path, a, POINT_A, "a"), tmp_path, "a")
    _same_exports(_single_process(tmp_path, b, BOX_B, "b"), tmp_path, "b")
    for name in "cd":  # the streams: every frame processed is in the video and the masks, the object followed
        assert _frames(tmp_path / "out" / f"{name}.mp4") == final[name]["frames"] >= 25
        masks = sorted((tmp_path / "masks" / name).glob("*.png"))
        assert len(masks) == final[name]["frames"] and any(_objects(m) == {1} for m in masks)
    # one segmenter served the four cameras, with frames batched together
    assert len(segmenters) == 1 and segmenters[0]["passes"] > 0


def test_a_killed_segmenter_is_restarted_and_no_camera_loses_a_frame(
    ray_local: Any, tmp_path: Path, clips: Callable[[str, int], Path]
) -> None:
    a, b = clips("a", 60), clips("b", 60)
    with _start(tmp_path, [_camera("a", a, POINT_A), _camera("b", b)]) as running:
        wait_until(lambda: _camera_status(running, "a")["frames"] >= 10, "camera a to process 10 frames")
        ray_local.kill(running.handles()["segmenters"][0], no_restart=False)
        final = running.wait(timeout=300)
    states = {c["name"]: (c["state"], c["frames"], c["restarts"]) for c in final["cameras"]}
    assert states == {"a": ("finished", 60, 0), "b": ("finished", 60, 0)}
    _same_exports(_single_process(tmp_path, a, POINT_A, "a"), tmp_path, "a")
    _same_exports(_single_process(tmp_path, b, [], "b"), tmp_path, "b")


def test_a_killed_camera_comes_back_with_its_prompts_in_new_files(
    ray_local: Any, tmp_path: Path, clips: Callable[[str, int], Path]
) -> None:
    a, b = clips("a", 60), clips("b", 60)
    with _start(tmp_path, [_camera("a", a, POINT_A), _camera("b", b)]) as running:
        wait_until(lambda: _camera_status(running, "a")["frames"] >= 5, "camera a to process 5 frames")
        frame = running.prompt("a", BOX_A)  # given while it runs: kept for its next incarnation
        wait_until(lambda: _camera_status(running, "a")["frames"] >= frame + 5, "camera a to apply the prompt")
        ray_local.kill(running.handles()["cameras"]["a"], no_restart=False)
        final = running.wait(timeout=300)
    states = {c["name"]: (c["state"], c["frames"], c["restarts"]) for c in final["cameras"]}
    assert states == {"a": ("finished", 60, 1), "b": ("finished", 60, 0)}
    _same_exports(_single_process(tmp_path, b, [], "b"), tmp_path, "b")
    # the new incarnation wrote new files: the whole clip, with both prompts, as a single-process run with them
    reference = _single_process(tmp_path, a, [*POINT_A, {**BOX_A, "frame": frame}], "a")
    killed_tracks = (tmp_path / "tracks" / "a.txt").read_text()  # put in place, up to its last whole line
    assert killed_tracks.endswith("\n") and killed_tracks in (reference / "tracks.txt").read_text()
    (tmp_path / "tracks" / "a.txt").unlink()
    (tmp_path / "tracks" / "a.1.txt").rename(tmp_path / "tracks" / "a.txt")
    killed = sorted((tmp_path / "masks" / "a").glob("*.png"))
    assert 0 < len(killed) < 60  # the killed incarnation's masks stay as they were
    for path in killed:
        path.unlink()
    assert not list((tmp_path / "masks" / "a").iterdir())  # nor the frame it was writing when killed
    (tmp_path / "masks" / "a").rmdir()
    (tmp_path / "masks" / "a.1").rename(tmp_path / "masks" / "a")
    _same_exports(reference, tmp_path, "a")
    assert _frames(tmp_path / "out" / "a.1.mp4") == 60
    # the killed one's video, fragmented, was put in place: it opens and plays what it holds
    assert (tmp_path / "out" / "a.mp4").exists() and _frames(tmp_path / "out" / "a.mp4") < 60
    assert not [p for folder in ("out", "tracks", "masks") for p in (tmp_path / folder).glob(".*")]  # no part, no lock


def test_a_stream_gone_or_frozen_for_seconds_comes_back_while_the_others_go_on(
    ray_local: Any, tmp_path: Path, clips: Callable[[str, int], Path], start_camera: Callable[..., RtspCamera]
) -> None:
    a, server = clips("a", 60), start_camera()
    with _start(tmp_path, [_camera("cam", server.url), _camera("a", a)]) as running:
        wait_until(lambda: _camera_status(running, "cam")["frames"] >= 10, "the stream's first 10 frames")
        server.kill()
        wait_until(lambda: _camera_status(running, "cam")["state"] == "reconnecting", "the camera to notice")
        before = _camera_status(running, "cam")["frames"]
        server.start()  # on the same port: the same URL
        wait_until(
            lambda: (s := _camera_status(running, "cam"))["state"] == "running" and s["frames"] >= before + 10,
            "the stream to come back and give 10 frames more",
        )
        server.freeze()  # a frozen camera: its reads time out, the actor is not stuck
        wait_until(lambda: _camera_status(running, "cam")["state"] == "reconnecting", "the frozen read to time out")
        before = _camera_status(running, "cam")["frames"]
        server.thaw()
        wait_until(
            lambda: (s := _camera_status(running, "cam"))["state"] == "running" and s["frames"] >= before + 10,
            "the thawed stream to give 10 frames more",
        )
        wait_until(lambda: _camera_status(running, "a")["state"] == "finished", "the file camera to end")
        final = {c["name"]: c for c in running.stop()["cameras"]}
    assert final["a"]["frames"] == 60 and final["cam"]["restarts"] == 0
    _same_exports(_single_process(tmp_path, a, [], "a"), tmp_path, "a")
    assert _frames(tmp_path / "out" / "cam.mp4") == final["cam"]["frames"]


def test_cameras_and_prompts_are_added_and_removed_while_the_fleet_runs(
    ray_local: Any, tmp_path: Path, clips: Callable[[str, int], Path], start_camera: Callable[..., RtspCamera]
) -> None:
    a, server = clips("a", 30), start_camera("--file", str(clips("s", 250)))
    with _start(tmp_path, [_camera("cam", server.url)]) as running:
        wait_until(lambda: _camera_status(running, "cam")["frames"] >= 5, "the stream's first frames")
        assert not any(_objects(p) for p in (tmp_path / "masks" / "cam").glob("*.png"))  # nothing prompted yet
        frame = running.prompt("cam", {"box": [0, 0, 320, 180]})
        added = _camera("a", a, POINT_A)
        running.add_camera(
            {k: str(tmp_path / v) if k in ("output", "save_masks", "save_tracks") else v for k, v in added.items()}
        )
        wait_until(lambda: _camera_status(running, "a")["state"] == "finished", "the added camera to end")
        wait_until(lambda: _camera_status(running, "cam")["frames"] >= frame + 5, "the stream to go past the prompt")
        last = running.remove_camera("cam")
        assert [c["name"] for c in running.status()["cameras"]] == ["a"]
    assert last["state"] == "stopped"
    masks = sorted((tmp_path / "masks" / "cam").glob("*.png"))
    assert {1} in [_objects(m) for m in masks]  # the object the prompt picked
    assert _frames(tmp_path / "out" / "cam.mp4") == last["frames"] == len(masks)
    _same_exports(_single_process(tmp_path, a, POINT_A, "a"), tmp_path, "a")
