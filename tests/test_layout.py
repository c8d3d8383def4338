"""The package's shape, as docs/design.md draws it: stages, one library each, no cycles."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import ROOT

PACKAGE = ROOT / "aggregator"
MAX_LINES = 420  # "about 400": a module past it is usually two modules
# Each external library and the one place allowed to import it.
OWNERS = {
    "httpx": "aggregator.fetching",
    "httpcore": "aggregator.fetching",
    "feedparser": "aggregator.parsing.parse",
    "nh3": "aggregator.parsing.sanitize",
    "sqlite_utils": "aggregator.storage",  # at run time only by storage.migrations
    "ruamel": "aggregator.registry",
    "apscheduler": "aggregator.service",
    "pyarrow": "aggregator.releasing.export",
    "uvloop": "aggregator.update.loop",
    "numpy": "aggregator.analysis.hashing",
    "click": "aggregator.cli",
    "rich": "aggregator.cli",
    "datasette": None,  # Voice runs Datasette as a program; only plugins/ import it
}


def modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, path


def imports(path: Path, module: str) -> set[str]:
    """Every module imported anywhere in the file, function-level imports included."""
    found: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return found


GRAPH = {name: imports(path, name) for name, path in modules()}


def internal_edges(name: str) -> set[str]:
    """The package's own modules that `name` imports (a package counts as its __init__)."""
    return {target for target in GRAPH[name] if target in GRAPH and target != name}


def test_no_import_cycles() -> None:
    """Lazy imports count too: a cycle hidden in a function is still a cycle."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(name: str) -> None:
        state[name] = "open"
        path.append(name)
        for target in sorted(internal_edges(name)):
            if name.startswith(target + "."):
                continue  # a module's own package __init__ re-exporting it is not a cycle
            if state.get(target) == "open":
                cycle = path[path.index(target) :] + [target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        path.pop()
        state[name] = "done"

    for name in sorted(GRAPH):
        if name not in state:
            visit(name)


@pytest.mark.parametrize("library", sorted(OWNERS))
def test_each_library_is_imported_by_one_stage(library: str) -> None:
    owner = OWNERS[library]
    users = {
        name
        for name, found in GRAPH.items()
        if any(m == library or m.startswith(library + ".") for m in found)
    }
    outside = {name for name in users if owner is None or not name.startswith(owner)}
    assert not outside, f"{library} imported outside {owner}: {sorted(outside)}"


@pytest.mark.parametrize(("name", "path"), list(modules()), ids=[n for n, _ in modules()])
def test_modules_stay_small(name: str, path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines"


def test_every_sub_package_says_what_it_owns() -> None:
    for init in PACKAGE.glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc and len(doc.splitlines()) >= 3, f"{init.parent.name}: no docstring"
        for module in init.parent.glob("*.py"):
            if module.name != "__init__.py":
                assert module.stem in doc, f"{init.parent.name}/__init__ omits {module.stem}"


def test_plugins_read_only_the_database_contract() -> None:
    """Plugins and the packages they share (plugins/reader/) never import aggregator."""
    for plugin in (ROOT / "plugins").rglob("*.py"):
        found = imports(plugin, f"plugins.{plugin.stem}")
        assert not any(m.split(".")[0] == "aggregator" for m in found), plugin.name


def test_the_package_ships_no_test_infrastructure() -> None:
    for name, found in GRAPH.items():
        assert not any(m.split(".")[0] == "tests" for m in found), name
