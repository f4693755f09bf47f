"""Each verdict rule: it speaks when its figures are in the result, and stays silent
when they are not (never a verdict the data does not support)."""

from __future__ import annotations

from dataclasses import replace

from wsgicompare.engine import verdicts as v
from wsgicompare.loader import LatencyHistogram
from wsgicompare.results import LatencyFigures, LoaderFigures, RunResult, ServerFigures, TcpFigures


def run(**kw) -> RunResult:
    base = dict(
        backend="b",
        title="B",
        workload="hello",
        status="ok",
        requests=1000,
        responses={"2xx": 1000, "3xx": 0, "4xx": 0, "5xx": 0},
        elapsed_s=2.0,
        rps=500.0,
        latency_ms=LatencyFigures(min=1.0, mean=5.0, p50=5.0, p90=8.0, p99=12.0, p999=15.0, max=20.0),
        server=ServerFigures(cpu_pct_mean=90.0, cpu_pct_max=99.0, rss_mb_max=30.0, procs=1, threads=1),
        loader=LoaderFigures(cpu_pct=40.0, saturated=False, procs=1),
    )
    base.update(kw)
    return RunResult(**base)


def test_a_healthy_run_gets_no_verdict():
    assert v.verdicts(run()) == []


def test_loader_bound_names_the_reasons():
    r = run(loader=LoaderFigures(cpu_pct=99.0, saturated=True, procs=1, reasons=("loader CPU 99 %",)))
    assert v.loader_bound(r) == "loader-bound: these figures measure the loader, not the server (loader CPU 99 %)"
    assert v.loader_bound(run(loader=LoaderFigures(cpu_pct=99.0, procs=1))) is None


def test_nagle_needs_the_probe_to_show_that_acking_at_once_removes_the_wait():
    stalled = {"n": 6, "first_byte": 0.1, "last_byte": 44.0, "last_byte_quickack": 0.1}
    lat = LatencyFigures(p50=44.0, p99=48.0, max=50.0, probe=stalled)
    assert v.nagle_stall(run(latency_ms=lat)) == (
        "Nagle/delayed-ACK stall (p50 44.0 ms): at c=1 a response took 44.0 ms, and 0.1 ms when the client ACKed "
        "at once (TCP_QUICKACK); the server writes a response in pieces without TCP_NODELAY, and each waits for "
        "the client's delayed ACK (~40 ms)"
    )
    # a busy server or no server figures at all (--url elsewhere): the probe is the evidence, not the CPU
    assert v.nagle_stall(run(latency_ms=lat, server=ServerFigures(cpu_pct_mean=95.0)))
    assert v.nagle_stall(run(latency_ms=lat, server=None))
    # a stall on top of slow work still is one
    slow = LatencyFigures(p50=84.0, probe={"n": 6, "first_byte": 41.0, "last_byte": 84.0, "last_byte_quickack": 40.9})
    assert v.nagle_stall(run(latency_ms=slow))
    # an app that takes 40 ms itself: as slow with TCP_QUICKACK, so no stall
    sleepy = LatencyFigures(p50=40.7, probe={"n": 6, "first_byte": 40.7, "last_byte": 40.7, "last_byte_quickack": 42.7})
    assert v.nagle_stall(run(latency_ms=sleepy, server=ServerFigures(cpu_pct_mean=2.0))) is None
    # no probe (not run, or it could not finish): no claim
    assert v.nagle_stall(run(latency_ms=LatencyFigures(p50=44.0), server=ServerFigures(cpu_pct_mean=2.0))) is None
    # a p50 below the delayed-ACK minimum is not this stall, whatever a probe says
    assert v.nagle_stall(run(latency_ms=LatencyFigures(p50=20.0, probe=stalled))) is None


def test_the_probe_is_wanted_only_where_a_stall_could_be_the_p50():
    assert v.wants_stall_probe(run(latency_ms=LatencyFigures(p50=40.2)))
    assert not v.wants_stall_probe(run(latency_ms=LatencyFigures(p50=5.0)))
    assert not v.wants_stall_probe(run(latency_ms=LatencyFigures(p50=40.2), requests=3))
    assert not v.wants_stall_probe(run(latency_ms=LatencyFigures(p50=40.2), status="failed"))
    # open loop: the p50 from the actual send, not the one that holds the loader's queue
    assert not v.wants_stall_probe(run(latency_ms=LatencyFigures(p50=400.0, uncorrected=LatencyFigures(p50=2.0))))


