"""The data the bundled apps read: a SQLite database and a static file in the server's private dir.

``prepare(directory)`` runs once per server start, before any process is launched (the lifecycle
does it for every backend that serves a data workload) and tells the apps where through the
environment (``DATA_ENV``). The apps open one connection per worker process and thread
(``connection()``: thread-local, which gevent's monkey patching makes greenlet-local) and never
write to the database, so WAL lets every reader go at once.

Imports neither Flask nor Jinja2 at module level: the lifecycle imports it to seed.
"""

from __future__ import annotations

import os
import random
import sqlite3
import threading
from functools import lru_cache
from typing import Any

from wsgicompare.backends.workloads import (
    FORTUNES,
    QUERIES_PER_REQUEST,
    STATIC_BODY,
    WORLD_ROWS,
    sorted_fortunes,
    world_number,
)

#: the environment variable that holds the data dir (the server's private dir)
DATA_ENV = "WSGICOMPARE_DATA"
DB_NAME = "app.db"
STATIC_NAME = "static.bin"

_local = threading.local()

#: the fortunes page (TechEmpower's markup); autoescape: a message's markup arrives escaped
FORTUNES_TEMPLATE = """<!DOCTYPE html>
<html><head><title>Fortunes</title></head><body><table>
<tr><th>id</th><th>message</th></tr>
{% for id, message in fortunes %}<tr><td>{{ id }}</td><td>{{ message }}</td></tr>
{% endfor %}</table></body></html>
"""


def prepare(directory: str) -> None:
    """Write the database (World: WORLD_ROWS rows, Fortune: FORTUNES; WAL) and the static file."""
    path = os.path.join(directory, DB_NAME)
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE World (id INTEGER PRIMARY KEY, randomNumber INTEGER NOT NULL)")
        db.execute("CREATE TABLE Fortune (id INTEGER PRIMARY KEY, message TEXT NOT NULL)")
        db.executemany("INSERT INTO World VALUES (?, ?)", ((i, world_number(i)) for i in range(1, WORLD_ROWS + 1)))
        db.executemany("INSERT INTO Fortune VALUES (?, ?)", FORTUNES)
        db.commit()
    finally:
        db.close()
    fd = os.open(os.path.join(directory, STATIC_NAME), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(STATIC_BODY)


def data_dir() -> str:
    """The dir prepare() filled; RuntimeError (an HTTP 500, which the answer check reports) without one."""
    directory = os.environ.get(DATA_ENV)
    if not directory:
        raise RuntimeError(f"{DATA_ENV} is not set: this server was started without its data dir")
    return directory


def connection() -> sqlite3.Connection:
    """This thread's connection (made on its first query: after any fork, in the worker)."""
    db = getattr(_local, "db", None)
    if db is None:
        db = sqlite3.connect(f"file:{os.path.join(data_dir(), DB_NAME)}?mode=ro", uri=True)
        _local.db = db
    return db


def one_row() -> dict[str, Any]:
    """/db: one World row by random id."""
    row_id = random.randint(1, WORLD_ROWS)
    found = connection().execute("SELECT id, randomNumber FROM World WHERE id = ?", (row_id,)).fetchone()
    return {"id": found[0], "randomNumber": found[1]}


def many_rows(count: int = QUERIES_PER_REQUEST) -> list[dict[str, Any]]:
    """/queries: ``count`` World rows, one query each (TechEmpower's multiple queries)."""
    return [one_row() for _ in range(count)]


@lru_cache(maxsize=1)
def _template() -> Any:
    import jinja2

    return jinja2.Environment(autoescape=True).from_string(FORTUNES_TEMPLATE)


def fortunes_page() -> str:
    """/fortunes: every Fortune row plus one added now, sorted by message, through the template."""
    rows = connection().execute("SELECT id, message FROM Fortune").fetchall()
    return _template().render(fortunes=sorted_fortunes(rows))


def static_path() -> str:
    """/static: the file prepare() wrote."""
    return os.path.join(data_dir(), STATIC_NAME)
