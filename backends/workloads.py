"""The workloads of the bundled test app: what each path answers, and how to recognise a right answer.

Kept free of Flask so the lifecycle (readiness) and the tests can check bodies without importing a
web framework; the Flask app, the native Tornado app and the PHP script all answer these exactly.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import lru_cache, partial

#: body of /hello: the seed blog post's page
HELLO_BODY = b"Hello World!"
#: document served by /json (plain types only, so PHP's json_encode gives the same value)
JSON_DOCUMENT = {
    "message": "Hello World!",
    "workload": "json",
    "numbers": list(range(1, 11)),
    "nested": {"ok": True, "none": None, "name": "wsgicompare"},
}
#: loop count of /cpu: about 3-5 ms of pure-Python work on a 2020s core
CPU_ITERATIONS = 50_000
#: seconds /io waits (time.sleep, which yields to other greenlets under gevent's monkey patching)
IO_WAIT_S = 0.010
#: body of /io
IO_BODY = b"slept 10 ms"
#: body of /bytes: a 32-byte pattern repeated to 256 KiB
BYTES_BODY = b"abcdefghijklmnopqrstuvwxyz012345" * 8192

# -- the database shapes (TechEmpower's single query, multiple queries, fortunes) -----------------
#: rows of the World table (ids 1..WORLD_ROWS)
WORLD_ROWS = 10_000
#: rows /queries reads per request
QUERIES_PER_REQUEST = 20
#: the Fortune table (TechEmpower's rows: quotes, markup and non-ASCII to test the escaping)
FORTUNES: tuple[tuple[int, str], ...] = (
    (1, "fortune: No such file or directory"),
    (2, "A computer scientist is someone who fixes things that aren't broken."),
    (3, "After enough decimal places, nobody gives a damn."),
    (4, "A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1"),
    (5, "A computer program does what you tell it to do, not what you want it to do."),
    (6, "Emacs is a nice operating system, but I prefer UNIX. — Tom Christaensen"),
    (7, "Any program that runs right is obsolete."),
    (8, "A list is only as strong as its weakest link. — Donald Knuth"),
    (9, "Feature: A bug with seniority."),
    (10, "Computers make very fast, very accurate mistakes."),
    (11, '<script>alert("This should not be displayed in a browser alert box.");</script>'),
    (12, "フレームワークのベンチマーク"),
)
#: the row the app adds to the table's rows at request time (id 0), before sorting
ADDED_FORTUNE = (0, "Additional fortune added at request time.")


def world_number(row_id: int) -> int:
    """randomNumber of World row ``row_id``: fixed per id (1..WORLD_ROWS), so an answer can be checked."""
    return (row_id * 2_654_435_761 >> 7) % WORLD_ROWS + 1


def _row_ok(row: object) -> bool:
    return (
        isinstance(row, dict)
        and set(row) == {"id", "randomNumber"}
        and isinstance(row["id"], int)
        and 1 <= row["id"] <= WORLD_ROWS
        and row["randomNumber"] == world_number(row["id"])
    )


def _db_ok(body: bytes) -> bool:
    try:
        return _row_ok(json.loads(body))
    except ValueError:
        return False


def _queries_ok(body: bytes) -> bool:
    try:
        rows = json.loads(body)
    except ValueError:
        return False
    return isinstance(rows, list) and len(rows) == QUERIES_PER_REQUEST and all(_row_ok(r) for r in rows)


_FORTUNE_ROW = re.compile(rb"<tr><td>(\d+)</td><td>(.*?)</td></tr>", re.S)


def sorted_fortunes(rows: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """The table's rows plus ADDED_FORTUNE, sorted by message (as TechEmpower's fortunes)."""
    return sorted([*rows, ADDED_FORTUNE], key=lambda row: row[1])


def _fortunes_ok(body: bytes) -> bool:
    """Every row of the table plus the added one, sorted, each message HTML-escaped."""
    if b"<script>" in body:  # the markup of fortune 11 must arrive escaped
        return False
    found = [(int(i), html.unescape(m.decode("utf-8", "replace"))) for i, m in _FORTUNE_ROW.findall(body)]
    return found == sorted_fortunes(list(FORTUNES))


# -- the transfer shapes: an upload, a large streamed response, a file ---------------------------
#: the body POSTed to /upload: 100 KiB
UPLOAD_BODY = bytes(range(256)) * 400


def upload_answer(body: bytes) -> bytes:
    """What /upload answers to a body it read whole: its length and its SHA-256."""
    return b"%d %s" % (len(body), hashlib.sha256(body).hexdigest().encode())


#: /stream's default size (--stream-size) and the chunk the app yields it in
DEFAULT_STREAM_SIZE = 16 * 1024 * 1024
STREAM_CHUNK = b"0123456789abcdef" * 4096  # 64 KiB
#: most bytes --stream-size may ask for
MAX_STREAM_SIZE = 256 * 1024**2


def stream_chunks(size: int) -> Iterator[bytes]:
    """/stream's body: STREAM_CHUNK repeated to ``size`` bytes, one chunk at a time."""
    whole, rest = divmod(size, len(STREAM_CHUNK))
    for _ in range(whole):
        yield STREAM_CHUNK
    if rest:
        yield STREAM_CHUNK[:rest]


