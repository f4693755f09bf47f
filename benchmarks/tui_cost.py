"""What the TUI costs the measurement.

1. The app's own CPU under load: the app runs headless at 160×48 (Textual's pilot,
   which renders every frame like a terminal would, minus the tty write), fires a load
   at nginx-static, and reads /proc/PID/stat (the whole process: UI + conductor thread)
   and /proc/PID/task/TID/stat of the UI's thread (the event loop) over the window.
   The conductor thread's share is the same headless, so the UI thread's figure is
   the UI's own cost. Budget: ≤ 5 % of one core.
2. Loader req/s against nginx-static with the app open vs. headless (the same
   conductor, same spec, no app): the app must keep ≥ 95 % of the headless figure.
3. Key latency under load: seconds from a key arriving (as the terminal driver delivers
   it) until the app has handled it (the cursor moved, the compare view opened or
   closed), 10 arrows and 2 × c while a load runs. Budget: median < 0.2 s, max < 1 s.
   (tests/test_tui_app.py checks the keys work under load; how fast is this figure.)

    .venv/bin/python benchmarks/tui_cost.py               # 10 s windows (the real measurement)
    .venv/bin/python benchmarks/tui_cost.py --duration 2  # smoke run

Run it on an otherwise idle machine: other processes on the 2 cores move both figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import threading
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(stat_path: str) -> float:
    """utime + stime of a process or thread, in seconds, from /proc/…/stat."""
    with open(stat_path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # after the ")" : state is field 3, utime 14 and stime 15 (1-based in proc(5))
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def make_spec(args):
    from wsgicompare.engine.runspec import default_load, default_spec

    load = default_load(concurrency=args.concurrency, duration_s=args.duration, warmup_s=args.warmup)
    return default_spec("nginx-static", "hello", load=load)


def headless(args) -> dict:
    """The same run with no app: the conductor's own figure."""
    from wsgicompare.engine.conductor import Conductor

    result = Conductor(settle_max_s=5.0).run_one(make_spec(args), None, threading.Event())
    return {"status": result.status, "reason": result.reason, "rps": result.rps}


async def with_app(args) -> dict:
    from wsgicompare.engine.conductor import Conductor
    from wsgicompare.settings.options import Options
    from wsgicompare.tui.app import WsgiCompareApp

    options = Options(
        concurrency=args.concurrency,
        duration=args.duration,
        warmup=args.warmup,
        workloads=["hello"],
        refresh_hz=args.refresh_hz,
    )
    app = WsgiCompareApp(options, conductor=Conductor(settle_max_s=5.0))
    pid = os.getpid()
    ui_tid = threading.get_native_id()  # the event loop runs in this thread
    async with app.run_test(size=(160, 48)) as pilot:
        table = app.main.query_one("#backends")
        table.move_cursor(row=table.get_row_index("nginx-static"))
        await pilot.press("l")
        # measure only while load ticks flow (warm-up and start-up excluded)
        while not (app.main.live is not None and app.main.live.tick.phase == "load"):
            await asyncio.sleep(0.05)
        window_s = max(0.5, args.duration - 1.0)
        proc0, ui0, wall0 = (
            cpu_seconds(f"/proc/{pid}/stat"),
            cpu_seconds(f"/proc/{pid}/task/{ui_tid}/stat"),
            time.monotonic(),
        )
        await asyncio.sleep(window_s)
        proc1, ui1, wall1 = (
            cpu_seconds(f"/proc/{pid}/stat"),
            cpu_seconds(f"/proc/{pid}/task/{ui_tid}/stat"),
            time.monotonic(),
        )
        while app.main.load_running:
            await asyncio.sleep(0.1)
        result = app.session.results[-1] if app.session.results else None
        await pilot.press("q")
    elapsed = wall1 - wall0
    return {
        "status": result.status if result else "none",
        "reason": result.reason if result else "",
        "rps": result.rps if result else 0.0,
        "window_s": round(elapsed, 2),
        "process_cpu_pct": round(100 * (proc1 - proc0) / elapsed, 2),
        "ui_thread_cpu_pct": round(100 * (ui1 - ui0) / elapsed, 2),
    }


#: key latency budget (seconds): the median, and the worst single key
KEY_MEDIAN_BUDGET_S, KEY_MAX_BUDGET_S = 0.2, 1.0


