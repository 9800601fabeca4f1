"""A real run's time series and its report: written by `run --stats --report`, opened in Chromium."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import write_clip
from tests.pipeline.test_web import CHROMIUM_ARGS
from tests.support.cli import run_cli as _cli
from tests.support.system import CHROMIUM

SECTIONS = ("summary", "fps-age", "stages", "objects", "keyframes", "contact-sheet")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A 24-frame clip run with two prompted objects (a point and a box), a keyframe every 3 frames,
    a video, ``--stats`` and ``--report``."""
    folder = tmp_path_factory.mktemp("run")
    clip = write_clip(folder / "clip.mp4", frames=24, height=180, width=320)
    result = _cli(
        *("run", clip, "-o", folder / "out.mp4", "--model", "fastsam-tiny", "--imgsz", 320, "--no-progress"),
        *("--point", "150,79", "--box", "98,143,129,178", "--keyframe-every", 3),
        *("--stats", folder / "stats.json", "--report", folder / "report.html"),
    )
    assert result.returncode == 0, result.stderr
    return folder


def test_the_time_series_has_a_line_per_frame_with_its_objects_and_keyframes(finished_run):
    totals = json.loads((finished_run / "stats.json").read_text())
    assert totals["timeline"] == "stats.frames.jsonl"
    records = [json.loads(line) for line in (finished_run / "stats.frames.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in records] == list(range(24)) == list(range(totals["frames"]))
    assert [r["keyframe"] for r in records] == [i % 3 == 0 for i in range(24)]
    assert set(records[0]["ms"]) == {"decode", "segment", "track", "render", "encode"}
    assert all(r["age_ms"] > 0 and r["captured"] >= 0 for r in records)
    # the per-frame stage times add up to the run's totals
    for stage, mean in totals["stage_ms_per_frame"].items():
        assert sum(r["ms"][stage] for r in records) / 24 == pytest.approx(mean, abs=0.05)
    assert {o["id"] for o in records[0]["objects"]} == {1, 2}
    states = {o["state"] for r in records for o in r["objects"]}
    assert "seen" in states and "carried" in states  # carried between keyframes
    seen = next(o for o in records[0]["objects"] if o["state"] == "seen")
    x1, y1, x2, y2 = seen["box"]
    assert seen["area"] > 0 and x2 > x1 and y2 > y1


@pytest.mark.needs("chromium")
def test_chromium_shows_every_section_of_the_report_with_its_figure(finished_run):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            requests: list[str] = []
            page.on("request", lambda request: requests.append(request.url))
            page.goto((finished_run / "report.html").as_uri(), wait_until="load")
            for section in SECTIONS:
                assert page.locator(f"section#{section}").count() == 1, section
                if section == "summary":
                    continue
                image = page.locator(f"section#{section} img")
                size = image.evaluate("i => [i.complete, i.naturalWidth, i.naturalHeight]")
                assert size[0] and size[1] > 100 and size[2] > 50, (section, size)
            assert "The bottleneck is" in page.locator("section#stages").inner_text()
            assert "8 of 24 frames went through the network" in page.locator("section#keyframes").inner_text()
            assert all(url.startswith(("file:", "data:")) for url in requests), requests  # nothing from elsewhere
        finally:
            browser.close()


def test_the_report_command_writes_the_page_from_the_stats_file(finished_run, tmp_path):
    output = tmp_path / "again.html"
    result = _cli("report", finished_run / "stats.json", "-o", output, "--video", finished_run / "out.mp4")
    assert result.returncode == 0, result.stderr
    page = output.read_text()
    assert all(f'<section id="{s}"' in page for s in SECTIONS)
    # Self-contained: no script and no address outside the page. The images are inline base64, whose letters
    # can spell "http" by chance (one CI run's contact sheet did), so they are left out of the search.
    text = re.sub(r"data:image/[a-z]+;base64,[A-Za-z0-9+/=]+", "data:", page)
    assert "<script" not in text and "http" not in text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no stats file at"),  # missing
        ("not json", "is not a --stats JSON file"),
        ('{"fps": 3}', "no 'frames' figure"),
        ('{"frames": 3}', "no time series at"),  # the stats without their .frames.jsonl
    ],
)
def test_a_bad_stats_file_is_a_usage_error(tmp_path, content, message):
    stats = tmp_path / "stats.json"
    if content is not None:
        stats.write_text(content)
    result = _cli("report", stats)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_an_unwritable_report_is_refused_before_the_run(tmp_path, clip_path):
    result = _cli("run", clip_path, "-o", tmp_path / "out.mp4", "--report", "/proc/1/no/report.html")
    assert result.returncode == 2 and "cannot write --report file '/proc/1/no/report.html'" in result.stderr
    assert not (tmp_path / "out.mp4").exists()


def test_a_report_named_as_an_input_or_output_is_refused_and_nothing_changes(tmp_path, clip_path, finished_run):
    """``--report`` is under the path rule of every other output: never the source, the stats file or the video,
    nor (for the cluster) the fleet file."""
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(clip_path.read_bytes())
    before = clip.read_bytes()
    result = _cli("run", clip, "-o", tmp_path / "out.mp4", "--model", "fastsam-tiny", "--report", clip)
    assert result.returncode == 2 and result.stderr.endswith(
        f"--report {str(clip)!r} is the source {str(clip)!r}: give the output another name\n"
    ), result.stderr
    result = _cli(
        "run", clip, "-o", tmp_path / "out.mp4", "--stats", tmp_path / "s.json", "--report", tmp_path / "s.json"
    )
    assert result.returncode == 2 and "name the same path" in result.stderr, result.stderr
    assert clip.read_bytes() == before and not (tmp_path / "out.mp4").exists()

    stats = finished_run / "stats.json"
    kept = stats.read_bytes()
    result = _cli("report", stats, "-o", stats)
    assert result.returncode == 2 and "is the stats file" in result.stderr, result.stderr
    result = _cli("report", stats, "-o", finished_run / "out.mp4", "--video", finished_run / "out.mp4")
    assert result.returncode == 2 and "is the --video" in result.stderr, result.stderr
    assert stats.read_bytes() == kept

    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(f"cameras: [{{source: {clip}, save_tracks: {tmp_path / 'tracks.txt'}}}]\n")
    for report, what in (
        (fleet, "is the fleet file"),
        (clip, "is the source of camera 'clip'"),
        (tmp_path / "tracks.txt", "is the save_tracks of camera 'clip'"),
    ):
        result = _cli("cluster", fleet, "--report", report)
        assert result.returncode == 2 and what in result.stderr, result.stderr
    assert clip.read_bytes() == before and "cameras" in fleet.read_text()
