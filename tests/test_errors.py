"""Every error the package raises derives from ``FastSamTrackError``; each carries its exit code."""

from __future__ import annotations

import ast
import builtins
import importlib
from pathlib import Path

import pytest

import fastsam_track
from fastsam_track.errors import FastSamTrackError, RunFailure
from fastsam_track.types import StopRun  # a normal end, as KeyboardInterrupt (SIGTERM) is a stop

PACKAGE = Path(fastsam_track.__file__).resolve().parent

# Built-in exceptions raised on purpose and caught in the same module, never reaching a caller.
_INTERNAL = {
    ("pipeline/exports/segments.py", "ValueError"),  # a bad record; re-raised as SegmentsCacheError
    ("pipeline/outputs/web/bodies.py", "HttpError"),  # a refused request; answered with its HTTP status
    ("pipeline/outputs/web/handler.py", "HttpError"),
    ("pipeline/build.py", "TypeError"),  # Outputs(unknown=...): a wrong keyword, as any Python call says it
    ("pipeline/build.py", "AttributeError"),  # __getattr__'s protocol (hasattr, getattr with a default)
    ("cluster/fleet.py", "AttributeError"),
    ("documents.py", "ValueError"),  # json.loads hooks; re-raised as DocumentError
    ("pipeline/sources/base.py", "NotImplementedError"),  # abstract methods
    ("pipeline/sources/live.py", "NotImplementedError"),
    ("pipeline/model/backends.py", "NotImplementedError"),
}


def _raised() -> list[tuple[str, str, int]]:
    """(module file, class name, line) of every ``raise Name(...)`` and ``raise Name`` in the package."""
    found = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and node.exc is not None:
                target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                if isinstance(target, ast.Name):
                    found.append((path.relative_to(PACKAGE).as_posix(), target.id, node.lineno))
    return found


def test_every_error_raised_derives_from_the_base_class():
    wrong = []
    for file, name, line in _raised():
        if (file, name) in _INTERNAL or name[0].islower() or name.startswith("_"):  # a variable re-raised
            continue
        module = importlib.import_module("fastsam_track." + file[:-3].replace("/", ".").removesuffix(".__init__"))
        cls = getattr(module, name, None) or getattr(builtins, name, None)
        if not (isinstance(cls, type) and issubclass(cls, (FastSamTrackError, StopRun, KeyboardInterrupt))):
            wrong.append(f"{file}:{line} raises {name}")
    assert not wrong, "\n".join(wrong)


def test_the_walk_sees_the_raises():
    """The check would fail on a plain ValueError (it found some, which are now UsageError)."""
    assert any(name == "UsageError" for _, name, _ in _raised())
    assert not issubclass(ValueError, FastSamTrackError)


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("ConfigError", 2),  # a bad setting
        ("SourceError", 2),  # a source that cannot be opened
        ("PromptError", 2),
        ("OutputError", 2),
        ("SourceLost", 1),  # a camera gone past its reconnection limit, at run time
        ("OutputFailed", 1),  # an output that could not be written to the end
    ],
)
def test_exit_codes(name, code):
    cls = getattr(fastsam_track.errors, name)
    assert issubclass(cls, FastSamTrackError) and cls.exit_code == code
    assert issubclass(cls, RunFailure) == (code == 1)


def test_the_errors_are_public():
    for name in fastsam_track.errors.__all__:
        obj = getattr(fastsam_track.errors, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, FastSamTrackError), name
