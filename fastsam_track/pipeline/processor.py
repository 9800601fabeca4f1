"""Everything one source's frame needs after the network, in one order, on one thread.

``FrameProcessor.process(frame, segments)`` gives the segments their track ids, applies the
prompts due on this frame (from a prompts file or the CLI, then clicks from a window or
page), resolves text prompts with CLIP, follows the prompted objects, tells the window or
page what it saw, and computes the edge map. It is per-frame compute only: no threads, queues,
files or keyframe policy. The runner calls ``process`` on its tracking thread, one frame after
another, and hands the result to the sinks and exports on its writing thread; one source or
many use the same class (one processor per source).

Example:
    >>> import numpy as np, supervision as sv
    >>> from fastsam_track.trackers.segment_tracker import SegmentTracker
    >>> from fastsam_track.types import Frame
    >>> processor = FrameProcessor(tracker=SegmentTracker())
    >>> masks = np.zeros((1, 8, 8), bool); masks[0, 2:6, 2:6] = True
    >>> segments = sv.Detections(xyxy=np.array([[4, 4, 12, 12]], np.float32), mask=masks)
    >>> frame = Frame(0, np.zeros((16, 16, 3), np.uint8), 0.0)
    >>> processor.process(frame, segments).segments.tracker_id.tolist()
    [1]
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

import numpy as np
import supervision as sv
from scipy import sparse

from fastsam_track.edges import edge_map
from fastsam_track.errors import FlowError, UsageError
from fastsam_track.masks import levels_of, object_levels, probabilities_of
from fastsam_track.trackers.carry import carry
from fastsam_track.trackers.flow import FrameCues, FrameFlow
from fastsam_track.trackers.prompting import PromptWarning
from fastsam_track.types import (
    LOGITS,
    OBJECT_STATE,
    PROPAGATED,
    SEGMENTS,
    Frame,
    ObjectState,
    Prompt,
    RemovePrompt,
    SegmentedFrame,
    TextPrompt,
)

if TYPE_CHECKING:
    from fastsam_track.pipeline.prompts.inbox import PromptInbox
    from fastsam_track.pipeline.prompts.text import TextPrompter

__all__ = ["FrameProcessor", "ObjectFollower", "Tracker"]


class Tracker(Protocol):
    """Gives a frame's segments identities: ``update(segments, cues) -> segments`` with ``tracker_id``;
    ``follow`` for a frame's segments carried from the last frame by the flow (between keyframes)."""

    def update(self, segments: sv.Detections, cues: FrameCues | None) -> sv.Detections: ...

    def follow(self, segments: sv.Detections, cues: FrameCues | None) -> sv.Detections: ...

    rows: sparse.csr_matrix | None  # the last segments given as ``association.sparse_rows`` (None: none yet)


class ObjectFollower(Protocol):
    """Follows prompted objects: ``update(segments, frame_shape, prompts, cues) -> objects``, and
    ``lost()``, the ids of those it searches for that have no mask now."""

    def update(
        self,
        segments: sv.Detections,
        frame_shape: tuple[int, int],
        prompts: list[Prompt],
        cues: FrameCues | None,
        keyframe: bool = True,
        cells: sparse.csr_matrix | None = None,
    ) -> sv.Detections: ...

    def lost(self) -> tuple[int, ...]: ...


