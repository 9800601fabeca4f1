"""The README's five-line Python example runs (on a generated clip, with the built-in model)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import write_clip

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_api_example() -> str:
    section = README.read_text().split("## Python API", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None, "the Python API section starts with an example"
    return match.group(1)


def test_the_readme_python_example_runs(tmp_path, capsys):
    example = _python_api_example()
    assert len(example.strip().splitlines()) <= 6, example  # the five lines (and a blank one)
    clip = write_clip(tmp_path / "clip.mp4", frames=8, height=360, width=640, seed=5)  # a shape under (320, 180)
    # FastSAM-s is downloaded on users' machines; here the built-in model stands in for it
    code = example.replace('"clip.mp4"', repr(str(clip))).replace(
        'model="FastSAM-s"', 'model="fastsam-tiny", conf=0.25'
    )
    exec(compile(code, "README.md", "exec"), {})
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 8 and lines[0].startswith("0 [") and lines[-1].endswith("[1]"), lines
