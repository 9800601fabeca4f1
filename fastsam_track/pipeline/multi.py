"""Several sources in one run: a frame loop per source, one model for all (``BatchedSegmenter``)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from fastsam_track.pipeline.model.batching import BatchedSegmenter
from fastsam_track.pipeline.outputs.render import SegmentRenderer
from fastsam_track.pipeline.runner import FrameSink, RunStats, run
from fastsam_track.pipeline.sources import Source
from fastsam_track.trackers.segment_tracker import SegmentTracker
from fastsam_track.types import SegmentedFrame, StopRun

__all__ = ["run_sources"]


def run_sources(
    sources: Sequence[Source],
    segmenter: Any,
    *,
    sinks: Sequence[Sequence[FrameSink]],
    renderer: SegmentRenderer | None = None,
    on_frame: Callable[[int, SegmentedFrame, RunStats], None] | None = None,
    stop: threading.Event | None = None,
) -> list[RunStats]:
    """Segment and track everything in several sources at once, batching their frames.

    Args:
        sources: the sources, each with its own everything-mode tracker.
        segmenter: a ``Segmenter`` (anything with ``segment_batch``).
        sinks: the outputs of each source, in the same order.
        renderer: draws every source's segments (a default ``SegmentRenderer`` if None).
        on_frame: ``on_frame(source number, segmented, stats)`` after each frame.
        stop: set it to end every loop normally (Ctrl-C in the caller's thread).

    Returns:
        Each source's ``RunStats``.

    Raises:
        The first error of any source's loop, once all loops have ended.
    """
    if len(sinks) != len(sources):
        raise ValueError(f"{len(sources)} sources but {len(sinks)} lists of sinks")
    stop = stop or threading.Event()
    stats: list[RunStats | None] = [None] * len(sources)
    errors: list[BaseException] = []
    with BatchedSegmenter(segmenter, streams=len(sources)) as shared:

        def loop(number: int, source: Source) -> None:
            client = shared.client()

            def frame_done(segmented: SegmentedFrame, run_stats: RunStats) -> None:
                if on_frame is not None:
                    on_frame(number, segmented, run_stats)
                if stop.is_set():
                    raise StopRun("stopped")

            try:
                stats[number] = run(
                    source,
                    client,
                    tracker=SegmentTracker(),
                    renderer=renderer,
                    sinks=sinks[number],
                    on_frame=frame_done,
                )
            except BaseException as error:  # re-raised in the caller's thread
                errors.append(error)
                stop.set()
            finally:
                client.done()

        threads = [
            threading.Thread(target=loop, args=(n, s), name=f"source-{n}", daemon=True) for n, s in enumerate(sources)
        ]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                while thread.is_alive():
                    thread.join(timeout=0.2)
        except BaseException:  # Ctrl-C: end every loop normally so its outputs are finalised, then go on
            stop.set()
            for thread in threads:
                thread.join()
            raise
    if errors:
        raise errors[0]
    return [s if s is not None else RunStats() for s in stats]
