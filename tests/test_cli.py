"""The ``fastsam-track`` command end to end, as a user runs it (a subprocess)."""

import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from fractions import Fraction

import av
import pytest

from tests.conftest import write_clip
from tests.support.cli import run_cli as _cli
from tests.support.waiting import CEILING, wait_until


def _probe(path):
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return sum(1 for _ in container.decode(stream)), (stream.width, stream.height), stream.average_rate


def test_run_keeps_frame_count_size_and_rate(tmp_path):
    clip = write_clip(tmp_path / "in.mp4", frames=15, height=240, width=426, fps=Fraction(30000, 1001))
    result = _cli("run", clip, "--output", tmp_path / "out.mp4", "--model", "fastsam-tiny", "--imgsz", 320)
    assert result.returncode == 0, result.stderr
    assert "processed 15 frames" in result.stdout
    assert _probe(tmp_path / "out.mp4") == (15, (426, 240), Fraction(30000, 1001))


def test_run_on_an_image_folder_with_a_preset(tmp_path):
    import cv2

    from fastsam_track.synthetic import SyntheticClip

    clip = SyntheticClip(120, 160, 4, seed=2)
    (tmp_path / "frames").mkdir()
    for i in range(4):
        cv2.imwrite(str(tmp_path / "frames" / f"{i:04d}.jpg"), clip.frame(i)[0])
    result = _cli(
        "run", tmp_path / "frames", "-o", tmp_path / "out.mp4", "--config", "webcam", "--model", "fastsam-tiny"
    )
    assert result.returncode == 0, result.stderr
    assert _probe(tmp_path / "out.mp4")[:2] == (4, (160, 120))


