"""``--serve``: the app in a real browser (the system's headless Chromium) through
textual-serve, on loopback. The page shows the app (its title read from the xterm.js
terminal), fetches nothing but from this server (no CDN: textual-serve's own page asks
Google Fonts for its font), a tab closing ends its app and the backend it started,
SIGTERM ends every tab's app and backend, and bad serve options are refused.

Only the tests that drive the browser need Chromium (skipped without it, failed in CI
as root, where the set-up installs it); the others run everywhere."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import psutil
import pytest
from browser_support import Tab, chromium, require_chromium
from reliability_support import spawn_cli
from test_bad_input import assert_refused
from test_open_reports import reports  # noqa: F401, F811 (a fixture: two real saved reports)

from wsgicompare.options import _ARGS
from wsgicompare.serve import QUIT_S, app_argv, is_loopback

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
    await tab.send("Page.bringToFront")
    await tab.evaluate("document.querySelector('.xterm-helper-textarea').focus()")
    await tab.send("Input.dispatchKeyEvent", type="keyDown", key=key, text=key)
    await tab.send("Input.dispatchKeyEvent", type="keyUp", key=key)


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
            tab = await browser.open(f"http://127.0.0.1:{port}/")
            text = await tab.wait_for_text("wsgicompare — compare · 2 runs", 40)
            assert "gunicorn · gunicorn-run.json" in text and "url-run.json" in text
            await asyncio.sleep(1.0)  # fonts and the last frame
            await tab.screenshot(str(tmp_path / "browser.png"))
            assert (tmp_path / "browser.png").read_bytes().startswith(b"\x89PNG")
            if os.environ.get("WSGICOMPARE_SCREENSHOTS"):  # remakes screenshots/browser.png
                await tab.screenshot(os.path.join(ROOT, "screenshots", "browser.png"))
            here = (f"http://127.0.0.1:{port}/", f"ws://127.0.0.1:{port}/")
            assert tab.requested and all(url.startswith(here) for url in tab.requested), tab.requested
            assert any(url.endswith(".ttf") for url in tab.requested), "the font comes from here"
            assert any("/ws?" in url for url in tab.requested)


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_closing_a_tab_ends_its_app_and_backend(served, anyio_backend) -> None:
    port, proc = served
    async with chromium() as browser:
        first = await browser.open(f"http://127.0.0.1:{port}/")
        await first.wait_for_text("wsgicompare —", 40)
        first_app = app_processes(proc)
        assert len(first_app) == 1
        second = await browser.open(f"http://127.0.0.1:{port}/")
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
        tab = await browser.open(f"http://127.0.0.1:{port}/")
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
        tabs = [await browser.open(f"http://127.0.0.1:{port}/") for _ in range(2)]
        await tabs[0].wait_for_text("wsgicompare —", 40)
        await wait_until(lambda: len(app_processes(proc)) == 2, 30, "an app per tab")
        everything = await start_backend_in(tabs[1], proc)
        assert len(everything) > 2
        proc.send_signal(signal.SIGTERM)
        await wait_until(lambda: proc.poll() is not None, 40, "the server to exit")
        await wait_until(lambda: gone(everything), 10, lambda: f"every app and backend to end: {describe(everything)}")
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0, "the port is free again"


def test_serve_options_are_checked_before_serving(tmp_path) -> None:
    assert_refused(["--serve", "--serve-host", "0.0.0.0"], "is not loopback")
    assert_refused(["--serve-port", "8123"], "--serve-port goes with --serve")
    assert_refused(["--serve", "--backend", "gunicorn"], "--serve opens the app")
    assert_refused(["--serve", "--serve-port", "0"], "--serve-port must be a whole number")
    assert_refused(["--serve-grace", "1s"], "--serve-grace goes with --serve")
    assert_refused(["--serve", "--serve-grace", "0"], "--serve-grace must be above 0 s and at most 600 s")
    assert_refused(["--serve", "--serve-grace", "soon"], "--serve-grace must be a duration such as 10s")
    grace_help = next(spec["help"] for _, name, spec in _ARGS if name == "serve-grace")
    assert f"(default {QUIT_S:g}s)" in grace_help
    # the tabs' command line is checked here, before serving: a bad report never reaches a tab
    assert_refused(["--serve", "--open", str(tmp_path / "gone.json")], "cannot read it: No such file")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert_refused(["--serve", "--serve-port", str(port)], f"cannot listen on 127.0.0.1:{port}")


def test_each_tab_runs_the_command_line_without_the_serve_options() -> None:
    argv = [
        "--serve",
        "--serve-host=127.0.0.2",
        "--serve-port",
        "9000",
        "--serve-grace",
        "2s",
        "--allow-remote",
        "--open",
        "a.json",
        "-c",
        "8",
    ]
    assert app_argv(argv)[-5:] == ["wsgicompare", "--open", "a.json", "-c", "8"]
    assert is_loopback("127.0.0.2") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4")
