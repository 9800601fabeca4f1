"""The benchmarks' figures: one function per table, drawn from the table's own markdown.

Each benchmark calls its function right after it writes its table, so the figure and the table
always come from the same run; ``benchmarks/README.md`` shows ``figures/<name>.svg`` under the
table. ``python benchmarks/figures.py`` draws them all again from the tables in the README.

SVG with text kept as text (small, sharp at any size, readable in a diff); matplotlib on its Agg
backend, imported only here.
"""

from __future__ import annotations

import itertools
import math
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

FOLDER = Path(__file__).with_name("figures")
README = Path(__file__).with_name("README.md")
plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "fastsam-track", "font.size": 9})

OURS, THEIRS, NEUTRAL = "#1f77b4", "#d62728", "#7f7f7f"


def tables(text: str) -> list[list[dict[str, str]]]:
    """Every markdown table in ``text``, each a list of rows (header to cell, ``**`` removed).

    Example:
        >>> tables("| a | b |\\n|---|---|\\n| **1** | x |\\n")
        [[{'a': '1', 'b': 'x'}]]
    """
    found: list[list[dict[str, str]]] = []
    header: list[str] | None = None
    for line in [*text.splitlines(), ""]:
        cells = (
            [c.strip().replace("**", "") for c in line.strip().strip("|").split("|")] if line.startswith("|") else None
        )
        if cells is None:
            header = None
        elif header is None:
            header = cells
            found.append([])
        elif not all(set(c) <= set("-: ") for c in cells):
            found[-1].append(dict(zip(header, cells, strict=False)))
    return found


def number(cell: str) -> float:
    """The first number in a cell (``18.7 (16.6-21.0)`` gives 18.7, ``48%`` 48); NaN when there is none."""
    match = re.search(r"[-+]?\d+(?:\.\d+)?", cell or "")
    return float(match.group()) if match else math.nan


def _spread(cell: str) -> tuple[float, float, float]:
    """Median, min and max of a ``median (min-max)`` cell (min and max the median when absent)."""
    values = [float(v) for v in re.findall(r"\d+(?:\.\d+)?", cell)]
    return (values[0], values[1], values[2]) if len(values) >= 3 else (values[0], values[0], values[0])


