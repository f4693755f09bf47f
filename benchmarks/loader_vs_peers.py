"""How fast is the embedded loader next to wrk (and ab, siege, hey, locust where installed)?

Starts the `nginx-static` backend pinned to CPU 1, then runs every tool back to back
on CPU 0 against it, keep-alive and `Connection: close`, `--repeat` times, and prints
each tool's req/s and CPU time (user + system) per request, medians of the repeats,
and their ratios to wrk's. CPU per request is the robust figure on a shared machine
(another process on CPU 0 lowers every tool's req/s, much less its CPU per request);
issue #20's bar is ≤ 1.2 × wrk's, with keep-alive and with `Connection: close`.

    python benchmarks/loader_vs_peers.py [--duration 8 --repeat 3 --concurrency 64]
    python benchmarks/loader_vs_peers.py --target-backend gunicorn   # agreement check

`--open-loop-rates 5000,20000,50000` (the default) adds the open loop's cost: the
loader's CPU % at each rate against the same server with `--open-loop-concurrency`
connections (default 128), and its CPU per request next to the closed loop's,
measured in the same run (keep-alive; 0 to skip), with what its batched sends add to
the corrected p50 (corrected − uncorrected; < 300 µs on a quiet machine). The bar:
20,000 req/s with 128 connections in ≤ 30 % of a core.

Before/after a change to the loader: run this script (the newer one) against both
commits back to back, the older one's packages first on `PYTHONPATH` (a tree with
`wsgicompare/`, and `loader/`, `backends/`, `tui/` copied into it from `git archive
OLD`). Last figures (README "Performance"), d6aea7e → issue #20's round, back to
back on a shared machine, `--tools wrk,loader --duration 5 --repeat 3
--open-loop-rates 20000`: CPU per request ÷ wrk 1.04 → 1.05 keep-alive, 1.09 → 1.03
`Connection: close`; open loop 20,000/s at c=128 23.0 → 25.0 % of a core (path
unchanged: noise). Every bar met before and after; the issue's 1.35–1.49 × close
and 47–53 % open loop did not reproduce on this machine in that session.

With `--target-backend` (a server-bound backend) it checks that the loader agrees with
wrk: req/s within 10 %, p50 within 15 %. Run it on a quiet machine: every other
process on these two CPUs shows up in the figures.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field

from wsgicompare.loader import LoadProfile, run_load

LOADER_CPU = 0
SERVER_CPU = 1
#: issue #20's bars: the loader's CPU per request at most this many times wrk's
#: (keep-alive and ``Connection: close``), and the open loop at OPEN_LOOP_BAR_RATE
#: req/s with OPEN_LOOP_BAR_CONCURRENCY connections at most this share of a core
CPU_PER_REQUEST_BAR = 1.2
OPEN_LOOP_BAR_RATE = 20000.0
OPEN_LOOP_BAR_CONCURRENCY = 128
OPEN_LOOP_BAR_PCT = 30.0

#: (req/s, p50 ms, note, CPU µs per request) of one tool run
ToolResult = tuple[float, float | None, str, float | None]


@dataclass
class Measurement:
    tool: str
    mode: str  # "keep-alive" | "close"
    rps: list[float] = field(default_factory=list)
    p50_ms: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)  # CPU µs (user + system) per request
    notes: list[str] = field(default_factory=list)

    @property
    def rps_median(self) -> float | None:
        return statistics.median(self.rps) if self.rps else None

    @property
    def p50_median_ms(self) -> float | None:
        return statistics.median(self.p50_ms) if self.p50_ms else None

    @property
    def cpu_us_median(self) -> float | None:
        return statistics.median(self.cpu_us) if self.cpu_us else None


def _which(tool: str) -> str | None:
    """A tool on PATH, or beside this interpreter (locust in the project's venv)."""
    return shutil.which(tool) or shutil.which(tool, path=os.path.dirname(sys.executable))


def _pinned(argv: list[str]) -> list[str]:
    return ["taskset", "-c", str(LOADER_CPU), *argv]


#: CPU seconds (user + system) the last ``_run`` took, its children included
_last_cpu_s = 0.0


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(argv: list[str], timeout_s: float) -> str:
    global _last_cpu_s
    before = _children_cpu_s()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s)
    _last_cpu_s = _children_cpu_s() - before  # taskset execs the tool: its own CPU time
    return done.stdout + "\n" + done.stderr


