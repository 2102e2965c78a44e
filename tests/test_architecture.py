"""The package's shape, checked from its source: no import cycle (imports under TYPE_CHECKING and inside functions
included), the MCP SDK's server side only in server/, the environment only in the CLI, httpx2's exceptions only in
the one module that translates them, and no module over 300 lines."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import httpx2

import pika_mcp

PACKAGE = Path(pika_mcp.__file__).parent
MAX_LINES = 300
ERRORS_MODULE = "pika_mcp.wire"  # where httpx2's exceptions become ours
ENVIRONMENT_MODULE = "pika_mcp.cli"


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(name: str, path: Path) -> Iterator[tuple[str, ast.AST]]:
    """Every module name imported anywhere in the file (top level, functions, TYPE_CHECKING blocks); `from a import b`
    yields `a.b` as well as `a`, so a submodule imported that way is seen."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            yield base, node
            for alias in node.names:
                yield f"{base}.{alias.name}", node


def graph() -> dict[str, set[str]]:
    known = modules()
    edges: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        for target, _ in imports(name, path):
            if (
                target in known and target != name and not name.startswith(target + ".")
            ):  # a package's own parent runs first anyway
                edges[name].add(target)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_no_module_of_the_package_takes_part_in_an_import_cycle() -> None:
    assert cycles(graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_only_the_server_package_imports_the_sdks_server_side() -> None:
    offenders = set()
    for name, path in modules().items():
        for target, _ in imports(name, path):
            if (target == "mcp.server" or target.startswith("mcp.server.")) and not name.startswith("pika_mcp.server"):
                offenders.add(name)
    assert offenders == set()


def test_only_the_cli_reads_the_environment() -> None:
    offenders = set()
    for name, path in modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            touched = (
                isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "putenv", "environb")
                and isinstance(node.value, ast.Name) and node.value.id == "os"
            ) or (isinstance(node, ast.ImportFrom) and node.module == "os" and {a.name for a in node.names} & {"environ", "getenv"})  # fmt: skip
            if touched:
                offenders.add(name)
    assert offenders <= {ENVIRONMENT_MODULE}


def test_httpx2s_exceptions_are_named_in_one_module() -> None:
    exceptions = {
        n for n in dir(httpx2) if isinstance(getattr(httpx2, n), type) and issubclass(getattr(httpx2, n), BaseException)
    }
    assert {"HTTPError", "TransportError", "ConnectError"} <= exceptions
    naming = set()
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in exceptions
                and isinstance(node.value, ast.Name)
                and node.value.id == "httpx2"
            ):
                naming.add(name)
            if isinstance(node, ast.ImportFrom) and node.module == "httpx2" and {a.name for a in node.names} & exceptions:
                naming.add(name)
    assert naming == {ERRORS_MODULE}


def test_no_module_is_over_300_lines() -> None:
    long = {name: n for name, path in modules().items() if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def test_the_readmes_layout_names_every_module() -> None:
    readme = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    layout = readme[readme.index("## Layout") :]
    short = {name: name.rpartition(".")[2] for name in modules() if name != "pika_mcp"}
    unnamed = {name for name, last in short.items() if f"`{last}`" not in layout and f"`{last}/`" not in layout}
    assert unnamed == set()
