"""The Python API's loop: ``for result in track(source, ...)``, one ``SegmentedFrame`` a frame.

Example (a generated clip and the built-in model):
    >>> import tempfile
    >>> from fastsam_track.pipeline.outputs.sinks import VideoFileSink
    >>> from fastsam_track.synthetic import SyntheticClip
    >>> clip = Path(tempfile.mkdtemp()) / "clip.mp4"
    >>> with VideoFileSink(clip, fps=10) as sink:
    ...     for i in range(3):
    ...         sink.write(SyntheticClip(seed=0).frame(i)[0])
    >>> for result in track(clip, model="fastsam-tiny", imgsz=320):
    ...     ids = result.segments.tracker_id  # every segment has a track id
    >>> result.frame.index
    2
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

from fastsam_track.configs import load_config
from fastsam_track.pipeline.build import Outputs, build
from fastsam_track.pipeline.runner import FrameSink
from fastsam_track.types import Prompt, SegmentedFrame

__all__ = ["track"]


def track(
    source: str | Path | int,
    prompts: Sequence[Prompt] = (),
    *,
    model: str | Path | None = None,
    config: str | Path | None = None,
    outputs: Outputs | None = None,
    sinks: Sequence[FrameSink] = (),
    **settings: Any,
) -> Iterator[SegmentedFrame]:
    """Segment and track everything in ``source``, following ``prompts``; one result per frame.

    The loop is yours: leave it (``break``, an exception) and the run stops, its source is
    released and every output written so far is finalised, as at the source's end.

    Args:
        source: a video file, a folder of images, a webcam number or a stream URL.
        prompts: ``PointPrompt``, ``BoxPrompt``, ``TextPrompt`` or ``RemovePrompt`` records
            (plain lists are accepted for their coordinates).
        model: ``FastSAM-s`` (the default; ultralytics downloads it), ``FastSAM-x``, the
            built-in ``fastsam-tiny`` or a checkpoint path.
        config: a preset name (``file``, ``webcam``, ``rtsp``) or a YAML file of settings.
        outputs: files, a window, a page or an RTSP push to write as well (see ``Outputs``).
        sinks: more annotated-frame outputs (objects with ``write(image)``, context managers).
        **settings: any ``RunConfig`` field, e.g. ``imgsz=640``, ``conf=0.4``, ``device="cuda"``.

    Yields:
        Each frame's ``SegmentedFrame``: ``frame`` (index, image, timestamp), ``segments``
        (``supervision.Detections`` with ``tracker_id``), ``objects`` (the prompted objects,
        ``tracker_id`` their object ids; None without prompts).

    Raises:
        FastSamTrackError: a bad setting, source, prompt or output (``ConfigError``,
            ``SourceError``, ``PromptError``, ...), before the first frame.
    """
    run_config = load_config(config, {"model": str(model) if model is not None else None, **settings})
    pipeline = build(run_config, [str(source)], prompts, outputs, sinks=[sinks])
    with pipeline, closing(pipeline.stream()) as results:
        yield from results
