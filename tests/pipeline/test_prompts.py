import dataclasses
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastsam_track.errors import PromptError
from fastsam_track.pipeline.prompts.parse import (
    check_in_frame,
    load_prompts,
    parse_box,
    parse_point,
    parse_text,
    prompts_from_cli,
    split_by_source,
)
from fastsam_track.types import BoxPrompt, MaskPrompt, PointPrompt, RemovePrompt, TextPrompt


@pytest.mark.parametrize(
    ("text", "expected", "error"),
    [
        ("320,180", (0, [320.0, 180.0], 1, None), None),  # the least: foreground, frame 0, no source
        ("320,180,0@12", (12, [320.0, 180.0], 0, None), None),  # background, on frame 12
        ("320,180@12:left", (12, [320.0, 180.0], 1, "left"), None),  # a source by name
        ("320,180@:1", (0, [320.0, 180.0], 1, "1"), None),  # @:SOURCE is frame 0; a source by number
        ("1.5,-2@3:cam-2_b.mp4", (3, [1.5, -2.0], 1, "cam-2_b.mp4"), None),  # every character a name may have
        (" 320 , 180 @ 4 : left ", (4, [320.0, 180.0], 1, "left"), None),  # spaces are dropped
        ("", None, "expected X,Y"),  # empty
        ("10", None, "expected X,Y"),  # one number
        ("10,20,2", None, "LABEL 1"),  # a label that is neither 0 nor 1
        ("10,20@x", None, "expected X,Y"),  # a frame that is not a number
        ("10,20@", None, "expected X,Y"),  # an @ with nothing after it
        ("10,20@3:", None, "SOURCE a source name"),  # a colon with no source
        ("10,20@3:cam/1", None, "SOURCE a source name"),  # a character a name may not have
        ("10,20@3:caméra", None, "ASCII letters"),  # a letter outside ASCII: give the number
        ("10,20@left", None, "expected X,Y"),  # a source without its colon
        ("10,20@1234567890", None, "at most 9 digits"),  # a frame past any video
        ("9" * 400 + ",1", None, "X and Y must be finite"),  # past the float range
    ],
)
def test_parse_point(text, expected, error):
    if error is not None:
        with pytest.raises(PromptError, match=error):
            parse_point(text)
        return
    frame, xy, label, source = parse_point(text)
    assert (frame, xy.tolist(), label, source) == expected


@pytest.mark.parametrize(
    ("text", "expected", "error"),
    [
        ("10,20,110,220", (0, [10.0, 20.0, 110.0, 220.0], None), None),  # frame 0, no source
        ("10,20,110,220@5", (5, [10.0, 20.0, 110.0, 220.0], None), None),  # on frame 5
        ("10,20,110,220@5:right", (5, [10.0, 20.0, 110.0, 220.0], "right"), None),  # a source by name
        ("10,20,110,220@:0", (0, [10.0, 20.0, 110.0, 220.0], "0"), None),  # @:SOURCE, by number
        ("", None, "expected X1,Y1,X2,Y2"),  # empty
        ("1,2,3", None, "expected X1,Y1,X2,Y2"),  # three numbers
        ("50,50,10,10", None, "X2 must exceed X1"),  # corners swapped
        ("0,0,10,10@:", None, "SOURCE a source name"),  # a colon with no source
        ("0,0,10,10@2:a:b", None, "expected X1,Y1,X2,Y2"),  # two sources
        ("0,0," + "9" * 400 + ",10", None, "finite"),  # past the float range
    ],
)
def test_parse_box(text, expected, error):
    if error is not None:
        with pytest.raises(PromptError, match=error):
            parse_box(text)
        return
    frame, box, source = parse_box(text)
    assert (frame, box.tolist(), source) == expected


@pytest.mark.parametrize(
    ("text", "expected", "error"),
    [
        ("a red cup", (0, "a red cup", None), None),  # words only
        ("a red cup@40", (40, "a red cup", None), None),  # on frame 40
        ("a red cup@40:left", (40, "a red cup", "left"), None),  # a source by name
        ("a red cup@:2", (0, "a red cup", "2"), None),  # @:SOURCE, by number
        ("me@home", (0, "me@home", None), None),  # an @ that is no frame is part of the words
        ("a cup @ 10:30", (0, "a cup @ 10:30", None), None),  # a time, spaced: words
        ("", None, "the text must be 1 to 300 characters"),  # empty
        ("@3:left", None, "the text must be 1 to 300"),  # a frame and source, no words
        ("a cup@3:", None, "SOURCE a source name"),  # a colon with no source
        ("a cup@:my cam", None, "expected WORDS"),  # a source with a space
    ],
)
def test_parse_text(text, expected, error):
    if error is not None:
        with pytest.raises(PromptError, match=error):
            parse_text(text)
        return
    assert parse_text(text) == expected


