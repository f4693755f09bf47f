"""The test app's workloads as native Tornado handlers (the `tornado` backend): no WSGI in the path."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterable

import tornado.web

from wsgicompare.backends import appdata
from wsgicompare.backends.workloads import (
    BYTES_BODY,
    HELLO_BODY,
    IO_BODY,
    IO_WAIT_S,
    JSON_DOCUMENT,
    cpu_body,
    stream_chunks,
    stream_size,
    upload_answer,
)


class _Handler(tornado.web.RequestHandler):
    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "text/plain")


class Hello(_Handler):
    def get(self) -> None:
        self.write(HELLO_BODY)


class Json(_Handler):
    def get(self) -> None:
        self.write(JSON_DOCUMENT)  # a dict: Tornado encodes it and sets application/json


class Cpu(_Handler):
    def get(self) -> None:
        self.write(cpu_body())


class Io(_Handler):
    async def get(self) -> None:
        await asyncio.sleep(IO_WAIT_S)
        self.write(IO_BODY)


class Bytes(_Handler):
    def get(self) -> None:
        self.set_header("Content-Type", "application/octet-stream")
        self.write(BYTES_BODY)


class Db(_Handler):
    # the queries run on the IOLoop's thread: SQLite's driver blocks it for their length
    def get(self) -> None:
        self.write(appdata.one_row())


class Queries(_Handler):
    def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.write(json.dumps(appdata.many_rows()))  # a list: write() takes only dicts as JSON


class Fortunes(_Handler):
    def get(self) -> None:
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.write(appdata.fortunes_page())


class Upload(_Handler):
    def post(self) -> None:
        self.write(upload_answer(self.request.body))  # Tornado has read the whole body before the call


class _Chunks(_Handler):
    async def send(self, chunks: Iterable[bytes], size: int) -> None:
        """Each chunk written and flushed: the next waits until the socket took this one."""
        self.set_header("Content-Type", "application/octet-stream")
        self.set_header("Content-Length", str(size))
        for chunk in chunks:
            self.write(chunk)
            await self.flush()


class Stream(_Chunks):
    async def get(self) -> None:
        try:
            size = stream_size(self.request.query)
        except ValueError as exc:
            raise tornado.web.HTTPError(400, str(exc)) from None
        await self.send(stream_chunks(size), size)


class Static(_Chunks):
    async def get(self) -> None:
        # no wsgi.file_wrapper outside WSGI: the file read and written in 64 KiB pieces
        with open(appdata.static_path(), "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            await self.send(iter(lambda: handle.read(65536), b""), size)


def make_app() -> tornado.web.Application:
    handlers = [("/hello", Hello), ("/json", Json), ("/cpu", Cpu), ("/io", Io), ("/bytes", Bytes), ("/db", Db)]
    handlers += [("/queries", Queries), ("/fortunes", Fortunes), ("/upload", Upload), ("/stream", Stream)]
    handlers += [("/static", Static)]
    # log_function: no access log (it would measure the log, not the server)
    return tornado.web.Application(handlers, log_function=lambda handler: None)