def test_connection_errors_are_counted_by_kind():
    r = run(requests=1100, errors={"refused": 70, "reset": 30, "read_timeout": 5})
    assert v.connection_errors(r) == (
        "100 connection errors (70 refused, 30 reset): the server refused or dropped "
        "connections (listen backlog, worker limit or workers restarting)"
    )
    refused = run(requests=1100, errors={"refused": 70, "connect_timeout": 3})
    assert (
        v.connection_errors(refused)
        == "73 connection errors (70 refused, 3 connect timeout): listen backlog or worker limit reached"
    )
    assert v.connection_errors(run(errors={"read_timeout": 5})) is None


def test_a_crash_explains_refusals_instead_of_the_backlog():
    r = run(status="failed", crashed_at_s=3.25, errors={"refused": 500})
    assert v.crashed(r) == "not all requests answered: server crashed at t=3.2 s"
    assert v.connection_errors(r) is None
    assert v.crashed(run()) is None


def test_availability_below_100_never_prints_as_100():
    r = run(requests=100_000, responses={"2xx": 99_999, "3xx": 0, "4xx": 0, "5xx": 0}, errors={"reset": 1})
    text = v.low_availability(r)
    assert text.startswith("2xx only 99.99") and "100.0" not in text
    half = run(requests=10, responses={"2xx": 5, "3xx": 0, "4xx": 0, "5xx": 5})
    assert v.low_availability(half) == "2xx only 50.0 % of 10 requests"
    assert v.low_availability(run(requests=0, responses={"2xx": 0})) is None


def test_listen_overflow_is_this_servers_when_its_queue_was_seen_full():
    full = run(
        tcp=TcpFigures({"ListenOverflows": 247, "ListenDrops": 260}, accept_queue_peak=101, accept_queue_limit=100)
    )
    assert v.listen_overflows(full) == (
        "this server's listen backlog overflowed: its accept queue was seen full (101 waiting, backlog 100; "
        "247 listen overflows on the machine during the run); dropped connects are retried after 1 s, 3 s, 7 s …"
    )
    # with the slow transactions at the retry times too, the verdict says both
    retried = replace(full.tcp, slow_at_syn_retry=40, slow_elsewhere=2)
    slow = run(tcp=retried, latency_ms=LatencyFigures(p50=5.0, max=3012.0))
    assert v.listen_overflows(slow).endswith(
        "; 40 of the 42 transactions over 0.9 s took a SYN-retry time (1 s, 3 s, 7 s … ±10 %), the longest took 3.0 s"
    )
    # a slow endpoint beside a full queue: the queue is the evidence, the slow ones are not claimed
    spread = run(tcp=replace(full.tcp, slow_at_syn_retry=2, slow_elsewhere=40), latency_ms=slow.latency_ms)
    assert v.listen_overflows(spread) == v.listen_overflows(full)
    # ListenDrops counts every drop at a listener, overflows included: never reported as overflows
    assert "260" not in v.listen_overflows(full) and "260" not in v.listen_overflows(slow)


def test_listen_overflow_is_this_servers_when_its_slow_transactions_cluster_at_the_retry_times():
    stepped = run(
        tcp=TcpFigures(
            {"ListenOverflows": 6}, accept_queue_peak=0, accept_queue_limit=128, slow_at_syn_retry=5, slow_elsewhere=1
        ),
        latency_ms=LatencyFigures(p50=2.0, max=1030.0),
    )
    assert v.listen_overflows(stepped) == (
        "this server's listen backlog overflowed: 5 of the 6 transactions over 0.9 s took a SYN-retry time "
        "(1 s, 3 s, 7 s … ±10 %), what a connect dropped by a full backlog waits (the longest took 1.0 s; "
        "6 listen overflows on the machine during the run)"
    )