def _summary(prompts):
    """(kind, frame, object id, source) of each prompt."""
    return [(type(p).__name__, p.frame, p.object_id, p.source) for p in prompts]


@pytest.mark.parametrize(
    ("points", "boxes", "texts", "expected", "error"),
    [
        ([], [], [], [], None),  # nothing given: no prompt
        (  # points on one frame make one object, boxes one each; ids from first_object
            ["10,20", "30,40,0", "5,5@7"],
            ["0,0,50,60@2"],
            [],
            [("PointPrompt", 0, 3, None), ("PointPrompt", 7, 4, None), ("BoxPrompt", 2, 5, None)],
            None,
        ),
        (  # the same frame on two sources: two objects; the same frame and source: one
            ["1,1@0:left", "2,2@0:right", "3,3,0@:left"],
            [],
            [],
            [("PointPrompt", 0, 3, "left"), ("PointPrompt", 0, 4, "right")],
            None,
        ),
        (  # a source given as text and none at all are different groups
            ["1,1", "2,2@:0"],
            [],
            [],
            [("PointPrompt", 0, 3, None), ("PointPrompt", 0, 4, "0")],
            None,
        ),
        (  # boxes and texts carry their source; points, then boxes, then texts
            ["1,1@:b"],
            ["0,0,4,4@1:a", "0,0,4,4"],
            ["a cup@2:b", "a dog"],
            [
                ("PointPrompt", 0, 3, "b"),
                ("BoxPrompt", 1, 4, "a"),
                ("BoxPrompt", 0, 5, None),
                ("TextPrompt", 2, 6, "b"),
                ("TextPrompt", 0, 7, None),
            ],
            None,
        ),
        (["10"], [], [], None, "expected X,Y"),  # one number
        (["10,20,0"], [], [], None, "the points on frame 0 are all background"),  # no foreground point
        (["1,1@:a", "2,2,0@:b"], [], [], None, "frame 0 of source b are all background"),  # none on source b
        ([], ["1,2,3"], [], None, "expected X1,Y1,X2,Y2"),  # three numbers
        ([], ["50,50,10,10"], [], None, "X2 must exceed X1"),  # corners swapped
        ([], [], ["  "], None, "the text must be"),  # empty words
    ],
)
def test_prompts_from_cli(points, boxes, texts, expected, error):
    if error is not None:
        with pytest.raises(PromptError, match=error):
            prompts_from_cli(points, boxes, first_object=3, texts=texts)
        return
    prompts = prompts_from_cli(points, boxes, first_object=3, texts=texts)
    assert _summary(prompts) == expected
    if points == ["10,20", "30,40,0", "5,5@7"]:
        assert prompts[0].points.tolist() == [[10, 20], [30, 40]] and prompts[0].labels.tolist() == [1, 0]


def test_prompts_file(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(
        json.dumps(
            {
                "prompts": [
                    {"frame": 0, "object": 1, "points": [[1, 2], [3, 4]], "labels": [1, 0]},
                    {"frame": 0, "object": 2, "box": [1, 2, 30, 40]},
                    {"frame": 40, "object": 2, "remove": True},
                ]
            }
        )
    )
    first, second, third = load_prompts(path)
    assert isinstance(first, PointPrompt) and first.labels.tolist() == [1, 0]
    assert isinstance(second, BoxPrompt) and second.box.tolist() == [1, 2, 30, 40]
    assert third == RemovePrompt(40, 2)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[]", 'must be {"prompts"'),  # not the top-level object
        ("{not json", "not valid JSON"),  # broken JSON
        ('{"prompts": [{"frame": 0, "object": 1}]}', "exactly one of"),  # nothing to do
        ('{"prompts": [{"frame": 0, "object": 1, "box": [1, 2, 3]}]}', "list of 4 numbers"),  # short box
        ('{"prompts": [{"frame": -1, "object": 1, "remove": true}]}', "'frame' must be an integer from 0 to"),
        ('{"prompts": [{"frame": 0, "object": 0, "remove": true}]}', "'object' must be an integer from 1 to"),
        ('{"prompts": [{"frame": 0, "object": 1, "remove": true, "colour": 1}]}', "unknown key 'colour'"),
        ('{"prompts": [{"frame": 0, "object": 1, "points": [[1, 2]], "labels": [0]}]}', "at least one point"),
        ('{"prompts": [{"frame": 0, "object": 1, "points": [[1, 2]], "labels": [1, 1]}]}', "one 0 or 1 per point"),
        ('{"prompts": [{"frame": 0, "object": 1, "points": [["a", 2]]}]}', "list of 2 numbers"),
    ],
)
def test_bad_prompt_files(tmp_path, content, message):
    path = tmp_path / "p.json"
    path.write_text(content)
    with pytest.raises(PromptError, match=message.replace("[", r"\[").replace("{", r"\{")):
        load_prompts(path)