async def _key_latency_s(app, key: str, handled) -> float:
    """Seconds from a key arriving until ``handled()`` (5 s at most).

    Not ``pilot.press``: after each key it waits until the *process* stops using CPU,
    and under load the conductor's thread in this same process never does, so every
    press would measure Pilot's 1 s idle timeout instead of the app."""
    from textual import events

    started = time.perf_counter()
    app._driver.send_message(events.Key(key, None))
    while not handled():
        if time.perf_counter() - started > 5.0:
            break
        await asyncio.sleep(0.002)
    return time.perf_counter() - started


async def key_latencies(args) -> dict:
    """Each key's latency while a load runs against nginx-static (stopped by x once measured)."""
    from wsgicompare.engine.conductor import Conductor
    from wsgicompare.settings.options import Options
    from wsgicompare.tui.app import WsgiCompareApp

    options = Options(
        concurrency=args.concurrency, duration=60.0, warmup=0.0, workloads=["hello"], refresh_hz=args.refresh_hz
    )
    app = WsgiCompareApp(options, conductor=Conductor(settle_max_s=5.0))
    async with app.run_test(size=(160, 48)) as pilot:
        table = app.main.query_one("#backends")
        table.move_cursor(row=table.get_row_index("nginx-static"))
        await pilot.press("l")
        while not (app.main.live is not None and app.main.live.tick.phase == "load"):
            await asyncio.sleep(0.05)
        timings = []
        for key in ("up", "down") * 5:
            before = table.cursor_row
            timings.append(await _key_latency_s(app, key, lambda: table.cursor_row != before))
            await asyncio.sleep(0.05)
        for _ in range(2):  # the compare view on top of a running load, and back
            before_screen = app.screen
            timings.append(await _key_latency_s(app, "c", lambda: app.screen is not before_screen))
        under_load = app.main.load_running
        await pilot.press("x")
        while app.main.load_running:
            await asyncio.sleep(0.1)
        await pilot.press("q")
    return {
        "key_latency_s": [round(t, 3) for t in timings],
        "median_s": round(statistics.median(timings), 3),
        "max_s": round(max(timings), 3),
        "under_load": under_load,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--duration", type=float, default=11.0, help="measured seconds of each load (default 11: a 10 s window)"
    )
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds of each load")
    parser.add_argument("--concurrency", type=int, default=64, help="connections")
    parser.add_argument("--refresh-hz", type=float, default=4.0, help="the app's refresh clock")
    parser.add_argument("--rounds", type=int, default=3, help="app/headless pairs, in alternating order (default 3)")
    args = parser.parse_args(argv)

    # like `wsgicompare` itself (cli.py): its own threads run on the loader CPU
    from wsgicompare.engine.runspec import default_cpus, pin_to_loader_cpus

    pin_to_loader_cpus(default_cpus()[0])
    # alternate the order so a drift of the machine (thermal, other work) hits both sides
    app_runs, headless_runs = [], []
    for round_no in range(max(1, args.rounds)):
        if round_no % 2 == 0:
            app_runs.append(asyncio.run(with_app(args)))
            headless_runs.append(headless(args))
        else:
            headless_runs.append(headless(args))
            app_runs.append(asyncio.run(with_app(args)))
    app_rps = statistics.median(r["rps"] for r in app_runs)
    headless_rps = statistics.median(r["rps"] for r in headless_runs)
    ui_cpu = statistics.median(r["ui_thread_cpu_pct"] for r in app_runs)
    keys = asyncio.run(key_latencies(args))
    ratio = app_rps / headless_rps if headless_rps else 0.0
    report = {
        "app_runs": app_runs,
        "headless_runs": headless_runs,
        "median_ui_thread_cpu_pct": ui_cpu,
        "median_process_cpu_pct": statistics.median(r["process_cpu_pct"] for r in app_runs),
        "note": "process_cpu_pct includes the conductor thread, which runs headless too; the UI's own cost is the UI thread",
        "median_rps_app": round(app_rps, 1),
        "median_rps_headless": round(headless_rps, 1),
        "rps_with_app_vs_headless_pct": round(100 * ratio, 1),
        # the budget is the app's whole process (UI + conductor thread)
        "ui_budget_ok": statistics.median(r["process_cpu_pct"] for r in app_runs) <= 5.0,
        "rps_ok": ratio >= 0.95,
        "keys": keys,
        "keys_ok": keys["under_load"] and keys["median_s"] < KEY_MEDIAN_BUDGET_S and keys["max_s"] < KEY_MAX_BUDGET_S,
    }
    print(json.dumps(report, indent=2))
    return 0 if report["ui_budget_ok"] and report["rps_ok"] and report["keys_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
