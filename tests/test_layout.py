"""The package's layers: no import cycle, and no module importing from a layer above its own.

Layers, lowest first (a module may import from its own layer and those below):

0. ``types``, ``errors``: the shared records and the error classes.
1. ``masks``, ``edges``, ``synthetic``: array helpers; ``documents``: bounded JSON and YAML reading.
2. ``trackers``, ``configs``: association maths and run settings; nothing from ``pipeline``.
3. ``pipeline.{sources,model,prompts,outputs,exports}``: the stages' parts.
4. ``pipeline.processor``: everything a frame needs after the network.
5. ``pipeline.runner``: threads and queues around the processor.
6. ``pipeline.build``: a config to a ready pipeline.
7. ``api``, ``cli``, ``cluster`` (Ray, imported by the CLI's ``cluster`` command only), ``report`` (a run's
   figures, from its ``--stats``); 8. the package's ``__init__``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "fastsam_track"

_LAYERS = [
    ("fastsam_track.errors", 0),
    ("fastsam_track.types", 0),
    ("fastsam_track.masks", 1),
    ("fastsam_track.documents", 1),
    ("fastsam_track.edges", 1),
    ("fastsam_track.synthetic", 1),
    ("fastsam_track.trackers", 2),
    ("fastsam_track.configs", 2),
    ("fastsam_track.pipeline", 3),  # its __init__ only: every module in it has its own entry
    ("fastsam_track.pipeline.sources", 3),
    ("fastsam_track.pipeline.model", 3),
    ("fastsam_track.pipeline.prompts", 3),
    ("fastsam_track.pipeline.outputs", 3),
    ("fastsam_track.pipeline.exports", 3),
    ("fastsam_track.pipeline.keyframes", 3),
    ("fastsam_track.pipeline.status", 3),
    ("fastsam_track.pipeline.timeline", 3),
    ("fastsam_track.pipeline.paths", 3),
    ("fastsam_track.pipeline.processor", 4),
    ("fastsam_track.pipeline.runner", 5),
    ("fastsam_track.pipeline.build", 6),
    ("fastsam_track.api", 7),
    ("fastsam_track.cli", 7),
    ("fastsam_track.cluster", 7),
    ("fastsam_track.report", 7),
    ("fastsam_track", 8),
]


def _name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> int:
    """The layer of ``module``: that of the longest entry it is or lies under."""
    for prefix, layer in sorted(_LAYERS, key=lambda entry: -len(entry[0])):
        # the package and pipeline/ name their __init__ only, so a new module must be given a layer
        exact = prefix in ("fastsam_track", "fastsam_track.pipeline")
        if module == prefix or (not exact and module.startswith(prefix + ".")):
            return layer
    raise AssertionError(f"{module} is in no layer: add its package to _LAYERS")


def _imports(path: Path) -> set[str]:
    """The package's modules ``path`` imports, anywhere in it (also inside functions and TYPE_CHECKING)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name.split(".")[0] == "fastsam_track"}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports (names that are not modules, e.g. a class, dropped)."""
    modules = {_name(path): path for path in PACKAGE.rglob("*.py")}
    return {name: {i for i in _imports(path) if i in modules and i != name} for name, path in modules.items()}


def test_every_module_has_a_layer(graph: dict[str, set[str]]) -> None:
    for module in graph:
        _layer(module)


def test_no_module_imports_from_a_higher_layer(graph: dict[str, set[str]]) -> None:
    upward = [
        f"{module} (layer {_layer(module)}) imports {imported} (layer {_layer(imported)})"
        for module, imports in sorted(graph.items())
        for imported in sorted(imports)
        if _layer(imported) > _layer(module) and not module.startswith(imported + ".")
    ]
    assert not upward, "\n".join(upward)


def test_no_import_cycle(graph: dict[str, set[str]]) -> None:
    """Depth-first search for a back edge, between modules (a package's ``__init__`` counts as its module)."""
    done: set[str] = set()
    path: list[str] = []

    def visit(module: str) -> None:
        if module in done:
            return
        if module in path:
            cycle = [*path[path.index(module) :], module]
            raise AssertionError("import cycle: " + " -> ".join(cycle))
        path.append(module)
        for imported in sorted(graph[module]):
            # a package's __init__ importing its own modules is how it re-exports them
            if not imported.startswith(module + "."):
                visit(imported)
        path.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)


def test_the_check_finds_an_upward_import(tmp_path: Path) -> None:
    """The walk sees an import inside a function, where an upward one would hide."""
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from fastsam_track.pipeline.runner import run\n")
    assert _imports(module) == {"fastsam_track.pipeline.runner", "fastsam_track.pipeline.runner.run"}
    assert _layer("fastsam_track.pipeline.runner") > _layer("fastsam_track.trackers.objects")


def test_only_the_cluster_imports_ray_and_only_the_cli_imports_the_cluster(graph: dict[str, set[str]]) -> None:
    """Ray is an extra: the package works without it, and the cluster imports it only where a fleet starts."""
    users = sorted(m for m, imports in graph.items() if any(i.startswith("fastsam_track.cluster") for i in imports))
    assert [m for m in users if not m.startswith("fastsam_track.cluster")] == ["fastsam_track.cli"]
    for path in PACKAGE.rglob("*.py"):
        top_level = [n for n in ast.parse(path.read_text()).body if isinstance(n, (ast.Import, ast.ImportFrom))]
        names = {a.name for n in top_level if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module for n in top_level if isinstance(n, ast.ImportFrom) and n.module}
        assert not {n for n in names if n.split(".")[0] == "ray"}, f"{path} imports ray at its top"
        if "cluster" not in path.parts:
            assert "import ray" not in path.read_text(), f"{path} imports ray"


def test_the_web_page_is_small_files() -> None:
    """The page's package: no file over 400 lines, its front end as files of their own."""
    web = PACKAGE / "pipeline" / "outputs" / "web"
    files = [p for p in web.rglob("*") if p.is_file() and p.suffix in (".py", ".js", ".css", ".html")]
    assert {p.name for p in files} >= {"page.html", "page.css", "page.js"}
    long = {p.name: n for p in files if (n := len(p.read_text().splitlines())) > 400}
    assert long == {}
