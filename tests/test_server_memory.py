"""USS and PSS beside RSS, on real servers: gunicorn with four sync workers under a
short load (its RSS counts what the master and workers share once per process, its
USS does not), the figures in the report, the md and html tables and the live tick;
a saved report from before them still reads; and where smaps_rollup may not be read
(another user's process) the run says so and keeps RSS. Loopback only, loads ≤ 1.5 s."""

from __future__ import annotations

import json
import os
import time
from dataclasses import replace

import psutil
import pytest
from backend_support import require_backend

from wsgicompare.backends import get_backend
from wsgicompare.engine.conductor import Conductor
from wsgicompare.engine.runspec import default_load, default_server_config, default_spec
from wsgicompare.engine.sampling import MEMORY_EVERY_S, ServerWindow, TreeSampler
from wsgicompare.reporting.baseline import load_baseline
from wsgicompare.reporting.export import render
from wsgicompare.results import SCHEMA, RunResult, ServerFigures, Tick, document
from wsgicompare.session import Session
from wsgicompare.settings.options import parse_options

MEMORY_KEYS = ("uss_mb_max", "uss_mb_mean", "pss_mb_max", "pss_mb_mean", "uss_mb_per_worker")
META = {"created": "2026-01-02T03:04:05+00:00", "machine": {}, "load": {"concurrency": 4}}


@pytest.fixture(scope="module")
def gunicorn_4() -> tuple[RunResult, list[Tick]]:
    """One real run: gunicorn, 4 sync workers, c=4 for 1.5 s."""
    require_backend(get_backend("gunicorn"))
    ticks: list[Tick] = []
    spec = default_spec(
        "gunicorn",
        load=default_load(concurrency=4, duration_s=1.5, warmup_s=0.25),
        server=replace(default_server_config(), workers=4, threads=1),
    )
    result = Conductor().run_one(spec, ticks.append)
    assert result.status == "ok", result.reason
    return result, ticks


def test_uss_of_a_prefork_server_is_below_its_rss_and_pss_at_most_rss(gunicorn_4):
    result, ticks = gunicorn_4
    s = result.server
    assert s is not None and s.procs == 5 and s.memory_note is None  # the master and its 4 workers
    assert 0 < s.uss_mb_max < s.rss_mb_max
    assert 0 < s.pss_mb_max <= s.rss_mb_max
    assert s.uss_mb_max <= s.pss_mb_max  # a process's own pages are part of its share
    assert 0 < s.uss_mb_mean <= s.uss_mb_max and 0 < s.pss_mb_mean <= s.pss_mb_max
    # the workers as gunicorn's spec declares them (the master's children): each one's own pages
    assert 0 < s.uss_mb_per_worker < s.uss_mb_max
    saved = result.to_dict()["server"]
    assert all(saved[key] == getattr(s, key) for key in MEMORY_KEYS)
    # the live tick shows USS from the first measured tick on, never in the warm-up
    assert all(t.server_uss_mb is None for t in ticks if t.phase == "warmup")
    measured = [t for t in ticks if t.phase == "load"]
    assert measured and all(t.server_uss_mb is not None and 0 < t.server_uss_mb < t.server_rss_mb for t in measured)


def test_md_and_html_show_uss_beside_rss(gunicorn_4):
    result, _ = gunicorn_4
    s = result.server
    md = render("md", [result], META)
    head = next(line for line in md.splitlines() if "RSS MB" in line)
    assert "| RSS MB | USS MB |" in head
    row = next(line for line in md.splitlines() if line.startswith("| ") and "`gunicorn`" in line)
    cells = [c.strip() for c in row.split("|")]
    names = [c.strip() for c in head.split("|")]
    assert float(cells[names.index("USS MB")].replace(",", "")) == s.uss_mb_max
    assert float(cells[names.index("RSS MB")].replace(",", "")) == s.rss_mb_max
    assert f"USS per worker {s.uss_mb_per_worker:.1f} MB" in md and f"PSS max {s.pss_mb_max:,.1f} MB" in md
    html = render("html", [result], META)
    assert "<th>RSS MB</th><th>USS MB</th>" in html


