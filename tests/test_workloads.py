"""The workloads of real apps on real servers: db, queries and fortunes (SQLite in the
server's private dir by default, the tool's own PostgreSQL with --database postgres),
upload, stream and static. Every answer is checked with the workload's own check, the
one the conductor applies before a load, and the checks are shown to refuse wrong
answers. A waitress server is shared by the module; the conductor's runs start their
own (gunicorn, uWSGI). Loads: c=4, 0.4 s, after a 0.1 s warm-up."""

from __future__ import annotations

import http.client
import json
import os
import sqlite3
import threading
from dataclasses import replace

import psutil
import pytest
from backend_support import assert_loopback_only_and_private, installed_by_setup, require_backend
from loader_servers import BODY, serve

from wsgicompare.backends import WORKLOADS, ServerConfig, appdata, catalog_rows, check_answer, get_backend, postgres
from wsgicompare.backends.workloads import (
    DB_WORKLOADS,
    FORTUNES,
    STATIC_BODY,
    STREAM_CHUNK,
    UPLOAD_BODY,
    sorted_fortunes,
    stream_workload,
    upload_answer,
    world_number,
)
from wsgicompare.engine.conductor import Conductor
from wsgicompare.engine.runspec import default_load, default_spec

#: the workloads of real apps (the first five are older)
NEW = ("db", "queries", "fortunes", "upload", "stream", "static")


def fetch(url: str, method: str, path: str, body: bytes = b"") -> tuple[int, bytes, http.client.HTTPResponse]:
    host, port = url.removeprefix("http://").rstrip("/").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request(method, path, body=body or None)
        response = conn.getresponse()
        return response.status, response.read(), response
    finally:
        conn.close()


@pytest.fixture(scope="module")
def waitress():
    backend = get_backend("waitress")
    require_backend(backend)
    with backend.start(ServerConfig(workers=1, threads=4)) as server:
        yield server


@pytest.mark.parametrize("name", NEW)
def test_each_new_workload_is_answered_right(waitress, name) -> None:
    workload = WORKLOADS[name]
    status, body, response = fetch(waitress.url, workload.method, workload.path, workload.body)
    assert status == 200 and workload.check(body), (status, body[:200])
    assert response.getheader("Content-Type", "").startswith(workload.content_type.split(";")[0])
    assert check_answer(waitress.url, name) is None  # the conductor's check before a load


