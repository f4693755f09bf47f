"""Soak: does wsgicompare leak anything when it runs for a while?

    python benchmarks/soak.py                    # 3 × --run-all over 3 backends (2 s loads) + a 10 s RSS run
    python benchmarks/soak.py --long 300         # the 5-minute loader RSS run (what the README quotes)
    python benchmarks/soak.py -d 5 --backends gunicorn,uwsgi,waitress,nginx-static
    python benchmarks/soak.py --json soak.json   # the figures as JSON too

Part 1 runs `--run-all` three times back to back *in this process* (wsgicompare.cli.main,
exactly what the console script runs), so a leak shows in this process: its open file
descriptors, its threads, its descendant processes, and the TCP sockets left on the
ports its backends listened on (a background sampler notes every port a descendant
listens on). The reaper and multiprocessing's resource tracker start with the first
server and live as long as this process by design: the steady state is measured from
the end of round 1, and any growth after it is a leak.

Part 2 runs one long load (`--long SECONDS`, default 10) and samples the loader
processes' RSS every second: the last quarter's mean must stay within
max(RSS_FLAT_MB, 10 %) of the first quarter's (after a short settling period).

Exit code 0: no leak found; 1: a leak (the lines marked LEAK say what).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time

import psutil

#: RSS growth (MB) of the loader over the long run that still counts as flat
RSS_FLAT_MB = 5.0
#: seconds to wait after a round for its processes and sockets to go (stop is asynchronous at the edges)
SETTLE_S = 10.0
#: helpers that live as long as wsgicompare by design (not a leak)
LONG_LIVED = ("wsgicompare.backends.reaper", "multiprocessing.resource_tracker")


def cmdline(p: psutil.Process) -> str:
    try:
        return " ".join(p.cmdline())
    except psutil.Error:
        return ""


def descendants() -> list[psutil.Process]:
    out = []
    for p in psutil.Process().children(recursive=True):
        try:
            if p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.Error:
            continue
    return out


def is_loader(p: psutil.Process) -> bool:
    return "multiprocessing.spawn" in cmdline(p)


class PortSampler:
    """Every TCP port a descendant listens on, sampled in the background (backends come and go)."""

    def __init__(self, interval_s: float = 0.2) -> None:
        self.ports: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval_s,), daemon=True)

    def __enter__(self) -> PortSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            for p in descendants():
                try:
                    for c in p.net_connections(kind="tcp"):
                        if c.status == psutil.CONN_LISTEN and c.laddr:
                            self.ports.add(c.laddr.port)
                except psutil.Error:
                    continue


#: /proc/net/tcp state codes
_STATES = {
    "01": "ESTABLISHED",
    "06": "TIME_WAIT",
    "08": "CLOSE_WAIT",
    "0A": "LISTEN",
    "04": "FIN_WAIT1",
    "05": "FIN_WAIT2",
    "09": "LAST_ACK",
}


def sockets_on(ports: set[int]) -> dict[str, int]:
    """Sockets (system-wide) with either end on one of ``ports``, by state."""
    from wsgicompare.engine.kernel import tcp_sockets

    counts: dict[str, int] = {}
    for code, local, remote, _ in tcp_sockets():
        if local in ports or remote in ports:
            state = _STATES.get(code, code)
            counts[state] = counts.get(state, 0) + 1
    return counts


def state_of_process() -> dict[str, object]:
    procs = descendants()
    return {
        "fds": len(os.listdir("/proc/self/fd")),
        "threads": threading.active_count(),
        "helpers": sorted(cmdline(p)[:80] for p in procs if any(h in cmdline(p) for h in LONG_LIVED)),
        "others": sorted(f"{p.pid} {cmdline(p)[:100]}" for p in procs if not any(h in cmdline(p) for h in LONG_LIVED)),
    }


def settled_state(ports: set[int]) -> tuple[dict[str, object], dict[str, int]]:
    """The process state once no server or loader is left (or SETTLE_S passed)."""
    deadline = time.monotonic() + SETTLE_S
    while True:
        state = state_of_process()
        socks = sockets_on(ports)
        busy = state["others"] or socks.get("LISTEN") or socks.get("ESTABLISHED") or socks.get("CLOSE_WAIT")
        if not busy or time.monotonic() > deadline:
            return state, socks
        time.sleep(0.2)


def run_rounds(args: argparse.Namespace, workdir: str) -> tuple[list[dict], list[str]]:
    from wsgicompare.cli import main

    rounds: list[dict] = []
    leaks: list[str] = []
    before = state_of_process()
    print(f"before: {before['fds']} fds, {before['threads']} threads, {len(before['others'])} child processes")
    with PortSampler() as sampler:
        for index in range(args.rounds):
            out = os.path.join(workdir, f"round{index + 1}.json")
            argv = [
                "--run-all",
                "--backends",
                args.backends,
                "-d",
                str(args.duration),
                "--warmup",
                "0",
                "-c",
                str(args.concurrency),
                "--settle-max",
                "5",
                "-o",
                out,
                "--export",
                "json",
            ]
            started = time.monotonic()
            code = main(argv)
            elapsed = time.monotonic() - started
            state, socks = settled_state(sampler.ports)
            with open(out, encoding="utf-8") as f:
                runs = json.load(f)["runs"]
            statuses = {r["backend"]: r["status"] for r in runs}
            row = {
                "round": index + 1,
                "exit": code,
                "elapsed_s": round(elapsed, 1),
                "statuses": statuses,
                "requests": sum(r["requests"] for r in runs),
                **state,
                "sockets": socks,
            }
            rounds.append(row)
            print(
                f"round {index + 1}: exit {code} in {elapsed:.1f} s, {row['requests']} requests, {statuses}; "
                f"{state['fds']} fds, {state['threads']} threads, {len(state['others'])} child processes, "
                f"sockets on backend ports {socks or 'none'}"
            )
            if state["others"]:
                leaks.append(f"LEAK round {index + 1}: processes left: {state['others']}")
            for kind in ("LISTEN", "ESTABLISHED", "CLOSE_WAIT"):
                if socks.get(kind):
                    leaks.append(f"LEAK round {index + 1}: {socks[kind]} sockets in {kind} on the backend ports")
    # steady state: after round 1 the helpers exist; nothing may grow after that
    first, last = rounds[0], rounds[-1]
    for key in ("fds", "threads"):
        if last[key] > first[key]:
            leaks.append(f"LEAK {key}: {first[key]} after round 1, {last[key]} after round {last['round']}")
    if len(last["helpers"]) > len(first["helpers"]):
        leaks.append(f"LEAK helper processes: {first['helpers']} -> {last['helpers']}")
    print(f"ports used by the backends: {sorted(sampler.ports)}")
    return rounds, leaks


def run_long(args: argparse.Namespace, workdir: str) -> tuple[dict, list[str]]:
    """One long load; the loader processes' RSS sampled every second from this thread."""
    from wsgicompare.cli import main

    out = os.path.join(workdir, "long.json")
    argv = [
        "--backend",
        args.long_backend,
        "-d",
        str(args.long),
        "--warmup",
        "0",
        "-c",
        str(args.concurrency),
        "-o",
        out,
        "--export",
        "json",
    ]
    result: dict[str, int] = {}
    worker = threading.Thread(target=lambda: result.update(code=main(argv)), name="soak-long-run")
    worker.start()
    samples: list[tuple[float, float]] = []  # (t_s, summed loader RSS MB)
    started = time.monotonic()
    while worker.is_alive():
        loaders = [p for p in descendants() if is_loader(p)]
        rss = 0.0
        for p in loaders:
            try:
                rss += p.memory_info().rss / 2**20
            except psutil.Error:
                continue
        if loaders and rss:
            samples.append((time.monotonic() - started, rss))
        worker.join(timeout=1.0)
    leaks: list[str] = []
    with open(out, encoding="utf-8") as f:
        run = json.load(f)["runs"][0]
    # the first seconds are the loader importing and opening its connections
    steady = [s for s in samples if s[0] >= min(5.0, args.long * 0.2)] or samples
    quarter = max(1, len(steady) // 4)
    first = statistics.fmean(r for _, r in steady[:quarter]) if steady else 0.0
    last = statistics.fmean(r for _, r in steady[-quarter:]) if steady else 0.0
    bar = max(RSS_FLAT_MB, 0.10 * first)
    summary = {
        "backend": args.long_backend,
        "duration_s": args.long,
        "exit": result.get("code"),
        "status": run["status"],
        "requests": run["requests"],
        "samples": len(samples),
        "rss_first_quarter_mb": round(first, 1),
        "rss_last_quarter_mb": round(last, 1),
        "rss_max_mb": round(max((r for _, r in samples), default=0.0), 1),
        "growth_mb": round(last - first, 1),
        "bar_mb": round(bar, 1),
    }
    print(
        f"long run: {args.long_backend} {args.long} s, {run['requests']} requests, status {run['status']}; "
        f"loader RSS {first:.1f} MB (first quarter) -> {last:.1f} MB (last quarter), "
        f"max {summary['rss_max_mb']} MB over {len(samples)} samples"
    )
    if not samples:
        leaks.append("LEAK? no loader RSS sample was taken (run too short?)")
    elif last - first > bar:
        leaks.append(f"LEAK loader RSS grew {last - first:.1f} MB over {args.long} s (bar {bar:.1f} MB)")
    return summary, leaks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="--run-all rounds back to back (default 3)")
    parser.add_argument("--backends", default="gunicorn,uwsgi,waitress", help="backends of each round")
    parser.add_argument("-d", "--duration", type=float, default=2.0, help="seconds of load per backend (default 2)")
    parser.add_argument("-c", "--concurrency", type=int, default=32, help="clients (default 32)")
    parser.add_argument("--long", type=float, default=10.0, help="seconds of the loader RSS run (300 for the soak)")
    parser.add_argument("--long-backend", default="nginx-static", help="backend of the long run (default nginx-static)")
    parser.add_argument("--json", metavar="FILE", help="write the figures as JSON here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="wsgicompare-soak-") as workdir:
        rounds, leaks = run_rounds(args, workdir)
        long_run, long_leaks = run_long(args, workdir) if args.long > 0 else ({}, [])
    leaks += long_leaks
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"rounds": rounds, "long": long_run, "leaks": leaks}, f, indent=2)
    for line in leaks:
        print(line)
    print("no leak found" if not leaks else f"{len(leaks)} leak(s) found")
    return 1 if leaks else 0


if __name__ == "__main__":
    sys.exit(main())
