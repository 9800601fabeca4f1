"""``fastsam-track report``: one self-contained HTML page of a run's figures.

Every image is inline (``data:`` PNG) and the page has no script, so it opens anywhere, offline,
and can be mailed as one file. Sections (each an element with its id, which the tests look for):
``summary``, ``fps-age``, ``stages`` (with the bottleneck named), ``objects``, ``keyframes`` and,
when the run wrote a video, ``contact-sheet``; one set per source.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fastsam_track.errors import UsageError
from fastsam_track.report import figures
from fastsam_track.report.series import Series, read_series

__all__ = ["bottleneck", "write_report"]

_PICKS = 6  # frames on a contact sheet
_STAGE_WORDS = {
    "decode": "decoding (the model waiting for a decoded frame)",
    "segment": "the network (segmenting)",
    "track": "tracking (with prompts, CLIP and edge maps)",
    "render": "drawing the annotated frames",
    "encode": "encoding and writing the outputs",
}
_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1040px; margin: 1em auto; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; } h3 { font-size: 1.05em; }
img { max-width: 100%; border: 1px solid #ddd; }
table { border-collapse: collapse; } td, th { padding: 2px 10px; text-align: left; border-bottom: 1px solid #eee; }
.note { color: #555; font-size: 0.9em; }
"""


def bottleneck(stage_ms: dict[str, float]) -> str:
    """The stage that takes longest per frame, in words.

    Example:
        >>> bottleneck({"decode": 2.0, "segment": 30.0, "track": 8.0})
        'The bottleneck is the network (segmenting): 30.0 ms a frame, 75% of the 40.0 ms the stages work per frame.'
    """
    total = sum(stage_ms.values())
    if not stage_ms or total <= 0:
        return "No stage took measurable time."
    stage = max(stage_ms, key=lambda name: stage_ms[name])
    share = stage_ms[stage] / total
    return (
        f"The bottleneck is {_STAGE_WORDS.get(stage, stage)}: {stage_ms[stage]:.1f} ms a frame, "
        f"{share:.0%} of the {total:.1f} ms the stages work per frame."
    )


def write_report(stats: str | Path, output: str | Path, videos: Sequence[str | Path] = ()) -> Path:
    """Write the HTML report of a run from its ``--stats`` file and the time series beside it.

    Args:
        stats: the run's ``--stats`` JSON (one object, or a list with several sources).
        output: the HTML file to write.
        videos: the run's annotated videos, one per source in order (none: no contact sheet).

    Returns:
        ``output``.

    Raises:
        UsageError: the stats file or its time series is missing or not a run's.
    """
    from fastsam_track.pipeline.outputs.files import write_text
    from fastsam_track.pipeline.timeline import timeline_path

    stats = Path(stats)
    try:
        totals: Any = json.loads(stats.read_text())
    except FileNotFoundError as error:
        raise UsageError(f"no stats file at {stats} (write one with `run --stats FILE`)") from error
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UsageError(f"{stats} is not a --stats JSON file: {error}") from error
    runs = totals if isinstance(totals, list) else [totals]
    if not runs or not all(isinstance(r, dict) and "frames" in r for r in runs):
        raise UsageError(f"{stats} is not a --stats JSON file (no 'frames' figure)")
    named = runs[0].get("timeline")
    series = read_series(stats.with_name(named) if named else timeline_path(stats), picks=_PICKS if videos else 0)
    by_source = {s.source: s for s in series}
    parts = [f"<h1>Run report: {html.escape(stats.name)}</h1>"]
    for number, run in enumerate(runs):
        one = by_source.get(run.get("source") if len(runs) > 1 else None)
        video = Path(videos[number]) if number < len(videos) else None
        if len(runs) > 1:
            parts.append(f"<h2>Source {html.escape(str(run.get('source')))}</h2>")
        parts += _sections(run, one, video, suffix=f"-{number}" if number else "")
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>fastsam-track report: {html.escape(stats.name)}</title><style>{_STYLE}</style></head>"
        "<body>\n" + "\n".join(parts) + "\n</body></html>\n"
    )
    write_text(output, page)
    return Path(output)