def _cpu_us_per_request(rps: float, duration_s: float) -> float | None:
    """The last tool run's CPU µs per request (its req/s over ``duration_s``)."""
    return 1e6 * _last_cpu_s / (rps * duration_s) if rps > 0 else None


def _unit_ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(url: str, c: int, duration_s: float, keepalive: bool) -> ToolResult:
    argv = ["wrk", "-t1", f"-c{c}", f"-d{duration_s:g}s", "--latency", url]
    if not keepalive:
        argv[1:1] = ["-H", "Connection: close"]
    out = _run(_pinned(argv), duration_s + 30)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)\b", out)
    errors = re.search(r"Socket errors:.*|Non-2xx.*", out)
    done = re.search(r"(\d+) requests in", out)
    cpu_us = 1e6 * _last_cpu_s / int(done.group(1)) if done and int(done.group(1)) else None
    return rps, _unit_ms(*p50.groups()) if p50 else None, errors.group(0) if errors else "", cpu_us


def run_ab(url: str, c: int, duration_s: float, keepalive: bool) -> ToolResult:
    argv = ["ab", "-q", "-c", str(c), "-t", f"{duration_s:g}", "-n", "100000000"]
    if keepalive:
        argv.append("-k")
    out = _run(_pinned([*argv, url]), duration_s + 30)
    rps = float(re.search(r"Requests per second:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"^\s+50%\s+(\d+)", out, re.M)
    failed = re.search(r"Failed requests:\s+(\d+)", out)
    return (
        rps,
        float(p50.group(1)) if p50 else None,
        f"failed {failed.group(1)}" if failed and failed.group(1) != "0" else "",
        _cpu_us_per_request(rps, duration_s),
    )


def run_siege(url: str, c: int, duration_s: float, keepalive: bool) -> ToolResult:
    with tempfile.NamedTemporaryFile("w", suffix=".siegerc", delete=False) as rc:
        # siege keeps connections only when its config says so; limit: its default cap is 255
        rc.write(
            f"connection = {'keep-alive' if keepalive else 'close'}\nprotocol = HTTP/1.1\nlogging = false\nlimit = {max(255, c)}\nparser = false\n"
        )
    try:
        argv = ["siege", "-R", rc.name, "-b", "-c", str(c), "-t", f"{max(1, round(duration_s))}S", url]
        out = _run(_pinned(argv), duration_s + 60)
    finally:
        os.unlink(rc.name)
    # siege prints either JSON-ish or text stats, depending on version and config
    rps = float(re.search(r'(?:"transaction_rate"|Transaction rate):\s+([\d.]+)', out).group(1))  # type: ignore[union-attr]
    resp = re.search(r'(?:"response_time"|Response time):\s+([\d.]+)', out)  # mean seconds, 2 decimals only
    return (
        rps,
        None if resp is None else float(resp.group(1)) * 1000 or None,
        "p50 = mean response time",
        _cpu_us_per_request(rps, duration_s),
    )


def run_hey(url: str, c: int, duration_s: float, keepalive: bool) -> ToolResult:
    argv = ["hey", "-c", str(c), "-z", f"{duration_s:g}s"]
    if not keepalive:
        argv.append("-disable-keepalive")
    out = _run(_pinned([*argv, url]), duration_s + 30)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"50% in ([\d.]+) secs", out)
    return rps, float(p50.group(1)) * 1000 if p50 else None, "", _cpu_us_per_request(rps, duration_s)


def run_loader(url: str, c: int, duration_s: float, keepalive: bool) -> ToolResult:
    summary = run_load(
        LoadProfile(
            url=url,
            concurrency=c,
            duration_s=duration_s,
            keepalive=keepalive,
            cpus=(LOADER_CPU,),
            max_wall_s=duration_s + 60,
        )
    )
    if summary.fatal:
        raise RuntimeError(summary.fatal)
    errors = {k: v for k, v in summary.errors.items() if v}
    note = f"cpu {summary.loader_cpu_pct:.0f}%"
    if errors:
        note += f" errors {errors}"
    if summary.reconnects:
        note += f" reconnects {summary.reconnects}"
    # the loader process's own CPU (user + system) per response; its parent, which
    # merges 4 small snapshots a second, is left out as wrk's main thread would be
    cpu_us = 1e4 * summary.loader_cpu_pct / summary.rps if summary.rps else None
    return summary.rps, summary.latency.percentile(50) / 1000, note, cpu_us


def loader_cpu(url: str, c: int, duration_s: float, rate: float | None) -> tuple[float, float, str]:
    """(req/s, loader CPU %, note) of one keep-alive loader run, closed (rate None) or open loop."""
    summary = run_load(
        LoadProfile(
            url=url, concurrency=c, duration_s=duration_s, rate=rate, cpus=(LOADER_CPU,), max_wall_s=duration_s + 60
        )
    )
    if summary.fatal:
        raise RuntimeError(summary.fatal)
    note = f"sent_late {summary.sent_late}" if rate else ""
    if rate and summary.latency_uncorrected is not None:
        # what batching sends per 1 ms wake-up costs the corrected latency (the old bug: ≥ 300 µs)
        batching_us = summary.latency.percentile(50) - summary.latency_uncorrected.percentile(50)
        note += f" p50 corrected−uncorrected {batching_us:.0f} µs"
    if summary.saturated:
        note += " LOADER-BOUND: " + "; ".join(summary.saturation_reasons)
    return summary.rps, summary.loader_cpu_pct, note.strip()


#: closed loops with this few connections run at moderate req/s: the fair comparison for
#: an open loop at a moderate rate (fewer requests per event-loop turn cost more each)
FEW_CONNECTIONS = (1, 2, 4)


def open_loop_cost(url: str, c: int, duration_s: float, rates: list[float], repeat: int) -> None:
    """The loader's CPU in open loop at each rate, and per request next to the closed
    loop's: at full speed (c connections), and at about the same req/s (1, 2, 4
    connections: the closed run with the nearest req/s)."""
    runs: dict[tuple[str, float], list[tuple[float, float, str]]] = {}
    plan = [("closed", float(n)) for n in (*FEW_CONNECTIONS, c)] + [("open", r) for r in rates]
    for rep in range(repeat):
        for kind, x in plan:
            conns, rate = (int(x), None) if kind == "closed" else (c, x)
            rps, cpu, note = loader_cpu(url, conns, duration_s, rate)
            runs.setdefault((kind, x), []).append((rps, cpu, note))
            label = f"closed c={conns}" if kind == "closed" else f"open {x:g}/s"
            print(f"  run {rep + 1} {label:>14}: {rps:9.0f} req/s  loader CPU {cpu:5.1f} %  {note}", flush=True)
    rows = {}
    for key, got in runs.items():
        rps = statistics.median(r[0] for r in got)
        cpu = statistics.median(r[1] for r in got)
        notes = "; ".join(dict.fromkeys(r[2] for r in got if r[2]))
        rows[key] = (rps, cpu, 1e4 * cpu / rps if rps else float("nan"), notes)  # µs of CPU per request
    full_us = rows[("closed", float(c))][2]
    closed = [(key, row) for key, row in rows.items() if key[0] == "closed"]
    print()
    print(
        f"{'loader load':16} {'req/s':>9} {'CPU %':>7} {'µs CPU/req':>11} {'÷ closed c=' + str(c):>14} {'÷ closed ≈ req/s':>17}  notes"
    )
    for (kind, x), (rps, cpu, us, notes) in rows.items():
        label = f"closed c={int(x)}" if kind == "closed" else f"open {x:g}/s"
        if kind == "open":
            (_, nc), near = min(closed, key=lambda item: abs(item[1][0] - rps))
            matched = f"{us / near[2]:.2f} (c={int(nc)})"
        else:
            matched = ""
        print(f"{label:16} {rps:9.0f} {cpu:7.1f} {us:11.2f} {us / full_us:14.2f} {matched:>17}  {notes}")
    bar = rows.get(("open", OPEN_LOOP_BAR_RATE))
    if bar is not None and c == OPEN_LOOP_BAR_CONCURRENCY:
        verdict = "met" if bar[1] <= OPEN_LOOP_BAR_PCT else "MISSED"
        print(
            f"bar open loop {OPEN_LOOP_BAR_RATE:g}/s, c={c}: {bar[1]:.1f} % of a core "
            f"({verdict}, bar ≤ {OPEN_LOOP_BAR_PCT:g} %)"
        )


#: locust's fastest client (geventhttpclient), one process, no wait time: its best case
LOCUSTFILE = """
from locust import constant, task
from locust.contrib.fasthttp import FastHttpUser


class Hammer(FastHttpUser):
    wait_time = constant(0)

    @task
    def get(self):
        self.client.get(PATH{headers})
"""


def run_locust(url: str, c: int, duration_s: float, keepalive: bool) -> ToolResult:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    headers = "" if keepalive else ', headers={"Connection": "close"}'
    with tempfile.TemporaryDirectory() as tmp:
        locustfile = os.path.join(tmp, "locustfile.py")
        with open(locustfile, "w") as fh:
            fh.write(LOCUSTFILE.replace("PATH", repr(parts.path or "/")).replace("{headers}", headers))
        argv = [
            _which("locust") or "locust",
            "-f",
            locustfile,
            "--headless",
            "-u",
            str(c),
            "-r",
            str(c),
            "-t",
            f"{max(1, round(duration_s))}s",
            "--host",
            f"{parts.scheme}://{parts.netloc}",
            "--only-summary",
            "--csv",
            os.path.join(tmp, "stats"),
            "--loglevel",
            "ERROR",
        ]
        _run(_pinned(argv), duration_s + 60)
        with open(os.path.join(tmp, "stats_stats.csv")) as fh:
            rows = {row["Name"]: row for row in __import__("csv").DictReader(fh)}
    total = rows["Aggregated"]
    p50 = total.get("50%")
    failures = int(total.get("Failure Count") or 0)
    rps = float(total["Requests/s"])
    return (
        rps,
        float(p50) if p50 not in (None, "", "N/A") else None,
        f"failures {failures}" if failures else "",
        _cpu_us_per_request(rps, duration_s),
    )


TOOLS = {"wrk": run_wrk, "loader": run_loader, "ab": run_ab, "siege": run_siege, "hey": run_hey, "locust": run_locust}


def start_target(backend_id: str, workload: str):
    from wsgicompare.backends import WORKLOADS, ServerConfig, get_backend

    server = get_backend(backend_id).start(ServerConfig(workers=1, threads=1, cpus=(SERVER_CPU,)))
    return server, server.url + WORKLOADS[workload].path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per tool and run (default 8)")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions; the median counts (default 3)")
    parser.add_argument("--concurrency", type=int, default=64, help="connections (default 64)")
    parser.add_argument("--target-backend", default=None, help="agreement check against this backend (e.g. gunicorn)")
    parser.add_argument("--workload", default="hello", help="workload path to load (default hello)")
    parser.add_argument("--tools", default="wrk,loader,ab,siege,hey,locust", help="comma-separated tools to run")
    parser.add_argument("--modes", default="keep-alive,close", help="keep-alive,close")
    parser.add_argument(
        "--open-loop-concurrency",
        type=int,
        default=OPEN_LOOP_BAR_CONCURRENCY,
        help=f"connections of the open-loop runs and their closed-loop references (default {OPEN_LOOP_BAR_CONCURRENCY})",
    )
    parser.add_argument(
        "--open-loop-rates",
        default="5000,20000,50000",
        help="open-loop rates (req/s) whose loader CPU to measure; 0 skips (default 5000,20000,50000)",
    )
    args = parser.parse_args(argv)
    rates = [float(r) for r in args.open_loop_rates.split(",") if float(r) > 0]
    if (os.cpu_count() or 1) < 2:
        print("needs 2 CPUs (server on CPU 1, loaders on CPU 0)", file=sys.stderr)
        return 2
    tools = [t for t in args.tools.split(",") if t == "loader" or _which(t)]
    skipped = [t for t in args.tools.split(",") if t not in tools]
    if "wrk" not in tools:
        print("wrk is needed as the reference", file=sys.stderr)
        return 2
    modes = args.modes.split(",")
    backend_id = args.target_backend or "nginx-static"
    server, url = start_target(backend_id, args.workload)
    # this process merges the loader's ticks: it belongs on the tools' CPU, not the server's
    os.sched_setaffinity(0, {LOADER_CPU})
    results: dict[tuple[str, str], Measurement] = {}
    try:
        print(
            f"target {backend_id} {url} on CPU {SERVER_CPU}; tools on CPU {LOADER_CPU}; c={args.concurrency}, "
            f"{args.duration:g} s × {args.repeat}",
            flush=True,
        )
        if skipped:
            print(f"not installed: {', '.join(skipped)}")
        for rep in range(args.repeat):
            for mode in modes:
                for tool in tools:
                    m = results.setdefault((tool, mode), Measurement(tool, mode))
                    try:
                        rps, p50, note, cpu_us = TOOLS[tool](url, args.concurrency, args.duration, mode == "keep-alive")
                    except Exception as exc:  # a peer tool failing must not end the benchmark
                        m.notes.append(f"failed: {exc}")
                        continue
                    m.rps.append(rps)
                    if p50 is not None:
                        m.p50_ms.append(p50)
                    if cpu_us is not None:
                        m.cpu_us.append(cpu_us)
                    if note and note not in m.notes:
                        m.notes.append(note)
                    cpu = f"{cpu_us:6.2f}" if cpu_us is not None else "   nan"
                    print(
                        f"  run {rep + 1} {mode:10} {tool:7} {rps:10.0f} req/s  p50 {p50 if p50 is not None else float('nan'):8.3f} ms  "
                        f"{cpu} µs CPU/req  {note}",
                        flush=True,
                    )
        if rates and "loader" in tools:
            open_loop_cost(url, args.open_loop_concurrency, args.duration, rates, args.repeat)
    finally:
        server.stop()
    print()
    print(
        f"{'tool':8} {'mode':11} {'req/s (median)':>15} {'p50 ms':>8} {'÷ wrk':>7} {'µs CPU/req':>11} {'÷ wrk':>7}  notes"
    )
    for mode in modes:
        wrk = results.get(("wrk", mode))
        for tool in tools:
            m = results.get((tool, mode))
            if m is None or m.rps_median is None:
                continue
            ratio = m.rps_median / wrk.rps_median if wrk and wrk.rps_median else float("nan")
            p50 = m.p50_median_ms
            cpu_us, wrk_cpu_us = m.cpu_us_median, wrk.cpu_us_median if wrk else None
            cpu_ratio = cpu_us / wrk_cpu_us if cpu_us and wrk_cpu_us else float("nan")
            print(
                f"{tool:8} {mode:11} {m.rps_median:15.0f} {p50 if p50 is not None else float('nan'):8.2f} {ratio:7.2f} "
                f"{cpu_us if cpu_us is not None else float('nan'):11.2f} {cpu_ratio:7.2f}  {'; '.join(m.notes)}"
            )
    for mode in modes:
        wrk, loader = results.get(("wrk", mode)), results.get(("loader", mode))
        if wrk and loader and wrk.cpu_us_median and loader.cpu_us_median:
            ratio = loader.cpu_us_median / wrk.cpu_us_median
            verdict = "met" if ratio <= CPU_PER_REQUEST_BAR else "MISSED"
            print(
                f"bar {mode}: loader CPU per request {ratio:.2f} × wrk's ({verdict}, bar ≤ {CPU_PER_REQUEST_BAR:g} ×)"
            )
    if args.target_backend:
        ok = True
        for mode in modes:
            wrk, loader = results.get(("wrk", mode)), results.get(("loader", mode))
            if not (wrk and loader and wrk.rps_median and loader.rps_median):
                continue
            rps_ratio = loader.rps_median / wrk.rps_median
            agree_rps = abs(rps_ratio - 1) <= 0.10
            line = f"agreement {mode}: req/s loader/wrk {rps_ratio:.3f} ({'ok' if agree_rps else 'OFF'}, bar ±10 %)"
            if wrk.p50_median_ms and loader.p50_median_ms:
                p50_ratio = loader.p50_median_ms / wrk.p50_median_ms
                agree_p50 = abs(p50_ratio - 1) <= 0.15
                line += f"; p50 {p50_ratio:.3f} ({'ok' if agree_p50 else 'OFF'}, bar ±15 %)"
                ok = ok and agree_p50
            ok = ok and agree_rps
            print(line)
            peers = [
                (t, results[(t, mode)].rps_median / wrk.rps_median)
                for t in tools
                if t not in ("wrk", "loader") and (t, mode) in results and results[(t, mode)].rps_median
            ]
            if peers:
                print(
                    f"  the other tools against the same server, req/s ÷ wrk: {', '.join(f'{t} {r:.2f}' for t, r in peers)}"
                )
        return 0 if ok else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
