"""Does the loader's memory stay flat with run length? Loader RSS after a 60 s run vs a
10 s run against `nginx-static` (bar: the difference stays below 20 MB).

    python benchmarks/loader_memory.py            # 10 s and 60 s
    python benchmarks/loader_memory.py --short    # 1 s and 6 s (smoke run)
    python benchmarks/loader_memory.py --no-keepalive   # a connection per request

The loader process's RSS is sampled with psutil on every tick; the figure is the
highest sample (the process is gone once the last tick arrives).
"""

from __future__ import annotations

import argparse
import sys

import psutil

from wsgicompare.loader import LoadProfile, LoadRun

BAR_MB = 20.0


def loader_rss_mb(url: str, duration_s: float, concurrency: int, keepalive: bool = True) -> tuple[float, int]:
    """Highest RSS (MB) of the loader process over one run, and the requests it made."""
    peak_mb = 0.0
    profile = LoadProfile(
        url=url,
        concurrency=concurrency,
        duration_s=duration_s,
        keepalive=keepalive,
        cpus=(0,),
        max_wall_s=duration_s + 60,
    )
    run = LoadRun(profile)
    with run:
        run.start()
        procs = [psutil.Process(pid) for pid in run.pids]
        for _tick in run.ticks():
            for proc in procs:
                try:
                    peak_mb = max(peak_mb, proc.memory_info().rss / 2**20)
                except psutil.NoSuchProcess:
                    pass
        summary = run.summary()
    if summary.fatal:
        raise RuntimeError(summary.fatal)
    return peak_mb, summary.requests


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", action="store_true", help="1 s and 6 s instead of 10 s and 60 s")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--no-keepalive", action="store_true", help="Connection: close, a connection per request")
    args = parser.parse_args(argv)
    short_s, long_s = (1.0, 6.0) if args.short else (10.0, 60.0)

    from wsgicompare.backends import WORKLOADS, ServerConfig, get_backend

    server = get_backend("nginx-static").start(ServerConfig(workers=1, threads=1, cpus=(1,)))
    try:
        url = server.url + WORKLOADS["hello"].path
        short_mb, short_n = loader_rss_mb(url, short_s, args.concurrency, not args.no_keepalive)
        long_mb, long_n = loader_rss_mb(url, long_s, args.concurrency, not args.no_keepalive)
    finally:
        server.stop()
    growth = long_mb - short_mb
    print(f"loader RSS after {short_s:g} s ({short_n} requests): {short_mb:.1f} MB")
    print(f"loader RSS after {long_s:g} s ({long_n} requests): {long_mb:.1f} MB")
    print(f"growth {growth:+.1f} MB (bar < {BAR_MB:g} MB): {'ok' if growth < BAR_MB else 'TOO MUCH'}")
    return 0 if growth < BAR_MB else 1


if __name__ == "__main__":
    sys.exit(main())
