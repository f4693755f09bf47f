"""The bundled test app: a tiny Flask app, so what every backend serves is a real Flask deployment.

WSGI callable: ``app``. Paths are the workloads of ``WORKLOADS`` (see backends/workloads.py).
"""

from __future__ import annotations

import time

from flask import Flask, Response, jsonify

from wsgicompare.backends.workloads import (
    BYTES_BODY,
    HELLO_BODY,
    IO_BODY,
    IO_WAIT_S,
    JSON_DOCUMENT,
    WORKLOADS,
    cpu_body,
)

__all__ = ["app", "WORKLOADS"]

app = Flask(__name__)


@app.get("/hello")
def hello() -> Response:
    return Response(HELLO_BODY, mimetype="text/plain")


@app.get("/json")
def json_document() -> Response:
    return jsonify(JSON_DOCUMENT)


@app.get("/cpu")
def cpu() -> Response:
    return Response(cpu_body(), mimetype="text/plain")


@app.get("/io")
def io() -> Response:
    # time.sleep looked up at call time: under gevent's monkey patching it yields to other requests
    time.sleep(IO_WAIT_S)
    return Response(IO_BODY, mimetype="text/plain")


@app.get("/bytes")
def bytes_body() -> Response:
    return Response(BYTES_BODY, mimetype="application/octet-stream")
