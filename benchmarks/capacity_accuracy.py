"""How close does --find-capacity land to a known capacity, in how many steps and how long?

Starts a test server of known capacity (W workers each holding a request S seconds,
first come first served: exactly W / S req/s, queueing beyond it — the "capacity"
server of tests/loader_servers.py) in its own process pinned to CPU 1, and searches
its capacity from the loader on CPU 0 with the default settings (p99 ≤ 100 ms,
errors ≤ 0.1 %, 3 s steps, at most 10). Bounds: within −10 % / +3 % of the truth, in
≤ 10 steps and ≤ 60 s per search.

    python benchmarks/capacity_accuracy.py [--repeat 2] [--settings 1x10,4x10,20x10]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import replace

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOADER_CPU, SERVER_CPU = 0, 1

SERVER = """
import sys, time
sys.path.insert(0, {root!r})
from tests.loader_servers import TestServer
server = TestServer("capacity", delay_s={delay_s}, workers={workers}).start()
print(server.port, flush=True)
sys.stdin.read()  # until the benchmark closes our stdin
"""


def start_server(workers: int, delay_s: float) -> tuple[subprocess.Popen, int]:
    code = SERVER.format(root=ROOT, delay_s=delay_s, workers=workers)
    proc = subprocess.Popen(
        ["taskset", "-c", str(SERVER_CPU), sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


def search_once(workers: int, delay_s: float) -> tuple[float | None, str, int, float]:
    from wsgicompare.capacity import DEFAULT_SLO, CapacityPlan, parse_slo
    from wsgicompare.conductor import Conductor
    from wsgicompare.spec import default_load, url_spec

    proc, port = start_server(workers, delay_s)
    try:
        load = default_load(cpus=(LOADER_CPU,))
        spec = replace(url_spec(f"http://127.0.0.1:{port}/", load=load), capacity=CapacityPlan(parse_slo(DEFAULT_SLO)))
        started = time.monotonic()
        result = Conductor(settle_max_s=1.0).run_one(spec)
        took = time.monotonic() - started
    finally:
        proc.stdin.close()  # type: ignore[union-attr]
        proc.wait(timeout=10)
    cap = result.capacity
    return cap.get("rps"), cap.get("limit", "?"), len(cap.get("steps") or []), took


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=2, help="searches per setting (default 2)")
    parser.add_argument(
        "--settings", default="1x10,4x10,20x10", help="WxS_ms: workers x ms per request (default 1x10,4x10,20x10)"
    )
    args = parser.parse_args(argv)
    if (os.cpu_count() or 1) < 2:
        print("needs 2 CPUs (server on CPU 1, loader on CPU 0)", file=sys.stderr)
        return 2
    os.sched_setaffinity(0, {LOADER_CPU})
    rows = []
    for setting in args.settings.split(","):
        workers, ms = (int(x) for x in setting.split("x"))
        truth = workers / (ms / 1000.0)
        for rep in range(args.repeat):
            found, limit, steps, took = search_once(workers, ms / 1000.0)
            err = None if found is None else 100.0 * (found - truth) / truth
            ok = err is not None and -10.0 <= err <= 3.0 and steps <= 10 and took <= 60.0
            rows.append((truth, found, err, limit, steps, took, ok))
            print(
                f"  {workers} x {ms} ms = {truth:,.0f} req/s, search {rep + 1}: found {found} "
                f"({limit}, {steps} steps, {took:.1f} s)",
                flush=True,
            )
    print()
    print(f"{'truth req/s':>12} {'found req/s':>12} {'error %':>8} {'limit':>9} {'steps':>6} {'time s':>7}  bounds")
    for truth, found, err, limit, steps, took, ok in rows:
        shown = "—" if found is None else f"{found:,.0f}"
        e = "—" if err is None else f"{err:+.1f}"
        print(f"{truth:12,.0f} {shown:>12} {e:>8} {limit:>9} {steps:6d} {took:7.1f}  {'ok' if ok else 'MISSED'}")
    return 0 if all(r[-1] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
