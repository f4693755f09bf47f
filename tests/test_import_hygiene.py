"""The engine parts import neither the screen nor each other, and the app talks to the
session, never to the backends or the loader (see ARCHITECTURE.md)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest


def modules_after_import(module: str) -> set[str]:
    code = f"import json, sys, {module}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stdout.splitlines()[-1]))


@pytest.mark.parametrize(
    "module, forbidden",
    [
        ("wsgicompare.backends", ("textual", "wsgicompare.loader", "wsgicompare.tui", "wsgicompare.engine.conductor")),
        ("wsgicompare.loader", ("textual", "wsgicompare.backends", "wsgicompare.tui", "wsgicompare.engine.conductor")),
    ],
)
def test_engine_parts_stay_free_of_the_screen_and_each_other(module: str, forbidden: tuple[str, ...]) -> None:
    loaded = modules_after_import(module)
    assert module in loaded
    assert [name for name in forbidden if name in loaded] == []


def test_backends_import_is_light() -> None:
    # the catalog checks servers with find_spec: listing backends imports none of them
    loaded = modules_after_import("wsgicompare.backends")
    assert [name for name in ("flask", "gevent", "tornado", "twisted", "gunicorn", "ssl") if name in loaded] == []


#: the app's folder; it installs as wsgicompare.tui
TUI_DIR = Path(__file__).resolve().parent.parent / "tui"


def absolute_imports(path: Path, package: str) -> list[tuple[int, str]]:
    """(line, module) for every import in ``path``, relative ones resolved against ``package``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            # `from wsgicompare import backends` imports a module too
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
            found.append((node.lineno, base))
    return found


def test_the_app_talks_to_the_session_never_to_backends_or_loader() -> None:
    files = sorted(TUI_DIR.rglob("*.py"))
    assert len(files) > 10 and TUI_DIR / "screens" / "main.py" in files
    offending = []
    for path in files:
        # the package a relative import starts from: the module's own, or the package an __init__ is
        package = ".".join(["wsgicompare", "tui", *path.relative_to(TUI_DIR).parent.parts])
        for line, module in absolute_imports(path, package):
            if module.startswith(("wsgicompare.backends", "wsgicompare.loader", "backends", "loader")):
                offending.append(f"tui/{path.relative_to(TUI_DIR)}:{line} imports {module}")
    assert offending == []


def test_the_session_imports_no_textual() -> None:
    loaded = modules_after_import("wsgicompare.session")
    assert [name for name in ("textual", "wsgicompare.tui") if name in loaded] == []
