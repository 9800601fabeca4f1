"""Waiting for an event, not for a time: how long a model pass or an export takes depends on the machine.

A test that needs a run to have got somewhere waits for the sign of it (a log line, a file)
with a generous ceiling (``CEILING``): on a fast machine it goes on at once, on a slow or
busy one it still passes, and only a run that never gets there fails, saying what it was
waiting for.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import IO, TypeVar

__all__ = ["CEILING", "Lines", "wait_until"]

# Seconds: minutes of model passes and exports on the slowest machine seen (AVX2 only, both cores busy).
CEILING = 300.0

T = TypeVar("T")


def wait_until(check: Callable[[], T], what: str, timeout: float = CEILING, every: float = 0.1) -> T:
    """Call ``check`` until it returns something true and return that; fail after ``timeout`` s.

    Example:
        >>> wait_until(lambda: 3, "three")
        3
    """
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, f"waited {timeout:.0f} s for {what}"
        time.sleep(every)
    return result


class Lines:
    """The lines of a child's pipe, read by a thread as they come, each with its arrival time.

    Args:
        stream: a text-mode pipe (``Popen(..., stdout=PIPE, text=True).stdout``).
    """

    def __init__(self, stream: IO[str]):
        self.timed: list[tuple[str, float]] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.timed.append((line, time.monotonic()))

    @property
    def text(self) -> str:
        """Everything read so far."""
        return "".join(line for line, _ in self.timed)

    def wait_for(self, pattern: str, timeout: float = CEILING, after: int = 0) -> re.Match[str]:
        """The first match of the regular expression ``pattern`` in a line (from line ``after`` on)."""

        def found() -> re.Match[str] | None:
            return next((m for line, _ in self.timed[after:] if (m := re.search(pattern, line))), None)

        try:
            return wait_until(found, f"a line matching {pattern!r}", timeout)
        except AssertionError as error:
            raise AssertionError(f"{error}; got:\n{self.text[-3000:]}") from None

    def join(self, timeout: float = 30.0) -> None:
        """Wait for the end of the pipe (the child closed it)."""
        self._thread.join(timeout)
