"""Property tests: random input to every parser either loads or raises the project's own error.

Any other exception (KeyError, TypeError, json or pycocotools errors, cv2 errors...) fails the test.
"""

from __future__ import annotations

import itertools
import json
import math
import string
from pathlib import Path

import numpy as np
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastsam_track.configs import RunConfig, load_config
from fastsam_track.errors import ConfigError, PromptError, SegmentsCacheError
from fastsam_track.pipeline.exports.segments import SegmentsReplay, encode_rle
from fastsam_track.pipeline.prompts.parse import (
    load_prompts,
    parse_box,
    parse_point,
    parse_text,
    prompts_from_cli,
    split_by_source,
)
from fastsam_track.types import RemovePrompt, TextPrompt

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

HUGE = st.sampled_from([10**400, -(10**400), 2**63, -(2**63) - 1, 10**30])
NUMBERS = st.one_of(
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    HUGE,
    st.sampled_from([float("nan"), float("inf"), -float("inf"), 1e300]),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, st.text(max_size=20))
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=8), inner, max_size=5)),
    max_leaves=20,
)
RAW_BYTES = st.binary(max_size=200)
BIG_DIGITS = st.integers(4000, 5000).map(lambda n: "9" * n)  # past Python's int-from-string limit


def _write(path: Path, data: str | bytes) -> Path:
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8", errors="surrogatepass")
    return path


# --- prompts file -----------------------------------------------------------------------------

COORDS = st.one_of(st.integers(0, 100), st.floats(0, 100), NUMBERS)
LABELS = st.one_of(
    st.lists(st.integers(0, 1), max_size=3),
    st.lists(st.one_of(st.integers(0, 1), st.lists(st.integers(0, 1), max_size=2)), min_size=2, max_size=3),  # ragged
    st.lists(st.one_of(st.integers(0, 1), SCALARS), max_size=3),
    JSON,
)
PROMPT_KIND = st.one_of(
    st.fixed_dictionaries(
        {"box": st.one_of(st.lists(NUMBERS, min_size=4, max_size=4), st.lists(NUMBERS, max_size=5), JSON)}
    ),
    st.fixed_dictionaries(
        {"points": st.one_of(st.lists(st.lists(COORDS, min_size=2, max_size=2), min_size=1, max_size=3), JSON)},
        optional={"labels": LABELS},
    ),
    st.fixed_dictionaries({"text": st.one_of(st.text(max_size=400), JSON)}),
    st.fixed_dictionaries({"remove": st.one_of(st.just(True), JSON)}),
)
NEAR_VALID_ENTRY = st.builds(
    lambda frame, obj, kind, extra: {"frame": frame, "object": obj, **kind, **extra},
    st.one_of(st.integers(0, 9), st.integers(-2, 9), JSON),
    st.one_of(st.integers(1, 9), st.integers(-1, 9), JSON),
    PROMPT_KIND,
    st.one_of(
        st.just({}),
        st.just({}),
        st.fixed_dictionaries({"source": st.one_of(st.text(max_size=8), st.integers(-2, 5), HUGE, JSON)}),
        st.dictionaries(st.sampled_from(["extra", "labels", "box", "text", "remove", "source"]), JSON),
    ),
)
PROMPT_ENTRY = st.one_of(
    NEAR_VALID_ENTRY,
    st.fixed_dictionaries(
        {},
        optional={
            key: JSON for key in ("frame", "object", "points", "labels", "box", "text", "remove", "source", "extra")
        },
    ),
)
PROMPT_DOCS = st.one_of(
    JSON.map(json.dumps),
    st.lists(st.one_of(PROMPT_ENTRY, JSON), max_size=4).map(lambda entries: json.dumps({"prompts": entries})),
    BIG_DIGITS.map(lambda digits: '{"prompts": [{"frame": ' + digits + ', "object": 1, "remove": true}]}'),
    st.text(max_size=100),
    RAW_BYTES,
)


@FUZZ
@given(entries=st.lists(NEAR_VALID_ENTRY, min_size=1, max_size=2))
def test_load_prompts_near_valid_entries_load_or_raise_prompt_error(tmp_path, entries):
    path = _write(tmp_path / "prompts.json", json.dumps({"prompts": entries}))
    try:
        load_prompts(path)
    except PromptError:
        pass


@FUZZ
@given(
    points=st.one_of(st.lists(st.lists(COORDS, min_size=2, max_size=2), min_size=1, max_size=3), JSON),
    labels=st.one_of(st.none(), LABELS),
)
def test_load_prompts_points_and_labels_load_or_raise_prompt_error(tmp_path, points, labels):
    entry = {"frame": 0, "object": 1, "points": points, **({} if labels is None else {"labels": labels})}
    path = _write(tmp_path / "prompts.json", json.dumps({"prompts": [entry]}))
    try:
        load_prompts(path)
    except PromptError:
        pass


