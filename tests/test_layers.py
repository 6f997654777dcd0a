"""The architecture's rules, read from the imports (see DESIGN.md, "Parts").

Every import counts, those under ``if TYPE_CHECKING:`` and inside functions
too: a layer that needs another's type depends on it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("daemon", "bridge", "schemas")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for package in PACKAGES for path in (ROOT / package).rglob("*.py")}


MODULES = _modules()


def _imports(module: str) -> Iterator[str]:
    """Every module (ours or a library's top-level name) that ``module`` imports."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    is_package = MODULES[module].name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            for alias in node.names:
                # "from package import submodule" depends on the submodule, not on the package.
                yield f"{target}.{alias.name}" if f"{target}.{alias.name}" in MODULES else target


def _ours(name: str) -> str | None:
    """The module of ours that ``name`` refers to (a submodule or its package), or None."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


GRAPH = {module: {target for name in _imports(module) if (target := _ours(name)) and target != module}
         for module in MODULES}


def _libraries(module: str) -> set[str]:
    return {name.split(".")[0] for name in _imports(module) if _ours(name) is None}


def _in(module: str, *prefixes: str) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)


def test_no_module_imports_itself_in_a_circle() -> None:
    visiting: list[str] = []
    done: set[str] = set()
    circles: list[list[str]] = []

    def visit(module: str) -> None:
        if module in done:
            return
        if module in visiting:
            circles.append([*visiting[visiting.index(module):], module])
            return
        visiting.append(module)
        for target in sorted(GRAPH[module]):
            visit(target)
        visiting.pop()
        done.add(module)

    for module in sorted(GRAPH):
        visit(module)
    assert circles == []


@pytest.mark.parametrize(
    ("library", "allowed"),
    [
        ("lmdb", ("daemon.storage", "daemon.datadir")),
        ("zmq", ("daemon.server", "daemon.service", "daemon.gateway", "daemon.cluster", "bridge",
                 "schemas.make_vectors")),
    ],
)
def test_stack_libraries_are_imported_by_their_layer_only(library: str, allowed: tuple[str, ...]) -> None:
    offenders = sorted(module for module in MODULES if library in _libraries(module) and not _in(module, *allowed))
    assert offenders == []


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        ("daemon.runtime", ("daemon.server", "daemon.service", "daemon.datadir", "daemon.world", "daemon.cli")),
        ("daemon.storage", ("daemon.runtime", "daemon.server", "daemon.service", "daemon.datadir", "daemon.world")),
        ("daemon.server", ("daemon.service", "daemon.datadir", "daemon.world", "daemon.storage")),
        ("bridge", ("daemon",)),
        ("daemon.model", ("daemon.storage", "daemon.runtime", "daemon.server", "daemon.service")),
        ("daemon.cluster", ("daemon.server", "daemon.service", "daemon.datadir", "daemon.world", "daemon.cli")),
    ],
)
def test_layers_depend_one_way(layer: str, forbidden: tuple[str, ...]) -> None:
    offenders = sorted(
        f"{module} -> {target}"
        for module, targets in GRAPH.items() if _in(module, layer)
        for target in targets if _in(target, *forbidden)
    )
    assert offenders == []


def test_the_cluster_is_reached_only_from_the_server_and_the_service() -> None:
    """``daemon.cluster`` sits between the server and storage/runtime: the runtime never sees it."""
    offenders = sorted(
        f"{module} -> {target}"
        for module, targets in GRAPH.items() if not _in(module, "daemon.cluster", "daemon.server", "daemon.service")
        for target in targets if _in(target, "daemon.cluster")
    )
    assert offenders == []
    assert any(_in(target, "daemon.cluster") for target in GRAPH["daemon.service.app"])


def test_schemas_import_nothing_of_ours_but_schemas() -> None:
    offenders = sorted(
        f"{module} -> {target}"
        for module, targets in GRAPH.items() if _in(module, "schemas")
        for target in targets if not _in(target, "schemas")
    )
    assert offenders == []


def test_the_world_reaches_the_daemon_only_through_the_class_authors_api() -> None:
    offenders = sorted(
        f"{module} -> {target}"
        for module, targets in GRAPH.items() if _in(module, "daemon.world")
        for target in targets if target != "daemon" and not _in(target, "daemon.world", "schemas")
    )
    assert offenders == []


def test_the_class_authors_api_is_what_the_package_exports() -> None:
    import daemon

    assert {"ObjectClass", "Turn", "op", "AlarmInfo", "ObjectRef", "ObjectStorage", "Args", "BadRequest"} <= set(
        daemon.__all__
    )
    assert all(hasattr(daemon, name) for name in daemon.__all__)


def test_the_rules_see_the_layers() -> None:
    """Guards the guard: the walk finds the layers, and a known import edge."""
    assert {"daemon.storage.environment", "daemon.runtime.dispatch", "daemon.server.server"} <= set(MODULES)
    assert "daemon.storage.transaction" in GRAPH["daemon.storage.environment"]
    assert "lmdb" in _libraries("daemon.storage.transaction")