class FrameProcessor:
    """One source's per-frame work after the network: tracks, prompts, text, objects, edges.

    Args:
        tracker: gives segments identities (e.g. a ``SegmentTracker``); None leaves them without.
        objects: follows prompted objects (e.g. an ``ObjectTracker``); needed with ``prompts``
            or ``inbox``. Both trackers get the frame's optical flow and colours (``FrameFlow``).
        prompts: point, box, text and remove prompts; each is applied on the first processed
            frame at or after its own (frames skipped by a stride do not lose prompts).
        text: resolves text prompts with CLIP and looks for lost text-selected objects; needed
            with text prompts.
        inbox: prompts given while the video plays (a window, a web page), applied on the next
            frame; the objects seen are published back to it, and each prompt that selected
            nothing is reported to it.
        edges: compute each frame's edge map (``SegmentedFrame.edges``).
        carry: some frames come without segments (a keyframe policy skips the network on them):
            the optical flow is computed to carry the last frame's segments onto them.
        residual: also compute the flow's residual on each frame (``cues``), which an ``auto``
            keyframe policy reads.

    Raises:
        UsageError: prompts or an inbox without an object tracker, text prompts without CLIP.
    """

    def __init__(
        self,
        *,
        tracker: Tracker | None = None,
        objects: ObjectFollower | None = None,
        prompts: Iterable[Prompt] = (),
        text: TextPrompter | None = None,
        inbox: PromptInbox | None = None,
        edges: bool = False,
        carry: bool = False,
        residual: bool = False,
    ):
        self.tracker, self.objects, self.text, self.inbox, self.edges = tracker, objects, text, inbox, edges
        self.residual = residual
        self._last: sv.Detections | None = None  # the last frame's tracked segments, to carry
        self.cues: FrameCues | None = None  # the last processed frame's flow and colours
        self._pending = sorted(prompts, key=lambda p: p.frame)
        self._picked = False  # an object was picked and not all removed since: only objects are drawn
        if (self._pending or inbox is not None) and objects is None:
            raise UsageError("prompts need an object tracker: pass objects=ObjectTracker()")
        if text is None and any(isinstance(p, TextPrompt) for p in self._pending):
            raise UsageError("text prompts need CLIP: pass text=TextPrompter(ClipEmbedder())")
        # The trackers follow segments with the optical flow between the frames they see; frames
        # between keyframes carry the segments with it.
        wants_flow = tracker is not None or objects is not None or carry or residual
        self._flow = FrameFlow(residual=residual) if wants_flow else None

    @property
    def unused_prompts(self) -> list[Prompt]:
        """Prompts for frames not processed (yet): after the run, those past its last frame."""
        return list(self._pending)

    def process(self, frame: Frame, segments: sv.Detections | None) -> SegmentedFrame:
        """This frame's tracked segments, objects and edges.

        Args:
            frame: the decoded frame.
            segments: its everything-mode segments (masks (N, h, w) bool at mask resolution), or
                None for a frame the network did not see (between keyframes): the last frame's
                segments are carried by the optical flow, and they and the objects are marked
                ``PROPAGATED``.

        Returns:
            The ``SegmentedFrame``: segments with ``tracker_id`` (with a tracker), the prompted
            objects (None without prompts, and in an interactive run until one is picked or after
            all are removed, so every segment is drawn to click on; empty while every object is lost)
            with their logits made from their segments'
            (``masks.object_levels``) when the segments have logits, the edge map (with ``edges``).
        """
        keyframe = segments is not None
        if segments is None:
            segments = self._last if self._last is not None else _no_segments(frame.shape)
        elif segments.mask is None:  # a segment function without masks (none found): nothing to follow
            segments = _no_segments(frame.shape)
        cues = self._cues(frame, segments, fine=not keyframe) if self._flow is not None else None
        self.cues = cues
        if not keyframe:
            segments = carry(segments, cues.flow if cues is not None else None, frame.shape)
        if self.tracker is not None:
            segments = self.tracker.update(segments, cues) if keyframe else self.tracker.follow(segments, cues)
        self._last = segments
        due = [p for p in self._pending if p.frame <= frame.index]
        self._pending = self._pending[len(due) :]
        if self.inbox is not None:
            due += self.inbox.take(frame.index)
        if self.text is not None:
            due = _resolve_text(self.text, frame, segments, due)
        followed: sv.Detections | None = None
        if self.objects is not None:
            followed = _with_levels(self._follow(segments, frame.shape, due, cues, keyframe), segments)
            if not keyframe and len(followed):
                followed.data[PROPAGATED] = np.ones(len(followed), bool)
                states = followed.data[OBJECT_STATE]
                carried = np.where(states == ObjectState.SEEN, ObjectState.CARRIED, states)
                followed.data[OBJECT_STATE] = carried.astype(np.int8)
        if self.text is not None:
            self.text.observe(followed)
        lost = self.objects.lost() if self.objects is not None else ()
        if self.inbox is not None:
            self.inbox.publish(frame.index, frame.shape, followed)
            # Every segment is drawn (to click on) until an object is picked, and again once all are
            # removed; an object lost meanwhile is not drawn, as in a run without a window or page.
            if any(not isinstance(p, RemovePrompt) for p in due):
                self._picked = True
            elif due and (followed is None or not len(followed)) and not lost:
                self._picked = False
            followed = followed if self._picked and followed is not None else None
        edge_image = edge_map(probabilities_of(levels_of(segments)), frame.shape) if self.edges else None
        return SegmentedFrame(frame, segments, followed, edge_image, lost)

    def _cues(self, frame: Frame, segments: sv.Detections, fine: bool) -> FrameCues:
        """The frame's flow and colours on the segments' grid (``fine``: the finer flow, for a frame carried
        by it); a frame of a new size starts the flow afresh (a camera that came back at another resolution:
        the trackers start afresh too)."""
        assert self._flow is not None
        grid = np.asarray(segments.mask).shape[1:]
        try:
            return self._flow.update(frame.image, grid, fine)
        except FlowError:
            self._flow.reset()
            return self._flow.update(frame.image, grid, fine)

    def _follow(
        self,
        segments: sv.Detections,
        frame_shape: tuple[int, int],
        due: list[Prompt],
        cues: FrameCues | None,
        keyframe: bool,
    ) -> sv.Detections:
        """``objects.update``; with an inbox, each prompt that selected nothing (a ``PromptWarning``
        naming its object) is reported to it, so the window or page that gave it can say so. Every
        warning is still shown as usual (the terminal's line), after the update."""
        assert self.objects is not None
        # The segment tracker's sparse rows of these very segments: the object tracker need not make them again.
        cells = self.tracker.rows if self.tracker is not None else None
        if self.inbox is None:
            return self.objects.update(segments, frame_shape, due, cues, keyframe, cells)
        # The tracker reports a miss only as a warning; warnings other threads give meanwhile are
        # caught too and shown the same way.
        with warnings.catch_warnings(record=True) as caught:
            followed = self.objects.update(segments, frame_shape, due, cues, keyframe, cells)
        for warning in caught:
            if isinstance(warning.message, PromptWarning):
                self.inbox.missed(warning.message.object_id, warning.message.reason)
            warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)
        return followed


