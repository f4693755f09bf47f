"""``--serve``: the app in a real browser (the system's headless Chromium) through
textual-serve, on loopback. The page shows the app (its title read from the xterm.js
terminal), fetches nothing but from this server (no CDN: textual-serve's own page asks
Google Fonts for its font), a tab closing ends its app and the backend it started,
SIGTERM ends every tab's app and backend, and bad serve options are refused. Every
request needs the page's token (printed at start): without it, 403 and nothing started;
past --serve-max-tabs tabs, 503 and nothing started.

Only the tests that drive the browser need Chromium (skipped without it, failed in CI
as root, where the set-up installs it); the others run everywhere."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import psutil
import pytest
from browser_support import Tab, chromium, require_chromium, saturated
from reliability_support import spawn_cli
from test_bad_input import assert_refused
from test_open_reports import reports  # noqa: F401, F811 (a fixture: two real saved reports)

from wsgicompare.front.serve import NO_TOKEN, QUIT_S, app_argv, tab_environment, too_many_tabs
from wsgicompare.loader import is_loopback
from wsgicompare.settings.option_table import BY_NAME, CONFIG_KEYS
from wsgicompare.settings.serve_options import DEFAULT_MAX_TABS

pytest_plugins = ["cli_support"]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, "".join(proc.err_lines)
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"nothing listening on {port}")


def page_url(proc, timeout_s: float = 10.0) -> str:
    """The URL the serving process printed at start, its token in it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for line in list(proc.err_lines):
            found = re.search(r"serving the app on (\S+)", line)
            if found:
                return found.group(1)
        time.sleep(0.05)
    raise AssertionError(f"no URL printed: {''.join(proc.err_lines)}")


def token_of(url: str) -> str:
    found = re.fullmatch(r"http://127\.0\.0\.1:\d+/\?token=([A-Za-z0-9_-]{40,})", url)
    assert found, url
    return found.group(1)


def tree(proc) -> list[psutil.Process]:
    try:
        return psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        return []


def app_processes(proc) -> list[psutil.Process]:
    """The tabs' apps: `python -m wsgicompare` (not one of its modules) under the server."""
    out = []
    for child in tree(proc):
        try:
            argv = child.cmdline()
        except psutil.Error:
            continue
        if "-m" in argv[:-1] and argv[argv.index("-m") + 1] == "wsgicompare" and "--serve" not in argv:
            out.append(child)
    return out


def gone(processes: list[psutil.Process]) -> bool:
    for p in processes:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                return False
        except psutil.NoSuchProcess:
            continue
    return True


def describe(processes: list[psutil.Process]) -> str:
    out = []
    for p in processes:
        try:
            if p.status() != psutil.STATUS_ZOMBIE:
                out.append(f"{p.pid} {p.status()} {' '.join(p.cmdline())[:100]}")
        except psutil.Error:
            pass
    return "; ".join(out)


async def wait_until(predicate, timeout_s: float, what) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what() if callable(what) else what}")
        await asyncio.sleep(0.1)


@contextlib.contextmanager
def serving(*args: str) -> Iterator[tuple[int, Any]]:
    """``wsgicompare --serve`` on a free loopback port, SIGTERMed at the end."""
    port = free_port()
    proc = spawn_cli(["--serve", "--serve-port", str(port), *args])
    try:
        wait_listening(port, proc)
        yield port, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def served() -> Iterator[tuple[int, Any]]:
    require_chromium()  # before serving: every test that is served drives the browser
    with serving() as (port, proc):
        yield port, proc


#: the grace the stuck-app test gives (--serve-grace): seconds to quit, then as long after SIGTERM
SHORT_GRACE_S = 1.0


@pytest.fixture
def served_short_grace() -> Iterator[tuple[int, Any]]:
    require_chromium()
    with serving("--serve-grace", f"{SHORT_GRACE_S:g}") as (port, proc):
        yield port, proc


async def press(tab: Tab, key: str) -> None:
    """A key typed into the terminal (its hidden textarea takes the keyboard)."""
    await tab.press(key)


