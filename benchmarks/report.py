"""What every benchmark prints the same way: median (min-max) cells and its README section."""

from __future__ import annotations

import statistics
from pathlib import Path

README = Path(__file__).with_name("README.md")


def spread(values: list[float], digits: int = 1) -> str:
    """``median (min-max)`` of ``values``."""
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def write_section(name: str, table: str) -> None:
    """Replace the text between ``<!-- name:begin -->`` and ``<!-- name:end -->`` in benchmarks/README.md
    (appending the section when it is not there yet)."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = README.read_text() if README.exists() else "# Benchmarks\n"
    if begin not in text:
        text = f"{text.rstrip()}\n\n{begin}\n{end}\n"
    head, rest = text.split(begin, 1)
    README.write_text(f"{head}{begin}\n{table}\n{end}{rest.split(end, 1)[1]}")
