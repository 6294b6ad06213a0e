"""edgesdk's modules import each other without cycles.

The graph is built from the source with `ast`. Among the imports that run when a module is
imported (module level, including `try`/`if`/`with`/class bodies; never `if TYPE_CHECKING:`) a
cycle makes the outcome depend on which module is imported first. A cycle closed only by an
import deferred into a function runs, but it is the same layering mistake hidden (the manifest
once reached up into quantization that way), so the layers are checked with those imports too.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import edgesdk

EDGESDK_DIR = Path(edgesdk.__file__).resolve().parent


def module_names(root: Path, package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every .py under `root` (the folder of `package`)."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def import_statements(body: list[ast.stmt], deferred: bool):
    """The import statements executed when the module is imported; with `deferred`, also those
    inside functions. `if TYPE_CHECKING:` blocks never run."""
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from import_statements(node.orelse, deferred)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not deferred:
            continue
        else:
            for block in ("body", "orelse", "finalbody"):
                yield from import_statements(getattr(node, block, None) or [], deferred)
            for handler in getattr(node, "handlers", None) or []:
                yield from import_statements(handler.body, deferred)
            for case in getattr(node, "cases", None) or []:
                yield from import_statements(case.body, deferred)


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _named_modules(node: ast.Import | ast.ImportFrom, own_package: str, modules: dict[str, Path]) -> list[tuple[str, bool]]:
    """(module, spelled out) for each module an import statement names. `from a import b, X`
    names the module a.b, and `a` itself: spelled out when some name (X) is no module, since X
    must then exist in a finished `a`; otherwise `a` is only the parent package of a.b."""
    if isinstance(node, ast.Import):
        return [(alias.name, True) for alias in node.names]
    if node.level:
        parts = own_package.split(".")
        parts = parts[: len(parts) - (node.level - 1)]
        base = ".".join(parts + ([node.module] if node.module else []))
    else:
        base = node.module or ""
    submodules = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in modules]
    return [(m, True) for m in submodules] + [(base, len(submodules) < len(node.names))]


def import_graph(root: Path, package: str, deferred: bool = False) -> dict[str, set[str]]:
    """Module -> the modules of `package` it imports at import time.

    Importing `a.b.c` first initialises the packages `a` and `a.b`; those implicit edges count,
    except towards the importer's own enclosing packages: Python has already started them before
    the importer runs (a package's __init__ importing its own submodules is no cycle). A module
    the import statement spells out (`from a.b import X` where X is no module) always counts,
    because it needs `a.b` finished.
    """
    modules = module_names(root, package)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        own_package = name if is_package else name.rpartition(".")[0]
        enclosing = set(_ancestors(name)) | ({name} if is_package else set())
        edges: set[str] = set()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in import_statements(tree.body, deferred):
            for module, spelled in _named_modules(node, own_package, modules):
                edges.update(p for p in _ancestors(module) if p in modules and p not in enclosing)
                if module in modules and (spelled or module not in enclosing):
                    edges.add(module)
        edges.discard(name)
        graph[name] = edges
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (as a closed path) per strongly connected component larger than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_cycle_in(graph, set(c)) for c in components]


def _cycle_in(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A closed path through `component`, for a readable failure message."""
    start = min(component)
    path, seen = [start], {start}
    while True:
        nxt = min(w for w in graph[path[-1]] if w in component)
        if nxt in seen:
            return path[path.index(nxt) :] + [nxt]
        path.append(nxt)
        seen.add(nxt)


def _cycles_text(cycles: list[list[str]]) -> str:
    return "\n".join(" -> ".join(c) for c in cycles)


def test_edgesdk_has_no_import_cycles():
    graph = import_graph(EDGESDK_DIR, "edgesdk")
    assert {"edgesdk.manifest", "edgesdk.quantize"} <= graph["edgesdk.api"], "the graph must see the package's imports"
    cycles = find_cycles(graph)
    assert not cycles, "import cycles among edgesdk modules (module-level imports):\n" + _cycles_text(cycles)


def test_edgesdk_layers_have_no_cycles_through_deferred_imports():
    graph = import_graph(EDGESDK_DIR, "edgesdk", deferred=True)
    cycles = find_cycles(graph)
    assert not cycles, "import cycles among edgesdk modules, counting imports inside functions:\n" + _cycles_text(cycles)


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "pkg"
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def test_cycle_check_finds_a_cycle_through_a_package_init(tmp_path):
    # The shape edgesdk had: manifest -> quantize.calibration, whose package __init__ imports manifest.
    root = _package(
        tmp_path,
        {
            "__init__.py": "",
            "manifest.py": "from pkg.quantize.calibration import calibration_files\n",
            "quantize/__init__.py": "from pkg.manifest import Manifest\n",
            "quantize/calibration.py": "import numpy\n",
        },
    )
    cycles = find_cycles(import_graph(root, "pkg"))
    assert cycles == [["pkg.manifest", "pkg.quantize", "pkg.manifest"]]


def test_deferred_import_cycle_is_found_only_when_deferred_imports_count(tmp_path):
    # What edgesdk had before: the manifest imported calibration inside a function.
    root = _package(
        tmp_path,
        {
            "__init__.py": "",
            "manifest.py": "import re\ndef check():\n    from pkg.quantize.calibration import calibration_files\n",
            "quantize/__init__.py": "from pkg.manifest import Manifest\n",
            "quantize/calibration.py": "",
        },
    )
    assert find_cycles(import_graph(root, "pkg")) == []
    assert find_cycles(import_graph(root, "pkg", deferred=True)) == [["pkg.manifest", "pkg.quantize", "pkg.manifest"]]


def test_cycle_check_ignores_deferred_imports_and_a_package_importing_its_own_modules(tmp_path):
    root = _package(
        tmp_path,
        {
            "__init__.py": "",
            "a/__init__.py": "from .loading import load\nfrom pkg.a.schema import Model\n",
            "a/loading.py": "from pkg.a.schema import Model\nfrom . import checks\n",
            "a/checks.py": "from .schema import Model\ndef f():\n    from pkg.b import helper\n",
            "a/schema.py": """\
            from typing import TYPE_CHECKING
            if TYPE_CHECKING:
                from pkg.b import helper
            """,
            "b.py": "from pkg.a import load\n",
        },
    )
    graph = import_graph(root, "pkg")
    assert graph["pkg.a"] == {"pkg.a.loading", "pkg.a.schema"}
    assert graph["pkg.a.loading"] == {"pkg.a.schema", "pkg.a.checks"}
    assert graph["pkg.b"] == {"pkg.a"}
    assert find_cycles(graph) == []
    # A submodule that needs a name from its own package's __init__ closes a cycle.
    (root / "a" / "checks.py").write_text("from pkg.a import load\n")
    assert find_cycles(import_graph(root, "pkg")) == [["pkg.a", "pkg.a.loading", "pkg.a.checks", "pkg.a"]]