def test_demo_writes_an_annotated_clip(tmp_path):
    result = _cli("demo", "--output", tmp_path / "demo.mp4", "--frames", 8, "--no-progress")
    assert result.returncode == 0, result.stderr
    annotated, original = tmp_path / "demo.mp4", tmp_path / "demo-input.mp4"
    assert _probe(annotated)[:2] == (8, (640, 360))
    with av.open(str(annotated)) as a, av.open(str(original)) as b:
        drawn = next(a.decode(video=0)).to_ndarray(format="bgr24").astype(int)
        plain = next(b.decode(video=0)).to_ndarray(format="bgr24").astype(int)
    # The overlay changes a good part of the picture: the built-in model found the shapes.
    assert (abs(drawn - plain).sum(axis=2) > 60).mean() > 0.05
    from fastsam_track.cli import _check_demo_input

    _check_demo_input(original)  # tagged as the demo's: a next demo run may replace it


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "missing.mp4", "-o", "out.mp4"], "source not found"),  # no such source
        (["run", "{empty}", "-o", "out.mp4"], "no images (.jpg"),  # a folder without pictures
        (["run", "{unreadable}", "-o", "out.mp4"], "cannot read image"),  # a picture that is not one
        (["run", "{fifo}", "-o", "out.mp4"], "is not a regular file: give a video file or a folder"),  # not a file
        (["run", "{clip}", "-o", "out.mp4", "--imgsz", "500"], "imgsz must be a positive multiple of 32"),
        (["run", "{clip}", "-o", "out.mp4", "--imgsz", "100000"], "imgsz must be a positive multiple of 32 up to 4096"),
        (["run", "{clip}", "-o", "out.mp4", "--config", "{bad_config}"], "unknown config key 'imgs'; valid keys:"),
        (["run", "{clip}", "-o", "out.mp4", "--model", "nope.pt"], "model 'nope.pt' not found"),
        (["run", "{clip}", "-o", "out.mp4"], "could not download FastSAM-s.pt"),  # the default real model, offline
        (["run", "{clip}", "-o", "."], "is a folder"),  # an output that cannot be written
        (["demo", "--frames", "0"], "--frames must be 1 or more"),
        (["run", "0", "-o", "out.mp4"], "no webcam at index 0"),  # no camera on this machine
        (["run", "rtsp://127.0.0.1:1/cam", "-o", "out.mp4"], "cannot open stream rtsp://127.0.0.1:1/cam"),
        (["run", "{clip}", "--model", "fastsam-tiny", "--serve", "nohost"], "--serve 'nohost'"),
        (["run", "{clip}", "--model", "fastsam-tiny", "--rtsp-out", "http://x"], "needs an rtsp:// URL"),
        (
            ["run", "{clip}", "-o", "out.mp4", "--reconnect-limit", "-1"],
            "reconnect_limit must be 0 (never give up) or more, got -1",
        ),
        # Outputs are checked before the model loads (the default model, offline, would fail otherwise).
        (["run", "{clip}", "-o", "out"], "cannot write video 'out': it has no extension; give a name ending in .mp4"),
        (["run", "{clip}", "-o", "out.webm"], "its extension '.webm' is not a video container for H.264"),
        (["demo", "-o", "out"], "cannot write video 'out': it has no extension"),  # not after the demo's run
        (["run", "{clip}", "-o", "out.mp4", "--stats", "/proc/1/no/stats.json"], "cannot write --stats file"),
        (["run", "{clip}", "-o", "{clip}"], "-o '{clip}' is the source '{clip}': give the output another name"),
        (["run", "{clip}", "-o", "{link}"], "-o '{link}' is the source '{clip}'"),  # a symlink to the source
        (["run", "{clip}", "-o", "out.mp4", "--save-tracks", "t.txt", "--save-proposals", "t.txt"], "name the same"),
        (["run", "{clip}", "--point", "5,5", "--save-masks", "{used}"], "--save-masks folder '{used}' is not empty"),
        # Object ids fit the 8-bit PNGs of --save-masks; 0 is the background.
        (
            ["run", "{clip}", "--prompts", "{id_300}", "--save-masks", "m"],
            "object 300 on frame 0: ids must be 1 to 255",
        ),
        (["run", "{clip}", "--prompts", "{id_0}", "--save-masks", "m"], "integer from 1 to 2147483647, got 0"),
        (["run", "{clip}", "--prompts", "{id_-1}", "--save-masks", "m"], "integer from 1 to 2147483647, got -1"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, clip_path, args, message):
    bad_config = tmp_path / "bad.yaml"
    bad_config.write_text("imgs: 640\n")
    (tmp_path / "empty").mkdir()
    (tmp_path / "unreadable").mkdir()
    (tmp_path / "unreadable" / "0001.jpg").write_text("not a JPEG")
    os.mkfifo(tmp_path / "pipe.mp4")  # opening it to read would wait for a writer for ever
    folders = {"empty": tmp_path / "empty", "unreadable": tmp_path / "unreadable", "fifo": tmp_path / "pipe.mp4"}
    (tmp_path / "link.mp4").symlink_to(clip_path)
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "00000.png").write_bytes(b"an earlier run's mask")
    for object_id in (300, 0, -1):
        prompt = {"object": object_id, "frame": 0, "box": [1, 1, 9, 9]}
        (tmp_path / f"id_{object_id}.json").write_text(json.dumps({"prompts": [prompt]}))
    names = {"link": tmp_path / "link.mp4", "used": tmp_path / "used"}
    names.update({f"id_{i}": tmp_path / f"id_{i}.json" for i in (300, 0, -1)})
    before = clip_path.read_bytes()
    args = [a.format(clip=clip_path, bad_config=bad_config, **folders, **names) for a in args]
    result = _cli(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0, result.stderr
    message = message.format(clip=clip_path, **names)
    assert result.stderr.startswith("fastsam-track: error: ") and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out.mp4").exists()
    assert clip_path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith((".lock", ".part"))) == []


_PR_CAPBSET_DROP, _CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH = 24, 1, 2


def _obey_file_permissions():
    """In the child, before it starts: give up root's licence to read what permissions forbid.

    Dropped from the bounding set, the capabilities are gone after ``exec``: the command then
    meets file permissions as any user does. Nothing to do when the tests do not run as root.
    """
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
        if libc.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0):
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


