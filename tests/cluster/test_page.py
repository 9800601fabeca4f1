"""The fleet's web page, served by the driver, in a real Chromium: two RTSP cameras on a local Ray
instance are listed with their states and shown, a click on a shape of the camera shown selects an
object there (kept by the controller: a restarted camera follows it again), a camera added from the
page runs, and one removed from it stops, its video finalised."""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fastsam_track.cli import main
from fastsam_track.cluster import FleetRun, fleet_from_data, start_fleet
from fastsam_track.pipeline.prompts.parse import prompt_from_record
from fastsam_track.synthetic import SyntheticClip
from tests.cluster.conftest import SETTINGS
from tests.cluster.test_cluster import _frames, _objects
from tests.conftest import write_clip
from tests.pipeline.conftest import RtspCamera
from tests.pipeline.test_web import _deepest_point, _launch, _Page
from tests.support.waiting import CEILING, Lines, wait_until

_names = itertools.count()
WAIT_MS = 120_000  # a page waits this long at most for a sign (a model pass, a camera starting)
DOOR, YARD, GATE = (180, 320, 11), (160, 288, 12), (180, 320, 13)  # (height, width, seed): told apart by width


def _still_clip(folder: Path, name: str, shape: tuple[int, int, int], frames: int) -> Path:
    """A clip of six shapes that stay where they are (a click lands on one whatever frame is shown)."""
    height, width, seed = shape
    return write_clip(folder / f"{name}.mp4", frames=frames, height=height, width=width, seed=seed, motion=0.0)


def _shape_point(shape: tuple[int, int, int]) -> tuple[int, int]:
    """The point deepest inside the clip's shapes: the one with the most room around it."""
    height, width, seed = shape
    masks = SyntheticClip(height=height, width=width, num_shapes=6, seed=seed, motion=0.0).frame(0)[1]
    return max((_deepest_point(mask) for mask in masks), key=lambda p: p[1])[0]


def _background_point(shape: tuple[int, int, int]) -> tuple[int, int]:
    height, width, seed = shape
    masks = SyntheticClip(height=height, width=width, num_shapes=6, seed=seed, motion=0.0).frame(0)[1]
    return _deepest_point(~masks.any(axis=0))[0]  # the frame's edge counts as outside: well inside the frame


def _camera(running: FleetRun, name: str) -> dict[str, Any]:
    return next((c for c in running.status()["cameras"] if c["name"] == name), {})


def _mask_objects(folder: Path) -> list[set[int]]:
    return [_objects(p) for p in sorted(folder.glob("*.png"))]


