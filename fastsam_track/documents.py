"""JSON and YAML read with bounds: size, nesting depth and (YAML) alias expansion.

Every file a user hands the program as JSON or YAML (a prompts file, a config, a fleet file,
a segments cache's lines) and every JSON body a page receives is read here. A parser recurses
once per level of nesting, so a few kilobytes of ``[`` end in a RecursionError; a YAML alias
names a node again, so a few hundred bytes of aliases of aliases stand for billions of nodes
(a billion laughs), which the program then prints, walks or copies. Both are refused before
the document is built, in one line: ``DocumentError`` (a ``ValueError``), whose message the
caller prefixes with the file's name.

Example:
    >>> load_json('{"prompts": [{"frame": 0}]}')
    {'prompts': [{'frame': 0}]}
    >>> load_json("[" * 100 + "]" * 100)
    Traceback (most recent call last):
    ...
    fastsam_track.documents.DocumentError: nested 100 levels deep; at most 32
    >>> load_yaml("a: &x [1, 2]\\nb: *x")
    {'a': [1, 2], 'b': [1, 2]}
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from fastsam_track.errors import UsageError

__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_NODES", "DocumentError", "json_depth", "load_json", "load_yaml", "read_text"]

MAX_BYTES = 16 << 20  # a document's size: far beyond any prompts, config or fleet file
MAX_DEPTH = 32  # levels of nesting: the deepest document the program reads needs 4
MAX_NODES = 100_000  # values of a YAML document with its aliases expanded: a fleet of 500 cameras needs 10,000


class DocumentError(UsageError):
    """A document too large, too deep, with too many values once its aliases are expanded, or not valid
    (a ``ValueError`` too); readers re-raise it as their own error, naming the file."""


def read_text(path: str | Path, max_bytes: int = MAX_BYTES) -> str:
    """The text of a file of at most ``max_bytes`` bytes (reading no more than that).

    Raises:
        OSError: the file cannot be read.
        DocumentError: it is larger, or not UTF-8.
    """
    with open(path, "rb") as file:
        data = file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise DocumentError(f"larger than {max_bytes} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DocumentError(f"not UTF-8 text (byte {error.start})") from None


def json_depth(text: str | bytes) -> int:
    """How deep the brackets of a JSON text nest (those inside strings not counted), without parsing it.

    Example:
        >>> json_depth(b'{"box": [1, 2]}'), json_depth('"[[["'), json_depth("[" * 4096)
        (2, 0, 4096)
    """
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    # Strings (with their escapes) out first; then the running count of openers minus closers.
    data = re.sub(rb'"(?:[^"\\]|\\.)*"?', b"", data, flags=re.DOTALL)
    brackets = np.frombuffer(data, np.uint8)
    steps = np.isin(brackets, (ord("["), ord("{"))).astype(np.int64) - np.isin(brackets, (ord("]"), ord("}")))
    return int(np.cumsum(steps).max(initial=0))


def load_json(text: str | bytes, max_depth: int = MAX_DEPTH, max_bytes: int = MAX_BYTES) -> Any:
    """Parse a JSON document no larger than ``max_bytes`` nor deeper than ``max_depth``.

    ``NaN`` and ``Infinity`` (not JSON) and a key repeated in an object are refused too.

    Raises:
        DocumentError: a bound passed or the text is not valid JSON, in one line.
    """
    if len(text) > max_bytes:
        raise DocumentError(f"larger than {max_bytes} bytes")
    depth = json_depth(text)
    if depth > max_depth:
        raise DocumentError(f"nested {depth} levels deep; at most {max_depth}")
    try:
        return json.loads(text, parse_constant=_no_constant, object_pairs_hook=_no_repeats)
    except RecursionError:  # cannot happen below the bound; kept so no traceback ever escapes
        raise DocumentError(f"nested too deep; at most {max_depth} levels") from None
    except ValueError as error:  # JSONDecodeError, bad UTF-8, an integer past Python's digit limit
        raise DocumentError(f"not valid JSON: {str(error).splitlines()[0][:200]}") from None


def load_yaml(text: str, max_depth: int = MAX_DEPTH, max_bytes: int = MAX_BYTES, max_nodes: int = MAX_NODES) -> Any:
    """Parse a YAML document (safe tags only) within bounds on size, depth and aliases expanded.

    The depth is counted on the scanner's tokens, which needs no recursion; the values an
    alias stands for are counted on the composed graph, each node once (so a billion laughs
    costs its few hundred nodes to count); only then is the document built.

    Example:
        >>> bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\\n" + "".join(
        ...     f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\\n"
        ...     for p, c in zip("abcdefgh", "bcdefghi"))
        >>> load_yaml(bomb)
        Traceback (most recent call last):
        ...
        fastsam_track.documents.DocumentError: its aliases expand to more than 100000 values

    Raises:
        DocumentError: a bound passed or the text is not valid YAML, in one line.
    """
    if len(text) > max_bytes:
        raise DocumentError(f"larger than {max_bytes} bytes")
    try:
        depth = deepest = 0
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if isinstance(token, _OPENERS):
                depth += 1
                deepest = max(deepest, depth)
                if depth > max_depth:
                    raise DocumentError(f"nested more than {max_depth} levels deep")
            elif isinstance(token, _CLOSERS):
                depth -= 1
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is not None and _expanded(node, max_nodes) > max_nodes:
            raise DocumentError(f"its aliases expand to more than {max_nodes} values")
        loader = yaml.SafeLoader(text)
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as error:
        raise DocumentError(f"not valid YAML: {str(error).splitlines()[0][:200]}") from None
    except RecursionError:  # cannot happen below the bound; kept so no traceback ever escapes
        raise DocumentError(f"nested too deep; at most {max_depth} levels") from None
    except ValueError as error:  # bad characters, an integer past Python's digit limit
        if isinstance(error, DocumentError):
            raise
        raise DocumentError(f"not valid YAML: {str(error).splitlines()[0][:200]}") from None


_OPENERS = (
    yaml.BlockMappingStartToken,
    yaml.BlockSequenceStartToken,
    yaml.FlowMappingStartToken,
    yaml.FlowSequenceStartToken,
)
_CLOSERS = (yaml.BlockEndToken, yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken)


def _expanded(root: yaml.Node, cap: int) -> int:
    """How many values ``root`` stands for with every alias expanded, counted up to a little past ``cap``.

    Each node is counted once and its total reused wherever an alias names it again.
    """
    totals: dict[int, int] = {}
    open_: set[int] = set()  # nodes whose children are being counted: one met again is a cycle
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in totals:
            continue
        children = _children(node)
        if children_done or not children:
            totals[id(node)] = min(1 + sum(totals[id(c)] for c in children), cap + 1)
            open_.discard(id(node))
            continue
        if id(node) in open_:
            raise DocumentError("an alias names a node that holds it (a cycle)")
        open_.add(id(node))
        stack.append((node, True))
        stack.extend((child, False) for child in children if id(child) not in totals)
    return totals[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number JSON allows")


def _no_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data = dict(pairs)
    if len(data) != len(pairs):
        raise ValueError("a key is repeated")
    return data