async def start_backend_in(tab: Tab, proc) -> list[psutil.Process]:
    """Press s on the first backend (flask-dev) and wait for it to be ready: the app's
    process tree, its backend included."""
    await tab.wait_for_text("wsgicompare —", 40)
    before = {p.pid for p in tree(proc)}
    await press(tab, "s")
    await tab.wait_for_text("ready", 40)
    started = [p for p in tree(proc) if p.pid not in before]
    assert any("flask" in " ".join(p.cmdline()) or "werkzeug" in " ".join(p.cmdline()) for p in started), [
        p.cmdline() for p in started
    ]
    return tree(proc)


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_page_shows_the_app_and_fetches_only_from_here(reports, tmp_path, anyio_backend) -> None:  # noqa: F811
    require_chromium()
    # each tab's app gets the rest of the command line: here two saved reports (--open)
    with serving("--open", reports["gunicorn"], "--open", reports["url"]) as (port, proc):
        async with chromium() as browser:
            tab = await browser.open(page_url(proc))
            text = await tab.wait_for_text("wsgicompare — compare · 2 runs", 40)
            assert "gunicorn · gunicorn-run.json" in text and "url-run.json" in text
            # the bars' headers whole, whatever the width of the run labels (saved reports' are long)
            assert re.search(r"run +2xx req/s +p99 ms", text), text
            # in colour: the served command line has NO_COLOR (tests/reliability_support.cli_env),
            # which is the serving terminal's business, not the browser's (it turned the page grey)
            assert len(saturated(await tab.terminal_colours())) >= 3, await tab.terminal_colours()
            await asyncio.sleep(1.0)  # fonts and the last frame
            await tab.screenshot(str(tmp_path / "browser.png"))
            assert (tmp_path / "browser.png").read_bytes().startswith(b"\x89PNG")
            if os.environ.get("WSGICOMPARE_SCREENSHOTS"):  # remakes screenshots/browser.png
                await tab.screenshot(os.path.join(ROOT, "screenshots", "browser.png"))
            here = (f"http://127.0.0.1:{port}/", f"ws://127.0.0.1:{port}/")
            assert tab.requested and all(url.startswith(here) for url in tab.requested), tab.requested
            assert any(".ttf?token=" in url for url in tab.requested), "the font comes from here"
            # every asset and the websocket carry the page's token (without it: 403); the browser's
            # own favicon.ico does not (a 403 like the 404 it got before)
            token = token_of(page_url(proc))
            without = [
                url
                for url in tab.requested
                if f"token={token}" not in url and f"/ws/{token}?" not in url and not url.endswith("/favicon.ico")
            ]
            assert without == [], without
            assert any(f"/ws/{token}?" in url for url in tab.requested)
            # the recommend screen in the browser: r on the first backend (marked with space),
            # stopped at once with Esc: the partial answer, in colour
            await tab.press("c")
            await tab.wait_for_text("Backends", 20)
            await tab.press(" ")
            await tab.press("r")
            await tab.wait_for_text("recommend · 1 backend ·", 20)
            await tab.press("Escape")
            await tab.wait_for_text("The answer (partial)", 40)
            # the status line may be drawn a frame after the answer's title: each waited for
            await tab.wait_for_text("stopped: the answer is partial", 20)
            text = await tab.wait_for_text("Partial: the run was stopped", 20)
            assert "The answer (partial)" in text and "stopped: the answer is partial" in text
            assert len(saturated(await tab.terminal_colours())) >= 3


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_closing_a_tab_ends_its_app_and_backend(served, anyio_backend) -> None:
    port, proc = served
    async with chromium() as browser:
        first = await browser.open(page_url(proc))
        await first.wait_for_text("wsgicompare —", 40)
        first_app = app_processes(proc)
        assert len(first_app) == 1
        second = await browser.open(page_url(proc))
        await wait_until(lambda: len(app_processes(proc)) == 2, 30, "a second app for the second tab")
        second_app = [p for p in app_processes(proc) if p.pid != first_app[0].pid]
        first_tree = {first_app[0].pid, *(p.pid for p in first_app[0].children(recursive=True))}
        started = [p for p in await start_backend_in(second, proc) if p.pid not in first_tree]
        await second.close()
        await wait_until(
            lambda: gone(started), 30, lambda: f"the closed tab's app and backend to end: {describe(started)}"
        )
        assert gone(second_app)
        # the other tab's app goes on
        assert [p.pid for p in app_processes(proc)] == [first_app[0].pid]
        assert "wsgicompare —" in await first.terminal_text()
    assert proc.poll() is None


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_an_app_that_does_not_quit_is_killed_with_its_group(served_short_grace, anyio_backend) -> None:
    """A stopped (SIGSTOP) app cannot quit or handle SIGTERM: after its grace (--serve-grace,
    here 1 s instead of QUIT_S), and as long again after SIGTERM, its group is SIGKILLed, and
    the backends' reaper then stops the backend it started."""
    port, proc = served_short_grace
    async with chromium() as browser:
        tab = await browser.open(page_url(proc))
        everything = await start_backend_in(tab, proc)
        [app] = app_processes(proc)
        app.suspend()
        started = time.monotonic()
        await tab.close()
        await wait_until(lambda: gone(everything), 2 * SHORT_GRACE_S + 15, lambda: describe(everything))
        # killed only after the grace and the time after SIGTERM (a stopped app never ends itself)
        assert time.monotonic() - started >= 2 * SHORT_GRACE_S, "it was given its time to quit"
    assert proc.poll() is None, "the server goes on"


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_sigterm_ends_every_app_and_backend(served, anyio_backend) -> None:
    port, proc = served
    async with chromium() as browser:
        tabs = [await browser.open(page_url(proc)) for _ in range(2)]
        await tabs[0].wait_for_text("wsgicompare —", 40)
        await wait_until(lambda: len(app_processes(proc)) == 2, 30, "an app per tab")
        everything = await start_backend_in(tabs[1], proc)
        assert len(everything) > 2
        proc.send_signal(signal.SIGTERM)
        await wait_until(lambda: proc.poll() is not None, 40, "the server to exit")
        await wait_until(lambda: gone(everything), 10, lambda: f"every app and backend to end: {describe(everything)}")
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0, "the port is free again"


