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
