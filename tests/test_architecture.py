"""The layers hold: every module under chatwoot_health/ is parsed (``ast``, nothing imported) and
its imports are checked against the table below, which the README's module map mirrors.

Three kinds of import are told apart: *module-level* ones run when the module is imported (they
make the import graph, its circles and the check path's start-up); *lazy* ones inside a function
run only when it is called; *typing* ones under ``if TYPE_CHECKING:`` never run. A layer rule
counts all three: a lower layer that names a higher one, even lazily or for typing, depends on it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import chatwoot_health

PACKAGE = Path(chatwoot_health.__file__).resolve().parent
ROOT = "chatwoot_health"
P = ROOT + "."


def ours(names: str) -> tuple[str, ...]:
    """``"sources probes"`` → the package's ``chatwoot_health.sources``, ``…probes``."""
    return tuple(P + name for name in names.split())


@dataclass(frozen=True)
class Rule:
    """``importers`` (a module or package; a name matches itself and everything below it) never
    import anything under ``forbidden``, except the modules under ``exempt``."""

    importers: str
    forbidden: tuple[str, ...]
    why: str
    exempt: tuple[str, ...] = ()


#: The layers, top to bottom: cli → commands (check, report, serve) → rules and metrics (alerts,
#: metrics) → models, state, timeutil, thresholds; the edges (probes, artifacts, sources, notify,
#: render, fileio, redact) are used by the commands. The README's module map mirrors this table.
RULES = [
    Rule(ROOT, ("click",), "the core never speaks Click: cli.py turns flags into settings",
         exempt=ours("cli")),
    Rule(P + "metrics",
         ours("sources probes render report cli notify serve check config artifacts.store fileio"),
         "metrics are pure functions of artifacts, rows and settings: no I/O, no commands"),
    Rule(P + "render", ours("sources probes cli check notify serve"),
         "renderers see models and the report's render context, never the I/O that fed them"),
]  # fmt: skip

#: ``models/`` is types only (everything may depend on it, it on nothing above): what it may import
#: from the package at all, leaves without I/O. ``redact`` is one: the schema redacts a probe's
#: error text as it validates it.
MODELS_MAY_IMPORT = ours("models state timeutil thresholds redact")

#: The ``check`` command's modules, and what must stay out of them (start-up, and a cron job
#: that works without the report side's dependencies).
CHECK_PATH = ours("cli check render.check")
CHECK_PATH_NEVER = ("supabase", "postgrest", "starlette", "uvicorn", "apprise", "psycopg")


@dataclass(frozen=True)
class Imports:
    module_level: frozenset[str]
    lazy: frozenset[str]
    typing: frozenset[str]

    @property
    def every(self) -> frozenset[str]:
        return self.module_level | self.lazy | self.typing


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _targets(node: ast.Import | ast.ImportFrom, importer: str) -> Iterator[str]:
    """The modules an import statement loads (``from a import b`` loads ``a.b`` too when that is
    a module of the package)."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:
        package = importer.split(".")
        if modules()[importer].name != "__init__.py":
            package.pop()
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, base] if base else package)
    yield base
    for alias in node.names:
        if f"{base}.{alias.name}" in modules():
            yield f"{base}.{alias.name}"


@cache
def imports_of(module: str) -> Imports:
    tree = ast.parse(modules()[module].read_text(encoding="utf-8"))
    found: dict[str, set[str]] = {"module_level": set(), "lazy": set(), "typing": set()}

    def visit(nodes: Iterable[ast.stmt], kind: str) -> None:
        for node in nodes:
            if isinstance(node, ast.Import | ast.ImportFrom):
                found[kind].update(_targets(node, module))
            elif isinstance(node, ast.If) and _is_type_checking(node.test):
                visit(node.body, "typing")
                visit(node.orelse, kind)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                visit(node.body, "lazy" if kind == "module_level" else kind)
            else:
                for field in ("body", "orelse", "finalbody", "handlers", "cases"):
                    children = getattr(node, field, None)
                    if isinstance(children, list):
                        visit([c for c in children if isinstance(c, ast.stmt)], kind)
                        for child in children:
                            if isinstance(child, ast.ExceptHandler | ast.match_case):
                                visit(child.body, kind)

    visit(tree.body, "module_level")
    return Imports(*(frozenset(found[kind]) for kind in ("module_level", "lazy", "typing")))


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _loads(name: str) -> list[str]:
    """Importing ``a.b.c`` runs ``a``, ``a.b`` and ``a.b.c``: the package's modules among them."""
    parts = name.split(".")
    return [m for i in range(1, len(parts) + 1) if (m := ".".join(parts[:i])) in modules()]


