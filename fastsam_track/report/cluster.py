"""The cluster's report: its status history (``cluster --report``) as one self-contained HTML page.

``StatusLog`` streams each status the fleet reports (every ``--status-every`` s) to a JSON-lines
file beside the report, a line per status, so a fleet that runs for days holds none of it in
memory; ``write_cluster_report`` draws a row per camera (fps and frame age over time, restarts
marked) and each segmenter's utilisation and batch size.

Example:
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> with StatusLog(folder / "fleet.status.jsonl") as log:
    ...     for restarts in (0, 0, 1):
    ...         log.write({"cameras": [{"name": "yard", "state": "running", "fps": 9.0, "age_ms": 80.0,
    ...             "restarts": restarts}], "segmenters": [{"node": "ab12", "utilisation": 0.5, "batch": 1.0}]})
    >>> cameras, segmenters = read_history(folder / "fleet.status.jsonl")
    >>> cameras["yard"]["restarts"], list(segmenters)
    ([0, 0, 1], ['ab12'])
"""

from __future__ import annotations

import base64
import html
import json
import time
from pathlib import Path
from typing import IO, Any

import numpy as np

from fastsam_track.errors import UsageError

__all__ = ["StatusLog", "read_history", "status_log_path", "write_cluster_report"]

_CAMERA_FIELDS = ("t", "fps", "age_ms", "restarts", "state")


def status_log_path(report: str | Path) -> Path:
    """The status history written beside the cluster's report ``report``.

    Example:
        >>> status_log_path("out/fleet.html").as_posix()
        'out/fleet.status.jsonl'
    """
    report = Path(report)
    return report.with_name(report.stem + ".status.jsonl")