def test_a_report_saved_before_uss_still_opens_and_serves_as_a_baseline(gunicorn_4, tmp_path):
    result, _ = gunicorn_4
    doc = document([result], META)
    for run in doc["runs"]:
        for key in MEMORY_KEYS:
            del run["server"][key]
    old = tmp_path / "old.json"
    old.write_text(json.dumps(doc))
    options = parse_options(["--open", str(old)])
    (opened,) = options.open_reports
    assert opened.server is not None and opened.server.uss_mb_max is None
    assert opened.server.rss_mb_max == result.server.rss_mb_max
    md = open(Session(options, results=options.open_reports).export_runs("md", str(tmp_path)).path).read()
    row = next(line for line in md.splitlines() if line.startswith("| ") and "`gunicorn`" in line)
    assert f"| {result.server.rss_mb_max:.1f} | — |" in row  # RSS kept, no USS to show
    assert "Memory: USS" not in md
    baseline = load_baseline(str(old))
    assert baseline.runs[("gunicorn", "hello")].server.uss_mb_max is None
    assert "<th>RSS MB</th><th>USS MB</th>" in render("html", [result], {**META, "baseline": baseline})
    assert doc["schema"] == SCHEMA


def test_uss_and_pss_are_read_when_asked_and_at_most_once_a_second():
    """This process as the tree: USS and PSS only with ``memory``, then not again within
    MEMORY_EVERY_S (each read walks the page tables), RSS every time."""
    me = psutil.Process()
    sampler = TreeSampler(lambda: [me], lambda: [me])
    plain = sampler.sample()
    assert plain.rss_mb > 1 and plain.uss_mb is None and plain.pss_mb is None and plain.worker_uss_mb is None
    asked = time.monotonic()
    first = sampler.sample(memory=True)
    full = me.memory_full_info()
    assert first.uss_mb == pytest.approx(full.uss / 1e6, rel=0.1)
    assert first.pss_mb == pytest.approx(full.pss / 1e6, rel=0.1)
    assert first.worker_uss_mb == first.uss_mb  # the one declared worker is the tree
    assert first.uss_mb <= first.pss_mb <= first.rss_mb and first.memory_note is None
    again = sampler.sample(memory=True)
    if time.monotonic() - asked < MEMORY_EVERY_S:  # (a stalled machine may take a second here)
        assert again.uss_mb is None and again.rss_mb > 1
    # without declared workers (a --url run's listener) there is no per-worker figure
    assert TreeSampler(lambda: [me]).sample(memory=True).worker_uss_mb is None


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to sample as another user (setuid to nobody)")
def test_where_uss_may_not_be_read_the_run_says_so_and_keeps_rss():
    """A sampler running as nobody samples a root process (this one): its statm is
    world-readable, its smaps_rollup is not. No USS, a note, RSS as before."""
    target = os.getpid()
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover (runs in the forked child)
        try:
            os.close(read_end)
            os.setgid(65534)
            os.setuid(65534)
            sampler = TreeSampler(lambda: [psutil.Process(target)])
            sample = sampler.sample(memory=True)
            window = ServerWindow()
            window.add(sample, full=True)
            figures = window.figures()
            out = {"sample": sample._asdict(), "server": figures.to_dict() if figures else None}
            os.write(write_end, json.dumps(out).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as f:
        got = json.loads(f.read() or b"{}")
    os.waitpid(child, 0)
    sample, server = got["sample"], got["server"]
    assert sample["rss_mb"] > 1 and sample["procs"] == 1
    assert sample["uss_mb"] is None and sample["pss_mb"] is None
    assert sample["memory_note"] == (
        f"USS and PSS not permitted (/proc/{target}/smaps_rollup unreadable): memory is RSS only"
    )
    assert server["rss_mb_max"] > 1 and server["memory_note"] == sample["memory_note"]
    assert not set(MEMORY_KEYS) & set(server)
    # the note reaches the reports, in the run's notes
    run = RunResult(backend="x", title="X", workload="hello", status="ok", server=ServerFigures.from_dict(server))
    assert sample["memory_note"] in render("md", [run], META)
    assert sample["memory_note"] in render("html", [run], META)


def test_a_read_refused_once_is_no_note_when_others_succeeded() -> None:
    from wsgicompare.engine.sampling import ServerSample, ServerWindow

    note = "memory: USS/PSS not permitted (RSS only)"
    window = ServerWindow()
    window.add(ServerSample(50.0, 60.0, 2, 2, memory_note=note), full=True)
    window.add(ServerSample(50.0, 60.0, 2, 2, uss_mb=30.0, pss_mb=40.0), full=True)
    figures = window.figures()
    assert figures is not None and figures.uss_mb_max == 30.0 and figures.memory_note is None
    refused = ServerWindow()
    refused.add(ServerSample(50.0, 60.0, 2, 2, memory_note=note), full=True)
    figures = refused.figures()
    assert figures is not None and figures.uss_mb_max is None and figures.memory_note == note
