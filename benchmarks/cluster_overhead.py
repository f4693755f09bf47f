"""What does carrying the loader over Ray cost? The same load, run locally and over a
real two-node Ray cluster on this machine (ray.cluster_utils.Cluster), back to back.

Starts the `nginx-static` backend pinned to CPU 1 and a two-node cluster; then, `--repeat`
times, one local LoadRun and one cluster run (one loader process on each node) of
the same profile, every loader process pinned to CPU 0 in both, and prints each one's
req/s and loader CPU per request (medians), and the cluster/local ratio. The issue's
bar: the cluster run reaches at least 0.9 × the local req/s.

    python benchmarks/cluster_overhead.py [--duration 8 --repeat 3 --concurrency 64 --procs 2]

Run it on a quiet machine: every other process on these two CPUs shows in the figures.
Ray's own processes (GCS, two raylets) idle on the same machine here; on real hosts
they sit on the loader nodes, not beside the server.
"""

from __future__ import annotations

import argparse
import statistics
import time

from wsgicompare.backends import WORKLOADS, ServerConfig, get_backend
from wsgicompare.cluster import Cluster
from wsgicompare.loader import LoadProfile, LoadRun

LOADER_CPU = 0
SERVER_CPU = 1


def measure(run: LoadRun) -> tuple[float, float]:
    """(req/s, loader CPU µs per request) of one run to its end."""
    with run:
        run.start()
        for _ in run.ticks():
            pass
        summary = run.summary()
    if summary.fatal:
        raise SystemExit(f"run failed: {summary.fatal}")
    # loader_cpu_pct is the mean per process (100 = a core) over the measured window
    cpu_s = summary.loader_cpu_pct / 100.0 * summary.elapsed_s * summary.procs
    return summary.rps, 1e6 * cpu_s / max(1, summary.requests)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=8.0, help="measured seconds per run (default 8)")
    parser.add_argument("--repeat", type=int, default=3, help="pairs of runs; the median counts (default 3)")
    parser.add_argument("--concurrency", type=int, default=64, help="connections (default 64)")
    parser.add_argument("--procs", type=int, default=2, help="loader processes (default 2: one per node)")
    parser.add_argument("--backend", default="nginx-static", help="the server (default nginx-static)")
    args = parser.parse_args()

    from ray.cluster_utils import Cluster as RayCluster

    ray_cluster = RayCluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    ray_cluster.add_node(num_cpus=1)
    ray_cluster.wait_for_nodes()
    server = get_backend(args.backend).start(ServerConfig(workers=1, threads=1, cpus=(SERVER_CPU,)))
    cluster = Cluster(ray_cluster.address)
    try:
        url = server.url + WORKLOADS["hello"].path
        profile = LoadProfile(
            url=url,
            concurrency=args.concurrency,
            duration_s=args.duration,
            warmup_s=1.0,
            procs=args.procs,
            cpus=(LOADER_CPU,),
        )
        local: list[tuple[float, float]] = []
        remote: list[tuple[float, float]] = []
        for i in range(args.repeat):
            local.append(measure(LoadRun(profile)))
            time.sleep(1.0)
            remote.append(measure(cluster.load_run(profile, servers_here=False, cpus=(LOADER_CPU,))))
            time.sleep(1.0)
            print(
                f"pair {i + 1}: local {local[-1][0]:,.0f} req/s ({local[-1][1]:.1f} µs CPU/req), "
                f"cluster {remote[-1][0]:,.0f} req/s ({remote[-1][1]:.1f} µs CPU/req)",
                flush=True,
            )
        lr = statistics.median(r for r, _ in local)
        cr = statistics.median(r for r, _ in remote)
        lc = statistics.median(c for _, c in local)
        cc = statistics.median(c for _, c in remote)
        nodes = len(cluster.load_run(profile, servers_here=False).placements)
        print()
        print(f"| {args.backend}, -c {args.concurrency}, {args.procs} loader procs | req/s | loader CPU µs/req |")
        print("|---|---:|---:|")
        print(f"| local (one machine) | {lr:,.0f} | {lc:.1f} |")
        print(f"| cluster ({nodes} Ray nodes) | {cr:,.0f} | {cc:.1f} |")
        print(f"| cluster / local | {cr / lr:.2f} × | {cc / lc:.2f} × |")
        return 0 if cr >= 0.9 * lr else 1
    finally:
        cluster.shutdown()
        server.stop()
        ray_cluster.shutdown()


if __name__ == "__main__":
    raise SystemExit(main())
