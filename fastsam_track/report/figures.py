"""The report's figures, drawn with matplotlib (Agg, imported here only) as PNG bytes.

PNG rather than SVG: a figure of thousands of points is a few tens of kB as PNG whatever the
run's length, while an SVG grows with its points and slows the browser. One function per figure,
each taking a ``Series``.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import numpy as np

from fastsam_track.report.series import ABSENT, Series
from fastsam_track.types import ObjectState

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["STATE_COLOURS", "fps_and_age", "keyframe_strip", "object_timeline", "stage_stack", "time_axis"]

# One colour per ObjectState (and absent), the same in every figure and in the page's legend.
STATE_COLOURS = {
    ABSENT: "#ffffff",
    ObjectState.SEEN: "#2ca02c",
    ObjectState.CARRIED: "#98df8a",
    ObjectState.SEARCHING: "#ff7f0e",
    ObjectState.TRIAL: "#ffbb78",
    ObjectState.LOST: "#d62728",
}
_STAGE_COLOURS = {
    "decode": "#8c564b",
    "segment": "#1f77b4",
    "track": "#2ca02c",
    "render": "#9467bd",
    "encode": "#e377c2",
}
_MOST_TICKS = 500  # keyframes drawn one by one above the object rows (more: the keyframes figure only)
_COLUMNS = 800  # time columns of the object timeline's image: about its width in pixels, so none is skipped
_WIDTH = 10.0  # inches at 100 dpi: 1000 pixels, the page's width
_DPI = 100


def time_axis(series: Series) -> np.ndarray:
    """(B,) seconds of each bin's frame going out, from the run's start: the x axis of every figure."""
    return series.out


def _figure(height: float, right: float = 0.92) -> tuple[Figure, Axes]:
    """A figure ``height`` inches high with fixed margins (a layout engine would measure every label,
    a third of the drawing time)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(_WIDTH, height), dpi=_DPI)
    figure.subplots_adjust(left=0.08, right=right, bottom=0.5 / height + 0.05, top=1 - 0.15 / height)
    return figure, figure.add_subplot()


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI, pil_kwargs={"compress_level": 3})
    return buffer.getvalue()


def _fps(series: Series, window_frames: int = 30) -> np.ndarray:
    """(B,) frames out per second over a moving window of about ``window_frames`` frames."""
    out = series.out
    if len(out) < 2:
        return np.zeros(len(out))
    width = max(1, round(window_frames / series.per_bin))
    ahead = np.maximum(np.arange(len(out)) - width, 0)
    span = out - out[ahead]
    frames = (np.arange(len(out)) - ahead) * series.per_bin
    with np.errstate(divide="ignore", invalid="ignore"):
        fps = np.where(span > 0, frames / span, np.nan)
    fps[0] = fps[1] if len(fps) > 1 else 0.0
    return fps


def _events(axes: Axes, series: Series, x: np.ndarray) -> list[str]:
    """Mark dropped frames (grey ticks) and reconnections (red lines) on ``axes``; what was marked."""
    marked = []
    dropped = np.flatnonzero(np.diff(series.dropped, append=series.dropped[-1:]) > 0)
    if len(dropped):
        axes.vlines(x[dropped], 0, 0.04, transform=axes.get_xaxis_transform(), colors="0.4", lw=0.8)
        marked.append(f"frames dropped ({int(series.dropped[-1])} before the last frame): grey ticks")
    reconnects = np.flatnonzero(np.diff(series.reconnects, prepend=series.reconnects[:1]) > 0)
    for n, at in enumerate(reconnects):
        axes.axvline(x[at], color="#d62728", lw=1.2, ls="--", label="reconnection" if n == 0 else None)
    if len(reconnects):
        marked.append(f"reconnections ({len(reconnects)}): red dashed lines")
    return marked


def fps_and_age(series: Series) -> tuple[bytes, list[str]]:
    """Frames per second and frame age over time, dropped frames and reconnections marked.

    Returns:
        The PNG and the list of marks drawn (for the page's caption).
    """
    figure, axes = _figure(3.2)
    x = time_axis(series)
    fps = _fps(series)
    axes.plot(x, fps, color="#1f77b4", lw=1.0, label="fps (moving, ~30 frames)")
    axes.set_ylabel("frames per second", color="#1f77b4")
    axes.set_xlabel("seconds since the run started")
    axes.set_ylim(0, _top(fps))
    age = axes.twinx()
    age.plot(x, series.age_ms, color="#ff7f0e", lw=1.0, label="frame age (ms)")
    if series.per_bin > 1:
        age.fill_between(x, series.age_ms, series.age_max_ms, color="#ff7f0e", alpha=0.25, lw=0)
    age.set_ylabel("frame age, capture to out (ms)", color="#ff7f0e")
    age.set_ylim(0, _top(series.age_max_ms))
    marked = _events(axes, series, x)
    lines = axes.get_legend_handles_labels()
    more = age.get_legend_handles_labels()
    axes.legend(lines[0] + more[0], lines[1] + more[1], loc="upper right", fontsize=8)
    return _png(figure), marked


