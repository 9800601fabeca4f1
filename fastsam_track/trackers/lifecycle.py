"""A prompted object's life: its record and the transitions between its ``ObjectState``s, all here.

Every change of state goes through one of the functions below, and each is an edge of
``TRANSITIONS`` (the README draws them)::

      SEEN ⇄ CARRIED ⇄ SEARCHING     each frame: confirmed by the segments (SEEN), carried by the flow
        │       │          │         (CARRIED, at most max_carried frames), or its moved mask lies on
        └───────┴────┬─────┘         colours unlike it (SEARCHING: coasting, searched for close by)
                     │ vanished, left the frame, went behind something, carried too long
                     ▼
      SEEN ◀─────── LOST ──▶ dropped after max_lost frames
      taken back     │ ▲
      by colours     │ │ stopped moving as it went: something else, lost as it was
                     ▼ │
                    TRIAL ──▶ SEEN / CARRIED / SEARCHING after trial_frames
      (taken back by its motion across the scene: it must go on moving so)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from fastsam_track.trackers.appearance import Appearance
from fastsam_track.trackers.motion import shift
from fastsam_track.trackers.params import ObjectParams
from fastsam_track.types import ObjectState

__all__ = ["TRANSITIONS", "TrackedObject", "coast", "end_frame", "lose", "miss", "observe", "retake"]

SEEN, CARRIED, SEARCHING, TRIAL, LOST = ObjectState
_FOLLOWED = (SEEN, CARRIED, SEARCHING)
_WHY = {
    SEEN: "this frame's segments explain its moved mask, or it was found close by",
    CARRIED: "no segment confirms it: carried by the flow",
    SEARCHING: "no segment confirms it and its moved mask lies on colours unlike it: coasting on its velocity",
}
# (from, to): why. Any other change of state is a bug.
TRANSITIONS: dict[tuple[ObjectState, ObjectState], str] = {
    **{(a, b): _WHY[b] for a in _FOLLOWED for b in _FOLLOWED},
    **{(a, LOST): "vanished, left the frame, went behind something or carried max_carried frames" for a in _FOLLOWED},
    (LOST, LOST): "not found this frame",
    (LOST, SEEN): "taken back: new segments where it was lost, of its size and colours",
    (LOST, TRIAL): "taken back by its motion across the scene: it must go on moving so",
    (TRIAL, TRIAL): "goes on moving across the scene as it went",
    **{(TRIAL, b): f"trial over; {why}" for b, why in _WHY.items()},
    (TRIAL, LOST): "stopped moving as it went: it was something else, lost as it was",
}


@dataclass
class TrackedObject:
    """One prompted object, at mask resolution.

    Attributes:
        mask: (h, w) bool its last output (seen or carried).
        look: its colours, size and velocity.
        state: where it is in its life; changed only by this module's functions.
        carried: frames in a row no segment confirmed it (``CARRIED`` or ``SEARCHING``).
        lost: frames since it was lost (0: not lost).
        last_seen: (h, w) bool where it was when it was lost.
        tracks: segment track ids it was made of on its last frame.
        parts: segment track ids of its parts when last seen unmerged.
        lost_after: the newest segment track id when it was last seen before it was lost: tracks after it
            appeared while it was carried, searched for or lost, and may be it coming back.
        seen_after: the newest segment track id when it was last seen (prompted, confirmed or taken back).
        left: it was lost at the frame's edge: it left.
        clipped: its last output holds a part clipped from a merged segment.
        drift: (2,) (dx, dy) its flow less the scene's, cells per frame, when last seen whole.
        entered: segment tracks that came in at the frame's edge since it left.
        trial: frames what was taken back by its motion must still go on moving so.
        before: its record when it was taken back, while on trial.
        strays: part track id: frames in a row it moved with the scene.
        coasted: (2,) (dy, dx) the fractions of a cell its coasting mask is behind its velocity.
    """

    mask: np.ndarray
    look: Appearance
    state: ObjectState = SEEN
    carried: int = 0
    lost: int = 0
    last_seen: np.ndarray | None = None
    tracks: set[int] = field(default_factory=set)
    parts: set[int] = field(default_factory=set)
    lost_after: int = -1
    seen_after: int = -1
    left: bool = False
    clipped: bool = False
    drift: np.ndarray = field(default_factory=lambda: np.zeros(2))
    entered: set[int] = field(default_factory=set)
    trial: int = 0
    before: TrackedObject | None = None
    strays: dict[int, int] = field(default_factory=dict)
    coasted: np.ndarray = field(default_factory=lambda: np.zeros(2))


def _move(obj: TrackedObject, to: ObjectState) -> None:
    assert (obj.state, to) in TRANSITIONS, f"no transition from {obj.state.label} to {to.label}"
    obj.state = to


def observe(
    obj: TrackedObject,
    seen_as: ObjectState,
    mask: np.ndarray,
    newest: int,
    judged: bool = True,
    counts: bool = True,
) -> None:
    """A followed object's view on this frame: ``SEEN`` (confirmed), ``CARRIED`` or ``SEARCHING``; ``newest``
    the newest segment track id on this frame.

    On trial it stays ``TRIAL`` (``judged``: this frame counted towards it) until the trial is over. An
    unconfirmed frame between keyframes does not count towards ``max_carried`` (``counts`` False).
    """
    obj.carried = 0 if seen_as is SEEN else obj.carried + counts
    if seen_as is not SEARCHING:
        obj.coasted = np.zeros(2)
    if seen_as is SEEN:
        obj.seen_after = newest
    obj.mask = mask
    if obj.state is TRIAL:
        obj.trial -= judged
        _move(obj, TRIAL if obj.trial else seen_as)
        return
    _move(obj, seen_as)


def coast(obj: TrackedObject) -> np.ndarray:
    """(h, w) bool: its mask moved on by its velocity, whole cells at a time, the fractions carried from frame to
    frame (rounded alone, 1.4 cells a frame would move it 1)."""
    step = obj.look.velocity + obj.coasted
    whole = np.round(step)
    obj.coasted = step - whole
    return shift(obj.mask, *whole)


def lose(obj: TrackedObject, params: ObjectParams) -> TrackedObject:
    """The object is lost: its record from now (on trial: the record it had when taken back, still lost)."""
    if obj.state is TRIAL and obj.before is not None:
        _move(obj, LOST)
        return replace(obj.before, lost=obj.before.lost + 1 + params.trial_frames - obj.trial)
    _move(obj, LOST)
    # What appeared since it was last seen may be it: a fast object the flow lost while carrying it is
    # elsewhere by the time it is lost, in a segment track that began in between.
    obj.lost, obj.last_seen, obj.carried, obj.lost_after = 1, obj.mask, 0, obj.seen_after
    obj.entered = set()
    obj.left = bool(obj.mask[0].any() or obj.mask[-1].any() or obj.mask[:, 0].any() or obj.mask[:, -1].any())
    return obj


def miss(obj: TrackedObject, params: ObjectParams) -> bool:
    """A lost object was not found this frame; True when it has been searched for long enough (drop it)."""
    _move(obj, LOST)
    obj.lost += 1
    return obj.lost > params.max_lost


def retake(obj: TrackedObject, found: np.ndarray, on_trial: bool, newest: int, params: ObjectParams) -> None:
    """A lost object is taken back as the (h, w) bool ``found``; ``on_trial`` when by its motion; ``newest`` the
    newest segment track id on this frame."""
    if on_trial:
        obj.before, obj.trial = (
            replace(obj, before=None, entered=set(obj.entered), look=replace(obj.look)),
            params.trial_frames,
        )
    _move(obj, TRIAL if on_trial else SEEN)
    obj.lost, obj.mask, obj.carried, obj.clipped, obj.seen_after = 0, found, 0, False, newest
    # Its size from here is at most what was found: a part coming back through the edge, or it is
    # farther away (the flow carries that view; a view below a quarter of its size is a vanished one).
    obj.look.area = min(obj.look.area, float(np.count_nonzero(found)))


def end_frame(obj: TrackedObject, seen: bool) -> None:
    """Count a frame on which the object was not seen (``seen``: it was, and learnt from)."""
    if not seen:
        obj.look.unseen += 1