def _no_segments(frame_shape: tuple[int, int]) -> sv.Detections:
    """Zero segments on a grid of about 1/8 of the frame (what a segmenter gives for an empty frame)."""
    grid = (max(frame_shape[0] // 8, 1), max(frame_shape[1] // 8, 1))
    return sv.Detections(xyxy=np.zeros((0, 4), np.float32), mask=np.zeros((0, *grid), bool))


def _resolve_text(text: TextPrompter, frame: Frame, segments: sv.Detections, due: list[Prompt]) -> list[Prompt]:
    """This frame's prompts with text prompts (and searches for lost objects) turned into mask prompts."""
    for prompt in due:
        if isinstance(prompt, RemovePrompt):
            text.forget(prompt.object_id)
    words = [p for p in due if isinstance(p, TextPrompt)]
    resolved: list[Prompt] = [p for p in due if not isinstance(p, TextPrompt)]
    return resolved + list(text.prompts(frame, segments, words))


def _with_levels(objects: sv.Detections, segments: sv.Detections) -> sv.Detections:
    """``objects`` with logits made from those of the segments each is made of (a new ``Detections``);
    unchanged when the segments have none (a replay) or the follower does not say which segments
    make each object: their binary masks are drawn, smoothed."""
    if LOGITS not in segments.data or SEGMENTS not in objects.data or len(objects) == 0:
        return objects
    levels = object_levels(np.asarray(objects.mask), np.asarray(objects.data[SEGMENTS]), levels_of(segments))
    return dataclasses.replace(objects, data={**objects.data, LOGITS: levels})