def test_serve_options_are_checked_before_serving(tmp_path, cli) -> None:
    cli.refused(["--serve", "--serve-host", "0.0.0.0"], "is not loopback")
    cli.refused(["--serve-port", "8123"], "--serve-port goes with --serve")
    cli.refused(["--serve", "--backend", "gunicorn"], "--serve opens the app")
    cli.refused(["--serve", "--serve-port", "0"], "--serve-port must be a whole number")
    cli.refused(["--serve-grace", "1s"], "--serve-grace goes with --serve")
    cli.refused(["--serve", "--serve-grace", "0"], "--serve-grace must be above 0 s and at most 600 s")
    cli.refused(["--serve", "--serve-grace", "soon"], "--serve-grace must be a duration such as 10s")
    grace_help = BY_NAME["serve-grace"].arg["help"]
    assert f"(default {QUIT_S:g}s)" in grace_help
    # the tabs' command line is checked here, before serving: a bad report never reaches a tab
    cli.refused(["--serve", "--open", str(tmp_path / "gone.json")], "cannot read it: No such file")


def test_a_serve_port_in_use_is_one_line_and_starts_nothing() -> None:
    # a true subprocess: the check binds the port (the in-process tripwire refuses listen)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert_refused(["--serve", "--serve-port", str(port)], f"cannot listen on 127.0.0.1:{port}")


def test_a_tabs_app_draws_in_colour_whatever_no_color_the_server_has() -> None:
    env = tab_environment({"NO_COLOR": "1", "TEXTUAL_COLOR_SYSTEM": "truecolor", "PATH": "/bin"})
    assert env == {"TEXTUAL_COLOR_SYSTEM": "truecolor", "PATH": "/bin"}


def test_each_tab_runs_the_command_line_without_the_serve_options() -> None:
    argv = [
        "--serve",
        "--serve-host=127.0.0.2",
        "--serve-port",
        "9000",
        "--serve-grace",
        "2s",
        "--serve-max-tabs",
        "3",
        "--allow-remote",
        "--open",
        "a.json",
        "-c",
        "8",
    ]
    assert app_argv(argv)[-5:] == ["wsgicompare", "--open", "a.json", "-c", "8"]
    assert is_loopback("127.0.0.2") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4")