def _sections(run: dict[str, Any], series: Series | None, video: Path | None, suffix: str) -> list[str]:
    mean = run.get("stage_ms_per_frame", {})
    age = run.get("frame_age_ms", {})
    rows = [
        ("frames", run.get("frames")),
        ("seconds", run.get("seconds")),
        ("frames per second", run.get("fps")),
        ("frame age median / p95 / max (ms)", f"{age.get('median')} / {age.get('p95')} / {age.get('max')}"),
        ("dropped frames", run.get("dropped")),
        ("keyframes (frames through the network)", run.get("keyframes")),
        ("segments per frame", run.get("segments_per_frame")),
        ("ms per frame by stage", ", ".join(f"{k} {v}" for k, v in mean.items())),
    ]
    table = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    parts = [f'<section id="summary{suffix}"><h2>Summary</h2><table>{table}</table></section>']
    if series is None or series.frames == 0:
        parts.append('<p class="note">No time series for this source (run with --stats to record one).</p>')
        return parts
    binned = "" if series.per_bin == 1 else f" Each point is {series.per_bin} consecutive frames."
    fps_png, marked = figures.fps_and_age(series)
    marks = "; ".join(marked) if marked else "no dropped frames and no reconnections"
    parts.append(
        _section(
            f"fps-age{suffix}",
            "Frames per second and frame age over time",
            fps_png,
            f"Frame age is capture to out (written by every output). Marked: {marks}.{binned} "
            "The axes stop above the first frame's, which holds the model's warm-up.",
        )
    )
    means = {stage: float(np.mean(values)) for stage, values in series.stage_ms.items()}
    parts.append(
        _section(
            f"stages{suffix}",
            "Stage time per frame",
            figures.stage_stack(series),
            f"<strong>{html.escape(bottleneck(means))}</strong> Stages run on their own threads at once, "
            "so their sum is more than the time between frames.",
        )
    )
    legend = ", ".join(f"{s.label}" for s in figures.ObjectState)
    parts.append(
        _section(
            f"objects{suffix}",
            "Prompted objects over time",
            figures.object_timeline(series),
            f"One row per object, coloured by its state on each frame ({legend}; white: not yet prompted)."
            + (" The worst state of each point's frames is shown." if series.per_bin > 1 else ""),
        )
    )
    share = series.keyframes / series.frames
    parts.append(
        _section(
            f"keyframes{suffix}",
            "Keyframes",
            figures.keyframe_strip(series),
            f"{series.keyframes} of {series.frames} frames went through the network ({share:.0%}); "
            "the others were carried by the optical flow.",
        )
    )
    if video is not None and series.picks:
        from fastsam_track.report.contact import contact_sheet, read_frames

        positions = sorted(series.picks)
        images = read_frames(video, positions)
        captions = [_caption(series.picks[p]) for p in positions[: len(images)]]
        if images:
            parts.append(
                _section(
                    f"contact-sheet{suffix}",
                    "Contact sheet",
                    contact_sheet(images, captions),
                    f"{len(images)} frames of {html.escape(video.name)}, spread over the run.",
                    kind="jpeg",
                )
            )
    return parts


def _caption(record: dict[str, Any]) -> str:
    states = " ".join(f"{o['id']}:{o['state']}" for o in record.get("objects", ()))
    kind = "key" if record.get("keyframe", True) else "carried"
    return f"frame {record.get('frame')} ({kind}) {states}".strip()


def _section(ident: str, title: str, image: bytes, note: str, kind: str = "png") -> str:
    data = base64.b64encode(image).decode("ascii")
    return (
        f'<section id="{ident}"><h2>{html.escape(title)}</h2>'
        f'<img alt="{html.escape(title)}" src="data:image/{kind};base64,{data}">'
        f'<p class="note">{note}</p></section>'
    )