@pytest.fixture
def permissions_apply(tmp_path):
    """Skip when file permissions cannot be made to bind here (root, not allowed to drop capabilities)."""
    closed = tmp_path / "probe"
    closed.touch(mode=0)
    try:
        opened = subprocess.run(
            [sys.executable, "-c", f"open({str(closed)!r})"], capture_output=True, preexec_fn=_obey_file_permissions
        )
    except subprocess.SubprocessError:  # prctl refused
        pytest.skip("running as root without the right to drop CAP_DAC_OVERRIDE: every file is readable")
    if opened.returncode == 0:
        pytest.skip("a file without read permission can be read here")
    closed.unlink()


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("no-read.mp4", "cannot read video '{path}': Permission denied"),  # the file (no errno, the path once)
        ("locked/clip.mp4", "cannot read source '{path}': Permission denied"),  # a folder on the way
        ("pictures", "cannot read folder '{path}': Permission denied"),  # a folder of pictures
    ],
)
def test_a_source_without_read_permission_is_one_line_and_exit_2(tmp_path, clip_path, permissions_apply, case, message):
    (tmp_path / "locked").mkdir()
    (tmp_path / "pictures").mkdir()
    shutil.copy(clip_path, tmp_path / "no-read.mp4")
    shutil.copy(clip_path, tmp_path / "locked" / "clip.mp4")
    shutil.copy(clip_path, tmp_path / "pictures" / "0001.png")
    closed = [tmp_path / "no-read.mp4", tmp_path / "locked", tmp_path / "pictures"]
    for path in closed:
        path.chmod(0)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "fastsam_track.cli", "run", case, "-o", "out.mp4"],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=120,
            preexec_fn=_obey_file_permissions,
        )
    finally:
        for path in closed:
            path.chmod(0o700)
    assert result.returncode == 2
    assert result.stderr == f"fastsam-track: error: {message.format(path=case)}\n"
    assert not (tmp_path / "out.mp4").exists()