def _stream_ok(body: bytes, size: int = DEFAULT_STREAM_SIZE) -> bool:
    """``size`` bytes of STREAM_CHUNK repeated (compared a chunk at a time: no second copy of the body)."""
    if len(body) != size:
        return False
    view, step = memoryview(body), len(STREAM_CHUNK)
    return all(view[at : at + step] == STREAM_CHUNK[: min(step, size - at)] for at in range(0, size, step))


def stream_size(query: str) -> int:
    """The size a /stream request asks for (``size=N`` in its query); the default without one.
    ValueError when it is not a whole number from 0 to MAX_STREAM_SIZE."""
    for part in query.split("&"):
        name, _, value = part.partition("=")
        if name == "size":
            if not value.isdigit() or int(value) > MAX_STREAM_SIZE:
                raise ValueError(f"size must be 0..{MAX_STREAM_SIZE}")
            return int(value)
    return DEFAULT_STREAM_SIZE


#: the file /static answers through wsgi.file_wrapper (1 MiB; written into the server's data dir)
STATIC_BODY = b"static file of wsgicompare 0123\n" * 32768


def cpu_result(iterations: int = CPU_ITERATIONS) -> int:
    """The /cpu work: a deterministic modular recurrence (PHP's testapp.php computes the same)."""
    acc = 0
    for i in range(iterations):
        acc = (acc * 31 + i * i) % 1_000_003
    return acc


def cpu_body() -> bytes:
    return b"cpu %d" % cpu_result()


@lru_cache(maxsize=1)
def _expected_cpu_body() -> bytes:
    return cpu_body()


def _json_ok(body: bytes) -> bool:
    try:
        return json.loads(body) == JSON_DOCUMENT
    except ValueError:
        return False


@dataclass(frozen=True)
class Workload:
    #: short id used on the command line and in results: hello json cpu io bytes db queries fortunes …
    name: str
    #: request path on the server, e.g. "/hello"
    path: str
    #: True when a response body is the right answer to this workload
    check: Callable[[bytes], bool]
    #: one line for --list-backends and the reports
    description: str
    #: content type the app sends
    content_type: str = "text/plain"
    #: the request's method and body (upload: a POST of UPLOAD_BODY)
    method: str = "GET"
    body: bytes = b""
    #: reads the server's data dir (the database or the static file)
    data: bool = False
    #: answered by the nginx in front of the app, not by the app (only backends behind nginx)
    front: bool = False


def stream_workload(size: int) -> Workload:
    """``stream`` of ``size`` bytes (--stream-size): its path asks the app for that size."""
    return replace(WORKLOADS["stream"], path=f"/stream?size={size}", check=partial(_stream_ok, size=size))


def answer_problem(base_url: str, workload: Workload, timeout_s: float = 10.0) -> str | None:
    """Send ``workload``'s request once and check the answer: None when right, else one line
    saying what came back. The conductor calls it before a load, so a wrong answer is never measured."""
    import http.client  # here: it imports ssl, which a gevent launcher must not see before patching
    from urllib.parse import urlsplit

    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=timeout_s)
    try:
        conn.request(workload.method, workload.path, body=workload.body or None)
        response = conn.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException) as exc:
        return f"no answer to {workload.method} {workload.path}: {type(exc).__name__}: {exc}"
    finally:
        conn.close()
    if response.status == 200 and workload.check(body):
        return None
    shown = body[:120].decode("utf-8", "replace").replace("\n", " ")
    return f"wrong answer to {workload.method} {workload.path}: HTTP {response.status}, {len(body)} bytes: {shown!r}"


