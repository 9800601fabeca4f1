from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from fastsam_track.configs import PRESETS, RunConfig, load_config
from fastsam_track.errors import ConfigError


@pytest.mark.parametrize("preset", PRESETS)
def test_presets_load(preset):
    assert isinstance(load_config(preset), RunConfig)


def test_presets_shipped():
    assert set(PRESETS) >= {"file", "webcam", "rtsp"}


def test_overrides_win_and_none_is_ignored(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("imgsz: 480\nconf: 0.3\n")
    config = load_config(path, {"conf": 0.5, "iou": None})
    assert (config.imgsz, config.conf, config.iou) == (480, 0.5, 0.9)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("imgs: 640\n", "unknown config key 'imgs'; valid keys: model, imgsz"),  # a typo
        ("imgsz: 500\n", "imgsz must be a positive multiple of 32 up to 4096, got 500"),  # not a multiple of 32
        ("imgsz: 100000\n", "imgsz must be a positive multiple of 32 up to 4096, got 100000"),  # 67 GB of input
        ("imgsz: 4128\n", "up to 4096, got 4128"),  # the first multiple of 32 past the bound
        ("imgsz: '640'\n", "imgsz must be int, got str '640'"),  # quoted number
        ("imgsz: true\n", "imgsz must be int, got bool True"),  # bool is not an int here
        ("conf: 1.5\n", "conf must be between 0 and 1, got 1.5"),  # out of range
        ("iou: -0.1\n", "iou must be between 0 and 1"),  # out of range
        ("max_det: 0\n", "max_det must be 1 or more"),  # out of range
        ("threads: 0\n", "threads must be 1 or more, or null"),  # out of range
        ("preset: quick\n", "preset must be one of ultrafast"),  # not an x264 preset
        ("- imgsz\n", "must be a mapping"),  # a list, not a mapping
        ("imgsz: [\n", "not valid YAML"),  # broken YAML
    ],
)
def test_bad_configs(tmp_path, text, message):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        load_config(path)


def test_missing_config_names_the_presets():
    with pytest.raises(ConfigError, match="neither a file nor a preset"):
        load_config("nope.yaml")


def test_empty_file_gives_defaults(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("")
    assert load_config(path) == RunConfig()


_values = st.one_of(st.none(), st.booleans(), st.integers(-1000, 5000), st.floats(allow_nan=True), st.text(max_size=8))


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from([*RunConfig.__dataclass_fields__, "bogus", "imgs"]), _values, max_size=6))
def test_any_mapping_loads_or_raises_config_error(tmp_path_factory, data):
    path = Path(tmp_path_factory.mktemp("h")) / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    try:
        config = load_config(path)
    except ConfigError as error:
        assert "\n" not in str(error)
    else:
        assert isinstance(config, RunConfig)


def test_the_commands_defaults_are_the_configs():
    """A default is written once, in ``RunConfig``: the command's flags fill nothing of their own, and
    each flag's help shows the config's default; the segmenter's defaults are the config's too."""
    import argparse
    import inspect

    from fastsam_track.cli import _config_from, _parser
    from fastsam_track.configs import RunConfig, options
    from fastsam_track.pipeline.model.segmenter import Segmenter

    parser = _parser()
    assert _config_from(parser.parse_args(["run", "x.mp4"])) == RunConfig()
    run = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices["run"]
    flags = {action.dest: action for action in run._actions}
    for name, (default, _) in options().items():
        assert flags[name].default is None  # so --config's value is not hidden by the flag's
        assert flags[name].help.endswith(f"[{'none' if default is None else default}]"), flags[name].help
    overridden = _config_from(parser.parse_args(["run", "x.mp4", "--imgsz", "320", "--max-det", "5"]))
    assert (overridden.imgsz, overridden.max_det) == (320, 5)
    signature = inspect.signature(Segmenter).parameters
    for name in ("imgsz", "conf", "iou", "max_det", "device", "backend", "threads", "precision", "model"):
        assert signature[name].default == getattr(RunConfig(), name), name
