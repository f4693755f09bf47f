"""``--serve``: the app in a web browser, through textual-serve.

Each browser tab gets its own app: a ``wsgicompare`` subprocess (the same command line
without the serve options) driven over a websocket, in a process group of its own.
The tab closing ends its app; SIGTERM or Ctrl-C ends every app. An app is asked to
quit as ``q`` would (it stops its load and every backend it started), then SIGTERM,
then SIGKILL for its whole group; the backends' reaper kills their groups if an app
dies before stopping them. ``--serve-grace`` sets how long it has to quit (QUIT_S by
default), and so how long a stuck app lives on after its tab closed.

Whoever reaches the page drives the app and starts servers, so the page and everything
it asks for carry a random token made at start (printed with the URL, as Jupyter does):
a request without it gets 403 and starts nothing. At most ``--serve-max-tabs`` tabs run
an app at once (DEFAULT_MAX_TABS); one more gets 503 and starts nothing.

Every asset is served from here: textual-serve's own static files (xterm.js in
textual.js, its CSS and fonts) under a page of ours that loads its font locally
instead of from Google's CDN."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import os
import secrets
import shlex
import signal
import socket
import sys
from pathlib import Path
from typing import Any

from wsgicompare.parsing import OptionError
from wsgicompare.settings.serve_options import DEFAULT_MAX_TABS, SERVE_ROWS

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000

#: seconds an app has to quit as `q` does (stop its load, stop its backends); --serve-grace
QUIT_S = 15.0
#: then seconds it has after SIGTERM before its process group is SIGKILLed (at most the grace)
TERM_S = 10.0

#: our page (textual-serve's with the font served locally)
PAGE_DIR = Path(__file__).parent / "serve_page"

#: options that belong to the serving process, not to each tab's app: (flag, takes a value)
_SERVE_FLAGS = {"--serve": False, "--allow-remote": False, **{row.flags[0]: True for row in SERVE_ROWS}}

#: the body of the 403 a request without the page's token gets
NO_TOKEN = "wsgicompare: this page needs its token: open the URL wsgicompare printed at start (…/?token=…)\n"


def too_many_tabs(max_tabs: int) -> str:
    """The body of the 503 a tab past --serve-max-tabs gets."""
    return (
        f"wsgicompare: {max_tabs} tab{'s are' if max_tabs > 1 else ' is'} open already, the most at once "
        "(--serve-max-tabs): close one and reload\n"
    )


def token_ok(given: str | None, token: str) -> bool:
    """Whether a request's token is the page's (compared in constant time)."""
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


def app_argv(argv: list[str]) -> list[str]:
    """The command line of one tab's app: this one without the serve options."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        flag = arg.split("=", 1)[0]
        if flag in _SERVE_FLAGS:
            skip = _SERVE_FLAGS[flag] and "=" not in arg
            continue
        out.append(arg)
    return [sys.executable, "-m", "wsgicompare", *out]


def tab_environment(environment: dict[str, str]) -> dict[str, str]:
    """A tab's app environment (textual-serve's, made from ours): without NO_COLOR. The
    app draws in the browser's terminal (xterm.js in truecolor), not in the one wsgicompare
    was started from; a NO_COLOR meant for that one turned the whole page grey."""
    return {k: v for k, v in environment.items() if k != "NO_COLOR"}


def check_port_free(host: str, port: int) -> None:
    """OptionError (one line) when the address cannot be bound: refused before serving."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise OptionError(f"--serve-host: cannot resolve {host} ({getattr(exc, 'strerror', None) or exc})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp binds
        try:
            sock.bind(address)
        except OSError as exc:
            raise OptionError(f"--serve: cannot listen on {host}:{port} ({exc.strerror or exc})") from None


def serve(options: Any, argv: list[str]) -> int:
    """Serve the app until SIGINT/SIGTERM; every tab's app is ended before returning."""
    host = options.serve_host or DEFAULT_HOST
    port = options.serve_port or DEFAULT_PORT
    quit_s = options.serve_grace if options.serve_grace is not None else QUIT_S
    max_tabs = options.serve_max_tabs or DEFAULT_MAX_TABS
    check_port_free(host, port)
    server = _make_server(app_argv(argv), host, port, quit_s, max_tabs, secrets.token_urlsafe(32))
    server.serve()
    return 0