def _save(figure: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    plt.close(figure)
    return path


def speed(table: str, path: Path = FOLDER / "speed_640.svg") -> Path:
    """Milliseconds per frame of every row of the speed table on one axis, ours against ultralytics."""
    rows = [r for r in tables(table)[0] if r.get("ms/frame")]
    labels, values, errors, colours = [], [], [[], []], []
    for row in rows:
        what = re.sub(r"\s*\([^)]*(faster|fps|x openvino)[^)]*\)", "", row["what"])
        labels.append(("replayed masks: " if row["model"].startswith("realistic") else "") + what)
        median, low, high = _spread(row["ms/frame"])
        values.append(median)
        errors[0].append(median - low)
        errors[1].append(high - median)
        colours.append(OURS if "ours" in what else THEIRS if "ultralytics" in what else NEUTRAL)
    figure, axes = plt.subplots(figsize=(8, 0.28 * len(rows) + 1.0))
    y = range(len(rows))
    axes.barh(y, values, xerr=errors, color=colours, error_kw={"lw": 0.8, "ecolor": "0.3"})
    axes.set_yticks(list(y), labels)
    axes.invert_yaxis()
    axes.set_xscale("log")
    axes.set_xlabel("ms per frame, median (min-max), log scale: shorter is faster")
    for at, value in zip(y, values, strict=True):
        axes.text(value * 1.05, at, f"{value:.0f}", va="center", fontsize=7)
    axes.set_title("blue: ours; red: ultralytics' FastSAM.track; grey: the network alone", fontsize=9)
    return _save(figure, path)


def real_footage(table: str, path: Path = FOLDER / "real_footage.svg") -> Path:
    """J per DAVIS sequence, point prompts on the default stream profile: ours, each baseline and the oracle
    side by side (the table of every sequence; tuning-half sequences marked ``T``, checking-half ``C``)."""
    rows = next(t for t in tables(table) if t and "sequence" in t[0])
    rows = [r for r in rows if r["sequence"] != "mean" and r.get("profile", "default") == "default"]
    rows = [r for r in rows if r.get("prompt", "point") == "point"] or rows
    methods = [h for h in rows[0] if h.startswith("J ")]
    figure, axes = plt.subplots(figsize=(11, 3.8))
    markers = dict(zip(methods, "o^sDvP", strict=False))
    for method in methods:
        ours = method == "J ours"
        axes.plot(
            range(len(rows)),
            [number(r[method]) for r in rows],
            marker=markers[method],
            ls="-" if ours else "none",
            color=OURS if ours else None,
            lw=1.2,
            ms=6 if ours else 4,
            label=method[2:],
            zorder=3 if ours else 2,
        )
    names = [r["sequence"] + (f" ({r['half'][0].upper()})" if "half" in r else "") for r in rows]
    axes.set_xticks(range(len(rows)), names, rotation=60, ha="right")
    axes.set_ylabel("J (region similarity)")
    axes.set_ylim(0, 1)
    axes.grid(axis="y", lw=0.3)
    axes.legend(ncols=len(methods), loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    return _save(figure, path)


def keyframes(table: str, path: Path = FOLDER / "keyframes.svg") -> Path:
    """J against the share of frames through the network: every frame, every 2nd and auto, one line per
    stream profile and half (the halves table of ``keyframes.py``: the CLI's own runs)."""
    lines = table.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    first = [
        line for line in itertools.takewhile(lambda line: line.startswith("|"), lines[start:]) if "---" not in line
    ]
    rows = [[c.strip().replace("**", "") for c in line.strip().strip("|").split("|")] for line in first[1:]]
    # columns: profile, half, prompt, run, J every frame, K=2: network, J, x every, worst, < 0.9, runs < 0.9,
    # auto: network, J, ...
    figure, axes = plt.subplots(figsize=(5.5, 3.5))
    for row, style in zip(rows, ("o-", "s--", "^-", "D--", "v-", "P--"), strict=False):
        shares = [100.0, number(row[5]), number(row[11])]
        js = [number(row[4]), number(row[6]), number(row[12])]
        axes.plot(shares, js, style, label=f"{row[0]}, {row[1].split(' ')[0]}")
        for share, j, name in zip(shares, js, ("every", "K=2", "auto"), strict=True):
            axes.annotate(name, (share, j), textcoords="offset points", xytext=(4, -9), fontsize=7)
    axes.set_xlabel("frames through the network (%)")
    axes.set_ylabel("J, prompted object (box)")
    axes.grid(lw=0.3)
    axes.legend(loc="lower right", fontsize=7)
    return _save(figure, path)


def cluster(table: str, path: Path = FOLDER / "cluster.svg") -> Path:
    """Frames per second of all sources against the number of sources, one process against the cluster."""
    rows = tables(table)[0]
    figure, axes = plt.subplots(figsize=(5.5, 3.5))
    for name, colour in zip(dict.fromkeys(r["path"] for r in rows), (OURS, THEIRS, NEUTRAL), strict=False):
        mine = [r for r in rows if r["path"] == name]
        axes.plot(
            [number(r["sources"]) for r in mine],
            [number(r["fps, all sources"]) for r in mine],
            "o-",
            color=colour,
            label=name,
        )
    axes.set_xscale("log", base=2)
    axes.set_xticks([number(r["sources"]) for r in rows], [r["sources"] for r in rows])
    axes.set_xlabel("sources (cameras)")
    axes.set_ylabel("frames per second, all sources")
    axes.set_ylim(bottom=0)
    axes.grid(lw=0.3)
    axes.legend()
    return _save(figure, path)


def live_latency(table: str, ages_ms: Sequence[float] | None = None, path: Path = FOLDER / "live_latency.svg") -> Path:
    """Frame age on a live camera: its distribution (``ages_ms``, every frame's), or without it the table's
    median, 95th percentile and maximum."""
    row = tables(table)[0][0]
    marks = {"median": number(row["frame age median ms"]), "p95": number(row["p95 ms"]), "max": number(row["max ms"])}
    figure, axes = plt.subplots(figsize=(6, 3))
    if ages_ms is not None and len(ages_ms):
        axes.hist(list(ages_ms), bins=60, color=OURS)
        axes.set_ylabel("frames")
        axes.set_yscale("log")
    else:
        axes.set_yticks([])
        axes.set_title("from the table: the distribution is drawn when the benchmark runs", fontsize=8)
    for (name, value), style in zip(marks.items(), ("-", "--", ":"), strict=True):
        axes.axvline(value, color=THEIRS, ls=style, label=f"{name} {value:.0f} ms")
    axes.set_xlim(0, marks["max"] * 1.1)
    axes.set_xlabel(f"frame age, capture to out (ms), {row.get('frames processed', '?')} frames")
    axes.legend()
    return _save(figure, path)


def int8(table: str, path: Path = FOLDER / "int8.svg") -> Path:
    """int8 against fp32: the network's time per call, and matched IoU of its segments against fp32's."""
    timing, quality = tables(table)[:2]
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    labels = [f"{r['model'].split(' (')[0]}: {r['network']}" for r in timing]
    medians = [_spread(r["ms"]) for r in timing]
    colours = [OURS if "int8" in r["network"] else NEUTRAL for r in timing]
    left.barh(
        range(len(timing)),
        [m[0] for m in medians],
        xerr=[[m[0] - m[1] for m in medians], [m[2] - m[0] for m in medians]],
        color=colours,
        error_kw={"lw": 0.8},
    )
    left.set_yticks(range(len(timing)), labels)
    left.invert_yaxis()
    left.set_xlabel("ms per call, the network alone (blue: int8)")
    clips = [r for r in quality if r["clip"].startswith("all")] or quality
    kinds = list(dict.fromkeys(r["network"] for r in clips))
    names = list(dict.fromkeys(r["clip"] for r in clips))
    width = 0.8 / max(len(kinds), 1)
    for k, kind in enumerate(kinds):
        values = [
            number(next((r["mean matched IoU"] for r in clips if r["clip"] == n and r["network"] == kind), ""))
            for n in names
        ]
        right.bar(
            [i + k * width for i in range(len(names))],
            values,
            width,
            label=kind,
            color=OURS if "int8" in kind else NEUTRAL,
        )
    right.set_xticks([i + width * (len(kinds) - 1) / 2 for i in range(len(names))], names)
    right.set_ylim(0.9, 1.0)
    right.set_ylabel("mean matched IoU against fp32")
    right.legend(loc="lower right", fontsize=8)
    return _save(figure, path)


def _section(text: str, name: str) -> str:
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    return text.split(begin, 1)[1].split(end, 1)[0]


def main() -> None:
    """Draw every figure again from the tables in ``benchmarks/README.md``."""
    text = README.read_text()
    speed(_section(text, "speed_640"))
    real_footage(_section(text, "real-footage"))
    keyframes(_section(text, "keyframes"))
    cluster(_section(text, "cluster"))
    live_latency(_section(text, "live_latency"))
    int8(_section(text, "int8"))
    print("\n".join(sorted(str(p.relative_to(FOLDER.parent)) for p in FOLDER.glob("*.svg"))), file=sys.stdout)


if __name__ == "__main__":
    main()
