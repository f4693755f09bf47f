"""The test app's workloads as native Tornado handlers (the `tornado` backend): no WSGI in the path."""

from __future__ import annotations

import asyncio

import tornado.web

from wsgicompare.backends.workloads import BYTES_BODY, HELLO_BODY, IO_BODY, IO_WAIT_S, JSON_DOCUMENT, cpu_body


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


def make_app() -> tornado.web.Application:
    handlers = [("/hello", Hello), ("/json", Json), ("/cpu", Cpu), ("/io", Io), ("/bytes", Bytes)]
    # log_function: no access log (it would measure the log, not the server)
    return tornado.web.Application(handlers, log_function=lambda handler: None)
