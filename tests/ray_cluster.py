"""A real Ray cluster of several nodes on this machine, for the cluster tests
(tests/test_cluster.py): ``python tests/ray_cluster.py N [CLIENT_PORT]`` starts a head (with a
Ray Client server on CLIENT_PORT if given) and N-1 more nodes (ray.cluster_utils.Cluster: each its own raylet and object store),
prints one JSON line {"address", "nodes": [node ids, head first]} and then obeys
stdin, a line each: ``add`` (one more node of one CPU; prints {"added": NODE_ID}),
``remove NODE_ID`` (that node's raylet ends, as a host that dies), ``quit``. End of stdin ends the cluster too. The test starts this in a
session of its own, so it ends exactly the processes it started."""

from __future__ import annotations

import json
import sys

from ray.cluster_utils import Cluster


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    head: dict = {"num_cpus": 1, "include_dashboard": False}
    if len(sys.argv) > 2:  # a Ray Client server on this port too (ray://)
        head["ray_client_server_port"] = int(sys.argv[2])
    cluster = Cluster(initialize_head=True, head_node_args=head)
    nodes = [cluster.head_node] + [cluster.add_node(num_cpus=1) for _ in range(count - 1)]
    cluster.wait_for_nodes()
    print(json.dumps({"address": cluster.address, "nodes": [n.node_id for n in nodes]}), flush=True)
    by_id = {n.node_id: n for n in nodes}
    try:
        for line in sys.stdin:
            words = line.split()
            if not words or words[0] == "quit":
                break
            if words[0] == "add":
                node = cluster.add_node(num_cpus=1)
                cluster.wait_for_nodes()
                by_id[node.node_id] = node
                print(json.dumps({"added": node.node_id}), flush=True)
            elif words[0] == "remove" and words[1] in by_id:
                cluster.remove_node(by_id.pop(words[1]), allow_graceful=False)
                print(json.dumps({"removed": words[1]}), flush=True)
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    main()