@pytest.mark.parametrize(
    ("entry", "source", "error"),
    [
        ({"frame": 0, "object": 1, "box": [1, 2, 30, 40]}, None, None),  # no source key
        ({"frame": 0, "object": 1, "box": [1, 2, 30, 40], "source": "left"}, "left", None),  # a name
        ({"frame": 0, "object": 1, "box": [1, 2, 30, 40], "source": 1}, "1", None),  # a number, kept as text
        ({"frame": 0, "object": 1, "points": [[1, 2]], "source": "cam 2"}, "cam 2", None),  # any name, spaces too
        ({"frame": 0, "object": 1, "text": "a cup", "source": 0}, "0", None),  # a text prompt's
        ({"frame": 9, "object": 1, "remove": True, "source": "right"}, "right", None),  # a remove prompt's
        ({"frame": 0, "object": 1, "remove": True, "source": None}, None, "'source' must be a source name"),  # null
        ({"frame": 0, "object": 1, "remove": True, "source": ""}, None, "'source' must be a source name"),  # empty
        ({"frame": 0, "object": 1, "remove": True, "source": -1}, None, "number .0 or more., got -1"),  # negative
        ({"frame": 0, "object": 1, "remove": True, "source": True}, None, "got true"),  # a bool
        ({"frame": 0, "object": 1, "remove": True, "source": 1.5}, None, "got 1.5"),  # a fraction
        ({"frame": 0, "object": 1, "remove": True, "source": ["a"]}, None, 'got ."a".'),  # a list
    ],
)
def test_prompts_file_source(tmp_path, entry, source, error):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"prompts": [entry]}))
    if error is not None:
        with pytest.raises(PromptError, match=rf"^p\.json prompt 0: .*{error}"):
            load_prompts(path)
        return
    [prompt] = load_prompts(path)
    assert prompt.source == source


def test_missing_prompts_file(tmp_path):
    with pytest.raises(PromptError, match="cannot read prompts file"):
        load_prompts(tmp_path / "none.json")


@pytest.mark.parametrize(
    ("prompt", "ok"),
    [
        (PointPrompt(0, 1, np.array([[639.0, 359.0]]), np.array([1])), True),  # inside
        (PointPrompt(0, 1, np.array([[641.0, 10.0]]), np.array([1])), False),  # right of the frame
        (BoxPrompt(0, 1, np.array([-5.0, 0, 10, 10])), False),  # left of the frame
        (RemovePrompt(0, 1), True),  # no coordinates
    ],
)
def test_check_in_frame(prompt, ok):
    if ok:
        check_in_frame([prompt], (640, 360))
    else:
        with pytest.raises(PromptError, match="outside the 640x360 frame"):
            check_in_frame([prompt], (640, 360))


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 50) | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["frame", "object", "points", "labels", "box", "remove", "source", "x"]), children
        )
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(st.one_of(_json, st.fixed_dictionaries({"prompts": st.lists(_json, max_size=3)})))
def test_any_json_loads_or_raises_prompt_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("p") / "p.json"
    path.write_text(json.dumps(data))
    try:
        prompts = load_prompts(path)
    except PromptError as error:
        assert "\n" not in str(error)
    else:
        assert all(isinstance(p, PointPrompt | BoxPrompt | RemovePrompt) for p in prompts)
        assert all(p.source is None or (isinstance(p.source, str) and p.source) for p in prompts)