def loaded_at_import() -> dict[str, set[str]]:
    """Module → the package's modules importing it runs: its module-level imports and the
    packages whose ``__init__`` runs first."""
    return {
        module: {
            loaded
            for target in imports_of(module).module_level
            for loaded in _loads(target)
            if loaded != module
        }
        for module in modules()
    }


def depends_on() -> dict[str, set[str]]:
    """Module → the package's modules it names in any import (module-level, lazy or typing)."""
    return {
        module: {name for name in imports_of(module).every if name in modules()} - {module}
        for module in modules()
    }


# --------------------------------------------------------------------------- the tests


def test_the_walk_sees_the_package() -> None:
    assert {P + "cli", P + "check", P + "models.artifact", P + "artifacts.store"} <= set(modules())
    assert "click" in imports_of(P + "cli").module_level
    assert P + "check" in imports_of(P + "cli").lazy


def test_no_module_imports_what_its_layer_forbids() -> None:
    broken = [
        f"{module} imports {name}: {rule.why}"
        for rule in RULES
        for module in modules()
        if _under(module, rule.importers) and not any(_under(module, e) for e in rule.exempt)
        for name in sorted(imports_of(module).every)
        if any(_under(name, forbidden) for forbidden in rule.forbidden)
    ]
    assert broken == []


def test_models_import_only_leaves_of_the_package() -> None:
    broken = [
        f"{module} imports {name}"
        for module in modules()
        if _under(module, P + "models")
        for name in sorted(imports_of(module).every)
        if name.startswith(P) and not any(_under(name, leaf) for leaf in MODELS_MAY_IMPORT)
    ]
    assert broken == []


def test_the_check_path_never_loads_the_report_sides_dependencies() -> None:
    edges = loaded_at_import()
    seen: set[str] = set()
    todo = [loaded for start in CHECK_PATH for loaded in _loads(start)]
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(edges[module])
    broken = [
        f"{module} imports {name}"
        for module in sorted(seen)
        for name in sorted(imports_of(module).module_level)
        if any(_under(name, never) for never in CHECK_PATH_NEVER)
    ]
    assert broken == []
    assert not any(_under(module, P + "sources") for module in seen), sorted(seen)


def test_the_check_path_never_loads_them_at_run_time_either() -> None:
    """The static walk above, confirmed by a real import (``tests/test_check_cli.py`` also runs
    ``check`` itself in a subprocess and looks for supabase)."""
    code = (
        "import sys, chatwoot_health.cli, chatwoot_health.check, chatwoot_health.render.check\n"
        f"never = {CHECK_PATH_NEVER!r}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in never))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"


def strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative: the components of more than one module (import circles)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    circles.append(sorted(component))
    return circles


def test_strongly_connected_finds_a_circle() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert strongly_connected(edges) == [["a", "b", "c"]]


def test_no_import_circles_between_modules() -> None:
    """Every import counts, lazy and typing ones too: a registry that imports its renderers
    lazily while they import it is still a circle (render/report.py ↔ render/html.py was one).
    A package's ``__init__`` that imports its own modules is none unless one of them imports a
    name from it (an edge to the package itself)."""
    assert strongly_connected(depends_on()) == []