def workload_at(name: str, path: str | None) -> Workload:
    """The workload ``name`` as requested at ``path`` (a spec's path: ``stream``'s carries its size)."""
    workload = WORKLOADS[name]
    if name == "stream" and path and "?" in path:
        return stream_workload(stream_size(path.partition("?")[2]))
    return workload


WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload("hello", "/hello", HELLO_BODY.__eq__, "the 12-byte 'Hello World!' of the seed blog post"),
        Workload("json", "/json", _json_ok, "a small JSON document", "application/json"),
        Workload(
            "cpu",
            "/cpu",
            lambda body: body.strip() == _expected_cpu_body(),
            f"about 4 ms of pure-Python work ({CPU_ITERATIONS} loop steps)",
        ),
        Workload("io", "/io", IO_BODY.__eq__, f"a {IO_WAIT_S * 1000:.0f} ms wait that yields under gevent"),
        Workload(
            "bytes",
            "/bytes",
            BYTES_BODY.__eq__,
            f"a {len(BYTES_BODY) // 1024} KiB body",
            "application/octet-stream",
        ),
        Workload(
            "db",
            "/db",
            _db_ok,
            f"one row by random id from a {WORLD_ROWS:,}-row table (TechEmpower's single query)",
            "application/json",
            data=True,
        ),
        Workload(
            "queries",
            "/queries",
            _queries_ok,
            f"{QUERIES_PER_REQUEST} rows by random id, a query each (TechEmpower's multiple queries)",
            "application/json",
            data=True,
        ),
        Workload(
            "fortunes",
            "/fortunes",
            _fortunes_ok,
            "a table's rows plus one, sorted, through a Jinja2 template with escaping (TechEmpower's fortunes)",
            "text/html; charset=utf-8",
            data=True,
        ),
        Workload(
            "upload",
            "/upload",
            upload_answer(UPLOAD_BODY).__eq__,
            f"a POST of {len(UPLOAD_BODY) // 1024} KiB, read whole, answered with its length and SHA-256",
            method="POST",
            body=UPLOAD_BODY,
        ),
        Workload(
            "stream",
            "/stream",
            _stream_ok,
            f"a large response ({DEFAULT_STREAM_SIZE // 2**20} MiB unless --stream-size) as an iterator of chunks",
            "application/octet-stream",
        ),
        Workload(
            "static",
            "/static",
            STATIC_BODY.__eq__,
            f"a {len(STATIC_BODY) // 2**20} MiB file answered through wsgi.file_wrapper",
            "application/octet-stream",
            data=True,
        ),
        Workload(
            "static-nginx",
            "/static-nginx",
            STATIC_BODY.__eq__,
            "static's file answered by the nginx in front, not the app (what the proxy saves)",
            "application/octet-stream",
            data=True,
            front=True,
        ),
    )
}

#: the workloads that read the database
DB_WORKLOADS = ("db", "queries", "fortunes")
#: the workloads every WSGI backend serves through the bundled Flask app (all but the front's)
ALL_WORKLOADS = tuple(name for name, w in WORKLOADS.items() if not w.front)
#: what the nginx in front serves itself (backends behind nginx add them)
FRONT_WORKLOADS = tuple(name for name, w in WORKLOADS.items() if w.front)

#: bodies of the workloads that are the same on every request (nginx-static serves them as files)
STATIC_BODIES: dict[str, bytes] = {
    "hello": HELLO_BODY,
    "json": json.dumps(JSON_DOCUMENT, separators=(",", ":")).encode(),
    "bytes": BYTES_BODY,
    "static": STATIC_BODY,
}


def check_answer(base_url: str, name: str, path: str | None = None) -> str | None:
    """The answer of the bundled workload ``name`` at ``path`` checked (answer_problem); None
    for a name that is no bundled workload (the user's path: nothing to check against)."""
    return answer_problem(base_url, workload_at(name, path)) if name in WORKLOADS else None