def test_slow_transactions_that_do_not_fit_a_full_backlog_leave_it_the_machines_counter():
    machine = "the machine's listen queues overflowed 6× during the run (a machine-wide kernel counter: not necessarily this server"
    queue = {"accept_queue_peak": 0, "accept_queue_limit": 128}
    # a slow endpoint: every second-long transaction between the retry times (the old rule blamed any ≥ 990 ms)
    slow_endpoint = run(
        tcp=TcpFigures({"ListenOverflows": 6}, **queue, slow_at_syn_retry=0, slow_elsewhere=16),
        latency_ms=LatencyFigures(p50=1300.0, max=1302.0),
    )
    assert v.listen_overflows(slow_endpoint) == (
        f"{machine}; this server's accept queue was seen at most 0 of 128; "
        "0 of the 16 transactions over 0.9 s took a SYN-retry time (1 s, 3 s, 7 s … ±10 %))"
    )
    # some at a retry time by chance, most not: no cluster
    half = run(tcp=TcpFigures({"ListenOverflows": 6}, **queue, slow_at_syn_retry=3, slow_elsewhere=3))
    assert v.listen_overflows(half).startswith(machine)
    # an endpoint that takes a second: at the retry time, but more of them than the counter has drops
    one_second = run(tcp=TcpFigures({"ListenOverflows": 6}, **queue, slow_at_syn_retry=40, slow_elsewhere=0))
    assert v.listen_overflows(one_second).startswith(machine)
    assert v.listen_overflows(one_second).endswith(
        "40 of the 40 transactions over 0.9 s took a SYN-retry time (1 s, 3 s, 7 s … ±10 %), "
        "more than the overflows could have delayed)"
    )
    # open loop: a second-long corrected latency can be the loader's own queue; the split is
    # made from the actual send (with_syn_retries), and without it there is no evidence
    queued = run(
        tcp=TcpFigures({"ListenOverflows": 6}),
        latency_ms=LatencyFigures(p50=2.0, max=1500.0, uncorrected=LatencyFigures(p50=2.0, max=40.0)),
    )
    assert v.listen_overflows(queued) == machine + ")"


def test_slow_transactions_are_split_by_the_syn_retry_times():
    """From a real histogram (µs): ±10 % around 1 s, 3 s, 7 s … is at a retry time."""
    hist = LatencyHistogram()
    at = [905_000, 1_000_000, 1_095_000, 2_750_000, 3_300_000 - 5_000, 7_100_000, 31_000_000]
    elsewhere = [1_120_000, 1_300_000, 1_500_000, 2_000_000, 2_650_000, 3_400_000, 5_000_000, 8_000_000]
    fast = [1_000, 50_000, 880_000]
    hist.record_many(at + elsewhere + fast)
    tcp = v.with_syn_retries(TcpFigures({"ListenOverflows": 1}, accept_queue_peak=2), hist)
    assert (tcp.slow_at_syn_retry, tcp.slow_elsewhere) == (len(at), len(elsewhere))
    assert tcp.counters == {"ListenOverflows": 1} and tcp.accept_queue_peak == 2
    # written in the report's tcp object beside the counters, and read back
    saved = tcp.to_dict()
    assert saved["slow_at_syn_retry"] == 7 and saved["slow_elsewhere"] == 8
    assert TcpFigures.from_dict(saved) == tcp
    # a report from before the split: no such keys, and no counters made of them
    assert TcpFigures.from_dict({"ListenOverflows": 3}).slow_at_syn_retry is None
    nothing = v.with_syn_retries(TcpFigures(), LatencyHistogram())
    assert (nothing.slow_at_syn_retry, nothing.slow_elsewhere) == (0, 0)


def test_listen_overflow_without_evidence_is_the_machines_counter():
    wording = "the machine's listen queues overflowed 6× during the run (a machine-wide kernel counter: not necessarily this server"
    # queue never sampled (a remote --url, or sampling failed): the counter alone proves nothing
    assert v.listen_overflows(run(tcp=TcpFigures({"ListenOverflows": 6, "ListenDrops": 6}))) == wording + ")"
    # sampled, and never near its limit
    below = run(tcp=TcpFigures({"ListenOverflows": 6}, accept_queue_peak=3, accept_queue_limit=128))
    assert v.listen_overflows(below) == wording + "; this server's accept queue was seen at most 3 of 128)"
    # /proc/net/tcp gives no backlog limit: a queue is no evidence of a full one
    no_limit = run(tcp=TcpFigures({"ListenOverflows": 6}, accept_queue_peak=40))
    assert v.listen_overflows(no_limit) == wording + ")"
    # an empty queue with backlog 0 is not a full one
    zero = run(tcp=TcpFigures({"ListenOverflows": 6}, accept_queue_peak=0, accept_queue_limit=0))
    assert v.listen_overflows(zero).startswith("the machine's listen queues")
    assert (
        v.listen_overflows(
            run(tcp=TcpFigures({"ListenOverflows": 0, "ListenDrops": 4}, accept_queue_peak=9, accept_queue_limit=8))
        )
        is None
    )
    assert v.listen_overflows(run()) is None


