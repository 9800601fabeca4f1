"""Outputs checked, staged and locked: never an input, never half written, one run at a time."""

import os
import subprocess
import sys

import pytest

from fastsam_track.pipeline.outputs.files import (
    OutputError,
    OutputLocks,
    check_frame_folder,
    write_text,
)


def test_a_second_lock_on_an_output_is_refused_until_the_first_is_released(tmp_path):
    output = tmp_path / "out.mp4"
    with OutputLocks([output]):
        assert (tmp_path / ".out.mp4.lock").read_text() == f"{os.getpid()}\n"
        with pytest.raises(OutputError, match=rf"being written by another run \(process {os.getpid()}\)"):
            OutputLocks([tmp_path / "other.mp4", output])
        assert not (tmp_path / ".other.mp4.lock").exists()  # the locks taken before the refusal are let go
        OutputLocks([output], overwrite=True).release()  # --overwrite goes on
    assert list(tmp_path.iterdir()) == []  # released: the lock file is gone
    OutputLocks([output]).release()


def test_a_killed_run_leaves_no_lock_that_holds(tmp_path):
    output = tmp_path / "out.mp4"
    holder = f"from fastsam_track.pipeline.outputs.files import OutputLocks; OutputLocks([{str(output)!r}]); print(1)"
    child = subprocess.Popen([sys.executable, "-c", holder + "; import time; time.sleep(60)"], stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stdout.readline() == b"1\n"
        with pytest.raises(OutputError, match=f"process {child.pid}"):
            OutputLocks([output])
    finally:
        child.kill()
        child.wait()
    assert (tmp_path / ".out.mp4.lock").exists()  # left by the killed run, but nobody holds it
    OutputLocks([output]).release()


def test_a_used_frame_folder_is_refused_and_overwrite_takes_only_a_folder_of_frames(tmp_path):
    folder = tmp_path / "masks"
    check_frame_folder(folder, "--save-masks folder", overwrite=False)  # missing: fine
    folder.mkdir()
    check_frame_folder(folder, "--save-masks folder", overwrite=False)  # empty: fine
    for name in ("00000.png", "00099.png"):
        (folder / name).write_text("an earlier run")
    with pytest.raises(OutputError, match=r"folder '.*masks' is not empty \(2 entries\): .* or --overwrite"):
        check_frame_folder(folder, "--save-masks folder", overwrite=False)
    check_frame_folder(folder, "--save-masks folder", overwrite=True)  # frames only: replaced at the run's end
    (folder / "notes.txt").write_text("the user's")
    with pytest.raises(OutputError, match=r"holds 'notes.txt', which is not a frame PNG of ours"):
        check_frame_folder(folder, "--save-masks folder", overwrite=True)
    assert sorted(p.name for p in folder.iterdir()) == ["00000.png", "00099.png", "notes.txt"]  # nothing removed


def test_write_text_replaces_the_whole_file(tmp_path):
    write_text(tmp_path / "stats.json", "{}\n")
    write_text(tmp_path / "stats.json", '{"frames": 3}\n')
    assert [p.name for p in tmp_path.iterdir()] == ["stats.json"]
    assert (tmp_path / "stats.json").read_text() == '{"frames": 3}\n'