def test_prompts_masks_and_replay_give_the_same_masks(tmp_path, clip_path):
    import json

    import numpy as np
    from PIL import Image

    from fastsam_track.synthetic import SyntheticClip

    # The clip fixture's shapes: prompt the largest visible one at its centre.
    _, truth = SyntheticClip(height=180, width=320, num_shapes=6, seed=3).frame(0)
    ys, xs = np.nonzero(truth[np.argmax(truth.sum(axis=(1, 2)))])
    prompts = {"prompts": [{"frame": 0, "object": 1, "points": [[float(xs.mean()), float(ys.mean())]]}]}
    (tmp_path / "p.json").write_text(json.dumps(prompts))
    common = ["--prompts", tmp_path / "p.json", "--no-progress"]
    live = _cli(
        "run",
        clip_path,
        "--model",
        "fastsam-tiny",
        "--imgsz",
        320,
        "--conf",
        0.25,
        *common,
        "--save-masks",
        tmp_path / "live",
        "--save-segments",
        tmp_path / "s.jsonl",
        "--save-tracks",
        tmp_path / "t.txt",
        "-o",
        tmp_path / "out.mp4",
    )
    assert live.returncode == 0, live.stderr
    replay = _cli("run", clip_path, "--segments", tmp_path / "s.jsonl", *common, "--save-masks", tmp_path / "replay")
    assert replay.returncode == 0, replay.stderr
    names = sorted(p.name for p in (tmp_path / "live").iterdir())
    assert names == [f"{i:05d}.png" for i in range(12)]
    import cv2

    cell = 4  # frame pixels a side of a mask cell here (320 / 80)
    for name in names:
        a, b = np.array(Image.open(tmp_path / "live" / name)), np.array(Image.open(tmp_path / "replay" / name))
        # What is guaranteed: the replay tracks the same masks at mask resolution (tracking is bit
        # for bit), but it has no logits, so the two are upsampled differently. A pixel can differ
        # only where the cells around it disagree, so within two cells of an edge of either image
        # (a one-cell piece can show in one upsampling and not in the other). Anything else is a
        # different mask.
        edge = np.zeros(a.shape, bool)
        for image in (a, b):
            edge |= cv2.morphologyEx(image, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
        near_edge = cv2.dilate(edge.astype(np.uint8), np.ones((4 * cell + 1, 4 * cell + 1), np.uint8)) > 0
        assert not (a != b)[~near_edge].any(), name
        # The same objects: an id in one image only is a piece of a cell or two, never a whole object.
        for object_id in set(np.unique(a)) ^ set(np.unique(b)):
            assert max((a == object_id).sum(), (b == object_id).sum()) <= 2 * cell * cell, (name, object_id)
        for object_id in set(np.unique(a)) & set(np.unique(b)) - {0}:
            overlap = ((a == object_id) & (b == object_id)).sum() / ((a == object_id) | (b == object_id)).sum()
            assert overlap > 0.8, (name, object_id, overlap)
    first = np.array(Image.open(tmp_path / "live" / "00000.png"))
    assert first[int(ys.mean()), int(xs.mean())] == 1  # the prompted object is selected
    header, *records = (tmp_path / "s.jsonl").read_text().splitlines()
    assert json.loads(header) == {
        "fastsam_track_segments": 1,
        "width": 320,
        "height": 180,
        "frames": 12,
        "vid_stride": 1,
    }
    assert len(records) == 12
    assert (tmp_path / "t.txt").read_text().count("\n") > 12


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--point", "1000,10", "-o", "out.mp4"], "outside the 320x180 frame"),  # off the frame
        (["--point", "10,10"], "nothing to write"),  # no output at all
        (["--save-masks", "masks"], "--save-masks writes prompted objects"),  # masks of what?
        (["--segments", "none.jsonl", "-o", "out.mp4"], "segments file not found"),
        (["--text", "@3", "-o", "out.mp4"], "the text must be 1 to 300 characters"),
        (["--text", "a cup", "-o", "out.mp4"], "cannot load CLIP ViT-B-32 weights 'openai': not in the cache"),
        (["--text", "a cup", "--clip-model", "ViT-Nope", "-o", "out.mp4"], "unknown CLIP model 'ViT-Nope'"),
        (["--save-edges", "/dev/null/edges", "-o", "x.mp4"], "cannot create edge folder"),
    ],
)
def test_bad_prompt_runs(tmp_path, clip_path, args, message):
    result = _cli("run", clip_path, "--model", "fastsam-tiny", *args, cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_a_prompt_past_the_end_is_a_warning(tmp_path, clip_path):
    result = _cli(
        "run",
        clip_path,
        "--model",
        "fastsam-tiny",
        "--imgsz",
        320,
        "--point",
        "10,10@500",
        "-o",
        tmp_path / "out.mp4",
        "--no-progress",
    )
    assert result.returncode == 0, result.stderr
    assert "frame 500 is past the last frame" in result.stderr


def _timed_lines(stream):
    """Read ``stream`` in a thread: a list that fills with (line, monotonic time it came), and the thread."""
    lines = []

    def read():
        for line in stream:
            lines.append((line, time.monotonic()))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return lines, reader


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stopped_run_leaves_a_playable_mp4_and_complete_exports(tmp_path, signum):
    import json

    from fastsam_track.pipeline.exports.segments import decode_rle

    clip = write_clip(tmp_path / "long.mp4", frames=300, height=180, width=320)
    output = tmp_path / "out.mp4"
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "fastsam_track.cli", "run", str(clip), "-o", str(output), "--no-progress"),
            *("--model", "fastsam-tiny", "--imgsz", "320", "--threads", "1", "--point", "160,90"),
            *("--save-masks", str(tmp_path / "masks"), "--save-tracks", str(tmp_path / "tracks.txt")),
            *("--save-segments", str(tmp_path / "segments.jsonl")),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines, reader = _timed_lines(process.stderr)
    try:
        # A few frames into the run (the MP4 itself appears only when finalised).
        wait_until(lambda: len(list((tmp_path / "masks").glob("*.png"))) >= 3, "3 frames")
        assert not output.exists()
        process.send_signal(signum)
        process.wait(timeout=CEILING)
        reader.join(timeout=CEILING)  # to the end of stderr
    finally:
        process.kill()
    stderr = "".join(line for line, _ in lines)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "interrupted; outputs written so far are finalised" in stderr
    # The run stopped where it was, not at the clip's end (how soon is a benchmark's, not a test's, figure).
    frames = _probe(output)[0]
    assert 0 < frames < 300
    # Every export holds exactly the frames the video holds, each one whole.
    assert sorted(p.name for p in (tmp_path / "masks").iterdir()) == [f"{i:05d}.png" for i in range(frames)]
    lines = (tmp_path / "segments.jsonl").read_text().splitlines()[1:]  # after the line naming the source
    assert [json.loads(line)["frame"] for line in lines] == list(range(frames))
    for line in lines[-1:]:
        record = json.loads(line)
        decode_rle([s["rle"] for s in record["segments"]], tuple(record["mask_size"]))
    tracks = (tmp_path / "tracks.txt").read_text()
    assert tracks.endswith("\n") and max(int(t.split()[0]) for t in tracks.splitlines()) < frames