POINT = PointPrompt(0, 1, [[5, 5]])
BOX = BoxPrompt(0, 2, [0, 0, 4, 4])
TEXT = TextPrompt(0, 3, "a cup")
REMOVE = RemovePrompt(9, 1)
MASK = MaskPrompt(0, 4, [[True]])


def _at(prompt, source):
    return dataclasses.replace(prompt, source=source)


@pytest.mark.parametrize(
    ("prompts", "names", "expected", "error"),
    [
        ([], ["left", "right"], [[], []], None),  # no prompt: an empty list for each source
        ([], ["only"], [[]], None),  # no prompt, one source
        ([POINT, BOX, TEXT, REMOVE, MASK], ["only"], [[1, 2, 3, 1, 4]], None),  # one source takes all unnamed
        ([_at(POINT, "only"), _at(BOX, "0")], ["only"], [[1, 2]], None),  # one source, named or numbered
        ([_at(POINT, "right"), _at(BOX, "0")], ["left", "right"], [[2], [1]], None),  # by name and by number
        ([TEXT, REMOVE], ["left", "right"], [[3, 1], [3, 1]], None),  # text and remove: every source
        ([_at(TEXT, "1")], ["left", "right"], [[], [3]], None),  # a named text: its source only
        ([_at(POINT, "1")], ["1", "0"], [[1], []], None),  # a name that is a number: the name first
        ([_at(POINT, "b")], ["a", "b", "c"], [[], [1], []], None),  # the middle of three sources
        ([_at(POINT, "10")], [f"s{n}" for n in range(12)], [[]] * 10 + [[1], []], None),  # a number of two digits
        ([_at(POINT, "01")], ["a", "b"], [[], [1]], None),  # decimal digits, a leading zero too
        # a point without a source, several sources: which one?
        ([POINT], ["left", "right"], None, "object 1: with several sources, name the source: X,Y@FRAME:SOURCE"),
        ([BOX], ["left", "right"], None, "object 2: with several sources.*0 'left', 1 'right'"),  # a box too
        ([MASK], ["left", "right"], None, "object 4: with several sources"),  # a mask is of one source
        ([_at(POINT, "middle")], ["left", "right"], None, "no source 'middle'.*0 'left', 1 'right'"),  # unknown
        ([_at(POINT, "2")], ["left", "right"], None, "no source '2'"),  # a number past the last source
        ([_at(POINT, "-1")], ["left", "right"], None, "no source '-1'"),  # no counting from the end
        ([_at(POINT, "1")], ["only"], None, "no source '1'.*0 'only'"),  # one source: only 0 or its name
        ([_at(POINT, "cam")], ["cam", "cam"], None, "sources 0 and 1 are both named 'cam'"),  # ambiguous
    ],
)
def test_split_by_source(prompts, names, expected, error):
    if error is not None:
        with pytest.raises(PromptError, match=error):
            split_by_source(prompts, names)
        return
    placed = split_by_source(prompts, names)
    assert [[p.object_id for p in own] for own in placed] == expected
    for name, own in zip(names, placed, strict=True):
        assert all(p.source == name for p in own)  # every placed record names its source


def test_split_by_source_copies_records_and_keeps_their_fields():
    [[left], [right]] = split_by_source([_at(POINT, "left"), _at(BOX, "1")], ["left", "right"])
    assert left is not POINT and left.points.tolist() == [[5.0, 5.0]] and left.labels.tolist() == [1]
    assert right.box.tolist() == [0.0, 0.0, 4.0, 4.0] and right.source == "right"
    assert POINT.source is None  # the input is not changed


@pytest.mark.parametrize("names", [[], [""], ["a", None]])  # no source; an empty name; a name that is not text
def test_split_by_source_needs_names(names):
    with pytest.raises(ValueError, match="one non-empty name per source"):
        split_by_source([], names)


def test_cli_and_file_prompts_split_by_source(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"prompts": [{"frame": 0, "object": 1, "box": [1, 2, 30, 40], "source": 1}]}))
    prompts = [*load_prompts(path), *prompts_from_cli(["5,5@:left"], [], first_object=2, texts=["a cup"])]
    placed = split_by_source(prompts, ["left", "right"])
    assert [_summary(own) for own in placed] == [
        [("PointPrompt", 0, 2, "left"), ("TextPrompt", 0, 3, "left")],
        [("BoxPrompt", 0, 1, "right"), ("TextPrompt", 0, 3, "right")],
    ]