@FUZZ
@given(document=PROMPT_DOCS)
def test_load_prompts_loads_or_raises_prompt_error(tmp_path, document):
    path = _write(tmp_path / "prompts.json", document)
    try:
        load_prompts(path)
    except PromptError:
        pass


# --- CLI prompt strings -----------------------------------------------------------------------

NUMBER_TEXT = st.one_of(
    st.integers(-(10**6), 10**6).map(str), st.floats(-1e6, 1e6).map(lambda v: f"{v:.3f}"), BIG_DIGITS
)
SOURCE_TEXT = st.one_of(
    st.text(alphabet=string.ascii_letters + string.digits + "-_.", min_size=1, max_size=8),  # a valid SOURCE
    st.integers(0, 99).map(str),
    st.text(max_size=8),  # anything, colons and @ too
)
WHERE_TEXT = st.one_of(  # what follows the numbers or the words: "", @FRAME, @FRAME:SOURCE, @:SOURCE, near misses
    st.just(""),
    NUMBER_TEXT.map("@{}".format),
    st.tuples(st.one_of(st.just(""), NUMBER_TEXT), SOURCE_TEXT).map("@{0[0]}:{0[1]}".format),
    st.text(alphabet="@:0123456789ab -", max_size=8),
)
CLI_TEXT = st.one_of(
    st.text(max_size=60),
    st.text(alphabet=string.digits + ",.@:-+ 01ab", max_size=40),
    st.tuples(st.lists(NUMBER_TEXT, min_size=1, max_size=5), WHERE_TEXT).map(
        lambda parts: ",".join(parts[0]) + parts[1]
    ),
    st.tuples(st.text(max_size=20), WHERE_TEXT).map("".join),
    st.tuples(st.text(max_size=20), BIG_DIGITS).map("{0[0]}@{0[1]}".format),
)


@settings(max_examples=200, deadline=None)
@given(text=CLI_TEXT)
def test_cli_prompt_parsers_return_or_raise_prompt_error(text):
    for parse in (parse_point, parse_box, parse_text):
        try:
            frame, *_, source = parse(text)
        except PromptError as error:
            assert "\n" not in str(error)  # the text is quoted with repr
        else:
            assert frame >= 0 and (source is None or (source and ":" not in source and "@" not in source))


SOURCE_NAMES = st.lists(
    st.text(alphabet=string.ascii_lowercase + string.digits, min_size=1, max_size=3), min_size=1, max_size=3
)
CLI_POINTS = st.lists(
    st.tuples(st.integers(0, 99), st.integers(0, 99), st.sampled_from(["", ",0", ",1"]), WHERE_TEXT).map(
        lambda p: f"{p[0]},{p[1]}{p[2]}{p[3]}"
    ),
    max_size=4,
)
CLI_BOXES = st.lists(st.sampled_from(["", "@2", "@:0", "@1:1", "@:a", "@3:b"]).map("0,0,10,10{}".format), max_size=3)
CLI_TEXTS = st.lists(st.tuples(st.sampled_from(["a cup", "me@home"]), WHERE_TEXT).map("".join), max_size=3)


@settings(max_examples=200, deadline=None)
@given(points=CLI_POINTS, boxes=CLI_BOXES, texts=CLI_TEXTS, names=SOURCE_NAMES)
def test_cli_prompts_split_by_source_or_raise_prompt_error(points, boxes, texts, names):
    """Every prompt lands in the source it names (every source for an unnamed text or remove), or a PromptError."""
    try:
        prompts = prompts_from_cli(points, boxes, texts=texts)
        placed = split_by_source(prompts, names)
    except PromptError as error:
        assert "\n" not in str(error)
        return
    ids = [p.object_id for p in prompts]
    assert len(ids) == len(set(ids))  # one id per object
    for prompt in prompts:
        if prompt.source is None:  # a point or box without one was refused with several sources
            assert len(names) == 1 or isinstance(prompt, TextPrompt | RemovePrompt)
            where = list(range(len(names)))
        elif prompt.source in names:
            where = [names.index(prompt.source)]
        else:
            where = [int(prompt.source)]
        for number, own in enumerate(placed):
            held = [p for p in own if p.object_id == prompt.object_id]
            assert len(held) == (number in where)
    for name, own in zip(names, placed, strict=True):
        assert all(p.source == name for p in own)


# --- run config -------------------------------------------------------------------------------

