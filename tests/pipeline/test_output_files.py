"""Outputs checked, staged and locked: never an input, never half written, one run at a time."""

import os
import subprocess
import sys

import pytest

from fastsam_track.pipeline.outputs.files import (
    OutputError,
    OutputLocks,
    check_distinct,
    check_frame_folder,
    same_path,
    write_text,
)


@pytest.mark.parametrize(
    ("make", "same"),
    [
        (lambda tmp: (tmp / "a.mp4", tmp / "a.mp4"), True),  # one name
        (lambda tmp: (tmp / "a.mp4", tmp / "." / "a.mp4"), True),  # spelled two ways
        (lambda tmp: (tmp / "a.mp4", tmp / "link.mp4"), True),  # a symlink to it
        (lambda tmp: (tmp / "a.mp4", tmp / "hard.mp4"), True),  # a hard link to it
        (lambda tmp: (tmp / "a.mp4", tmp / "b.mp4"), False),  # another file
        (lambda tmp: (tmp / "new.mp4", tmp / "new.mp4"), True),  # not there yet
        (lambda tmp: (tmp / "new.mp4", tmp / "other.mp4"), False),
    ],
)
def test_same_path(tmp_path, make, same):
    (tmp_path / "a.mp4").write_bytes(b"video")
    (tmp_path / "b.mp4").write_bytes(b"video")
    (tmp_path / "link.mp4").symlink_to(tmp_path / "a.mp4")
    os.link(tmp_path / "a.mp4", tmp_path / "hard.mp4")
    assert same_path(*make(tmp_path)) is same


def test_an_output_that_is_an_input_or_another_output_is_refused(tmp_path):
    (tmp_path / "clip.mp4").write_bytes(b"video")
    inputs = {"source": tmp_path / "clip.mp4"}
    check_distinct({"-o": tmp_path / "out.mp4", "--stats": tmp_path / "s.json"}, inputs)
    with pytest.raises(OutputError, match=r"^-o '.*clip.mp4' is the source '.*clip.mp4': give the output another"):
        check_distinct({"-o": tmp_path / "clip.mp4"}, inputs)
    with pytest.raises(OutputError, match=r"^--save-tracks and --stats name the same path"):
        check_distinct({"--save-tracks": tmp_path / "x", "--stats": tmp_path / "x"}, inputs)


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


def test_a_used_frame_folder_is_refused_and_overwrite_removes_only_its_frames(tmp_path):
    folder = tmp_path / "masks"
    check_frame_folder(folder, "--save-masks folder", overwrite=False)  # missing: fine
    folder.mkdir()
    check_frame_folder(folder, "--save-masks folder", overwrite=False)  # empty: fine
    for name in ("00000.png", "00099.png", "notes.txt"):
        (folder / name).write_text("an earlier run")
    with pytest.raises(OutputError, match=r"folder '.*masks' is not empty \(3 entries\): .* or --overwrite"):
        check_frame_folder(folder, "--save-masks folder", overwrite=False)
    check_frame_folder(folder, "--save-masks folder", overwrite=True)
    assert [p.name for p in folder.iterdir()] == ["notes.txt"]


def test_write_text_replaces_the_whole_file(tmp_path):
    write_text(tmp_path / "stats.json", "{}\n")
    write_text(tmp_path / "stats.json", '{"frames": 3}\n')
    assert [p.name for p in tmp_path.iterdir()] == ["stats.json"]
    assert (tmp_path / "stats.json").read_text() == '{"frames": 3}\n'