def _make_server(argv: list[str], host: str, port: int, quit_s: float, max_tabs: int, token: str) -> Any:
    # textual-serve and aiohttp are imported only here (~250 ms measured at start): nothing else pays for them
    import aiohttp_jinja2
    from aiohttp import web
    from aiohttp.web_runner import GracefulExit
    from textual_serve.app_service import AppService
    from textual_serve.server import Server, log, to_int

    #: after SIGTERM: TERM_S, or the grace when that is shorter
    term_s = min(TERM_S, quit_s)

    class AppProcess(AppService):
        """One tab's app: started in its own process group, ended within quit_s + term_s."""

        async def _open_app_process(self, width: int = 80, height: int = 24) -> asyncio.subprocess.Process:
            self._process = process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=tab_environment(self._build_environment(width=width, height=height)),
                # its own group: the app, its loader processes and whatever else it forks
                # end together, and a Ctrl-C in the serving terminal is not sent to them
                start_new_session=True,
            )
            assert process.stdin is not None
            self._stdin = process.stdin
            return process

        async def stop(self) -> None:
            process = self._process
            if process is not None:
                if process.returncode is None:
                    await self.send_meta({"type": "quit"})  # the app's own quit: its backends stop
                    if not await _exited(process, quit_s):
                        _signal(process.pid, signal.SIGTERM)
                        if not await _exited(process, term_s):
                            _signal(process.pid, signal.SIGKILL)
                            await _exited(process, TERM_S)
                # what the app left in its group (the reaper, its own session, has the backends)
                with contextlib.suppress(OSError):
                    os.killpg(process.pid, signal.SIGKILL)
            # textual-serve's AppService keeps its reader task untyped in _task
            task = getattr(self, "_task", None)
            if task is not None:
                setattr(self, "_task", None)  # noqa: B010
                with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(task, TERM_S)

    class AppServer(Server):
        def __init__(self) -> None:
            super().__init__(shlex.join(argv), host=host, port=port, title="wsgicompare", templates_path=PAGE_DIR)
            #: every tab's app still running
            self.apps: set[AppProcess] = set()
            #: websockets holding a tab's place (from the check against max_tabs until their app ended)
            self.tabs = 0

        async def _make_app(self) -> web.Application:
            app = await super()._make_app()
            app.middlewares.append(check_token)
            # the page's websocket URL carries the token in its path: textual.js appends "?width=…"
            app.router.add_get("/ws/{token}", self.handle_websocket)
            aiohttp_jinja2.get_env(app).globals["token"] = token  # our page adds it to every URL it asks for
            return app

        async def on_startup(self, app: web.Application) -> None:
            where = f"[{host}]" if ":" in host else host
            print(
                f"wsgicompare: serving the app on http://{where}:{port}/?token={token} "
                "(open this URL; Ctrl+C ends every tab's app)",
                file=sys.stderr,
            )

        async def on_shutdown(self, app: web.Application) -> None:
            await asyncio.gather(*(service.stop() for service in list(self.apps)), return_exceptions=True)

        async def handle_index(self, request: web.Request) -> Any:
            # the page's URLs from the Host the browser used, so a remote browser
            # (--allow-remote) reaches this server rather than its own 0.0.0.0
            self.public_url = f"{request.scheme}://{request.host}"
            if self.tabs >= max_tabs:  # the common case of one tab too many: the message in the page
                return web.Response(status=503, text=too_many_tabs(max_tabs))
            return await super().handle_index(request)

        async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
            """textual-serve's, with AppProcess for its AppService, and at most max_tabs at once."""
            if self.tabs >= max_tabs:
                return web.Response(status=503, text=too_many_tabs(max_tabs))  # type: ignore[return-value]
            self.tabs += 1  # before any await: two tabs at once cannot both take the last place
            websocket = web.WebSocketResponse(heartbeat=15)
            width = to_int(request.query.get("width", "80"), 80)
            height = to_int(request.query.get("height", "24"), 24)
            service: AppProcess | None = None
            try:
                await websocket.prepare(request)
                service = AppProcess(
                    self.command,
                    write_bytes=websocket.send_bytes,
                    write_str=websocket.send_str,
                    close=websocket.close,  # type: ignore[arg-type]
                    download_manager=self.download_manager,
                    debug=self.debug,
                )
                self.apps.add(service)
                await service.start(width, height)
                await self._process_messages(websocket, service)
            except asyncio.CancelledError:
                await websocket.close()
            except Exception as error:
                log.exception(error)
            finally:
                if service is not None:
                    await service.stop()  # the tab closed: its app ends
                    self.apps.discard(service)
                self.tabs -= 1
            return websocket

        def serve(self, debug: bool = False) -> None:
            self.initialize_logging()
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)

            def request_exit() -> None:
                raise GracefulExit()

            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                loop.add_signal_handler(sig, request_exit)
            web.run_app(
                self._make_app(),
                host=host,
                port=port,
                handle_signals=False,
                loop=loop,
                print=lambda *args: None,
                # websockets stay open until their apps end (on_shutdown); then a short wait
                shutdown_timeout=5.0,
            )

    @web.middleware
    async def check_token(request: web.Request, handler: Any) -> web.StreamResponse:
        """Every request (the page, its assets, the websocket) carries the token, or gets 403."""
        if not token_ok(request.match_info.get("token") or request.query.get("token"), token):
            return web.Response(status=403, text=NO_TOKEN)
        response: web.StreamResponse = await handler(request)
        return response

    return AppServer()


async def _exited(process: asyncio.subprocess.Process, timeout_s: float) -> bool:
    try:
        await asyncio.wait_for(process.wait(), timeout_s)
    except TimeoutError:
        return False
    return True


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(OSError):
        os.kill(pid, sig)
