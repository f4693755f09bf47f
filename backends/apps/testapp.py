"""The bundled test app: a tiny Flask app, so what every backend serves is a real Flask deployment.

WSGI callable: ``app``. Paths are the workloads of ``WORKLOADS`` (see backends/workloads.py).
"""

from __future__ import annotations

import os
import time

from flask import Flask, Response, abort, jsonify, request
from werkzeug.wsgi import FileWrapper

from wsgicompare.backends import appdata
from wsgicompare.backends.workloads import (
    BYTES_BODY,
    HELLO_BODY,
    IO_BODY,
    IO_WAIT_S,
    JSON_DOCUMENT,
    WORKLOADS,
    cpu_body,
    stream_chunks,
    stream_size,
    upload_answer,
)

__all__ = ["app", "WORKLOADS"]

app = Flask(__name__, static_folder=None)  # /static is a workload, not Flask's folder


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


@app.get("/db")
def db() -> Response:
    return jsonify(appdata.one_row())


@app.get("/queries")
def queries() -> Response:
    return jsonify(appdata.many_rows())


@app.get("/fortunes")
def fortunes() -> Response:
    return Response(appdata.fortunes_page(), mimetype="text/html")


@app.post("/upload")
def upload() -> Response:
    # the whole body, read from wsgi.input as the server hands it over (a slow sender holds the worker)
    return Response(upload_answer(request.get_data(cache=False)), mimetype="text/plain")


@app.get("/stream")
def stream() -> Response:
    try:
        size = stream_size(request.query_string.decode("latin-1"))
    except ValueError as exc:
        abort(400, str(exc))
    # an iterator of STREAM_CHUNK-sized chunks: the server writes each as the client takes it
    response = Response(stream_chunks(size), mimetype="application/octet-stream")
    response.headers["Content-Length"] = str(size)
    return response


@app.get("/static")
def static_file() -> Response:
    # the server's wsgi.file_wrapper (sendfile where it has one), else Werkzeug's iterator over the file
    file_wrapper = request.environ.get("wsgi.file_wrapper") or FileWrapper
    handle = open(appdata.static_path(), "rb")  # noqa: SIM115  (the server closes it through the wrapper)
    response = Response(file_wrapper(handle, 65536), mimetype="application/octet-stream", direct_passthrough=True)
    response.headers["Content-Length"] = str(os.fstat(handle.fileno()).st_size)
    response.headers["X-File-Wrapper"] = "server" if "wsgi.file_wrapper" in request.environ else "werkzeug"
    return response
