"""The data the bundled apps read: a database and a static file, set up in the server's private dir.

``prepare(directory)`` runs once per server start, before the app server is launched (the
lifecycle does it for every backend that serves a data workload) and tells the apps where
through the environment (``DATA_ENV``, and ``DATABASE_ENV``: sqlite or postgres). With SQLite
the database is a file there (WAL, so readers never wait for each other); with postgres it is
the tool's own cluster on a unix socket there (backends/postgres.py).

Connections: each process keeps its own pool, and a request takes one for its length
(``connection()``), so a worker holds one connection per thread that is at work: one for a
sync worker, one per thread for a threaded one, one per greenlet at work under gevent. Both
drivers block their thread while a query runs: under gevent's monkey patching SQLite's C calls
never yield to other greenlets (the whole worker waits; short here, the table is in memory),
while psycopg's pure-Python wait goes through the patched select and yields.

Imports neither Flask, Jinja2 nor psycopg at module level: the lifecycle imports it to seed.
"""

from __future__ import annotations

import os
import random
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
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

#: the environment variables that hold the data dir (the server's private dir) and the database kind
DATA_ENV = "WSGICOMPARE_DATA"
DATABASE_ENV = "WSGICOMPARE_DATABASE"
DB_NAME = "app.db"
STATIC_NAME = "static.bin"

#: this process's idle connections (made again after a fork: a child never shares its parent's)
_idle: list[Any] = []
_idle_lock = threading.Lock()
_idle_pid = 0

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


def _connect() -> Any:
    directory = data_dir()
    if os.environ.get(DATABASE_ENV) == "postgres":
        import psycopg

        from wsgicompare.backends.postgres import connect_args

        return psycopg.connect(**connect_args(directory))  # type: ignore[arg-type]
    # check_same_thread off: a pooled connection serves one request at a time, maybe on another thread
    return sqlite3.connect(f"file:{os.path.join(directory, DB_NAME)}?mode=ro", uri=True, check_same_thread=False)


@contextmanager
def connection() -> Iterator[Any]:
    """A connection of this process's pool for the length of one request (made when none is idle)."""
    global _idle_pid
    with _idle_lock:
        if _idle_pid != os.getpid():
            _idle.clear()
            _idle_pid = os.getpid()
        db = _idle.pop() if _idle else None
    if db is None:
        db = _connect()
    try:
        yield db
    finally:
        with _idle_lock:
            _idle.append(db)


def _query(db: Any, sql: str, *params: Any) -> list[tuple]:
    """Run ``sql`` (with ``?`` placeholders) on either driver: psycopg's are ``%s``."""
    if not isinstance(db, sqlite3.Connection):
        sql = sql.replace("?", "%s")
    return list(db.execute(sql, params).fetchall())


def one_row() -> dict[str, Any]:
    """/db: one World row by random id."""
    with connection() as db:
        return _row(db)


def _row(db: Any) -> dict[str, Any]:
    found = _query(db, "SELECT id, randomNumber FROM World WHERE id = ?", random.randint(1, WORLD_ROWS))[0]
    return {"id": found[0], "randomNumber": found[1]}


def many_rows(count: int = QUERIES_PER_REQUEST) -> list[dict[str, Any]]:
    """/queries: ``count`` World rows, one query each (TechEmpower's multiple queries)."""
    with connection() as db:
        return [_row(db) for _ in range(count)]


@lru_cache(maxsize=1)
def _template() -> Any:
    import jinja2

    return jinja2.Environment(autoescape=True).from_string(FORTUNES_TEMPLATE)


def fortunes_page() -> str:
    """/fortunes: every Fortune row plus one added now, sorted by message, through the template."""
    with connection() as db:
        rows = [(row[0], row[1]) for row in _query(db, "SELECT id, message FROM Fortune")]
    return _template().render(fortunes=sorted_fortunes(rows))


def static_path() -> str:
    """/static: the file prepare() wrote."""
    return os.path.join(data_dir(), STATIC_NAME)