def stage_stack(series: Series) -> bytes:
    """Milliseconds each stage worked per frame, stacked, over time."""
    figure, axes = _figure(3.0)
    x = time_axis(series)
    names = list(series.stage_ms)
    values = [series.stage_ms[name] for name in names]
    colours = [_STAGE_COLOURS.get(name, "#7f7f7f") for name in names]
    if values:
        axes.stackplot(x, *values, labels=names, colors=colours, lw=0)
        axes.legend(loc="upper right", fontsize=8, ncols=len(names))
    axes.set_ylabel("ms per frame (stacked)")
    axes.set_xlabel("seconds since the run started")
    axes.set_ylim(0, _top(np.sum(values, axis=0) if values else np.zeros(1)))
    return _png(figure)


def object_timeline(series: Series) -> bytes:
    """One row per prompted object, coloured by its state per frame; keyframes as ticks beneath."""
    ids = list(series.objects)
    figure, axes = _figure(0.9 + 0.35 * max(len(ids), 1), right=0.86)
    x = time_axis(series)
    if ids:
        # One image on an even time grid (each column the worst state of the bins going out in its
        # time, so a single lost frame still shows): one draw call where a mesh would draw a cell per bin.
        columns = min(_COLUMNS, len(x))
        starts = np.searchsorted(x, np.linspace(x[0], x[-1], columns + 1)[:-1]) if len(x) > 1 else np.zeros(1, int)
        grid = np.maximum.reduceat(np.stack([series.objects[i] for i in ids]), np.minimum(starts, len(x) - 1), axis=1)
        colour = np.array([_rgb(STATE_COLOURS[code]) for code in range(ABSENT, max(ObjectState) + 1)])
        extent = (float(x[0]), float(x[-1]) if len(x) > 1 else float(x[0]) + 1, len(ids), 0)
        axes.imshow(colour[grid.astype(int) - ABSENT], aspect="auto", interpolation="nearest", extent=extent)
        axes.set_yticks(np.arange(len(ids)) + 0.5, [f"object {i}" for i in ids])
        axes.set_ylim(len(ids), -0.35)
        if series.per_bin == 1 and series.keyframes <= _MOST_TICKS:
            axes.vlines(x[series.keyframe > 0], -0.35, -0.05, colors="k", lw=0.5)
    else:
        axes.text(0.5, 0.5, "no prompted objects in this run", ha="center", va="center", transform=axes.transAxes)
        axes.set_yticks([])
    ticks = series.per_bin == 1 and series.keyframes <= _MOST_TICKS
    axes.set_xlabel("seconds since the run started" + (" (black ticks above the rows: keyframes)" if ticks else ""))
    handles = [_patch(STATE_COLOURS[state], state.label) for state in ObjectState]
    axes.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    return _png(figure)


def keyframe_strip(series: Series) -> bytes:
    """Keyframes on the time axis: a tick per keyframe (a bar of the share per bin, for long runs)."""
    figure, axes = _figure(1.3)
    x = time_axis(series)
    if series.per_bin == 1:
        axes.vlines(x[series.keyframe > 0], 0, 1, colors="#1f77b4", lw=0.6)
        axes.set_yticks([])
    else:
        axes.fill_between(x, series.keyframe, step="mid", color="#1f77b4", lw=0)
        axes.set_ylabel("share", fontsize=8)
    axes.set_ylim(0, 1)
    axes.set_xlim(x[0] if len(x) else 0, x[-1] if len(x) else 1)
    axes.set_xlabel("seconds since the run started: a line per frame the network saw")
    return _png(figure)


def _top(values: np.ndarray) -> float:
    """The top of a y axis: above every value but the first point's, which holds the model's warm-up
    (its first pass, an export) and would flatten the rest of the run."""
    rest = values[1:] if len(values) > 1 else values
    top = float(np.nanmax(rest)) * 1.15 if len(rest) else 1.0
    return top if top > 0 else 1.0


def _rgb(colour: str) -> tuple[float, float, float]:
    """``#rrggbb`` as three floats from 0 to 1."""
    return tuple(int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))  # type: ignore[return-value]


def _patch(colour: str, label: str) -> Any:
    from matplotlib.patches import Patch

    return Patch(facecolor=colour, edgecolor="0.5", label=label)