def test_a_second_run_on_an_output_being_written_is_refused_unless_overwrite(tmp_path, clip_path):
    output = tmp_path / "out.mp4"
    # Another run writing out.mp4: a process holding its lock for as long as this test needs (a real run
    # could finish first on a fast machine).
    hold = f"from fastsam_track.pipeline.outputs.files import OutputLocks; OutputLocks([{str(output)!r}]); print(1)"
    other = subprocess.Popen([sys.executable, "-c", hold + "; input()"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    args = ("run", clip_path, "-o", output, "--model", "fastsam-tiny", "--imgsz", "320", "--no-progress")
    try:
        assert other.stdout is not None and other.stdout.readline() == b"1\n"
        refused = _cli(*args)
        assert refused.returncode == 2 and refused.stderr == (
            f"fastsam-track: error: output {str(output)!r} is being written by another run (process {other.pid}): "
            "wait for it, give another name, or --overwrite\n"
        )
        forced = _cli(*args, "--overwrite")
        assert forced.returncode == 0, forced.stderr
        assert _probe(output)[0] == 12
    finally:
        other.kill()  # like a run killed outright: its lock dies with it
        other.wait()
    assert _cli(*args).returncode == 0
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]  # the killed one's lock file taken over, removed


def test_overwrite_replaces_the_frame_pngs_of_a_used_mask_folder(tmp_path, clip_path):
    masks = tmp_path / "masks"
    masks.mkdir()
    for index in (0, 11, 12, 299):  # an earlier, longer run's
        (masks / f"{index:05d}.png").write_text("old")
    (masks / "notes.txt").write_text("mine")
    args = ("run", clip_path, "--point", "160,90", "--save-masks", masks, "--model", "fastsam-tiny", "--imgsz", 320)
    refused = _cli(*args)
    assert refused.returncode == 2 and "is not empty (5 entries)" in refused.stderr
    # A file that is not ours: --overwrite never deletes it, so the folder is not replaced either.
    refused = _cli(*args, "--overwrite")
    assert refused.returncode == 2 and "holds 'notes.txt', which is not a frame PNG of ours" in refused.stderr
    assert (masks / "notes.txt").read_text() == "mine" and len(list(masks.iterdir())) == 5
    (masks / "notes.txt").unlink()
    result = _cli(*args, "--overwrite")
    assert result.returncode == 0, result.stderr
    # Replaced whole: none of the earlier run's frames stays beside the new ones.
    assert sorted(p.name for p in masks.iterdir()) == [f"{i:05d}.png" for i in range(12)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["masks"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-o", "ro/out.mp4"], "cannot write video 'ro/out.mp4': Permission denied"),
        (["-o", "out.mp4", "--stats", "ro/stats.json"], "cannot write --stats file 'ro/stats.json': Permission denied"),
        (["--point", "5,5", "--save-masks", "ro"], "cannot write in mask folder 'ro': Permission denied"),
        (["--save-edges", "ro/edges"], "cannot create edge folder 'ro/edges': Permission denied"),
    ],
)
def test_an_output_in_a_read_only_folder_is_refused_before_the_model_loads(
    tmp_path, clip_path, permissions_apply, args, message
):
    (tmp_path / "ro").mkdir(mode=0o555)
    result = subprocess.run(
        [sys.executable, "-m", "fastsam_track.cli", "run", str(clip_path), *args],  # the default model cannot load
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        preexec_fn=_obey_file_permissions,
    )
    assert result.returncode == 2 and result.stderr == f"fastsam-track: error: {message}\n"
    assert list((tmp_path / "ro").iterdir()) == []


def test_a_writable_mask_folder_inside_a_read_only_one_is_used(tmp_path, clip_path, permissions_apply):
    (tmp_path / "ro" / "masks").mkdir(parents=True)
    (tmp_path / "ro").chmod(0o555)  # no lock file can go beside the masks folder: it is used unlocked
    result = subprocess.run(
        [
            *(sys.executable, "-m", "fastsam_track.cli", "run", clip_path, "--point", "160,90"),
            *("--save-masks", "ro/masks", "--model", "fastsam-tiny", "--imgsz", "320"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
        preexec_fn=_obey_file_permissions,
    )
    assert result.returncode == 0, result.stderr
    assert len(list((tmp_path / "ro" / "masks").glob("*.png"))) == 12


def test_a_run_that_fails_before_its_first_frame_leaves_no_files(tmp_path, clip_path):
    result = _cli(
        "run",
        clip_path,
        "--model",
        "nope.pt",
        "-o",
        "out.mp4",
        "--save-segments",
        "s.jsonl",
        "--save-tracks",
        "t.txt",
        cwd=tmp_path,
    )
    assert result.returncode == 2 and "model 'nope.pt' not found" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_text_prompt_edges_and_proposals_from_the_command_line(tmp_path, clip_path):
    import json

    import numpy as np
    from PIL import Image

    (tmp_path / "p.json").write_text(json.dumps({"prompts": [{"frame": 2, "object": 5, "text": "a striped star"}]}))
    common = ["--model", "fastsam-tiny", "--imgsz", 320, "--conf", 0.25, "--no-progress"]
    result = _cli(
        "run",
        clip_path,
        *common,
        "--prompts",
        tmp_path / "p.json",
        "--text",
        "a green square@4",
        "--clip-pretrained",
        "random",  # CLIP's real architecture, untrained: the selection is arbitrary, the path is real
        "--save-masks",
        tmp_path / "masks",
        "--edges",
        "-o",
        tmp_path / "edges.mp4",
        "--save-edges",
        tmp_path / "edges",
        "--save-proposals",
        tmp_path / "proposals.jsonl",
    )
    assert result.returncode == 0, result.stderr
    ids = [set(np.unique(np.array(Image.open(tmp_path / "masks" / f"{i:05d}.png"))).tolist()) for i in range(12)]
    assert ids[0] == ids[1] == {0} and 5 in ids[2] and 6 in ids[4]  # the file's object 5, then --text's 6
    assert len(list((tmp_path / "edges").iterdir())) == 12
    assert len((tmp_path / "proposals.jsonl").read_text().splitlines()) == 12
    with av.open(str(tmp_path / "edges.mp4")) as container:
        picture = next(container.decode(video=0)).to_ndarray(format="bgr24").astype(int)
    edge_png = np.array(Image.open(tmp_path / "edges" / "00000.png")).astype(int)
    # The video shows the edge map (white on black), not the scene.
    assert abs(picture.mean(axis=2) - edge_png).mean() < 8 and (edge_png == 0).mean() > 0.8


def test_show_without_a_display_is_one_line(tmp_path, clip_path):
    import os

    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    result = subprocess.run(
        [sys.executable, "-m", "fastsam_track.cli", "run", str(clip_path), "--show", "--model", "fastsam-tiny"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 2 and result.stderr == (
        "fastsam-track: error: --show needs a display (DISPLAY is not set): use --serve for a browser page instead\n"
    )


def test_serve_prints_its_address_streams_and_writes_stats(tmp_path):
    import json
    import re
    import urllib.request

    clip = write_clip(tmp_path / "long.mp4", frames=600, height=180, width=320)
    run = subprocess.Popen(
        [
            *(sys.executable, "-m", "fastsam_track.cli", "run", str(clip), "--model", "fastsam-tiny", "--imgsz", "320"),
            *(
                "--threads",
                "1",
                "--serve",
                "127.0.0.1:0",
                "--serve-token",
                "s3cret",
                "--stats",
                str(tmp_path / "s.json"),
            ),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = ""
        for _ in range(60):
            line = run.stdout.readline()
            if line.startswith("serving "):
                break
        url = re.match(r"serving (http://127\.0\.0\.1:\d+/)\?token=s3cret", line)
        assert url, line
        with urllib.request.urlopen(url.group(1) + "stream.mjpg?token=s3cret", timeout=10) as stream:
            assert b"Content-Type: image/jpeg" in stream.read(2000)
        run.send_signal(signal.SIGINT)
        run.communicate(timeout=30)
    finally:
        run.kill()
    assert run.returncode == 130
    assert json.loads((tmp_path / "s.json").read_text())["frames"] > 0


def test_several_sources_write_one_video_each(tmp_path):
    import json

    a = write_clip(tmp_path / "a.mp4", frames=10, height=180, width=320, seed=1)
    b = write_clip(tmp_path / "b.mp4", frames=6, height=180, width=320, seed=2)
    (tmp_path / "list.txt").write_text(f"{a}\n# the second camera\n{b}\n")
    result = _cli(
        "run",
        tmp_path / "list.txt",
        "--source",
        a,
        "--model",
        "fastsam-tiny",
        "--imgsz",
        320,
        "-o",
        tmp_path / "out",
        "--stats",
        tmp_path / "s.json",
        "--no-progress",
    )
    assert result.returncode == 0, result.stderr
    # each source's outputs are named after it; a name used twice gets -2
    assert [_probe(tmp_path / "out" / f"{name}.mp4")[0] for name in ("a", "b", "a-2")] == [10, 6, 10]
    stats = json.loads((tmp_path / "s.json").read_text())
    assert [(s["source"], s["frames"]) for s in stats] == [("a", 10), ("b", 6), ("a-2", 10)]
    refused = _cli("run", a, "--source", b, "--model", "fastsam-tiny", "-o", tmp_path / "o2", "--point", "5,5")
    assert refused.returncode == 2 and "with several sources, name the source" in refused.stderr, refused.stderr


def test_an_object_the_segmenter_misses_is_carried_and_marked_propagated_in_the_masks(tmp_path):
    # A red square crosses a textured clip; a segments cache leaves it out on frames 3 and 4.
    import cv2
    import numpy as np
    import supervision as sv
    from PIL import Image

    from fastsam_track.pipeline.exports.segments import SegmentsWriter
    from fastsam_track.types import Frame, SegmentedFrame

    texture = np.random.default_rng(0).integers(0, 60, (160, 256, 3)).astype(np.uint8)
    frames = tmp_path / "frames"
    frames.mkdir()
    with SegmentsWriter(tmp_path / "s.jsonl") as writer:
        for t in range(8):
            image = texture.copy()
            x = 40 + 8 * t
            image[48:96, x : x + 48] = np.array([40, 40, 200], np.uint8) + texture[48:96, x : x + 48] // 2
            cv2.imwrite(str(frames / f"{t:03d}.png"), image)
            square = np.zeros((20, 32), bool)
            square[6:12, x // 8 : x // 8 + 6] = True
            rest = np.zeros((20, 32), bool)
            rest[15:20, 0:10] = True
            masks = np.array([rest] if t in (3, 4) else [square, rest])
            boxes = sv.mask_to_xyxy(masks).astype(np.float32) * 8
            writer.write(SegmentedFrame(Frame(t, image, t / 25), sv.Detections(xyxy=boxes, mask=masks)))
    result = _cli("run", frames, "--segments", tmp_path / "s.jsonl", "--point", "64,72", "--save-masks", tmp_path / "m")
    assert result.returncode == 0, result.stderr
    marks = [Image.open(tmp_path / "m" / f"{t:05d}.png").text for t in range(8)]
    assert [m["propagated"] for m in marks] == ["", "", "", "1", "1", "", "", ""]
    assert all(m["objects"] == "1" for m in marks), marks
    assert [m["states"] for m in marks] == ["1:seen"] * 3 + ["1:carried"] * 2 + ["1:seen"] * 3
    assert all(m["lost"] == "" for m in marks), marks
    # The carried mask moved with the square: on frame 4 it covers the square's pixels.
    labels = np.array(Image.open(tmp_path / "m" / "00004.png"))
    assert (labels[48:96, 72:120] == 1).mean() > 0.7


def test_a_segments_replay_with_another_stride_is_one_line_and_exit_2(tmp_path):
    # Used to replay silently, each record onto the wrong frame.
    import cv2
    import numpy as np
    import supervision as sv

    from fastsam_track.pipeline.exports.segments import CachedSource, SegmentsWriter
    from fastsam_track.types import Frame, SegmentedFrame

    frames = tmp_path / "frames"
    frames.mkdir()
    with SegmentsWriter(tmp_path / "s.jsonl", CachedSource(64, 48, 4, 1)) as writer:
        for t in range(4):
            image = np.full((48, 64, 3), 40 * t, np.uint8)
            cv2.imwrite(str(frames / f"{t:03d}.png"), image)
            mask = np.zeros((1, 12, 16), bool)
            mask[0, 2:6, 2:6] = True
            writer.write(
                SegmentedFrame(Frame(t, image, t / 25), sv.Detections(xyxy=sv.mask_to_xyxy(mask) * 4.0, mask=mask))
            )
    args = ("run", frames, "--segments", tmp_path / "s.jsonl", "--save-tracks", tmp_path / "t.txt")
    refused = _cli(*args, "--vid-stride", "2")
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.splitlines() == [
        "fastsam-track: error: s.jsonl was saved with vid_stride 1, the run uses 2: replay it with the source and "
        "--vid-stride it was saved from, or save it again with --save-segments"
    ]
    assert not (tmp_path / "t.txt").exists()
    replayed = _cli(*args)
    assert replayed.returncode == 0, replayed.stderr


def test_a_full_disk_midway_is_exit_1_with_the_frames_before_it_kept(tmp_path):
    """A failure at run time is exit 1 (2 is for usage errors); the export keeps its whole frames."""
    import resource

    clip = write_clip(tmp_path / "in.mp4", frames=30, height=180, width=320)

    def small_files() -> None:  # in the child: files stop growing at 20 kB, as on a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    out = tmp_path / "s.jsonl"
    command = [sys.executable, "-m", "fastsam_track.cli", "run", str(clip), "--model", "fastsam-tiny"]
    command += ["--imgsz", "320", "--backend", "torch", "--save-segments", str(out), "--no-progress"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, preexec_fn=small_files)
    assert result.returncode == 1, result.stderr
    assert result.stderr == f"fastsam-track: error: cannot write segments file {str(out)!r}: File too large\n"
    lines = out.read_text().splitlines()  # renamed into place, ending with a whole frame
    assert 2 < len(lines) < 31 and all(json.loads(line) for line in lines)
    assert not list(tmp_path.glob(".*.part"))


def test_every_registered_output_has_its_flag():
    """The ``run`` command's output flags are the registry's, each with its help."""
    from fastsam_track.pipeline.exports.registry import OUTPUTS

    shown = " ".join(_cli("run", "--help").stdout.split())
    for kind in OUTPUTS.values():
        assert (
            ", ".join(f"{flag} {kind.metavar}" for flag in kind.flags) in shown and " ".join(kind.help.split()) in shown
        )


def test_ctrl_c_again_while_the_outputs_are_finalised_does_not_cut_the_video_short(tmp_path):
    """Ctrl-C pressed again and again (every 20 ms until the run ends): the MP4 still holds exactly the frames
    the exports hold."""
    clip = write_clip(tmp_path / "long.mp4", frames=300, height=180, width=320)
    output = tmp_path / "out.mp4"
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "fastsam_track.cli", "run", str(clip), "-o", str(output), "--no-progress"),
            *("--model", "fastsam-tiny", "--imgsz", "320", "--threads", "1", "--point", "160,90"),
            *("--save-masks", str(tmp_path / "masks"), "--save-segments", str(tmp_path / "segments.jsonl")),
            *("--stats", str(tmp_path / "stats.json")),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: len(list((tmp_path / "masks").glob("*.png"))) >= 3, "3 frames")
        while process.poll() is None:
            process.send_signal(signal.SIGINT)
            time.sleep(0.02)  # the pace of the presses, not a wait for the run
        stderr = process.stderr.read() if process.stderr else ""
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    frames = _probe(output)[0]
    assert 0 < frames < 300
    assert len(list((tmp_path / "masks").glob("*.png"))) == frames
    assert len((tmp_path / "segments.jsonl").read_text().splitlines()) - 1 == frames
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["frames"] == frames >= stats["keyframes"]  # keyframes counted with the frames written


def test_the_demo_never_replaces_an_input_it_did_not_make(tmp_path):
    (tmp_path / "x-input.mp4").write_text("the user's own video")
    result = _cli("demo", "--output", tmp_path / "x.mp4", "--frames", 2, "--no-progress")
    assert result.returncode == 2
    assert "x-input.mp4', which is a file it did not make" in result.stderr
    assert (tmp_path / "x-input.mp4").read_text() == "the user's own video"
    assert not (tmp_path / "x.mp4").exists()


def test_an_output_file_given_as_a_folder_is_refused_by_name(tmp_path):
    """``-o newdir/``: the trailing slash says a folder, where a file is expected (not "has no extension")."""
    result = _cli("run", tmp_path / "clip.mp4", "-o", f"{tmp_path / 'newdir'}/")
    assert result.returncode == 2
    assert "names a folder: give a file name in it" in result.stderr
    assert not (tmp_path / "newdir").exists()
