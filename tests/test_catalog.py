"""The catalog's shape, read without starting anything: one module per backend family under
backends/catalog/, every row written with keyword arguments, each row in CATALOG once, in
the order --list-backends prints (seed rows first)."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

from wsgicompare.backends import CATALOG, Backend, catalog_rows
from wsgicompare.backends import catalog as catalog_package

FOLDER = Path(__file__).resolve().parent.parent / "backends" / "catalog"

#: the original comparison's backends (the seed table), in --list-backends' order
SEED = [
    "flask-dev",
    "flask-threaded",
    "flask-processes",
    "gunicorn",
    "gevent",
    "twisted",
    "uwsgi",
    "uwsgi-nginx",
    "uwsgi-nginx-unix",
    "tornado",
    "gunicorn-nginx",
    "php-fpm-nginx",
]
#: --list-backends' order: the seed table first, then the others
ORDER = SEED + [
    "gunicorn-gthread",
    "gunicorn-gevent",
    "waitress",
    "granian",
    "tornado-wsgi",
    "nginx-static",
    "cheroot",
    "apache-mod-wsgi",
]


def positional_rows(source: str) -> list[int]:
    """Lines of the ``Backend(...)`` calls in ``source`` that pass any argument by position."""
    tree = ast.parse(source)
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("Backend") and node.args
    ]


def test_every_catalog_row_is_written_with_keyword_arguments() -> None:
    files = sorted(FOLDER.glob("*.py"))
    assert len(files) >= 7
    found = {f"{path.name}:{line}" for path in files for line in positional_rows(path.read_text(encoding="utf-8"))}
    assert found == set()


def test_a_positional_row_is_caught() -> None:
    assert positional_rows('X = Backend("a", "b", family="c")\nY = spec.Backend(id="a")\n') == [1]


def test_each_family_row_is_in_the_catalog_once() -> None:
    declared: dict[str, str] = {}
    for info in pkgutil.iter_modules(catalog_package.__path__):
        module = importlib.import_module(f"{catalog_package.__name__}.{info.name}")
        for value in vars(module).values():
            if isinstance(value, Backend):
                assert declared.setdefault(value.id, info.name) == info.name, f"{value.id} declared twice"
                assert CATALOG[value.id] is value
    assert sorted(declared) == sorted(CATALOG)


def test_the_catalog_keeps_its_order() -> None:
    assert list(CATALOG) == ORDER
    assert [row["id"] for row in catalog_rows()] == ORDER