def test_the_answers_come_from_the_servers_own_data(waitress) -> None:
    # SQLite file and static file in the private dir (WAL), which the apps only read
    with sqlite3.connect(os.path.join(waitress.private_dir, appdata.DB_NAME)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT count(*) FROM World").fetchone()[0] == 10_000
        assert db.execute("SELECT id, message FROM Fortune ORDER BY id").fetchall() == list(FORTUNES)
    rows = json.loads(fetch(waitress.url, "GET", "/queries")[1])
    assert len({row["id"] for row in rows}) > 1  # random ids, each row as the table holds it
    assert all(row["randomNumber"] == world_number(row["id"]) for row in rows)
    page = fetch(waitress.url, "GET", "/fortunes")[1].decode()
    assert "Additional fortune added at request time." in page and "&lt;script&gt;" in page
    status, body, response = fetch(waitress.url, "GET", "/static")
    assert body == STATIC_BODY and response.getheader("X-File-Wrapper") == "server"  # waitress's file_wrapper
    with sqlite3.connect(os.path.join(waitress.private_dir, appdata.DB_NAME)) as db:
        assert db.execute("SELECT count(*) FROM Fortune").fetchone()[0] == len(FORTUNES)  # added at request time only


def test_stream_takes_its_size_from_the_path_and_upload_digests_any_body(waitress) -> None:
    sized = stream_workload(100_000)
    status, body, _ = fetch(waitress.url, "GET", sized.path)
    assert status == 200 and len(body) == 100_000 and sized.check(body)
    assert not WORKLOADS["stream"].check(body)  # the default size's check wants 16 MiB
    assert check_answer(waitress.url, "stream", sized.path) is None
    assert fetch(waitress.url, "GET", "/stream?size=lots")[0] == 400
    other = b"x" * 12_345
    assert (
        fetch(waitress.url, "POST", "/upload", other)[1]
        == upload_answer(other)
        == b"12345 " + (b"%s" % __import__("hashlib").sha256(other).hexdigest().encode())
    )


def test_the_checks_refuse_wrong_answers() -> None:
    row = {"id": 7, "randomNumber": world_number(7)}
    assert WORKLOADS["db"].check(json.dumps(row).encode())
    assert not WORKLOADS["db"].check(json.dumps({**row, "randomNumber": row["randomNumber"] % 10_000 + 1}).encode())
    assert not WORKLOADS["queries"].check(json.dumps([row] * 19).encode())
    rows = sorted_fortunes(list(FORTUNES))
    good = "".join(f"<tr><td>{i}</td><td>{m.replace('<', '&lt;').replace('>', '&gt;')}</td></tr>" for i, m in rows)
    assert WORKLOADS["fortunes"].check(good.encode())
    unescaped = "".join(f"<tr><td>{i}</td><td>{m}</td></tr>" for i, m in rows)
    assert not WORKLOADS["fortunes"].check(unescaped.encode())
    assert not WORKLOADS["fortunes"].check(good.replace("Additional fortune", "Another fortune").encode())
    assert WORKLOADS["upload"].check(upload_answer(UPLOAD_BODY))
    assert not WORKLOADS["upload"].check(upload_answer(UPLOAD_BODY[:-1]))
    whole = STREAM_CHUNK * 256
    assert WORKLOADS["stream"].check(whole) and not WORKLOADS["stream"].check(whole[:-1] + b"!")
    assert not WORKLOADS["static"].check(STATIC_BODY[:-1])


def test_a_server_that_answers_wrong_is_told_in_one_line() -> None:
    with serve("ok") as server:
        why = check_answer(server.url, "db")
    assert why is not None and why.startswith(f"wrong answer to GET /db: HTTP 200, {len(BODY)} bytes: 'hello from")


def test_a_wrong_answer_fails_the_run_before_any_load(monkeypatch) -> None:
    require_backend(get_backend("gunicorn"))
    seed = appdata.prepare

    def off_by_one(directory: str) -> None:  # a real server, serving rows that are not the table's
        seed(directory)
        with sqlite3.connect(os.path.join(directory, appdata.DB_NAME)) as db:
            db.execute("UPDATE World SET randomNumber = randomNumber + 1")

    monkeypatch.setattr(appdata, "prepare", off_by_one)
    result = Conductor(settle_max_s=1.0).run_one(default_spec("gunicorn", "db", load=_load()))
    assert result.status == "failed" and result.reason.startswith("wrong answer to GET /db: HTTP 200"), result.reason
    assert result.requests == 0 and result.command  # the server ran; no load was measured


def _load():
    return default_load(concurrency=4, duration_s=0.4, warmup_s=0.1)


@pytest.mark.parametrize(
    ("backend_id", "loaded"),
    # gunicorn: the four under load (every new one answered); uWSGI (its HTTP router
    # in front): the transfers
    [("gunicorn", ("db", "fortunes", "upload", "stream")), ("uwsgi", ("upload", "stream"))],
)
def test_the_new_workloads_carry_a_short_load_with_2xx_only(backend_id, loaded) -> None:
    """One server, each workload's answer checked, then loaded as a run's load is (the
    conductor's own unit); a run that starts its server is the wrong-answer test's and postgres's."""
    backend = get_backend(backend_id)
    require_backend(backend)
    conductor = Conductor()
    with backend.start(ServerConfig(workers=2, threads=2)) as server:
        for name in NEW:
            assert check_answer(server.url, name) is None
        for name in loaded:
            spec = default_spec(backend_id, name, load=_load())
            # stream at 1 MiB here (the 16 MiB default is answered above): the sized path as a run sends it
            path = stream_workload(2**20).path if name == "stream" else WORKLOADS[name].path
            assert check_answer(server.url, name, path) is None
            result = conductor.load(spec, server, spec.load, server.url + path, None, threading.Event())
            assert result.status == "ok", (name, result.reason)
            assert result.requests > 0 and result.responses["2xx"] == result.requests, (name, result.responses)
            assert not any(result.errors.values()), (name, result.errors)
    upload = default_spec(backend_id, "upload").load
    assert upload.method == "POST" and upload.body == UPLOAD_BODY  # what the loader sent


def test_a_backend_that_cannot_serve_a_workload_says_why() -> None:
    for backend_id, workload, why in (
        ("php-fpm-nginx", "fortunes", "the PHP reference has no database workloads"),
        ("nginx-static", "upload", "it serves only fixed files"),
    ):
        require_backend(get_backend(backend_id))
        result = Conductor().run_one(default_spec(backend_id, workload, load=_load()))
        assert result.status == "unavailable" and why in result.reason and not result.command
    rows = {row["id"]: row for row in catalog_rows()}  # --list-backends --json says it too
    assert "no database workloads" in rows["php-fpm-nginx"]["unserved"]["db"]
    assert set(rows["gunicorn"]["unserved"]) == {"static-nginx"}  # every workload of the app, no nginx in front


# -- --database postgres ----------------------------------------------------------------------


def require_postgres() -> None:
    lack = postgres.missing()
    if not lack:
        return
    if os.environ.get("CI") and os.geteuid() == 0 and any(installed_by_setup(m, as_root=True) for m in lack):
        pytest.fail(f"--database postgres: missing {', '.join(lack)}; ./bootstrap.sh setup must install it as root")
    pytest.skip(f"--database postgres unavailable: missing {', '.join(lack)} ({postgres.HINT})")


def test_postgres_serves_the_database_workloads_and_goes_with_the_server() -> None:
    require_backend(get_backend("gunicorn"))
    require_postgres()
    with get_backend("gunicorn").start(ServerConfig(workers=2, threads=1, database="postgres")) as server:
        assert server.versions.get("postgresql")
        for name in DB_WORKLOADS:
            assert check_answer(server.url, name) is None
        databases = [p for p in server.processes() if p.name() == "postgres" or "postgres" in p.name()]
        assert databases
        for proc in databases:  # a unix socket in the private dir, no TCP listener
            assert not [c for c in proc.net_connections("inet") if c.status == psutil.CONN_LISTEN]
        assert os.path.exists(os.path.join(server.private_dir, f".s.PGSQL.{postgres.PG_PORT}"))
        assert_loopback_only_and_private("gunicorn", server)  # its socket too: in the private dir, ours only
        # worker-kill and reload act on the app server, never on its database
        assert server.app_launch.name == "gunicorn"
        assert {p.pid for p in server.workers()}.isdisjoint(p.pid for p in databases)
        private_dir = server.private_dir
    assert not os.path.exists(private_dir)
    assert not [p for p in databases if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def test_a_run_on_postgres_carries_a_short_load_and_says_so() -> None:
    require_backend(get_backend("gunicorn"))
    require_postgres()
    spec = default_spec("gunicorn", "queries", load=_load())
    spec = replace(spec, server=replace(spec.server, database="postgres"))
    result = Conductor(settle_max_s=1.0).run_one(spec)
    assert result.status == "ok", result.reason
    assert result.requests > 0 and result.responses["2xx"] == result.requests
    assert result.versions.get("postgresql")