KEYS = [field.name for field in RunConfig.__dataclass_fields__.values()]
CONFIG_VALUES = st.one_of(
    SCALARS, st.sampled_from([float("nan"), float("inf"), -float("inf"), 0, 1, 32, 640, 0.5, "veryfast", "cpu"]), JSON
)
CONFIG_MAPPINGS = st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), CONFIG_VALUES, max_size=6)
YAML_TEXT = st.one_of(
    CONFIG_MAPPINGS.map(yaml.safe_dump),
    JSON.map(yaml.safe_dump),
    st.text(max_size=100),
    RAW_BYTES,
    BIG_DIGITS.map("imgsz: {}\n".format),
)
OVERRIDES = st.one_of(st.none(), st.dictionaries(st.sampled_from(KEYS), CONFIG_VALUES, max_size=6), CONFIG_MAPPINGS)


@FUZZ
@given(document=YAML_TEXT, overrides=OVERRIDES)
def test_load_config_loads_or_raises_config_error(tmp_path, document, overrides):
    path = _write(tmp_path / "run.yaml", document)
    for source in (path, None, "file"):
        try:
            assert isinstance(load_config(source, overrides), RunConfig)
        except ConfigError:
            pass


# --- segments cache ---------------------------------------------------------------------------

SIDES = st.one_of(st.integers(1, 12), st.integers(-3, 0), HUGE, st.floats(), JSON)
_VALID_RLE = encode_rle(np.eye(4, dtype=bool)[None])[0]
COUNTS = st.one_of(st.text(alphabet=[chr(c) for c in range(48, 112)], max_size=6), st.text(max_size=6), JSON)
RLE = st.one_of(
    st.just(_VALID_RLE),
    st.fixed_dictionaries({"size": st.one_of(st.just([4, 4]), st.lists(SIDES, max_size=3), JSON), "counts": COUNTS}),
    JSON,
)
VALID_SEGMENT = {"rle": _VALID_RLE, "box": [0, 0, 2, 2], "score": 0.5}


def _mutated(base: dict, options: dict) -> st.SearchStrategy:
    """``base`` with one key dropped or given a value from its strategy in ``options``."""
    dropped = st.sampled_from(sorted(base)).map(lambda key: {k: v for k, v in base.items() if k != key})
    changed = st.sampled_from(sorted(options)).flatmap(lambda key: options[key].map(lambda value: {**base, key: value}))
    return st.one_of(dropped, changed, changed)


SEGMENT = st.one_of(
    st.just(VALID_SEGMENT),
    _mutated(
        VALID_SEGMENT,
        {
            "rle": RLE,
            "box": st.one_of(st.lists(NUMBERS, min_size=4, max_size=4), st.lists(NUMBERS, max_size=5), JSON),
            "score": st.one_of(NUMBERS, JSON),
        },
    ),
    JSON,
)
RECORD_OPTIONS = {
    "height": SIDES,
    "width": SIDES,
    "mask_size": st.one_of(st.lists(SIDES, min_size=2, max_size=2), st.lists(SIDES, max_size=3), JSON),
    "segments": st.one_of(st.lists(SEGMENT, max_size=3), JSON),
}
RECORD = st.lists(SEGMENT, max_size=3).flatmap(
    lambda segments: st.one_of(
        st.just({"frame": 0, "height": 8, "width": 8, "mask_size": [4, 4], "segments": segments}),
        _mutated({"frame": 0, "height": 8, "width": 8, "mask_size": [4, 4], "segments": segments}, RECORD_OPTIONS),
    )
)
SEGMENT_LINE = st.one_of(
    RECORD.map(json.dumps),
    RECORD.map(json.dumps).flatmap(lambda line: st.integers(0, len(line)).map(lambda n: line[:n])),  # truncated
    JSON.map(json.dumps),
    st.text(max_size=60),
)
SEGMENT_FILES = st.one_of(st.lists(SEGMENT_LINE, max_size=4).map("\n".join), RAW_BYTES)


def _frame_for(line: str) -> np.ndarray:
    """A frame of the size the line claims when that size is small, else 8x8."""
    try:
        record = json.loads(line)
        height, width = record["height"], record["width"]
        if all(type(v) is int and 1 <= v <= 64 for v in (height, width)):
            return np.zeros((height, width, 3), np.uint8)
    except Exception:
        pass
    return np.zeros((8, 8, 3), np.uint8)


@FUZZ
@given(content=SEGMENT_FILES)
def test_segments_replay_replays_or_raises_segments_cache_error(tmp_path, content):
    path = _write(tmp_path / "segments.jsonl", content)
    lines = [line for line in content.splitlines() if line.strip()] if isinstance(content, str) else []
    try:
        replay = SegmentsReplay(path)
        for line in [*lines, ""]:
            segments = replay(_frame_for(line))
            assert len(segments.xyxy) == len(segments.mask) == len(segments.confidence)
    except SegmentsCacheError:
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(record=RECORD)
def test_segments_replay_near_valid_record_replays_or_raises_segments_cache_error(tmp_path, record):
    path = _write(tmp_path / "segments.jsonl", json.dumps(record) + "\n")
    try:
        segments = SegmentsReplay(path)(np.zeros((8, 8, 3), np.uint8))
        assert len(segments.xyxy) == len(segments.mask) == len(segments.confidence)
    except SegmentsCacheError:
        pass


