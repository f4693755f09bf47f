"""The workloads of the bundled test app: what each path answers, and how to recognise a right answer.

Kept free of Flask so the lifecycle (readiness) and the tests can check bodies without importing a
web framework; the Flask app, the native Tornado app and the PHP script all answer these exactly.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

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
    #: short id used on the command line and in results: hello json cpu io bytes
    name: str
    #: request path on the server, e.g. "/hello"
    path: str
    #: True when a response body is the right answer to this workload
    check: Callable[[bytes], bool]
    #: one line for --list-backends and the reports
    description: str
    #: content type the app sends
    content_type: str = "text/plain"


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
    )
}

#: bodies of the workloads that are the same on every request (nginx-static serves them as files)
STATIC_BODIES: dict[str, bytes] = {
    "hello": HELLO_BODY,
    "json": json.dumps(JSON_DOCUMENT, separators=(",", ":")).encode(),
    "bytes": BYTES_BODY,
}
