"""The object tracker's parameters: defaults, checks, the config file's ``tracker:`` key, no threshold left inline."""

import ast
import dataclasses
from pathlib import Path

import pytest

from fastsam_track.configs import load_config
from fastsam_track.errors import ConfigError
from fastsam_track.trackers.objects import ObjectTracker
from fastsam_track.trackers.params import ObjectParams, describe

TRACKERS = Path(__file__).resolve().parents[2] / "fastsam_track" / "trackers"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({}, None),  # the defaults
        ({"confirm": 0.5, "max_lost": 10}, None),
        ({"confirm": 1.5}, r"^tracker\.confirm must be between 0 and 1, got 1\.5$"),
        ({"max_lost": -1}, r"^tracker\.max_lost must be 0 or more, got -1$"),
        ({"max_lost": 2.5}, r"^tracker\.max_lost must be an integer, got float 2\.5$"),
        ({"motion": True}, r"^tracker\.motion must be a number, got bool True$"),  # a bool is not a number here
        ({"trial_frames": 0}, r"^tracker\.trial_frames must be 1 or more, got 0$"),
        ({"confim": 0.5}, r"^unknown tracker key 'confim'; valid keys: max_carried, "),  # a typo
    ],
)
def test_from_mapping(values, message):
    if message is None:
        params = ObjectParams.from_mapping(values)
        assert all(getattr(params, k) == v for k, v in values.items())
    else:
        with pytest.raises(ConfigError, match=message):
            ObjectParams.from_mapping(values)


def test_every_parameter_has_a_unit_and_a_meaning():
    rows = describe()
    assert [name for name, *_ in rows] == [f.name for f in dataclasses.fields(ObjectParams)]
    assert all(unit and meaning for _, _, unit, meaning in rows)


def test_the_config_file_fills_the_tracker_and_refuses_bad_keys(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("imgsz: 640\ntracker:\n  confirm: 0.5\n  max_carried: 4\n")
    config = load_config(path)
    assert (config.tracker.confirm, config.tracker.max_carried, config.tracker.alike) == (0.5, 4, 0.45)
    assert ObjectTracker(config.tracker).params == config.tracker
    path.write_text("tracker:\n  bogus: 1\n")
    with pytest.raises(ConfigError, match="unknown tracker key 'bogus'"):
        load_config(path)
    path.write_text("tracker: 3\n")
    with pytest.raises(ConfigError, match="tracker must be a mapping"):
        load_config(path)
    assert load_config().tracker == ObjectParams()


def test_keyword_changes_override_the_params():
    tracker = ObjectTracker(ObjectParams(max_lost=3), pending_frames=0)
    assert (tracker.params.max_lost, tracker.params.pending_frames) == (3, 0)


@pytest.mark.parametrize("module", ["objects", "explain", "search", "lifecycle", "appearance"])
def test_no_threshold_is_left_in_the_trackers_logic(module):
    # 0 and 1, and 2 and 4 as array dimensions (xy pairs, boxes) are all a number may be there.
    tree = ast.parse((TRACKERS / f"{module}.py").read_text())
    numbers = {
        node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and type(node.value) in (int, float)
    }
    assert numbers <= {0, 1, 2, 4}, numbers
