"""The engine parts import neither the screen nor each other (see ARCHITECTURE.md)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def modules_after_import(module: str) -> set[str]:
    code = f"import json, sys, {module}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stdout.splitlines()[-1]))


@pytest.mark.parametrize(
    "module, forbidden",
    [
        ("wsgicompare.backends", ("textual", "wsgicompare.loader", "wsgicompare.tui", "wsgicompare.conductor")),
        ("wsgicompare.loader", ("textual", "wsgicompare.backends", "wsgicompare.tui", "wsgicompare.conductor")),
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