@FUZZ
@given(
    masks=st.tuples(st.integers(0, 3), st.integers(1, 9), st.integers(1, 9)).flatmap(
        lambda shape: st.lists(st.booleans(), min_size=math.prod(shape), max_size=math.prod(shape)).map(
            lambda cells: np.array(cells, bool).reshape(shape)
        )
    )
)
def test_segments_replay_accepts_every_mask_the_encoder_writes(tmp_path, masks):
    _, height, width = masks.shape
    segments = [{"rle": rle, "box": [0, 0, 1, 1], "score": 0.5} for rle in encode_rle(masks)]
    record = {"frame": 0, "height": 8, "width": 8, "mask_size": [height, width], "segments": segments}
    path = _write(tmp_path / "segments.jsonl", json.dumps(record) + "\n")
    assert np.array_equal(SegmentsReplay(path)(np.zeros((8, 8, 3), np.uint8)).mask, masks)


# --- bounds every reader shares: nesting, alias bombs, huge integers (fastsam_track.documents) --------

DEPTHS = st.integers(33, 5000)  # past the bound; the parsers' recursion broke at about 1,000
FEW = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _nested(depth: int, yaml_block: bool = False) -> str:
    if yaml_block:  # a YAML mapping nested by indentation
        return "".join("  " * level + f"k{level}:\n" for level in range(depth)) + "  " * depth + "v: 1\n"
    return "[" * depth + "]" * depth


def _alias_bomb(width: int, levels: int, key: str) -> str:
    """A billion laughs: ``width ** levels`` values from a few hundred bytes, the last level under ``key``."""
    names = [f"l{n}" for n in range(levels)]
    lines = [f"{names[0]}: &{names[0]} [{', '.join(['lol'] * width)}]"]
    for before, name in itertools.pairwise(names):
        lines.append(f"{name}: &{name} [{', '.join([f'*{before}'] * width)}]")
    lines.append(f"{key}: *{names[-1]}")
    return "\n".join(lines) + "\n"


def _one_short_line(error: Exception) -> None:
    message = str(error)
    assert "\n" not in message and len(message) < 500, message[:500]


@FEW
@given(depth=DEPTHS, block=st.booleans())
def test_deep_nesting_is_one_line_error_in_every_reader(tmp_path, depth, block):
    from fastsam_track.cluster.fleet import load_fleet

    text = _nested(depth, block)
    readers = [
        (load_prompts, "p.json", '{"prompts": ' + _nested(depth) + "}", PromptError),
        (load_config, "c.yaml", f"preset: {text}" if not block else text, ConfigError),
        (load_fleet, "f.yaml", f"cameras: {text}" if not block else text, ConfigError),
    ]
    for read, name, content, error in readers:
        try:
            read(_write(tmp_path / name, content))
        except error as caught:
            _one_short_line(caught)
        else:
            raise AssertionError(f"{name} nested {depth} deep was read")
    replay = SegmentsReplay(_write(tmp_path / "s.jsonl", '{"frame": 0, "segments": ' + _nested(depth) + "}\n"))
    try:
        replay(np.zeros((8, 8, 3), np.uint8))
    except SegmentsCacheError as caught:
        _one_short_line(caught)
    else:
        raise AssertionError(f"a segments line nested {depth} deep was replayed")


@FEW
@given(width=st.integers(2, 12), levels=st.integers(2, 10), key=st.sampled_from(["preset", "imgsz", "cameras"]))
def test_alias_bombs_load_or_raise_one_short_line(tmp_path, width, levels, key):
    from fastsam_track.cluster.fleet import load_fleet

    text = _alias_bomb(width, levels, key)
    for read, error in ((load_config, ConfigError), (load_fleet, ConfigError)):
        try:
            read(_write(tmp_path / "bomb.yaml", text))
        except error as caught:
            _one_short_line(caught)


@FUZZ
@given(
    number=st.one_of(HUGE, st.integers(2**31, 2**70), st.integers(-(2**70), 0)),
    key=st.sampled_from(["object", "frame"]),
)
def test_huge_ids_and_frames_are_refused_when_the_file_is_read(tmp_path, number, key):
    entry = {"frame": 0, "object": 1, "points": [[1, 1]], key: number}
    if key == "frame" and 0 <= number < 10**9:
        return
    try:
        load_prompts(_write(tmp_path / "p.json", json.dumps({"prompts": [entry]})))
    except PromptError as caught:
        _one_short_line(caught)
        assert f"'{key}' must be an integer from" in str(caught)
    else:
        raise AssertionError(f"{key} {number} was accepted")
