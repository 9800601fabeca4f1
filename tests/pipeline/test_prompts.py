import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastsam_track.errors import PromptError
from fastsam_track.pipeline.prompts.parse import check_in_frame, load_prompts, prompts_from_cli
from fastsam_track.types import BoxPrompt, PointPrompt, RemovePrompt


def test_points_on_one_frame_make_one_object_and_boxes_one_each():
    prompts = prompts_from_cli(["10,20", "30,40,0", "5,5@7"], ["0,0,50,60@2"], first_object=3)
    assert [(type(p).__name__, p.frame, p.object_id) for p in prompts] == [
        ("PointPrompt", 0, 3),
        ("PointPrompt", 7, 4),
        ("BoxPrompt", 2, 5),
    ]
    assert prompts[0].points.tolist() == [[10, 20], [30, 40]] and prompts[0].labels.tolist() == [1, 0]


@pytest.mark.parametrize(
    ("points", "boxes", "message"),
    [
        (["10"], [], "expected X,Y"),  # one number
        (["10,20,2"], [], "LABEL 1"),  # a label that is neither 0 nor 1
        (["10,20@x"], [], "expected X,Y"),  # a frame that is not a number
        (["10,20,0"], [], "all background"),  # no foreground point
        ([], ["1,2,3"], "expected X1,Y1,X2,Y2"),  # three numbers
        ([], ["50,50,10,10"], "X2 must exceed X1"),  # corners swapped
    ],
)
def test_bad_cli_prompts(points, boxes, message):
    with pytest.raises(PromptError, match=message):
        prompts_from_cli(points, boxes)


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
        ('{"prompts": [{"frame": -1, "object": 1, "remove": true}]}', "'frame' must be an integer >= 0"),
        ('{"prompts": [{"frame": 0, "object": 0, "remove": true}]}', "'object' must be an integer >= 1"),
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
        | st.dictionaries(st.sampled_from(["frame", "object", "points", "labels", "box", "remove", "x"]), children)
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
