"""Launchers for the backends that have no command line of their own that fits.

    python -m wsgicompare.backends.apps.serve KIND --host H --port P --app module:callable \
        [--workers N] [--threads T] [--threaded] [--processes N]

KIND: werkzeug (Flask's dev server), gevent (gevent.pywsgi), tornado (native handlers),
tornado-wsgi (WSGIContainer on a thread pool). Every launcher turns request logging off and keeps
errors on stderr, which the lifecycle sends to a log file in the private dir.
Also holds `twisted_errors_only`, the log observer given to twistd.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# this process may be gevent's: nothing above may import ssl or start a thread before patch_all()
from wsgicompare.backends.procutil import set_pdeathsig

# Each launcher imports its own server inside its function: a launcher process runs one
# server, whose framework may not even be installed for the others, and gevent's must be
# patched in before socket is imported.

#: listen backlog of the launchers' sockets (the kernel caps it at net.core.somaxconn)
LISTEN_BACKLOG = 1024


def load_app(target: str):
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def fork_workers(workers: int) -> None:
    """Pre-fork: the caller and workers-1 children all serve the socket bound before the call."""
    for _ in range(workers - 1):
        if os.fork() == 0:
            set_pdeathsig()  # the launcher is their parent: it dies, they die
            return


def serve_werkzeug(args: argparse.Namespace) -> None:
    from werkzeug.serving import WSGIRequestHandler, run_simple

    class QuietHandler(WSGIRequestHandler):
        def log_request(self, code="-", size="-") -> None:
            pass  # no access log

    run_simple(
        args.host,
        args.port,
        load_app(args.app),
        threaded=args.threaded,
        processes=args.processes,
        request_handler=QuietHandler,
        use_reloader=False,
        use_debugger=False,
    )


def serve_gevent(args: argparse.Namespace) -> None:
    from gevent import monkey

    monkey.patch_all()
    import socket

    from gevent.pywsgi import WSGIServer

    app = load_app(args.app)
    listener = socket.create_server((args.host, args.port), backlog=LISTEN_BACKLOG)
    fork_workers(args.workers)
    WSGIServer(listener, app, log=None).serve_forever()  # log=None: no access log


def serve_tornado(args: argparse.Namespace, wsgi: bool) -> None:
    import asyncio

    import tornado.httpserver
    import tornado.netutil
    import tornado.process

    sockets = tornado.netutil.bind_sockets(args.port, address=args.host, backlog=LISTEN_BACKLOG)
    if args.workers > 1:
        tornado.process.fork_processes(args.workers)  # the parent supervises, the children serve
        set_pdeathsig()

    def make_app():
        if not wsgi:
            from wsgicompare.backends.apps.tornado_app import make_app as make_native_app

            return make_native_app()
        from concurrent.futures import ThreadPoolExecutor

        from tornado.wsgi import WSGIContainer

        class QuietContainer(WSGIContainer):
            def _log(self, status_code, request) -> None:
                pass  # no access log

        return QuietContainer(load_app(args.app), executor=ThreadPoolExecutor(args.threads))

    async def run() -> None:
        server = tornado.httpserver.HTTPServer(make_app())
        server.add_sockets(sockets)
        await asyncio.Event().wait()

    asyncio.run(run())


def twisted_errors_only():
    """twistd --logger factory: errors and warnings to stderr, no per-request access-log lines.

    `twistd web` has no switch to turn its access log off; its lines arrive as legacy log events
    with `printed` set, and this observer drops every event below warning level.
    """
    from twisted.logger import LogLevel, formatEventAsClassicLogText

    def observe(event: dict) -> None:
        if event.get("isError") or event.get("log_level", LogLevel.info) >= LogLevel.warn:
            text = formatEventAsClassicLogText(event)
            if text:
                sys.stderr.write(text)
                sys.stderr.flush()

    return observe


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="wsgicompare.backends.apps.serve")
    parser.add_argument("kind", choices=("werkzeug", "gevent", "tornado", "tornado-wsgi"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--app", default="wsgicompare.backends.apps.testapp:app")
    parser.add_argument("--workers", type=int, default=1, help="serving processes")
    parser.add_argument("--threads", type=int, default=1, help="threads per process (tornado-wsgi)")
    parser.add_argument("--threaded", action="store_true", help="werkzeug: a thread per request")
    parser.add_argument("--processes", type=int, default=1, help="werkzeug: fork per request, at most N")
    args = parser.parse_args(argv)
    if args.kind == "werkzeug":
        serve_werkzeug(args)
    elif args.kind == "gevent":
        serve_gevent(args)
    else:
        serve_tornado(args, wsgi=args.kind == "tornado-wsgi")


if __name__ == "__main__":
    main()