class StatusLog:
    """A context manager that appends each fleet status as a JSON line, with seconds since it opened."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._file: IO[str] | None = None
        self._started = time.monotonic()

    def __enter__(self) -> StatusLog:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("w", encoding="utf-8")
        self._started = time.monotonic()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def write(self, status: dict[str, Any]) -> None:
        """Append ``status`` (``RunningFleet.status()``: ``cameras`` and ``segmenters`` rows)."""
        if self._file is None:
            raise UsageError("the status log is not open: use it as a context manager")
        line = {"t": round(time.monotonic() - self._started, 2), **status}
        self._file.write(json.dumps(line, separators=(",", ":"), default=str) + "\n")
        self._file.flush()


def read_history(path: str | Path) -> tuple[dict[str, dict[str, list[Any]]], dict[str, dict[str, list[float]]]]:
    """Each camera's and each segmenter's figures over time, read from the log as a stream.

    Returns:
        ``cameras``: name to ``{"t", "fps", "age_ms", "restarts", "state"}`` lists; ``segmenters``: node to
        ``{"t", "utilisation", "batch"}`` lists.

    Raises:
        UsageError: the file is missing or a line is not a status.
    """
    cameras: dict[str, dict[str, list[Any]]] = {}
    segmenters: dict[str, dict[str, list[float]]] = {}
    try:
        with Path(path).open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                try:
                    status = json.loads(line)
                    t = float(status["t"])
                    for camera in status.get("cameras", ()):
                        into = cameras.setdefault(str(camera.get("name")), {k: [] for k in _CAMERA_FIELDS})
                        into["t"].append(t)
                        into["fps"].append(float(camera.get("fps", 0.0)))
                        into["age_ms"].append(float(camera.get("age_ms", 0.0)))
                        into["restarts"].append(int(camera.get("restarts", 0)))
                        into["state"].append(str(camera.get("state", "?")))
                    for segmenter in status.get("segmenters", ()):
                        empty: dict[str, list[float]] = {"t": [], "utilisation": [], "batch": []}
                        seg = segmenters.setdefault(str(segmenter.get("node")), empty)
                        seg["t"].append(t)
                        seg["utilisation"].append(float(segmenter.get("utilisation", 0.0)))
                        seg["batch"].append(float(segmenter.get("batch", 0.0)))
                except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as error:
                    if line.endswith("\n"):
                        raise UsageError(f"{path}:{number}: not a fleet status line ({error})") from error
    except FileNotFoundError as error:
        raise UsageError(f"no status history at {path}") from error
    return cameras, segmenters


def _png(figure: Any) -> bytes:
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _camera_rows(cameras: dict[str, dict[str, list[Any]]]) -> bytes:
    """One row per camera: fps (blue) and frame age (orange) over time, restarts as red lines."""
    from matplotlib.figure import Figure

    names = sorted(cameras)
    figure = Figure(figsize=(10, 0.3 + 1.2 * len(names)), dpi=100)
    figure.subplots_adjust(left=0.12, right=0.9, bottom=0.5 / (0.3 + 1.2 * len(names)), top=0.98, hspace=0.35)
    axes_list = figure.subplots(len(names), 1, sharex=True, squeeze=False)[:, 0]
    for axes, name in zip(axes_list, names, strict=True):
        row = cameras[name]
        t = np.asarray(row["t"])
        axes.plot(t, row["fps"], color="#1f77b4", lw=1.0)
        axes.set_ylabel(name, rotation=0, ha="right", va="center")
        axes.set_ylim(bottom=0)
        age = axes.twinx()
        age.plot(t, row["age_ms"], color="#ff7f0e", lw=1.0)
        age.set_ylim(bottom=0)
        age.tick_params(labelsize=7)
        axes.tick_params(labelsize=7)
        restarts = np.flatnonzero(np.diff(np.asarray(row["restarts"]), prepend=row["restarts"][0]) > 0)
        for at in restarts:
            axes.axvline(t[at], color="#d62728", ls="--", lw=1.2)
    axes_list[-1].set_xlabel("seconds since the fleet started: fps (blue, left), frame age ms (orange, right)")
    return _png(figure)


def _segmenter_figure(segmenters: dict[str, dict[str, list[float]]]) -> bytes:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 2.6), dpi=100)
    figure.subplots_adjust(left=0.08, right=0.92, bottom=0.2, top=0.95)
    axes = figure.add_subplot()
    batch = axes.twinx()
    for node, row in sorted(segmenters.items()):
        line = axes.plot(row["t"], 100 * np.asarray(row["utilisation"]), lw=1.2, label=f"{node[:6]} utilisation")
        batch.plot(row["t"], row["batch"], lw=0.8, ls=":", color=line[0].get_color(), label=f"{node[:6]} batch")
    axes.set_ylim(0, 105)
    axes.set_ylabel("utilisation (% of the time in model passes)")
    batch.set_ylabel("mean batch (dotted)")
    batch.set_ylim(bottom=0)
    axes.set_xlabel("seconds since the fleet started")
    if segmenters:
        axes.legend(loc="lower right", fontsize=8)
    return _png(figure)


def write_cluster_report(history: str | Path, output: str | Path) -> Path:
    """Write the HTML report of a fleet's status history (``StatusLog``); ``output``."""
    from fastsam_track.pipeline.outputs.files import write_text

    cameras, segmenters = read_history(history)
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{html.escape(row['state'][-1])}</td>"
        f"<td>{np.mean(row['fps']):.1f}</td><td>{np.median(row['age_ms']):.0f}</td><td>{row['restarts'][-1]}</td></tr>"
        for name, row in sorted(cameras.items())
    )
    busiest = max(segmenters.items(), key=lambda item: np.mean(item[1]["utilisation"]), default=None)
    words = (
        f"The busiest segmenter ({html.escape(busiest[0][:6])}) spent {100 * np.mean(busiest[1]['utilisation']):.0f}% "
        "of its time in model passes on average."
        if busiest
        else "No segmenter reported."
    )
    parts = [
        f"<h1>Fleet report: {html.escape(Path(history).name)}</h1>",
        '<section id="summary"><h2>Cameras</h2><table><tr><th>camera</th><th>last state</th><th>mean fps</th>'
        f"<th>median frame age ms</th><th>restarts</th></tr>{rows}</table></section>",
    ]
    if cameras:
        parts.append(_section("cameras", "Each camera over time", _camera_rows(cameras), "Red dashed lines: restarts."))
    parts.append(_section("segmenters", "Segmenter utilisation", _segmenter_figure(segmenters), words))
    style = "body{font-family:system-ui,sans-serif;max-width:1040px;margin:1em auto}img{max-width:100%}"
    page = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>fastsam-track fleet report</title>'
        f"<style>{style}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n"
    )
    write_text(output, page)
    return Path(output)


def _section(ident: str, title: str, png: bytes, note: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<section id="{ident}"><h2>{html.escape(title)}</h2>'
        f'<img alt="{html.escape(title)}" src="data:image/png;base64,{data}"><p>{note}</p></section>'
    )
