"""The prompt records convert what they are given into the arrays the tracker reads, and refuse the rest."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest
import supervision as sv

from fastsam_track.errors import PromptError
from fastsam_track.trackers.objects import ObjectTracker
from fastsam_track.trackers.prompting import select_by_points, to_grid
from fastsam_track.types import BoxPrompt, MaskPrompt, PointPrompt, RemovePrompt, TextPrompt


@pytest.mark.parametrize(
    ("args", "points", "labels"),
    [
        ((0, 7, [[40, 40]], [1]), [[40.0, 40.0]], [1]),  # plain lists, as the brief's example
        ((0, 7, [40, 40]), [[40.0, 40.0]], [1]),  # one [x, y] pair is one point; labels default to foreground
        ((0, 7, (40, 40.5)), [[40.0, 40.5]], [1]),  # a tuple
        ((0, 7, [[1, 2], [3, 4]], [1, 0]), [[1.0, 2.0], [3.0, 4.0]], [1, 0]),  # a background point
        ((0, 7, [[1, 2], [3, 4]], None), [[1.0, 2.0], [3.0, 4.0]], [1, 1]),  # None: all foreground
        ((0, 7, [[1, 2], [3, 4]], [True, False]), [[1.0, 2.0], [3.0, 4.0]], [1, 0]),  # bool labels
        ((0, 7, [[1, 2], [3, 4]], [1.0, 0.0]), [[1.0, 2.0], [3.0, 4.0]], [1, 0]),  # float labels of 0 and 1
        ((0, 7, np.array([[1, 2]], np.int32), np.array([1], np.uint8)), [[1.0, 2.0]], [1]),  # other dtypes
        ((np.int64(3), np.int32(7), [[1, 2]]), [[1.0, 2.0]], [1]),  # numpy integers for frame and id
        ((-1, 7, [[1, 2]]), [[1.0, 2.0]], [1]),  # -1: an inbox click not yet on a frame
        ((0, 7, [[-5, 1e6]]), [[-5.0, 1e6]], [1]),  # outside the frame: check_in_frame's business, not the record's
    ],
)
def test_point_prompt_converts(args, points, labels):
    prompt = PointPrompt(*args)
    assert prompt.points.dtype == np.float64 and prompt.points.tolist() == points
    assert prompt.labels.dtype.kind == "i" and prompt.labels.tolist() == labels
    assert type(prompt.frame) is int and type(prompt.object_id) is int


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, 7, [40, 40, 50]), r"points must be \(K, 2\) x, y pairs, got shape \(3,\)"),  # the brief's example
        ((0, 7, []), r"points must be \(K, 2\) x, y pairs, got shape \(0,\)"),  # empty list
        ((0, 7, np.zeros((0, 2))), r"at least one x, y pair, got shape \(0, 2\)"),  # no point
        ((0, 7, [[1, 2, 3]]), r"got shape \(1, 3\)"),  # three numbers a point
        ((0, 7, [[1, 2], [3]]), r"x, y pairs, got list \[\[1, 2\], \[3\]\]"),  # ragged
        ((0, 7, "40,40"), r"\(numbers\), got str '40,40'"),  # the CLI's text, unparsed
        ((0, 7, [["1", "2"]]), r"\(numbers\)"),  # numbers as text
        ((0, 7, [[True, False]]), r"\(numbers\)"),  # bools
        ((0, 7, None), r"\(numbers\), got NoneType None"),  # nothing
        ((0, 7, [[np.nan, 1]]), r"points must be finite, got \[\[nan, 1.0\]\]"),  # not a number
        ((0, 7, [[np.inf, 1]]), "points must be finite"),  # infinite
        ((0, 7, [[10**400, 1]]), r"\(numbers\)"),  # an integer past the float range
        ((0, 7, [[1, 2]], [0]), "at least one 1"),  # only background
        ((0, 7, [[1, 2]], [2]), r"0 \(background\) or 1 \(foreground\), got \[2\]"),  # a label neither 0 nor 1
        ((0, 7, [[1, 2]], [0.5]), "0 .background. or 1"),  # a fraction
        ((0, 7, [[1, 2]], ["1"]), "0 .background. or 1"),  # text
        ((0, 7, [[1, 2]], [1, 1]), r"one 0 or 1 per point, shape \(1,\), got shape \(2,\)"),  # one label too many
        ((0, 7, [[1, 2]], 1), r"got shape \(\)"),  # a scalar label
        ((-2, 7, [[1, 2]]), r"frame must be an int >= 0 \(or -1: not yet on a frame\), got int -2"),  # negative
        ((1.0, 7, [[1, 2]]), "frame must be an int >= 0.*got float 1.0"),  # a float frame
        ((True, 7, [[1, 2]]), "frame must be an int.*got bool True"),  # a bool is not a frame
        ((0, 0, [[1, 2]]), "object_id must be an int >= 1, got int 0"),  # 0 is the background in masks
        ((0, "7", [[1, 2]]), "object_id must be an int >= 1, got str '7'"),  # text
        ((0, np.bool_(True), [[1, 2]]), "object_id must be an int >= 1, got bool"),  # a numpy bool
    ],
)
def test_point_prompt_refuses(args, message):
    with pytest.raises(PromptError, match=f"^PointPrompt .*{message}") as error:
        PointPrompt(*args)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("box", "expected", "message"),
    [
        ([10, 20, 110, 220], [10.0, 20.0, 110.0, 220.0], None),  # a list of ints
        (np.array([0.5, 0, 1, 1], np.float32), [0.5, 0.0, 1.0, 1.0], None),  # float32
        ((0, 0, 1, 1), [0.0, 0.0, 1.0, 1.0], None),  # a tuple
        ([], None, r"must be \(4,\) x1, y1, x2, y2, got shape \(0,\)"),  # empty
        ([1, 2, 3], None, r"must be \(4,\) x1, y1, x2, y2, got shape \(3,\)"),  # three numbers
        ([[0, 0], [4, 4]], None, r"got shape \(2, 2\)"),  # two corners: say xyxy
        ([5, 5, 1, 9], None, r"x2 > x1 and y2 > y1, got \[5.0, 5.0, 1.0, 9.0\]"),  # corners swapped
        ([0, 0, 0, 9], None, "x2 > x1"),  # no width
        ([0, 0, np.inf, 9], None, "finite"),  # infinite
        ([0, 0, np.nan, 9], None, "finite"),  # not a number
        ("0,0,4,4", None, r"\(numbers\), got str"),  # unparsed text
    ],
)
def test_box_prompt(box, expected, message):
    if message is not None:
        with pytest.raises(PromptError, match=f"^BoxPrompt box .*{message}"):
            BoxPrompt(0, 1, box)
        return
    prompt = BoxPrompt(0, 1, box)
    assert prompt.box.dtype == np.float64 and prompt.box.tolist() == expected


@pytest.mark.parametrize(
    ("text", "expected", "message"),
    [
        ("a red cup", "a red cup", None),  # words
        ("  a cup \n", "a cup", None),  # surrounding spaces dropped
        ("", None, "got str ''"),  # empty
        ("   ", None, "got str '   '"),  # only spaces
        (None, None, "got NoneType None"),  # nothing
        (["a cup"], None, r"got list \['a cup'\]"),  # a list of words
    ],
)
def test_text_prompt(text, expected, message):
    if message is not None:
        with pytest.raises(PromptError, match=f"^TextPrompt text must be a non-empty string, {message}$"):
            TextPrompt(0, 1, text)
        return
    assert TextPrompt(0, 1, text).text == expected


@pytest.mark.parametrize(
    ("mask", "expected", "message"),
    [
        ([[0, 1], [1, 0]], [[False, True], [True, False]], None),  # a list of 0 and 1
        (np.array([[0.0, 0.7]]), [[False, True]], None),  # floats: non-zero is True
        (np.zeros((0, 0), bool), [], None),  # empty: selects nothing, the tracker says so
        (np.zeros(4, bool), None, r"got bool array of shape \(4,\)"),  # one row, not a grid
        (np.zeros((1, 2, 2), bool), None, r"got bool array of shape \(1, 2, 2\)"),  # a stack of masks
        ([["a"]], None, "got <U1 array"),  # text
    ],
)
def test_mask_prompt(mask, expected, message):
    if message is not None:
        with pytest.raises(PromptError, match=rf"^MaskPrompt mask must be \(h, w\) bool, {message}"):
            MaskPrompt(0, 1, mask)
        return
    prompt = MaskPrompt(0, 1, mask)
    assert prompt.mask.dtype == bool and prompt.mask.tolist() == expected


@pytest.mark.parametrize(
    ("source", "expected", "message"),
    [
        (None, None, None),  # the only source
        ("left", "left", None),  # a name
        ("0", "0", None),  # a number as text
        (2, "2", None),  # a number, stored as text
        (np.int64(1), "1", None),  # a numpy number
        ("", None, "got str ''"),  # empty
        (" ", None, "got str ' '"),  # only a space
        (-1, None, "got int -1"),  # a negative number
        (True, None, "got bool True"),  # a bool is not a number
        (1.0, None, "got float 1.0"),  # a float is not a number
    ],
)
def test_every_record_takes_a_source(source, expected, message):
    records = [
        lambda: PointPrompt(0, 1, [1, 2], source=source),
        lambda: BoxPrompt(0, 1, [0, 0, 1, 1], source=source),
        lambda: TextPrompt(0, 1, "a cup", source=source),
        lambda: MaskPrompt(0, 1, [[True]], source=source),
        lambda: RemovePrompt(0, 1, source=source),
    ]
    for build in records:
        if message is not None:
            with pytest.raises(PromptError, match=f"source must be a source name or number, or None, {message}$"):
                build()
        else:
            assert build().source == expected


def test_source_is_the_last_field_and_keyword_only():
    for record in (PointPrompt, BoxPrompt, TextPrompt, MaskPrompt, RemovePrompt):
        last = dataclasses.fields(record)[-1]
        assert last.name == "source" and last.kw_only and last.default is None
    with pytest.raises(TypeError):
        PointPrompt(0, 1, [[1, 2]], [1], "left")  # type: ignore[misc]


def test_remove_prompt_checks_frame_and_id():
    assert RemovePrompt(np.int16(4), np.uint8(2)) == RemovePrompt(4, 2)
    with pytest.raises(PromptError, match=r"^RemovePrompt object_id must be an int >= 1, got int 0$"):
        RemovePrompt(0, 0)


def test_arrays_already_right_are_kept_not_copied():
    points, labels, box = np.array([[1.0, 2.0]]), np.array([1]), np.array([0.0, 0, 4, 4])
    mask = np.ones((2, 2), bool)
    prompt = PointPrompt(0, 1, points, labels)
    assert prompt.points is points and prompt.labels is labels
    assert BoxPrompt(0, 1, box).box is box and MaskPrompt(0, 1, mask).mask is mask


def test_replace_checks_again():
    prompt = PointPrompt(0, 1, [[1, 2]])
    assert dataclasses.replace(prompt, source="left").source == "left"
    with pytest.raises(PromptError, match="points must be finite"):
        dataclasses.replace(prompt, points=[[np.nan, 2]])


# --- a list-built prompt selects what an array-built one does -----------------------------------

FRAME = (80, 80)  # (H, W) pixels; masks are 8x8 cells of 10 pixels


@pytest.fixture
def segments() -> sv.Detections:
    """One square segment, cells 2-5 (pixels 20-60)."""
    masks = np.zeros((1, 8, 8), bool)
    masks[0, 2:6, 2:6] = True
    return sv.Detections(xyxy=np.array([[20, 20, 60, 60]], np.float32), mask=masks)


@pytest.mark.parametrize(
    "prompt",
    [
        PointPrompt(0, 7, [[40, 40]], [1]),  # lists: the case that used to select nothing
        PointPrompt(0, 7, [40, 40]),  # one pair, labels left out
        PointPrompt(0, 7, np.array([[40.0, 40.0]]), np.array([1])),  # arrays, as before
        PointPrompt(0, 7, [[40, 40], [5, 5]], [1, 0]),  # a background point outside the segment
    ],
)
def test_list_built_point_prompt_selects_the_segment(segments, prompt):
    selected = select_by_points(segments.mask, to_grid(prompt.points, FRAME, (8, 8)), prompt.labels)
    assert selected.tolist() == segments.mask[0].tolist()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a prompt that selects nothing warns
        objects = ObjectTracker(pending_frames=0).update(segments, FRAME, [prompt])
    assert objects.tracker_id.tolist() == [7]


def test_list_built_box_prompt_selects_the_segment(segments):
    objects = ObjectTracker().update(segments, FRAME, [BoxPrompt(0, 3, [15, 15, 65, 65])])
    assert objects.tracker_id.tolist() == [3]


def test_no_prompt_selects_nothing(segments):
    objects = ObjectTracker().update(segments, FRAME, [])
    assert len(objects) == 0