@pytest.mark.slow
@pytest.mark.needs("chromium")
def test_the_fleet_page_lists_shows_prompts_adds_and_removes_cameras(
    ray_local: Any, tmp_path: Path, start_camera: Callable[..., RtspCamera]
) -> None:
    from playwright import sync_api

    door = start_camera("--file", str(_still_clip(tmp_path, "door", DOOR, 250)))
    yard = start_camera("--file", str(_still_clip(tmp_path, "yard", YARD, 250)))
    _still_clip(tmp_path, "gate", GATE, 300)  # added from the page, by a path relative to the fleet's folder
    cameras = [
        {"name": "door", "source": door.url, "output": "out/door.mp4"},
        {"name": "yard", "source": yard.url, "output": "out/yard.mp4", "save_masks": "masks/yard"},
    ]
    data = {"settings": SETTINGS, "segmenter": {"cpus": 1, "wait_ms": 20}, "camera_cpus": 0.25, "cameras": cameras}
    fleet = fleet_from_data(data, tmp_path)
    with (
        start_fleet(fleet, name=f"page-{next(_names)}", serve="127.0.0.1:0", serve_folder=tmp_path) as running,
        sync_api.sync_playwright() as playwright,
    ):
        assert running.page is not None and running.page.token is None  # loopback: no token
        browser = _launch(playwright)
        chromium = browser.new_page(viewport={"width": 800, "height": 900})
        chromium.goto(running.page.url, wait_until="domcontentloaded")

        # Both cameras listed, each with its state from the controller; the first one shown.
        chromium.wait_for_selector('#sources[data-count="2"]', timeout=WAIT_MS)
        chromium.wait_for_selector('#sources .entry[data-state="running"]', timeout=WAIT_MS)
        names = chromium.locator("#sources button[data-source]").all_inner_texts()
        assert [n.split()[0] for n in names] == ["door", "yard"], names
        _Page(chromium, DOOR[1::-1], source=0)

        # The yard: its frames, and a click on one of its shapes selects an object there.
        chromium.locator('#sources button[data-source="1"]').click()
        page = _Page(chromium, YARD[1::-1], source=1)
        chromium.wait_for_selector('#sources .entry[data-entry="1"][data-state="running"]', timeout=WAIT_MS)
        assert page.click(_shape_point(YARD)) == {"object": 1}
        page.listed(1).wait_for(timeout=WAIT_MS)
        wait_until(lambda: {1} in _mask_objects(tmp_path / "masks" / "yard"), "the yard's masks to hold object 1")
        # A right click: a background point added to that object, which goes on.
        assert page.click(_background_point(YARD), "right") == {"object": 1}
        assert chromium.locator("#status").text_content() == ""
        assert not (tmp_path / "masks" / "door").exists()  # the door was not prompted

        # The controller kept the clicks: the yard's camera, killed, comes back following object 1,
        # and the page shows its new incarnation's frames.
        ray_local.kill(running.handles()["cameras"]["yard"], no_restart=False)
        wait_until(lambda: _camera(running, "yard").get("incarnation") == 1, "the yard's camera to restart")
        wait_until(lambda: {1} in _mask_objects(tmp_path / "masks" / "yard.1"), "the restarted yard to follow 1")
        page.listed(1).wait_for(timeout=WAIT_MS)

        # A camera added from the page's form appears in the list and runs.
        chromium.fill('#add-source input[name="source"]', "gate.mp4")
        chromium.fill('#add-source input[name="name"]', "gate")
        chromium.fill('#add-source input[name="output"]', "../gate.mp4")  # outside the fleet's folder: refused
        with chromium.expect_response(lambda r: "/sources/add" in r.url) as refused:
            chromium.click('#add-source button[type="submit"]')
        assert refused.value.status == 400
        chromium.wait_for_function("() => document.getElementById('status').textContent.includes('outside')")
        chromium.fill('#add-source input[name="output"]', "out/gate.mp4")
        with chromium.expect_response(lambda r: "/sources/add" in r.url) as added:
            chromium.click('#add-source button[type="submit"]')
        assert added.value.status == 200 and added.value.json() == {"number": 2, "name": "gate"}
        chromium.wait_for_selector('#sources .entry[data-entry="2"]', timeout=WAIT_MS)
        assert chromium.locator("#sources button[data-source]").count() == 3
        wait_until(lambda: _camera(running, "gate").get("frames", 0) > 0, "the added camera to process frames")
        chromium.wait_for_selector(
            '#sources .entry[data-entry="2"]:is([data-state="running"], [data-state="finished"])', timeout=WAIT_MS
        )

        # A camera whose source does not open: listed as failed, with why when shown.
        chromium.fill('#add-source input[name="source"]', "missing.mp4")
        chromium.fill('#add-source input[name="name"]', "ghost")
        chromium.fill('#add-source input[name="output"]', "out/ghost.mp4")
        with chromium.expect_response(lambda r: "/sources/add" in r.url) as added:
            chromium.click('#add-source button[type="submit"]')
        assert added.value.json() == {"number": 3, "name": "ghost"}
        chromium.wait_for_selector('#sources .entry[data-entry="3"][data-state="failed"]', timeout=WAIT_MS)
        chromium.locator('#sources button[data-source="3"]').click()
        chromium.wait_for_function(
            "() => document.getElementById('stream-status').textContent.startsWith('ghost failed: ')", timeout=WAIT_MS
        )
        with chromium.expect_response(lambda r: "/sources/remove" in r.url) as removed:
            chromium.click('#sources .entry[data-entry="3"] button.remove-source')
        assert removed.value.json()["state"] == "failed"
        chromium.locator('#sources button[data-source="1"]').click()
        _Page(chromium, YARD[1::-1], source=1)

        # The yard, shown, removed from the page: it stops (its video finalised) and the page shows the door.
        with chromium.expect_response(lambda r: "/sources/remove" in r.url) as removed:
            chromium.click('#sources .entry[data-entry="1"] button.remove-source')
        assert removed.value.status == 200
        last = removed.value.json()
        assert last["name"] == "yard" and last["state"] == "stopped"
        chromium.wait_for_selector('#sources .entry[data-entry="1"]', state="detached", timeout=WAIT_MS)
        _Page(chromium, DOOR[1::-1], source=0)
        assert [c["name"] for c in running.status()["cameras"]] == ["door", "gate"]
        assert _frames(tmp_path / "out" / "yard.1.mp4") == last["frames"] > 0
        assert not (tmp_path / "out" / "ghost.mp4").exists()
        browser.close()


@pytest.mark.slow
def test_the_command_serves_the_page_until_interrupted(
    ray_local: Any, tmp_path: Path, clips: Callable[[str, int], Path]
) -> None:
    clip = clips("a", 20)
    fleet = {"settings": SETTINGS, "segmenter": {"cpus": 1}, "cameras": [{"source": str(clip), "output": "a.mp4"}]}
    (tmp_path / "cameras.yaml").write_text(json.dumps(fleet))  # JSON is YAML
    # The command joins this module's Ray instance rather than starting one of its own, by its
    # address: "auto" would join the cluster /tmp/ray names last, which may be another process's
    # (another test module's, another user's on the machine), unreachable from here.
    address = ray_local.get_runtime_context().gcs_address
    command = [sys.executable, "-m", "fastsam_track.cli", "cluster", str(tmp_path / "cameras.yaml")]
    command += ["--address", address, "--serve", "127.0.0.1:0", "--status-every", "1"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None and process.stderr is not None
        url = Lines(process.stdout).wait_for(r"^serving (http://127\.0\.0\.1:\d+/)$").group(1)

        def listed() -> list[dict[str, Any]]:
            with urllib.request.urlopen(url + "sources", timeout=CEILING) as answer:
                return list(json.load(answer)["sources"])

        assert [s["name"] for s in listed()] == ["a"]
        # The file ends; the fleet (and its page) goes on until Ctrl-C, as a camera may still be added.
        wait_until(lambda: listed()[0]["state"] == "finished", "the camera to end")
        assert process.poll() is None
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=CEILING) == 130, process.stderr.read()
    finally:
        process.kill()
    assert _frames(tmp_path / "a.mp4") == 20


