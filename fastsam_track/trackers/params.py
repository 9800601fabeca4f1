"""The object tracker's parameters: every threshold and weight in one frozen record.

Each field says what it means and in what unit; ``ObjectParams.from_mapping`` fills it from the
config file's ``tracker:`` key, where an unknown key or an out-of-range value is a one-line
``ConfigError``.

Example:
    >>> ObjectParams().confirm
    0.4
    >>> ObjectParams.from_mapping({"confirm": 1.5})
    Traceback (most recent call last):
    ...
    fastsam_track.errors.ConfigError: tracker.confirm must be between 0 and 1, got 1.5
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from fastsam_track.errors import ConfigError

__all__ = ["ObjectParams", "describe"]

_SHARE = (0.0, 1.0)
_POSITIVE = (0.0, None)


def _param(default: float, unit: str, meaning: str, bounds: tuple[float, float | None] = _SHARE) -> Any:
    return dataclasses.field(default=default, metadata={"unit": unit, "meaning": meaning, "bounds": bounds})


@dataclass(frozen=True)
class ObjectParams:
    """Every threshold and weight of ``ObjectTracker``; ``describe()`` lists them with meaning and unit."""

    # Lifecycle.
    max_carried: int = _param(
        8, "frames", "frames an object no segment confirms is carried before it is lost", _POSITIVE
    )
    max_lost: int = _param(90, "frames", "frames a lost object is searched for before it is dropped", _POSITIVE)
    pending_frames: int = _param(5, "frames", "frames a point prompt that hits no segment waits for one", _POSITIVE)
    trial_frames: int = _param(5, "frames", "frames what was taken back by its motion must go on moving so", (1, None))
    gone_area: float = _param(0.25, "share of its size", "a moved mask smaller than this has vanished")
    leaving_area: float = _param(
        0.5, "share of its size", "an unconfirmed moved mask at the edge smaller than this left"
    )
    # Association: what of the frame's segments explains the moved mask.
    confirm: float = _param(0.4, "share of the moved mask", "the segments confirm the object when they cover this")
    carried_confirm: float = _param(0.3, "share of the moved mask", "the same for a mask the flow alone has carried")
    inside_slack: float = _param(0.25, "share of its size", "cells outside the moved mask a whole segment may have")
    regrow_hold: float = _param(0.4, "share of the moved mask", "a segment holding this may grow the object back")
    regrow_size: float = _param(
        1.25, "times its size", "largest segment that regrows it after a partial view", (1, None)
    )
    approach_size: float = _param(2.5, "times its size", "largest of its own tracks it may grow into", (1, None))
    approach_alike: float = _param(
        0.5, "colour agreement", "what such a track has outside the moved mask must reach this"
    )
    ratio_floor: float = _param(
        0.5, "cells", "outside area a segment's inside/outside ratio is at least divided by", (0, None)
    )
    rest_share: float = _param(
        0.2, "share of the moved mask", "an unexplained rest this large is looked for in a merge"
    )
    merge_share: float = _param(0.5, "share of the rest", "a segment holding this of the rest holds the object merged")
    grown_share: float = _param(0.3, "share of the moved mask", "a segment that grew by this took the object in")
    part_share: float = _param(0.5, "share of a segment", "a segment this much inside the object is a part of it")
    holder_share: float = _param(0.5, "share of the object", "a segment holding this much of the object holds it")
    # Appearance: the object's colours against its surroundings.
    alike: float = _param(0.45, "colour agreement", "below this a segment is the object's surroundings, not a part")
    cell_alike: float = _param(0.5, "colour agreement", "a cell no segment covers with this may be the object's")
    objectness: float = _param(0.6, "colour agreement", "what it takes to bring a lost object back by its colours")
    off_share: float = _param(
        0.9, "share of its own agreement", "a moved mask below this and objectness lies off the object"
    )
    ring: int = _param(4, "cells", "width of the ring around the object whose colours are its surroundings", (1, None))
    color_prior: float = _param(
        1e-3, "histogram share", "added to both histograms so an unseen colour is neutral", (1e-6, 1)
    )
    color_rate: float = _param(0.2, "weight", "how much of a new view's colours the colour model takes")
    area_rate: float = _param(0.1, "weight", "how much of a new view's area its typical area takes")
    velocity_rate: float = _param(0.5, "weight", "how much of a new view's motion its velocity takes")
    whole_view: float = _param(0.75, "share of its size", "a view this large is whole: its motion is the object's")
    # Motion across the scene.
    motion: float = _param(
        2.0, "cells per frame", "relative motion past which motion tells the object from the scene", _POSITIVE
    )
    motion_share: float = _param(0.5, "share of its motion", "a cell or segment going this far its way moves with it")
    strayed: int = _param(2, "frames", "frames in a row a part moving with the scene is the scene", (1, None))
    # Search: finding an object the flow lost, or taking back a lost one.
    search_reach: float = _param(
        0.5,
        "times its side",
        "how far around its moved mask an astray object is looked for (and its speed per unconfirmed frame)",
        _POSITIVE,
    )
    reach_widen: float = _param(
        0.25, "times its side per frame", "how fast the search for a lost object widens", _POSITIVE
    )
    search_free: float = _param(0.5, "share of a segment", "a segment other objects hold less than this is free")
    search_close: float = _param(0.5, "share of a segment", "a segment this much inside the search area is close")
    search_size: float = _param(2.0, "times its size", "largest view found by a search", (1, None))
    search_smallest: float = _param(0.5, "share of its size", "smallest view found by a search")
    reentry: float = _param(0.25, "share of its size", "smallest view of an object coming back through the edge")
    seed_inside: float = _param(
        0.5, "weight", "weight of lying where it should be against colours, for a seed", _POSITIVE
    )
    # Box prompts.
    box_held: float = _param(0.8, "share of a segment", "a segment this much inside a box may be the boxed object")
    box_alike: float = _param(0.5, "colour agreement", "and must look this much like the box's inside")
    box_ring: float = _param(0.2, "share of the box's side", "ring around the box whose colours are the surroundings")
    box_ring_min: int = _param(2, "cells", "the narrowest such ring", (1, None))
    # Point prompts that grow to the object (``growing``).
    point_grows: bool = _param(True, "yes/no", "segments moving with a point's part join it (false: the part only)")
    grow_frames: int = _param(
        10, "frames", "frames after a point prompt its part may grow by what moves with it", (1, None)
    )
    grow_size: float = _param(
        1.0, "times the part's size", "largest neighbouring segment that may join the clicked part", _POSITIVE
    )
    grow_travel: float = _param(
        2.0, "cells", "how far the part must go across the scene before its neighbours are judged", _POSITIVE
    )
    grow_apart: float = _param(
        0.35, "share of its motion", "a neighbour moving off the part by more than this does not join", _POSITIVE
    )
    grow_alike: float = _param(0.5, "colour agreement", "a carried neighbour keeps this share of its colours")
    # Memory.
    recent_tracks: int = _param(2000, "track ids", "segment tracks whose last area is remembered", (1, None))

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.type == "bool":
                if not isinstance(value, bool):
                    raise ConfigError(f"tracker.{field.name} must be true or false, got {value!r}")
                continue
            integral = field.type == "int"
            # bool is an int in Python, but `max_lost: true` is a mistake, not 1.
            if isinstance(value, bool) or not isinstance(value, int if integral else (int, float)):
                kind = "an integer" if integral else "a number"
                raise ConfigError(f"tracker.{field.name} must be {kind}, got {type(value).__name__} {value!r}")
            low, high = field.metadata["bounds"]
            if value < low or (high is not None and value > high):
                expected = f"between {low:g} and {high:g}" if high is not None else f"{low:g} or more"
                raise ConfigError(f"tracker.{field.name} must be {expected}, got {value!r}")

    @property
    def cross(self) -> float:
        """Cells per frame a segment must move across the scene the way the object went to be it coming back."""
        return self.motion_share * self.motion

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> ObjectParams:
        """Parameters from a config file's ``tracker:`` mapping; the keys it leaves out keep their defaults.

        Raises:
            ConfigError: not a mapping, an unknown key, a wrong type or an out-of-range value.
        """
        if not isinstance(values, dict):
            raise ConfigError(f"tracker must be a mapping of parameters to values, got {type(values).__name__}")
        valid = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(values) - set(valid), key=str)
        if unknown:
            raise ConfigError(f"unknown tracker key {unknown[0]!r}; valid keys: {', '.join(valid)}")
        return cls(**values)


def describe() -> list[tuple[str, Any, str, str]]:
    """(name, default, unit, meaning) of every parameter, in order (the README's config block lists them)."""
    return [(f.name, f.default, f.metadata["unit"], f.metadata["meaning"]) for f in dataclasses.fields(ObjectParams)]
