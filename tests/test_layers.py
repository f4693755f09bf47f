"""The product's layers, read from its source (AST, no import, no subprocess): an import
that climbs them, or a circle of imports between files, fails here (ARCHITECTURE.md).
From the top down; each may import its own layer and those below it:

    front      wsgicompare.cli, wsgicompare.__main__, wsgicompare.front (the entry points, the
               headless progress, the browser front): may start the app
    tui        the app: reaches the engine only through its faces, the session and the result types
    session    wsgicompare.session: the app's face of everything below
    settings   wsgicompare.settings: the option table, its checks, output paths, --save-config
    reporting  wsgicompare.reporting: exports, scorecard, baselines, thresholds, saved reports
    engine     wsgicompare.engine, wsgicompare.cluster and the leaf modules (results, slo,
               parsing, signals): never Textual; the loader and the backends only through
               their package faces (their __init__)
    bottom     wsgicompare.loader and wsgicompare.backends: neither each other, nor anything above,
               nor Textual

Imports inside functions count; those under ``if TYPE_CHECKING:`` do not (never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: the folders of the product and the package each installs as (pyproject's package-dir)
FOLDERS = {
    "wsgicompare": "wsgicompare",
    "loader": "wsgicompare.loader",
    "backends": "wsgicompare.backends",
    "tui": "wsgicompare.tui",
}
LOADER, BACKENDS, TUI = "wsgicompare.loader", "wsgicompare.backends", "wsgicompare.tui"
FRONT = {"wsgicompare.cli", "wsgicompare.__main__", "wsgicompare.front"}
#: the rooms of wsgicompare/ above the engine, lowest first (a module imports its own room
#: and those below it)
ROOMS = ("wsgicompare.reporting", "wsgicompare.settings", "wsgicompare.session")
#: every layer, lowest first
RANK = {
    name: i
    for i, name in enumerate(("loader", "backends", "engine", "reporting", "settings", "session", "tui", "front"))
}
#: the engine modules the app may import: the session face and the result types
TUI_FACES = {"wsgicompare.session", "wsgicompare.results"}


def module_name(path: Path) -> str:
    folder = path.relative_to(ROOT).parts[0]
    parts = [*FOLDERS[folder].split("."), *path.relative_to(ROOT / folder).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def product() -> dict[str, Path]:
    files = {module_name(p): p for folder in FOLDERS for p in (ROOT / folder).rglob("*.py")}
    assert len(files) > 80 and "wsgicompare.loader.worker" in files and "wsgicompare.tui.app" in files
    return files


MODULES = product()


def type_checking_only(tree: ast.AST) -> set[int]:
    """ids of the nodes under ``if TYPE_CHECKING:`` (imported for annotations, never run)."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(n) for n in ast.walk(node))
    return skipped


