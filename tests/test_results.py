"""The typed parts of a RunResult (latency_ms, server, loader, tcp, repeat, settle): each
writes exactly the object the schema has always had and reads it back, an older report's
missing keys get defaults, a newer one's extra keys are ignored."""

from __future__ import annotations

import json

import pytest
from golden.samples import META, sample_results

from wsgicompare.reporting.export import render
from wsgicompare.results import (
    LatencyFigures,
    LoaderFigures,
    RepeatFigures,
    RunResult,
    ServerFigures,
    Settle,
    TcpFigures,
    results_from_document,
)


def test_a_saved_report_reads_back_to_the_same_json():
    text = render("json", sample_results(), META)
    again = render("json", results_from_document(json.loads(text)), META)
    assert again == text


def test_the_parts_read_back_typed():
    (flask, gunicorn, uwsgi, php) = results_from_document(json.loads(render("json", sample_results(), META)))
    assert flask.latency_ms == LatencyFigures(min=0.5, mean=39.5, p50=40.1, p90=41.0, p99=44.7, p999=60.0, max=61.2)
    assert gunicorn.server == ServerFigures(
        cpu_pct_mean=98.5,
        cpu_pct_max=100.2,
        rss_mb_max=60.25,
        uss_mb_max=41.0,
        uss_mb_mean=40.6,
        pss_mb_max=48.3,
        pss_mb_mean=47.9,
        uss_mb_per_worker=27.5,
        procs=2,
        threads=2,
    )
    assert flask.server is not None and flask.server.uss_mb_max is None  # an older report's run: RSS only
    assert gunicorn.settle == Settle(port=40001, waited_s=0.25, time_wait_before=12, time_wait=0, listening=0)
    assert uwsgi.tcp.listen_overflows == 247 and uwsgi.tcp.accept_queue_peak is None
    # a run that never loaded: no figures, and {} in the report as before
    assert php.server is None and php.loader is None and php.repeat is None and php.settle is None
    assert not php.latency_ms and not php.tcp
    assert {
        k: php.to_dict()[k] for k in ("latency_ms", "server", "loader", "tcp", "repeat", "settle")
    } == dict.fromkeys(("latency_ms", "server", "loader", "tcp", "repeat", "settle"), {})


def test_an_open_loop_run_writes_every_key_in_the_order_it_always_had():
    loader = {
        "cpu_pct": 41.2,
        "saturated": False,
        "procs": 2,
        "reasons": [],
        "loop_lag_p99_ms": 1.25,
        "in_flight_dropped": 3,
        "target_rate": 1000.0,
        "offered_rate": 1000.0,
        "sent_rate": 999.1,
        "served_rate": 990.0,
        "scheduled": 10000,
        "sent": 9990,
        "sent_late": 0,
        "backlogged": 4,
        "unsent": 0,
        "carried_over": 2,
        "backlog_growing": False,
        "notes": ["open loop: all 64 connections busy"],
    }
    latency = {
        "min": 0.1,
        "mean": 1.0,
        "p50": 1.0,
        "p90": 2.0,
        "p99": 3.0,
        "p999": 4.0,
        "max": 5.0,
        "uncorrected": {"min": 0.1, "mean": 0.9, "p50": 0.9, "p90": 1.8, "p99": 2.5, "p999": 3.5, "max": 4.0},
        "probe": {"n": 6, "first_byte": 0.1, "last_byte": 44.0, "last_byte_quickack": 0.1},
    }
    tcp = {"ListenOverflows": 6, "ListenDrops": 6, "accept_queue_peak": 129, "accept_queue_limit": 128}
    repeat = {
        "n": 2,
        "rps": [900.0, 1000.0],
        "p99_ms": [3.0, None],
        "status": ["ok", "failed"],
        "rps_median": 900.0,
        "rps_min": 900.0,
        "rps_max": 900.0,
        "spread_pct": None,
    }
    settle = {"waited_s": 0.0, "time_wait": 0, "listening": 0}
    entry = {"backend": "b", "title": "B", "workload": "hello", "status": "ok"}
    entry |= {"latency_ms": latency, "loader": loader, "tcp": tcp, "repeat": repeat, "settle": settle}
    run = RunResult.from_dict(entry)
    assert run.loader is not None and run.loader.reasons == () and run.loader.notes == (loader["notes"][0],)
    assert run.latency_ms.uncorrected is not None and run.latency_ms.uncorrected.p99 == 2.5
    assert run.tcp.accept_queue_limit == 128 and run.repeat is not None and run.repeat.spread_pct is None
    out = json.loads(json.dumps(run.to_dict()))
    for key, value in (("latency_ms", latency), ("loader", loader), ("tcp", tcp), ("repeat", repeat)):
        assert list(out[key].items()) == list(value.items()), key
    assert out["settle"] == settle


def test_an_older_report_gets_defaults_and_a_newer_ones_keys_are_ignored():
    entry = {"backend": "b", "title": "B", "workload": "hello", "status": "ok"}
    old = RunResult.from_dict(entry | {"loader": {"cpu_pct": 10.0}, "server": {"cpu_pct_mean": 5.0}})
    assert old.loader == LoaderFigures(cpu_pct=10.0) and old.loader.saturated is False
    assert old.server == ServerFigures(cpu_pct_mean=5.0)
    new = RunResult.from_dict(entry | {"loader": {"cpu_pct": 10.0, "saturated": True, "procs": 1, "warp": 9}})
    assert new.loader == LoaderFigures(cpu_pct=10.0, saturated=True, procs=1)
    assert RunResult.from_dict(entry).latency_ms == LatencyFigures()
    with pytest.raises(TypeError, match="latency_ms must be an object"):
        RunResult.from_dict(entry | {"latency_ms": [1, 2]})


def test_loader_nodes_are_written_only_for_a_cluster_run():
    single = LoaderFigures(cpu_pct=30.0, saturated=False, procs=1)
    assert "nodes" not in single.to_dict()
    nodes = [{"node_id": "n1", "host": "10.0.0.2", "procs": 2, "cpu_pct": 55.0}]
    cluster = LoaderFigures(cpu_pct=30.0, saturated=False, procs=2, nodes=nodes)
    assert cluster.to_dict()["nodes"] == nodes
    assert LoaderFigures.from_dict(cluster.to_dict()) == cluster


def test_latency_figures_by_name():
    lat = LatencyFigures(p50=1.0, p99=3.0)
    assert lat.figure("p99") == 3.0 and lat.figure("max") is None and lat
    assert not LatencyFigures()
    with pytest.raises(KeyError):
        lat.figure("uncorrected")
    assert TcpFigures({"ListenOverflows": 2}).listen_overflows == 2
    assert RepeatFigures(n=3).to_dict()["spread_pct"] is None  # every key written, None as null