def open_loop(**loader) -> LoaderFigures:
    base = {
        "cpu_pct": 50.0,
        "procs": 1,
        "saturated": False,
        "target_rate": 1000.0,
        "offered_rate": 1000.0,
        "sent_rate": 1000.0,
        "served_rate": 990.0,
        "scheduled": 2000,
        "sent_late": 0,
        "backlogged": 0,
        "unsent": 0,
        "in_flight_dropped": 3,
        "backlog_growing": False,
    }
    base.update(loader)
    return LoaderFigures(**base)


def test_over_capacity_needs_a_shortfall_and_a_growing_backlog():
    over = run(loader=open_loop(served_rate=612.4, backlogged=900, unsent=300, backlog_growing=True))
    assert (
        v.over_capacity(over)
        == "server over capacity: served 612 of 1000 req/s offered; requests queued behind busy connections"
    )
    # short of the offer but nothing queued for the server: not the server's capacity
    assert v.over_capacity(run(loader=open_loop(served_rate=612.4))) is None
    # served within 10 % of the offer: a queue that grew is not yet a server over capacity
    assert v.over_capacity(run(loader=open_loop(served_rate=950.0, backlogged=40, backlog_growing=True))) is None
    # without the loader's trend: requests waited and some were never sent
    assert v.over_capacity(run(loader=open_loop(served_rate=500.0, backlogged=50, unsent=20, backlog_growing=None)))
    assert v.over_capacity(run(loader=open_loop(served_rate=500.0, backlogged=50, backlog_growing=None))) is None
    # a loader that reports no served_rate yet: the responses per second are the same figure
    legacy = LoaderFigures(cpu_pct=50.0, procs=1, target_rate=1000.0, backlogged=900, unsent=300)
    assert v.over_capacity(run(loader=legacy, rps=612.4)).startswith("server over capacity: served 612 of 1000")
    assert v.over_capacity(run()) is None  # closed loop: nothing offered


def test_schedule_missed_when_more_than_one_percent_left_late():
    late = run(loader=open_loop(sent_late=120))
    assert v.schedule_missed(late) == "the loader could not keep the schedule: 120 of 2000 requests left > 10 ms late"
    assert v.schedule_missed(run(loader=open_loop(sent_late=20))) is None  # 1 %: on schedule
    assert v.schedule_missed(run()) is None


def test_a_healthy_open_loop_run_gets_no_verdict():
    assert v.verdicts(run(loader=open_loop())) == []


def test_verdicts_come_in_rule_order():
    r = run(
        status="failed",
        crashed_at_s=1.0,
        requests=200,
        responses={"2xx": 100, "3xx": 0, "4xx": 0, "5xx": 0},
        errors={"refused": 100},
        loader=LoaderFigures(cpu_pct=99.0, saturated=True, procs=1),
    )
    found = v.verdicts(r)
    assert found[0].startswith("loader-bound")
    assert found[1].startswith("not all requests answered")
    assert found[2].startswith("2xx only 50.0")
    assert len(found) == 3


def test_unanswered_requests_are_a_finding_only_when_they_are_a_real_share():
    assert (
        v.unanswered(run(requests=10_000, loader=LoaderFigures(in_flight_dropped=64))) is None
    )  # the last request per connection
    stalled = v.unanswered(run(requests=100, loader=LoaderFigures(in_flight_dropped=64)))
    assert stalled.startswith("64 requests (39 % of those sent) were still unanswered")
    assert v.unanswered(run(requests=100, loader=None)) is None


def test_unanswered_tells_sent_from_never_sent():
    # open loop: 40 sent and unanswered, 260 due but never sent; 700 answered or failed
    r = run(requests=700, loader=open_loop(in_flight_dropped=40, unsent=260))
    assert v.unanswered(r) == (
        "300 requests were still unanswered when the load ended (40 sent but unanswered, 260 never sent: "
        "every connection was busy), 30 % of the 1000 due: they are in no figure, so the latencies look better "
        "than the server was"
    )
    assert v.unanswered(run(requests=10_000, loader=open_loop(in_flight_dropped=40, unsent=60))) is None
