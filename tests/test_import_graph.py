"""No import cycles in the `vigil` package (the developers' guide: import cycles are bugs).

The graph is read from the source, not by importing: an edge for every `import vigil...` / `from vigil... import`
(and relative import) at a module's top level, including inside a top-level `if` or `try`; imports inside functions
are deferred on purpose and are left out, as are those under `if TYPE_CHECKING:` (annotations only). A cycle fails the test with the modules that form it."""
from __future__ import annotations

import ast
import importlib.util
import pkgutil
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _modules(packages: list[str]) -> dict[str, Path]:
    """Module name -> source file of every module of these packages (found as the import system finds them:
    pyproject's package-dir maps vigil.api to api/ and so on)."""
    out: dict[str, Path] = {}
    for package in packages:
        spec = importlib.util.find_spec(package)
        out[package] = Path(spec.origin)
        for info in pkgutil.iter_modules(spec.submodule_search_locations, prefix=package + "."):
            sub = importlib.util.find_spec(info.name)
            if sub is not None and sub.origin and sub.origin.endswith(".py"):
                out[info.name] = Path(sub.origin)
    return out


def _type_checking(test: ast.expr) -> bool:
    """`if TYPE_CHECKING:` (or `typing.TYPE_CHECKING`): imports for annotations only, never run."""
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _top_level_imports(tree: ast.Module):
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If):
            todo += node.orelse if _type_checking(node.test) else node.body + node.orelse
        elif isinstance(node, ast.Try):
            todo += node.body + node.orelse + node.finalbody + [n for h in node.handlers for n in h.body]


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_pkg = path.name == "__init__.py"
        deps: set[str] = set()
        for node in _top_level_imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                deps.update(a.name for a in node.names)
                continue
            base = node.module or ""
            if node.level:
                parts = name.split(".")
                parts = parts if is_pkg else parts[:-1]
                parts = parts[:len(parts) - (node.level - 1)]
                base = ".".join(parts + ([node.module] if node.module else []))
            deps.add(base)
            deps.update(f"{base}.{a.name}" for a in node.names)
        graph[name] = {d for d in deps if d in modules and d != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_vigil_package_has_no_import_cycle():
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"]
    modules = _modules(packages)
    # the package's folders (pyproject's package-dir) are all read: vigil.api, vigil.vision, ... not only vigil/
    assert {"vigil.api.db", "vigil.api.store", "vigil.vision.rules.staffing", "vigil.streams.reader",
            "vigil.models.catalogue", "vigil.config"} <= set(modules)
    graph = import_graph(modules)
    assert sum(map(len, graph.values())) > 300  # the graph was really read (537 edges today)
    assert cycles(graph) == []


def test_a_cycle_is_found(tmp_path):
    """The checker itself: two modules of a made-up package importing each other (one through a relative import,
    inside a top-level try) form one cycle; c and d, which import each other only under TYPE_CHECKING or inside a
    function, do not."""
    pkg = tmp_path / "cyc"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from cyc.b import thing\n")
    (pkg / "b.py").write_text("try:\n    from . import a\nexcept ImportError:\n    a = None\nthing = 1\n")
    (pkg / "c.py").write_text("import cyc.a\nif TYPE_CHECKING:\n    import cyc.d\n\ndef later():\n    import cyc.d\n")
    (pkg / "d.py").write_text("import cyc.c\n")  # c imports d only for annotations or later: no cycle
    modules = {"cyc": pkg / "__init__.py", **{f"cyc.{m}": pkg / f"{m}.py" for m in "abcd"}}
    assert cycles(import_graph(modules)) == [["cyc.a", "cyc.b"]]
