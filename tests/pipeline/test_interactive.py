"""Ids of objects made by clicks: unique while they can be, within an 8-bit mask's 1-255 when masks are saved."""

import numpy as np
import pytest
import supervision as sv

from fastsam_track.errors import PromptError
from fastsam_track.pipeline.prompts.inbox import PromptInbox


def _inbox(**options) -> PromptInbox:
    inbox = PromptInbox(**options)
    inbox.publish(0, (100, 100), None)
    return inbox


def _shown(inbox: PromptInbox, frame: int, ids: list[int]) -> None:
    """The loop takes the inbox's prompts on ``frame`` and shows objects ``ids``."""
    inbox.take(frame)
    boxes = np.tile(np.array([[1, 1, 9, 9]], np.float32), (len(ids), 1))
    objects = sv.Detections(xyxy=boxes.reshape(-1, 4), tracker_id=np.array(ids, int))
    inbox.publish(frame, (100, 100), objects)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, [1, 2, 3, 4, 5]),  # no limit: counting up
        ({"first_object": 254}, [254, 255, 256, 257, 258]),  # no limit: past 255 without masks
        ({"first_object": 254, "max_id": 255}, [254, 255, 1, 2, 3]),  # then the lowest free ids
        ({"first_object": 4, "max_id": 5, "reserved": {1, 4}}, [5, 2, 3]),  # a prompts file's ids are never given
        ({"max_id": 3}, [1, 2, 3]),  # the fourth is refused (below)
    ],
)
def test_new_ids_count_up_then_take_free_ones_within_the_limit(options, expected):
    inbox = _inbox(**options)
    given = []
    for _ in range(5):
        try:
            given.append(inbox.add_point(10, 10))
        except PromptError:
            break
    assert given == expected


def test_when_every_id_is_held_a_new_object_is_refused_until_one_is_removed():
    inbox = _inbox(max_id=3)
    assert [inbox.add_point(10, 10), inbox.add_box(1, 1, 5, 5), inbox.add_point(20, 20)] == [1, 2, 3]
    with pytest.raises(PromptError) as refused:
        inbox.add_point(30, 30)
    assert str(refused.value) == (
        "no object id left: 8-bit mask PNGs (--save-masks) hold ids 1 to 3, and every one is taken: "
        "remove an object first"
    )
    _shown(inbox, 1, [1, 2, 3])
    assert inbox.remove(2)
    with pytest.raises(PromptError):  # its removal has not reached the loop yet: 2 is still held
        inbox.add_point(30, 30)
    _shown(inbox, 2, [1, 3])
    assert inbox.add_point(30, 30) == 2  # freed once the loop no longer follows it


def test_an_object_the_loop_still_follows_keeps_its_id():
    # Object 2 came from a prompts file (not reserved here) and is on the frame: its id is held.
    inbox = _inbox(first_object=4, max_id=4)
    _shown(inbox, 1, [2])
    assert [inbox.add_point(10, 10), inbox.add_point(20, 20), inbox.add_point(30, 30)] == [4, 1, 3]


def test_bad_limits_are_refused():
    with pytest.raises(ValueError, match="object ids start at 1"):
        PromptInbox(first_object=0)
