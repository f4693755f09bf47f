"""Drive the app headless against real backends and save its screenshots (SVG, plus PNG
when rsvg-convert or cairosvg is there) into this folder, for the README:

    main.svg      the main screen mid-run (gunicorn under load)
    compare.svg   the compare view after a run-all of three backends
    failure.svg   one-thread Flask dev server, 64 clients, 0.3 s timeout: timeouts pile up
    recommend.svg the answer of a short recommend run (r) over gunicorn, gunicorn-nginx, flask-dev
    recommend-browser.png   the same screen in headless Chromium through --serve (a run of its own)

    .venv/bin/python screenshots/make_screenshots.py [--size 160x48]

Every load is short (a few seconds, c ≤ 64) and goes to 127.0.0.1 only."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


async def wait_for(pilot, predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout_s} s waiting for {what}")
        await pilot.pause(0.1)


def select(app, backend: str) -> None:
    table = app.main.query_one("#backends")
    table.move_cursor(row=table.get_row_index(backend))


def make_app(backends: list[str] | None, options):
    from dataclasses import replace

    from wsgicompare.backends import catalog_rows
    from wsgicompare.engine.conductor import Conductor
    from wsgicompare.tui.app import WsgiCompareApp

    rows = catalog_rows()
    if backends is not None:
        rows = [r for r in rows if r["id"] in backends]
    return WsgiCompareApp(replace(options, output=str(HERE)), catalog=rows, conductor=Conductor(settle_max_s=3.0))


def save(app, name: str, out_dir: Path) -> Path:
    path = Path(app.save_screenshot(filename=f"{name}.svg", path=str(out_dir)))
    print(f"saved {path}")
    to_png(path)
    return path


def to_png(svg: Path) -> None:
    """PNG beside the SVG when a converter is available; the SVG is the real artefact."""
    png = svg.with_suffix(".png")
    # rsvg collapses the leading spaces of each text run unless told to preserve them
    text = svg.read_text(encoding="utf-8").replace("<svg ", '<svg xml:space="preserve" ', 1)
    if shutil.which("rsvg-convert"):
        subprocess.run(["rsvg-convert", "-o", str(png)], input=text.encode(), check=True)
    else:
        try:
            import cairosvg  # type: ignore[import-not-found]
        except ImportError:
            print("no rsvg-convert or cairosvg: SVG only")
            return
        cairosvg.svg2png(bytestring=text.encode(), write_to=str(png))
    print(f"saved {png}")


async def main_screen(size: tuple[int, int], out_dir: Path) -> None:
    from wsgicompare.settings.options import Options

    app = make_app(None, Options(concurrency=64, duration=6.0, warmup=1.0, workers=2, threads=4))
    async with app.run_test(size=size) as pilot:
        select(app, "gunicorn")
        await pilot.press("l")
        await wait_for(
            pilot, lambda: app.main.live is not None and app.main.live.tick.elapsed_s >= 3.0, 60, "3 s of load"
        )
        await pilot.pause(0.3)
        save(app, "main", out_dir)
        await wait_for(pilot, lambda: not app.main.load_running, 60, "the run to end")
        await pilot.press("q")


async def compare_view(size: tuple[int, int], out_dir: Path) -> None:
    from wsgicompare.settings.options import Options

    options = Options(concurrency=32, duration=3.0, warmup=0.5, workers=1, threads=4)
    app = make_app(["flask-dev", "gunicorn", "uwsgi-nginx", "waitress"], options)
    async with app.run_test(size=size) as pilot:
        await pilot.press("a")
        await wait_for(pilot, lambda: app.main.load_running, 5, "run-all to begin")
        await wait_for(pilot, lambda: not app.main.load_running, 180, "run-all to end")
        await pilot.press("c")
        await pilot.pause(0.5)
        save(app, "compare", out_dir)
        await pilot.press("q")


async def failure(size: tuple[int, int], out_dir: Path) -> None:
    """The single-threaded Flask dev server under a waiting workload: 64 clients queue
    behind one thread (~12 ms a request), and with a 0.3 s request timeout most time out."""
    from wsgicompare.backends import catalog_rows
    from wsgicompare.engine.conductor import Conductor
    from wsgicompare.settings.options import Options
    from wsgicompare.tui.app import WsgiCompareApp

    app = WsgiCompareApp(
        Options(
            concurrency=64,
            duration=5.0,
            warmup=0.0,
            workloads=["io"],
            workers=1,
            threads=1,
            timeout=0.3,
            output=str(out_dir),
        ),
        catalog=catalog_rows(),
        conductor=Conductor(settle_max_s=3.0),
    )
    async with app.run_test(size=size) as pilot:
        select(app, "flask-dev")
        await pilot.press("l")
        await wait_for(
            pilot,
            lambda: (
                app.main.live is not None and app.main.live.tick.elapsed_s >= 3.0 and app.main.live.tick.failures > 0
            ),
            60,
            "3 s of load with failures",
        )
        await pilot.pause(0.3)
        save(app, "failure", out_dir)
        await wait_for(pilot, lambda: not app.main.load_running, 60, "the run to end")
        await pilot.press("q")


#: a short recommend run (as tests/test_recommend_real.py's, with a two-config sweep): /cpu,
#: 0.5 s steps, no confirmation run, 2.5 s scenarios at 60 req/s uniform, p90 ≤ 100 ms
RECOMMEND = ["--workload", "cpu", "--sweep", "workers=1,3", "--step-duration", "0.5", "--max-steps", "6"]
RECOMMEND += ["--confirm", "0", "-d", "2.5", "--rate", "60", "--warmup", "0.5", "--slo", "p90=100ms"]
RECOMMEND_BACKENDS = ("gunicorn", "gunicorn-nginx", "flask-dev")


async def recommend(size: tuple[int, int], out_dir: Path) -> None:
    from wsgicompare.settings.options import parse_options

    app = make_app(None, parse_options(RECOMMEND))
    async with app.run_test(size=size) as pilot:
        for backend in RECOMMEND_BACKENDS:
            select(app, backend)
            await pilot.press("space")
        await pilot.press("r")
        screen = app.screen
        await wait_for(pilot, lambda: getattr(screen, "answer", None) is not None, 600, "the answer")
        await pilot.pause(0.5)
        save(app, "recommend", out_dir)
        await pilot.press("q")


async def recommend_browser(size: tuple[int, int], out_dir: Path) -> None:
    """--serve in headless Chromium (tests/browser_support.py): the same marks and r, typed."""
    sys.path.insert(0, str(HERE.parent / "tests"))
    import re
    import socket

    from browser_support import chromium
    from reliability_support import spawn_cli

    from wsgicompare.backends import catalog_rows

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = spawn_cli(["--serve", "--serve-port", str(port), *RECOMMEND])
    try:
        deadline = time.monotonic() + 30
        url = None
        while url is None and time.monotonic() < deadline:
            found = [re.search(r"serving the app on (\S+)", line) for line in list(proc.err_lines)]
            url = next((m.group(1) for m in found if m), None)
            await asyncio.sleep(0.1)
        if url is None:
            raise SystemExit("--serve printed no URL: " + "".join(proc.err_lines))
        rows = [r["id"] for r in catalog_rows()]
        async with chromium() as browser:
            tab = await browser.open(url)
            await tab.wait_for_text("wsgicompare —", 40)
            at = 0
            for backend in sorted(RECOMMEND_BACKENDS, key=rows.index):
                for _ in range(rows.index(backend) - at):
                    await tab.press("ArrowDown")
                at = rows.index(backend)
                await tab.press(" ")
            await tab.press("r")
            await tab.wait_for_text("─ final", 600)  # the answer box's title once the run is over
            await asyncio.sleep(1.0)  # the last frame
            path = out_dir / "recommend-browser.png"
            await tab.screenshot(str(path))
            print(f"saved {path}")
            await tab.press("q")
    finally:
        proc.terminate()
        proc.wait(60)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="160x48", help="terminal size WIDTHxHEIGHT (default 160x48)")
    parser.add_argument("--out", default=str(HERE), help="output directory (default: this folder)")
    shots = {
        "main": main_screen,
        "compare": compare_view,
        "failure": failure,
        "recommend": recommend,
        "recommend-browser": recommend_browser,
    }
    parser.add_argument("--only", choices=tuple(shots), help="make one screenshot only")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, make in shots.items():
        if args.only in (None, name):
            asyncio.run(make((width, height), out_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
