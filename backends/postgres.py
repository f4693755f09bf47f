"""``--database postgres``: the tool's own PostgreSQL cluster for the database workloads.

Made for one server start and removed with it: ``initdb`` into the private dir, then
``postgres`` launched like any server process (its own process group, pinned to the server
CPUs, PDEATHSIG, the reaper; so the database's CPU and memory count in the server's figures,
as on a one-box deployment), listening on a unix socket in the private dir and on no TCP
port at all. It is stopped with SIGINT (PostgreSQL's fast shutdown) when the server stops,
and its directory goes with the private dir.

As root: PostgreSQL refuses to run as root, so initdb and postgres run in a user namespace
of their own (``unshare --user``) as ``nobody`` inside it, with the file access of the user
who started them (as apache-mod-wsgi does): no capability outside the namespace.

The apps connect with psycopg (``appdata``); the tables are seeded here, with psycopg too.
"""

from __future__ import annotations

import glob
import os
import pwd
import signal
import subprocess
import time
from collections.abc import Callable
from ctypes.util import find_library
from importlib.util import find_spec

from wsgicompare.backends.launch import BackendStartError, Launch, Setup, find_executable
from wsgicompare.backends.workloads import FORTUNES, WORLD_ROWS, world_number

#: the role initdb makes (a superuser; trust authentication, on the private socket only)
PG_USER = "wsgicompare"
PG_DBNAME = "postgres"
#: names the socket file only (.s.PGSQL.5432 in the private dir): no TCP port is opened
PG_PORT = 5432
#: the most connections the apps may hold (one per worker thread or greenlet at work)
MAX_CONNECTIONS = 500
#: how to get what is missing
HINT = "apt-get install postgresql (./bootstrap.sh setup does as root) and pip install psycopg"
_INITDB_TIMEOUT_S = 60.0
_POLL_S = 0.05


def pg_executable(name: str) -> str | None:
    """initdb or postgres: on PATH, else Debian's /usr/lib/postgresql/VERSION/bin (newest first)."""
    found = find_executable(name)
    if found is not None:
        return found
    candidates = glob.glob(f"/usr/lib/postgresql/*/bin/{name}")
    candidates.sort(key=lambda p: [int(x) for x in p.split("/")[4].split(".") if x.isdigit()], reverse=True)
    return next((c for c in candidates if os.access(c, os.X_OK)), None)


def missing() -> list[str]:
    """What --database postgres lacks here (empty: it can run)."""
    lack = [f"executable {name}" for name in ("initdb", "postgres") if pg_executable(name) is None]
    lack += ["python module psycopg"] if find_spec("psycopg") is None else []
    # psycopg's pure-Python build talks to the system's libpq (postgresql brings it; alone: libpq5)
    return lack + (["library libpq"] if find_library("pq") is None else [])


def _unprivileged(setup: Setup) -> list[str]:
    """The argv prefix that runs PostgreSQL as nobody in a user namespace when we are root."""
    if os.geteuid() != 0:
        return []
    try:
        user = pwd.getpwnam("nobody")
    except KeyError:
        raise BackendStartError("no user 'nobody' to run PostgreSQL as (it refuses to run as root)") from None
    return [setup.exe("unshare"), "--user", f"--map-user={user.pw_uid}", f"--map-group={user.pw_gid}"]


def _exe(name: str) -> str:
    found = pg_executable(name)
    if found is None:
        raise BackendStartError(f"--database postgres: executable {name!r} not found ({HINT})")
    return found


def build(setup: Setup) -> Launch:
    """initdb into the private dir (a few hundred ms), then the launch of ``postgres`` on it."""
    prefix, data = _unprivileged(setup), setup.path("pgdata")
    argv = [*prefix, _exe("initdb"), "-D", data, "-U", PG_USER, "--auth=trust", "-E", "UTF8", "--locale=C"]
    argv += ["--no-sync", "--no-instructions"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=_INITDB_TIMEOUT_S, cwd=setup.private_dir)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackendStartError(f"initdb failed: {exc}") from None
    if done.returncode != 0:
        last = next((line for line in reversed((done.stderr + done.stdout).splitlines()) if line.strip()), "")
        raise BackendStartError(f"initdb exited with code {done.returncode}: {last[:300]}")
    # no TCP listener at all; the socket is ours only (PostgreSQL's default is 0777)
    options = {"listen_addresses": "", "unix_socket_permissions": "0700", "port": str(PG_PORT)}
    options["max_connections"] = str(MAX_CONNECTIONS)
    argv = [*prefix, _exe("postgres"), "-D", data, "-k", setup.private_dir]
    argv += [arg for name, value in options.items() for arg in ("-c", f"{name}={value}")]
    return Launch("postgres", argv, stop_signal=signal.SIGINT, stop_grace_s=5.0, service=True)


def connect_args(socket_dir: str) -> dict[str, object]:
    """psycopg.connect keywords for the cluster whose socket is in ``socket_dir``."""
    return {"host": socket_dir, "port": PG_PORT, "user": PG_USER, "dbname": PG_DBNAME, "autocommit": True}


def seed(socket_dir: str, deadline: float, gone: Callable[[], str | None]) -> str:
    """Wait until the cluster takes connections, then make and fill World and Fortune.
    ``gone`` says why postgres exited, if it did. Returns its version."""
    import psycopg

    while True:
        why = gone()
        if why is not None:
            raise BackendStartError(f"--database postgres: {why} before it took connections")
        try:
            db = psycopg.connect(**connect_args(socket_dir), connect_timeout=2)  # type: ignore[arg-type]
            break
        except psycopg.OperationalError as exc:
            if time.monotonic() >= deadline:
                raise BackendStartError(f"--database postgres: no connection in time ({exc})") from None
            time.sleep(_POLL_S)
    with db:
        db.execute("CREATE TABLE World (id integer PRIMARY KEY, randomNumber integer NOT NULL)")
        db.execute("CREATE TABLE Fortune (id integer PRIMARY KEY, message text NOT NULL)")
        with db.cursor().copy("COPY World (id, randomNumber) FROM STDIN") as copy:
            for i in range(1, WORLD_ROWS + 1):
                copy.write_row((i, world_number(i)))
        db.cursor().executemany("INSERT INTO Fortune VALUES (%s, %s)", FORTUNES)
        db.execute("ANALYZE")
        row = db.execute("SHOW server_version").fetchone()
    return str(row[0]).split()[0] if row else "?"