def test_a_token_without_a_page_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "cameras.yaml").write_text("cameras: [{source: a.mp4, output: a.out.mp4}]\n")
    assert main(["cluster", str(tmp_path / "cameras.yaml"), "--serve-token", "s3cret"]) == 2
    assert capsys.readouterr().err.strip() == "fastsam-track: error: --serve-token needs --serve"


POINT = {"frame": 0, "object": 1, "points": [[10, 10]]}
BOX = {"frame": 0, "object": 2, "box": [0, 0, 5, 5]}


@pytest.mark.parametrize(
    ("given", "record", "expected"),
    [
        # a background point: added to the newest object given points (a box's object is not one)
        (
            [POINT, BOX],
            {"points": [[1, 2]], "labels": [0]},
            {"object": 1, "points": [[10, 10], [1, 2]], "labels": [1, 0]},
        ),
        # to a named object, after the points it was given last (a refinement replaces the earlier ones)
        (
            [POINT, {**POINT, "points": [[10, 10], [3, 3]], "labels": [1, 0]}, {**POINT, "object": 3}],
            {"object": 1, "points": [[4, 4]]},
            {"object": 1, "points": [[10, 10], [3, 3], [4, 4]], "labels": [1, 0, 1]},
        ),
        # nothing given points yet, or the object was removed since: nothing to add to
        ([], {"points": [[1, 2]], "labels": [0]}, "add a foreground point first"),
        ([BOX], {"points": [[1, 2]], "labels": [0]}, "add a foreground point first"),
        ([POINT, {"frame": 5, "object": 1, "remove": True}], {"points": [[1, 2]]}, "add a foreground point first"),
        ([POINT], {"object": 2, "points": [[1, 2]]}, "object 2 was not given points"),
        ([POINT], {"box": [0, 0, 1, 1]}, "only points can be added"),
    ],
)
def test_points_are_added_to_an_object_given_points(
    given: list[dict[str, Any]], record: dict[str, Any], expected: dict[str, Any] | str
) -> None:
    from fastsam_track.cluster.controller import _prompt
    from fastsam_track.errors import UsageError
    from fastsam_track.pipeline.prompts.objects import ObjectPrompts

    objects = ObjectPrompts()
    for entry in given:
        objects.note(prompt_from_record(entry, "given"))
    if isinstance(expected, str):
        with pytest.raises(UsageError, match=expected):
            _prompt(objects, record, True, "yard")
    else:
        prompt = _prompt(objects, record, True, "yard")
        got = {"object": prompt.object_id, "points": prompt.points.tolist(), "labels": prompt.labels.tolist()}
        assert got == expected


def _canonical(prompt: Any) -> tuple[Any, ...]:
    """A prompt as a comparable tuple: its kind, frame, object and values."""
    values = [getattr(prompt, name).tolist() for name in ("points", "labels", "box") if hasattr(prompt, name)]
    return (type(prompt).__name__, prompt.frame, prompt.object_id, *values)


@pytest.mark.parametrize(
    ("live", "spec", "records", "kept"),
    [
        # a file is processed again from its start: every prompt is kept, on its own frame
        (
            False,
            [],
            [POINT, {"frame": 9, "object": 1, "remove": True}],
            [POINT, {"frame": 9, "object": 1, "remove": True}],
        ),
        # a live camera gets them again on frame 0: only what stands (an object's newest prompt)
        (True, [], [POINT, BOX, {**POINT, "labels": [1]}], [BOX, {**POINT, "labels": [1]}]),
        # a removed object is forgotten, unless the camera's own prompts give it (then the removal stands)
        (True, [], [POINT, {"frame": 3, "object": 1, "remove": True}], []),
        (True, [POINT], [{"frame": 3, "object": 1, "remove": True}], [{"frame": 3, "object": 1, "remove": True}]),
    ],
)
def test_prompts_given_while_running_are_kept_for_a_restart(
    live: bool, spec: list[dict[str, Any]], records: list[dict[str, Any]], kept: list[dict[str, Any]]
) -> None:
    from fastsam_track.cluster.controller import _Camera, _keep
    from fastsam_track.cluster.fleet import CameraSpec

    camera = _Camera(CameraSpec("yard", "rtsp://cam/yard" if live else "/f/yard.mp4", prompts=tuple(spec)), 0)
    for record in records:
        _keep(camera, prompt_from_record(record, "given"))
    expected = [_canonical(prompt_from_record(record, "kept")) for record in kept]
    assert [_canonical(p) for p in camera.added_prompts] == expected
