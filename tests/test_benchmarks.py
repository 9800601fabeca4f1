"""The benchmarks still run (short versions), so their tables stay reproducible."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SPEED_SMOKE = ("--frames", "2", "--repeats", "1", "--imgsz", "320", "--models", "fastsam-tiny", "--no-write")


def _table_rows(script: str, *args: str) -> list[str]:
    """Run a benchmark without touching its README; return the first cell of each table row."""
    result = subprocess.run(
        [sys.executable, f"benchmarks/{script}", *args, "--no-write"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    return [row.split("|")[1].strip() for row in rows[1:]]


def test_propagation_benchmark_runs_and_prints_every_row():
    for module in ("trackeval", "vos_benchmark", "trackers"):
        pytest.importorskip(module, reason='the benchmark extra is not installed: pip install -e ".[bench]"')
    names = _table_rows("propagation.py", "--seeds", "1", "--frames", "12")
    assert names == ["translate", "rotate_scale", "occlusion", "exit_reentry", "distractors", "**mean**"]


def test_speed_benchmark_runs_every_row():
    for module in ("openvino", "onnxruntime"):
        pytest.importorskip(module, reason="the openvino and onnx extras are not installed")
    result = subprocess.run(
        [sys.executable, "benchmarks/speed.py", *SPEED_SMOKE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    rows = [line.split("|")[2].strip() for line in result.stdout.splitlines() if line.startswith("| fastsam")]
    assert rows[:3] == ["network alone, torch", "network alone, onnx", "network alone, openvino"]
    assert rows[3].startswith("network alone, openvino int8 (") and rows[3].endswith("x openvino)")
    assert rows[4].startswith("floor: decode, network, encode only, ")
    assert sum(row.startswith("**ours**") for row in rows) == 9
    assert sum(row.startswith("**ours**, openvino int8, ") for row in rows) == 2
    keyframes = [row for row in rows if row.startswith("**ours**") and "keyframes" in row]
    assert [row.split("keyframes ")[1].split(" (")[0] for row in keyframes] == ["K=2", "K=3", "auto"]
    assert all("x K=1's fps" in row for row in keyframes)
    assert [row.split(" (")[0] for row in rows[-2:]] == [
        "ultralytics FastSAM.track, defaults",
        "ultralytics FastSAM.track, docs' settings",
    ]


def test_text_prompt_benchmark_runs():
    pytest.importorskip("open_clip", reason='the text extra is not installed: pip install -e ".[text]"')
    names = _table_rows("text_prompt.py", "--masks", "4", "--repeats", "1")
    assert names[0] == "crops, masked and blanked (ours)" and names[-1].startswith("100 frames, ours")


@pytest.mark.needs("gstreamer")
def test_live_latency_benchmark_runs():
    names = _table_rows("live_latency.py", "--seconds", "4", "--imgsz", "320")
    assert names == ["4 s"]


def test_a_2000_frame_soak_holds_memory_and_frees_lost_tracks():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from soak import soak

    figures = soak(2000)
    assert figures["frames"] == 2000
    assert figures["growth"] < 50, figures  # MB from the end of the warm-up to the end
    # Frames wait in bounded queues, never pile up: a dozen are in flight (decoded ahead, in the model,
    # waiting for the encoder), so a frame's age is about a dozen frame times, on any machine. Counted in
    # frame times, not milliseconds: a fixed 2 s was 5 times the age on this machine with both cores busy.
    assert figures["age_p95"] < 40 * 1000 / figures["fps"], figures
    assert figures["tracks_end"] <= figures["tracks_max"] < 200, figures  # lost tracks are freed


def _davis_like(root: Path, names: list[str], frames: int) -> None:
    """A folder laid out as DAVIS 2016 (480p JPEG frames, PNG masks) made from synthetic clips."""
    import cv2

    from fastsam_track.synthetic import SyntheticClip

    for seed, name in enumerate(names):
        clip = SyntheticClip(480, 854, num_shapes=4, seed=seed)
        (root / "JPEGImages/480p" / name).mkdir(parents=True)
        (root / "Annotations/480p" / name).mkdir(parents=True)
        for t in range(frames):
            image, visible = clip.frame(t)
            cv2.imwrite(str(root / "JPEGImages/480p" / name / f"{t:05d}.jpg"), image)
            cv2.imwrite(str(root / "Annotations/480p" / name / f"{t:05d}.png"), visible[0].astype("uint8") * 255)


def _tables(script: str, *args: str) -> list[list[list[str]]]:
    """Run a benchmark without touching its README; return each markdown table's body rows as cell lists."""
    result = subprocess.run(
        [sys.executable, f"benchmarks/{script}", *args, "--no-write"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    tables: list[list[list[str]]] = []
    for line, after in zip(lines, [*lines[1:], ""], strict=True):
        if line.startswith("|---"):
            tables.append([])
        elif line.startswith("| ") and tables and not after.startswith("|---"):  # not the next table's header
            tables[-1].append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return tables


def test_real_footage_benchmark_runs_both_profiles_on_a_davis_layout_and_its_streams_replay(tmp_path):
    for module in ("vos_benchmark", "trackers", "skimage"):
        pytest.importorskip(module, reason='the benchmark extra is not installed: pip install -e ".[bench]"')
    _davis_like(tmp_path, ["one", "two"], frames=6)
    args = ("--data", str(tmp_path), "--seeds", "0", "1", "--workers", "1")
    halves, point_box, sequences = _tables("real_footage.py", *args)
    # Neither name is in the fixed split: both fall in "other", and there is no gap table.
    assert [row[:3] for row in halves] == [[p, "other (2)", k] for p in ("default", "harsh") for k in ("point", "box")]
    assert all(len(row[9].split(" / ")) == 2 for row in halves)  # ours / oracle per seed
    assert [row[:2] for row in point_box] == [["default", "other"], ["harsh", "other"]]
    assert [row[2:4] for row in sequences[:4]] == [["one", "point"], ["one", "box"], ["two", "point"], ["two", "box"]]
    assert all(float(row[13]) > 0 for row in sequences)  # track ms per frame
    assert len(list((tmp_path / "results/real_footage").rglob("*.json"))) == 2 * 2 * 2  # every run's scores kept
    # The streams are segments caches: the CLI replays one onto its frames, the harsh profile's coarser grid too.
    for profile in ("default", "harsh"):
        stream = tmp_path / "streams" / profile / "one-seed1.jsonl"
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "fastsam_track.cli",
                "run",
                str(tmp_path / "JPEGImages/480p/one"),
                "--segments",
                str(stream),
                "--point",
                "100,100",
                "--save-masks",
                str(tmp_path / profile),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr
        assert len(list((tmp_path / profile).glob("*.png"))) == 6


def test_the_split_is_the_fixed_one_every_training_sequence_once():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from real_footage import CHECKING, TUNING, half_of

    names = sorted(TUNING + CHECKING)
    assert len(names) == len(set(names)) == 30
    assert names[0::2] == TUNING and names[1::2] == CHECKING  # even positions tune, odd ones check
    assert half_of("bear") == "tuning" and half_of("swing") == "checking" and half_of("one") == "other"


def test_keyframes_benchmark_scores_the_clis_own_runs(tmp_path):
    for module in ("vos_benchmark", "skimage"):
        pytest.importorskip(module, reason='the benchmark extra is not installed: pip install -e ".[bench]"')
    _davis_like(tmp_path, ["one"], frames=6)
    args = ("--data", str(tmp_path), "--seeds", "0", "--profiles", "default", "--workers", "1", "--in-order")
    halves, sequences = _tables("keyframes.py", *args)
    assert [row[:4] for row in halves] == [
        ["default", "other (1)", "box", "CLI"],
        ["default", "other (1)", "box", "in-order"],
    ]
    assert halves[0][5] == "50%"  # --keyframe-every 2 on 6 frames: the CLI ran the network on 3
    assert [row[2:4] for row in sequences] == [["one", "box"]]
    saved = json.loads((tmp_path / "results/keyframes/default/one-seed0.json").read_text())
    assert set(saved) == {f"box {h}{p}" for h in ("", "in-order ") for p in ("every frame", "K=2", "auto")}
    assert all(0 <= v["J"] <= 1 and 0 < v["share"] <= 1 for v in saved.values())


def test_real_footage_streams_show_fastsam_failure_modes():
    pytest.importorskip("skimage", reason='the benchmark extra is not installed: pip install -e ".[bench]"')
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from davis_streams import StreamMaker, to_grid

    from fastsam_track.synthetic import SyntheticClip

    clip = SyntheticClip(480, 854, num_shapes=4, seed=3)
    images, truths = zip(*((image, visible[0]) for image, visible in map(clip.frame, range(40))), strict=True)
    maker = StreamMaker(split=0.3, merge=0.3, miss=0.2)
    stacks, states = maker.stream(list(images), list(truths), seed=1)
    assert {"whole", "split", "missed"} <= set(states) and any("merged" in s for s in states)
    for stack, state, truth in zip(stacks, states, truths, strict=True):
        assert stack.shape[1:] == (90, 160)
        grid_truth = to_grid(truth, (90, 160))
        inside = stack[:, grid_truth].sum(1) / np.maximum(stack.sum((1, 2)), 1)
        if state == "missed":  # nothing of the object is segmented
            assert not stack[:, grid_truth].any()
        if state == "split":  # two or more segments lie inside the object
            assert (inside > 0.9).sum() >= 2
    # Clutter tiles the frame as an everything-mode run does.
    assert np.mean([s.any(0).mean() for s in stacks]) > 0.6


def test_the_harsh_profile_cuts_across_on_a_coarser_grid_with_finer_clutter():
    pytest.importorskip("skimage", reason='the benchmark extra is not installed: pip install -e ".[bench]"')
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from dataclasses import replace

    from davis_streams import PROFILES, to_grid

    from fastsam_track.synthetic import SyntheticClip

    clip = SyntheticClip(480, 854, num_shapes=4, seed=3)
    images, truths = zip(*((image, visible[0]) for image, visible in map(clip.frame, range(30))), strict=True)
    default, _ = PROFILES["default"].stream(list(images), list(truths), seed=0)
    harsh = replace(PROFILES["harsh"], split=0.5, miss=0.0)
    for seed, grid in ((0, (67, 120)), (1, (45, 80))):  # the mask grids of imgsz 480 and 320
        stacks, states = harsh.stream(list(images), list(truths), seed=seed)
        assert all(stack.shape[1:] == grid for stack in stacks)
    stacks, states = harsh.stream(list(images), list(truths), seed=0)
    parts = []
    for stack, state, truth in zip(stacks, states, truths, strict=True):
        if state == "split":
            inside = stack[:, to_grid(truth, (67, 120))].sum(1) / np.maximum(stack.sum((1, 2)), 1)
            parts.append(int((inside > 0.9).sum()))
    assert parts and max(parts) >= 3  # cut into more than two parts
    # More clutter segments per frame than the default profile, though on fewer cells: smaller ones.
    assert np.mean([len(s) for s in stacks]) > np.mean([len(s) for s in default])


def test_int8_benchmark_runs_every_row():
    reason = 'the openvino and onnx extras are not installed: pip install -e ".[openvino,onnx]"'
    for module in ("openvino", "nncf", "onnxruntime"):
        pytest.importorskip(module, reason=reason)
    speed = ("--models", "fastsam-tiny", "--imgsz", "320", "--calls", "1", "--repeats", "1")
    names = _table_rows("int8.py", *speed, "--calibration-frames", "2", "--frames", "2", "--scenes", "1")
    scene = ["generated scene, seed 21"] * 2 + ["**all generated scenes**"] * 2
    assert names == ["fastsam-tiny (built in)"] * 5 + ["clip"] + scene  # "clip": the quality table's header


def test_int8_benchmark_scores_prompted_object_j_on_a_davis_layout(tmp_path):
    reason = 'the openvino and bench extras are not installed: pip install -e ".[openvino,bench]"'
    for module in ("openvino", "nncf", "vos_benchmark"):
        pytest.importorskip(module, reason=reason)
    davis = ["bear", "boat", "car-turn", "dog-agility", "elephant"]  # int8.py's DAVIS quality clips
    _davis_like(tmp_path, davis, frames=3)
    quick = ("--models", "", "--imgsz", "320", "--calibration-frames", "2", "--frames", "2", "--scenes", "1")
    names = _table_rows("int8.py", *quick, "--davis", str(tmp_path))
    scene = ["generated scene, seed 21"] * 2 + ["**all generated scenes**"] * 2
    clips = [f"DAVIS train: {name}" for name in davis for _ in range(2)] + ["**all DAVIS clips**"] * 2
    means = ["**mean, point prompt**", "**mean, box prompt**", "**mean**"]
    # "clip" and "sequence": the quality and J tables' headers (no speed rows without --models).
    assert names == ["clip", *scene, *clips, "sequence", *davis, *means]


def test_edges_benchmark_runs_and_prints_every_row():
    pytest.importorskip("vos_benchmark", reason='the benchmark extra is not installed: pip install -e ".[bench]"')
    names = _table_rows("edges.py", "--seeds", "1", "--frames", "1")
    assert names == ["1280x720 (160x90 grid)"] * 2 + ["640x360 (160x90 grid)"] * 2


def test_track_stage_benchmark_times_this_checkout_and_another_side_by_side(tmp_path):
    pytest.importorskip("skimage", reason='the benchmark extra is not installed: pip install -e ".[bench]"')
    _davis_like(tmp_path, ["one", "two"], frames=4)
    # The other checkout is this one again: both rows come from child processes replaying the same streams.
    args = ("--data", str(tmp_path), "--sequences", "one", "two", "--frames", "4", "--repeats", "1")
    names = _table_rows("track_stage.py", *args, "--against", str(ROOT))
    assert len(names) == 2 and names[0] == "this checkout" and names[1] != "this checkout"


def _realistic_rows(*flags: str) -> list[str]:
    """The 'what' column of speed.py's realistic rows, run alone with ``flags``."""
    pytest.importorskip("skimage", reason='the benchmark extra is not installed: pip install -e ".[bench]"')
    result = subprocess.run(
        [sys.executable, "benchmarks/speed.py", *SPEED_SMOKE[:4], "--models", "", "--no-write", *flags],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return [line.split("|")[2].strip() for line in result.stdout.splitlines() if line.startswith("| realistic")]


def test_speed_benchmark_puts_another_checkouts_realistic_rows_beside_ours():
    rows = _realistic_rows("--against", str(ROOT))
    # Ours, then the other checkout's (here this one again, run as another checkout would be), each mode.
    assert [row.split(", ")[1] for row in rows] == ["everything mode", "four prompted objects"] * 2
    assert [row.startswith("**ours**") for row in rows] == [True, True, False, False]
    assert all("(``--against``)" in row for row in rows[2:])


def test_speed_benchmark_runs_the_realistic_rows_again_without_avx512():
    rows = _realistic_rows("--without-avx512")
    # The label says what each process found: AVX-512 in ours as usual only on a machine that has it.
    from numpy._core._multiarray_umath import __cpu_features__

    has_avx512 = bool(__cpu_features__.get("X86_V4"))
    assert [", AVX-512 off" in row for row in rows] == [not has_avx512] * 2 + [True] * 2