async def refused_websocket(url: str) -> int:
    """The HTTP status a websocket to ``url`` is refused with (fails if it is accepted)."""
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            async with session.ws_connect(url):
                pass
    return refused.value.status


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_requests_without_the_token_get_403_and_start_nothing(anyio_backend) -> None:
    with serving() as (port, proc):
        url = page_url(proc)
        token = token_of(url)
        assert url == f"http://127.0.0.1:{port}/?token={token}"
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as session:
            for path in ("/", "/?token=", f"/?token={token[:-1]}", f"/?token={token}x", "/static/js/textual.js"):
                async with session.get(base + path) as response:
                    assert response.status == 403, path
                    assert await response.text() == NO_TOKEN
            assert NO_TOKEN.count("\n") == 1 and "URL wsgicompare printed" in NO_TOKEN
            for path in ("/ws", "/ws?width=80", "/ws/wrong-token?width=80", f"/ws?token={token[::-1]}"):
                assert await refused_websocket(f"ws://127.0.0.1:{port}{path}") == 403, path
            await asyncio.sleep(1.0)  # an app started would show by now
            assert app_processes(proc) == []
            # with the token: the page, its assets, and a websocket that starts an app
            async with session.get(url) as response:
                assert response.status == 200
                page = await response.text()
            assert f'data-session-websocket-url="ws://127.0.0.1:{port}/ws/{token}"' in page
            async with session.get(f"{base}/static/js/textual.js?token={token}") as response:
                assert response.status == 200
            async with session.ws_connect(f"ws://127.0.0.1:{port}/ws/{token}?width=80&height=24"):
                await wait_until(lambda: len(app_processes(proc)) == 1, 30, "the tab's app")
        await wait_until(lambda: app_processes(proc) == [], 40, "the closed tab's app to end")


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_tab_past_the_cap_gets_503_and_starts_nothing(anyio_backend) -> None:
    with serving("--serve-max-tabs", "2") as (port, proc):
        url = page_url(proc)
        ws = f"ws://127.0.0.1:{port}/ws/{token_of(url)}?width=80&height=24"
        async with aiohttp.ClientSession() as session:
            first = await session.ws_connect(ws)
            async with session.ws_connect(ws):
                await wait_until(lambda: len(app_processes(proc)) == 2, 30, "an app per tab")
                apps = {p.pid for p in app_processes(proc)}
                assert await refused_websocket(ws) == 503
                async with session.get(url) as response:  # the page of one tab too many says why
                    assert response.status == 503
                    assert await response.text() == too_many_tabs(2)
                assert "2 tabs are open already" in too_many_tabs(2) and "--serve-max-tabs" in too_many_tabs(2)
                await asyncio.sleep(1.0)  # an app started would show by now
                assert {p.pid for p in app_processes(proc)} == apps
                # a tab closed frees its place once its app has ended and been reaped (the
                # process may leave the table a moment before the server's wait for it returns)
                await first.close()
                await wait_until(lambda: len(app_processes(proc)) == 1, 40, "the closed tab's app to end")
                deadline = time.monotonic() + 20
                while True:
                    try:
                        again = await session.ws_connect(ws)
                        break
                    except aiohttp.WSServerHandshakeError as refused:
                        assert refused.status == 503 and time.monotonic() < deadline, refused
                        await asyncio.sleep(0.2)
                async with again:
                    await wait_until(lambda: len(app_processes(proc)) == 2, 30, "the new tab's app")
    assert DEFAULT_MAX_TABS == 4


def test_bad_serve_max_tabs_is_one_line_exit_2(cli, tmp_path) -> None:
    cli.refused(["--serve", "--serve-max-tabs", "0"], "--serve-max-tabs must be a whole number from 1 to 64, got 0")
    cli.refused(["--serve", "--serve-max-tabs", "65"], "--serve-max-tabs must be a whole number from 1 to 64")
    cli.refused(["--serve", "--serve-max-tabs", "many"], "--serve-max-tabs must be a whole number from 1 to 64")
    cli.refused(["--serve-max-tabs", "2"], "--serve-max-tabs goes with --serve")
    tabs_help = BY_NAME["serve-max-tabs"].arg["help"]
    assert f"(default {DEFAULT_MAX_TABS})" in tabs_help
    # the serving process's, not a run's: no scenario file holds it
    assert "serve-max-tabs" not in CONFIG_KEYS
    config = tmp_path / "tabs.toml"
    config.write_text("serve-max-tabs = 2\n")
    cli.refused(["--serve", "--config", str(config)], "unknown option 'serve-max-tabs'")