def imports(module: str) -> list[tuple[int, str]]:
    """(line, imported name) of every import ``module`` runs, relative ones resolved; a
    ``from X import y`` gives both X and X.y (y may be a module)."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    skipped = type_checking_only(tree)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parts, base] if base else parts)
            found += [(node.lineno, base)] + [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def product_module(name: str) -> str | None:
    """The product module ``name`` is, or is inside (a name imported from it); None outside."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def edges() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module in MODULES:
        targets = {product_module(name) for _, name in imports(module)}
        graph[module] = {t for t in targets if t is not None and t != module}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected parts of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            w = next(children, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                part = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    part.append(w)
                    if w == v:
                        break
                if len(part) > 1:
                    found.append(sorted(part))
    return found


def layer(module: str) -> str:
    if module == LOADER or module.startswith(LOADER + "."):
        return "loader"
    if module == BACKENDS or module.startswith(BACKENDS + "."):
        return "backends"
    if module == TUI or module.startswith(TUI + "."):
        return "tui"
    if any(module == f or module.startswith(f + ".") for f in FRONT):
        return "front"
    for room in ROOMS:
        if module == room or module.startswith(room + "."):
            return room.rpartition(".")[2]
    return "engine"


def climbs(module: str, name: str) -> str | None:
    """Why importing ``name`` from ``module`` climbs the layers (None when it may)."""
    top = name.split(".")[0]
    mine, target = layer(module), product_module(name)
    theirs = layer(target) if target is not None else None
    if top == "textual" and mine not in ("tui", "front"):
        return "Textual is the app's"
    if mine in ("loader", "backends"):
        if target is not None and theirs != mine:
            return f"the {mine} imports nothing of the rest of the product"
        return None
    if mine in ("engine", "reporting", "settings", "session"):
        if theirs is not None and theirs not in ("loader", "backends") and RANK[theirs] > RANK[mine]:
            return f"the {mine} never imports the {theirs} (a layer above it)"
        if theirs in ("loader", "backends") and target not in (LOADER, BACKENDS):
            return f"the {mine} takes the {theirs} through its face ({LOADER if theirs == 'loader' else BACKENDS})"
        return None
    if mine == "tui":
        if theirs in ("loader", "backends"):
            return "the app reaches the loader and the backends through the session only"
        if theirs == "front":
            return "the app never imports the front"
        if theirs == "engine" and target not in TUI_FACES and target != "wsgicompare":
            return f"the app talks to the engine through {' and '.join(sorted(TUI_FACES))} only"
    return None


def test_the_product_has_no_import_circle() -> None:
    found = circles(edges())
    assert found == [], "import circles (a file that imports itself back through others):\n" + "\n".join(
        " ↔ ".join(c) for c in found
    )


def test_no_import_climbs_the_layers() -> None:
    offending: dict[str, None] = {}  # once per line and module imported
    for module in sorted(MODULES):
        for line, name in imports(module):
            why = climbs(module, name)
            if why is not None:
                path = MODULES[module].relative_to(ROOT)
                offending[f"{path}:{line} imports {product_module(name) or name}: {why}"] = None
    assert list(offending) == []


# -- the checks themselves: each rule catches what it is for ------------------------------------


def test_the_circle_walk_finds_a_circle_and_only_circles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}, "f": {"d"}}
    assert circles(graph) == [["a", "b", "c"]]


@pytest.mark.parametrize(
    "module, name",
    [
        ("wsgicompare.loader.worker", "wsgicompare.results"),
        ("wsgicompare.loader.run", "wsgicompare.backends"),
        ("wsgicompare.backends.lifecycle", "wsgicompare.loader.profile.LoadProfile"),
        ("wsgicompare.backends.catalog", "textual.app"),
        ("wsgicompare.engine.conductor", "wsgicompare.tui.app"),
        ("wsgicompare.session", "wsgicompare.cli"),
        ("wsgicompare.engine.runspec", "wsgicompare.loader.worker.split_evenly"),
        ("wsgicompare.engine.scenarios", "wsgicompare.backends.spec"),
        ("wsgicompare.tui.app", "wsgicompare.engine.conductor"),
        ("wsgicompare.tui.model", "wsgicompare.loader"),
        ("wsgicompare.tui.widgets.load_form", "wsgicompare.engine.capacity.parse_slo"),
    ],
)
def test_an_import_that_climbs_is_named(module: str, name: str) -> None:
    assert climbs(module, name) is not None


@pytest.mark.parametrize(
    "module, name",
    [
        ("wsgicompare.loader.worker", "wsgicompare.loader.profile"),
        ("wsgicompare.engine.runspec", "wsgicompare.loader.split_evenly"),
        ("wsgicompare.engine.scenarios", "wsgicompare.backends.WORKERS_SELF"),
        ("wsgicompare.cli", "wsgicompare.tui.app"),
        ("wsgicompare.tui.app", "wsgicompare.session"),
        ("wsgicompare.tui.widgets.failures", "wsgicompare.results.ERROR_KINDS"),
        ("wsgicompare.tui.app", "textual.app"),
    ],
)
def test_an_import_that_keeps_to_the_layers_passes(module: str, name: str) -> None:
    assert climbs(module, name) is None


def test_imports_inside_functions_count_and_type_checking_ones_do_not() -> None:
    found = dict((name, line) for line, name in imports("wsgicompare.cli"))
    assert "wsgicompare.tui.app" in found  # imported inside main's app branch
    assert all(
        name != "wsgicompare.engine.conductor.Conductor" for _, name in imports("wsgicompare.engine.capacity.run")
    )


def test_wsgicompare_keeps_at_most_a_dozen_modules_at_its_top() -> None:
    # the rest lives in its rooms (engine, reporting, settings, front, cluster)
    top = sorted(p.name for p in (ROOT / "wsgicompare").glob("*.py"))
    assert len(top) <= 12, top
    rooms = {p.name for p in (ROOT / "wsgicompare").iterdir() if (p / "__init__.py").exists()}
    assert {"engine", "reporting", "settings", "front", "cluster"} <= rooms
