"""--recommend's ranking rule (wsgicompare/recommend/rule.py) on synthetic figures: the
pick, ties within 5 % or the measured spread (broken by p99 at half, then memory),
rejections with their reasons, the memory budget, partial runs; the grid and --sweep
(sweep.py); the JSON object and the Markdown section (report.py); and the bad input of
its options (one line, exit 2, nothing started)."""

from __future__ import annotations

import json

import pytest

from wsgicompare.parsing import OptionError
from wsgicompare.reporting.recommend.report import markdown, recommendation
from wsgicompare.reporting.recommend.rule import DEFAULT_REQUIRED, RULE, Candidate, decide
from wsgicompare.reporting.recommend.sweep import Config, grid, parse_sweep, rule_of_thumb

pytest_plugins = ["cli_support"]

PASSED = {name: "pass" for name in DEFAULT_REQUIRED}


def cand(backend: str, capacity: float | None, **kw) -> Candidate:
    kw.setdefault("scenarios", dict(PASSED))
    kw.setdefault("config", {"workers": 3})
    kw.setdefault("config_text", "3 sync workers")
    return Candidate(backend=backend, capacity_rps=capacity, **kw)


def order(d) -> list[str]:
    return [c.backend for c in d.ranked]


def test_ranked_by_capacity_per_cpu_and_each_why_cites_a_figure():
    d = decide([cand("a", 1000.0), cand("b", 2000.0, uss_mb_per_worker=24.0), cand("c", 1500.0)], DEFAULT_REQUIRED)
    assert order(d) == ["b", "c", "a"]
    assert d.pick is not None and d.pick.backend == "b"
    why = d.why["b"]
    assert why[0].startswith("capacity 2,000 req/s within the SLO on 1 server CPU (2,000 req/s per CPU)")
    assert "33 % more per CPU than c (1,500 req/s per CPU)" in why[1]
    assert "USS 24.0 MB per worker" in why[2]
    # per CPU: the same capacity on two CPUs is half as good
    d2 = decide([cand("a", 1500.0, cpus=1), cand("b", 2000.0, cpus=2)], DEFAULT_REQUIRED)
    assert order(d2) == ["a", "b"]


def test_a_tie_within_5_percent_goes_to_the_lower_p99_at_half_then_to_less_memory():
    d = decide([cand("fast", 1000.0, p99_ms_at_half=9.0), cand("calm", 960.0, p99_ms_at_half=3.0)], DEFAULT_REQUIRED)
    assert order(d) == ["calm", "fast"]
    assert any("a tie" in line and "3.0 ms against 9.0 ms" in line for line in d.why["calm"])
    # equal p99: the smaller PSS wins
    d = decide(
        [cand("big", 1000.0, p99_ms_at_half=3.0, pss_mb=200.0), cand("small", 990.0, p99_ms_at_half=3.0, pss_mb=80.0)],
        DEFAULT_REQUIRED,
    )
    assert order(d) == ["small", "big"]
    # 6 % apart is no tie: capacity decides, whatever the p99
    d = decide([cand("fast", 1000.0, p99_ms_at_half=9.0), cand("calm", 940.0, p99_ms_at_half=3.0)], DEFAULT_REQUIRED)
    assert order(d) == ["fast", "calm"]


def test_a_measured_spread_wider_than_5_percent_widens_the_tie():
    d = decide(
        [cand("fast", 1000.0, p99_ms_at_half=9.0, spread_pct=12.0), cand("calm", 900.0, p99_ms_at_half=3.0)],
        DEFAULT_REQUIRED,
    )
    assert order(d) == ["calm", "fast"]
    assert any("within 12 %" in line for line in d.why["calm"])


def test_a_failed_or_unsupported_required_scenario_rejects_with_its_reason():
    starved = cand(
        "gunicorn",
        5000.0,
        scenarios={**PASSED, "slow-clients": "fail"},
        scenario_text={"slow-clients": "starved: 0 % of its rate with 4 slow clients"},
    )
    dev = cand(
        "flask-dev",
        900.0,
        scenarios={"slow-clients": "pass", "worker-kill": "fail", "reload": "unsupported"},
        scenario_text={"worker-kill": "not recovered: one process (141 failed)", "reload": "no graceful reload"},
    )
    d = decide([starved, dev, cand("gunicorn-nginx", 2400.0)], DEFAULT_REQUIRED)
    assert order(d) == ["gunicorn-nginx"]
    reasons = {c.backend: r for c, r in d.rejected}
    assert reasons["gunicorn"] == [
        "slow-clients: starved: 0 % of its rate with 4 slow clients (put a buffering proxy (nginx) in front)"
    ]
    assert reasons["flask-dev"][0] == "worker-kill: not recovered: one process (141 failed) (a crash is an outage)"
    assert reasons["flask-dev"][1].startswith("reload: unsupported — no graceful reload")
    # the gravest reason first: a crash that is an outage, then starvation, then a deploy that is a restart
    worst = cand("x", 1.0, scenarios={"slow-clients": "fail", "worker-kill": "fail", "reload": "unsupported"})
    said = decide([worst], DEFAULT_REQUIRED).rejected[0][1]
    assert [r.split(":")[0] for r in said] == ["worker-kill", "slow-clients", "reload"]
    # --require none: capacity alone
    assert order(decide([starved, dev, cand("gunicorn-nginx", 2400.0)], ())) == [
        "gunicorn",
        "gunicorn-nginx",
        "flask-dev",
    ]
    # --require worker-kill only: the starved one is back, flask-dev is not
    assert order(decide([starved, dev], ("worker-kill",))) == ["gunicorn"]


def test_the_slow_transfers_may_be_required_and_say_what_would_help():
    held = cand(
        "gunicorn",
        5000.0,
        scenarios={"slow-readers": "fail", "slow-uploads": "fail"},
        scenario_text={
            "slow-readers": "starved: 0 % of its rate with 4 slow readers",
            "slow-uploads": "starved: 1 % of its rate with 4 slow uploads",
        },
    )
    fronted = cand("gunicorn-nginx", 2400.0, scenarios={"slow-readers": "pass", "slow-uploads": "pass"})
    d = decide([held, fronted], ("slow-uploads", "slow-readers"))
    assert order(d) == ["gunicorn-nginx"]
    assert d.rejected[0][1] == [
        "slow-readers: starved: 0 % of its rate with 4 slow readers (put a proxy that buffers answers (nginx) in front)",
        "slow-uploads: starved: 1 % of its rate with 4 slow uploads "
        "(put a proxy that buffers request bodies (nginx) in front)",
    ]


def test_require_takes_the_slow_transfers():
    from wsgicompare.settings.options import parse_options

    o = parse_options(["--recommend", "--backends", "gunicorn", "--require", "slow-readers,slow-uploads,reload"])
    assert o.require == ("slow-readers", "slow-uploads", "reload")


def test_no_confirmed_capacity_and_a_problem_reject():
    d = decide(
        [cand("a", None, capacity_note="no rate met p99 ≤ 100 ms"), cand("b", 10.0, problems=["missing uwsgi"])],
        DEFAULT_REQUIRED,
    )
    assert d.pick is None
    assert [r for _, r in d.rejected] == [["no confirmed capacity: no rate met p99 ≤ 100 ms"], ["missing uwsgi"]]


def test_the_memory_budget_rejects_what_is_over_it():
    d = decide([cand("fat", 3000.0, pss_mb=600.0), cand("lean", 2000.0, pss_mb=300.0)], DEFAULT_REQUIRED, 512.0)
    assert order(d) == ["lean"]
    assert d.rejected[0][1] == ["PSS 600.0 MB is over the memory budget of 512 MB"]
    assert order(decide([cand("fat", 3000.0, pss_mb=600.0), cand("lean", 2000.0, pss_mb=300.0)], DEFAULT_REQUIRED)) == [
        "fat",
        "lean",
    ]


def test_a_partial_run_ranks_what_finished_and_says_it_is_partial():
    done = cand("gunicorn-nginx", 2400.0)
    cut = cand("uwsgi", None, scenarios={"slow-clients": "pass"}, finished=False)
    failed_early = cand("gunicorn", None, scenarios={"slow-clients": "fail"}, finished=False)
    d = decide([done, cut, failed_early], DEFAULT_REQUIRED)
    assert order(d) == ["gunicorn-nginx"]
    assert [c.backend for c in d.unfinished] == ["uwsgi"]
    assert [c.backend for c, _ in d.rejected] == ["gunicorn"]  # what it failed before the stop still counts
    rec = recommendation(
        d,
        slo={"p99_ms": 100.0},
        slo_text="p99 ≤ 100 ms",
        cpus=1,
        memory_mb=None,
        required=DEFAULT_REQUIRED,
        partial=True,
        pending=["waitress"],
    )
    assert rec["partial"] is True and rec["unfinished"] == ["uwsgi"] and rec["pending"] == ["waitress"]
    assert "Partial: the run was stopped before uwsgi finished." in rec["summary"]
    assert markdown(rec)[0] == "## The answer (partial)"


def test_the_json_object_has_the_issues_schema_and_the_markdown_opens_with_the_answer():
    pick = cand(
        "gunicorn-nginx",
        2400.0,
        uss_mb_per_worker=20.0,
        pss_mb=45.0,
        p99_ms_at_half=11.0,
        command=["gunicorn --workers 3 app:app", "nginx -c nginx.conf"],
        config_files={"nginx.conf": "events {}\n"},
        overload="queues; back in 0.6 s, 0 failed",
    )
    rejected = cand(
        "flask-dev",
        900.0,
        scenarios={**PASSED, "worker-kill": "fail"},
        scenario_text={"worker-kill": "not recovered: one process (3 failed)"},
    )
    d = decide([pick, rejected, cand("uwsgi", 1200.0)], DEFAULT_REQUIRED, 512.0)
    rec = recommendation(
        d,
        slo={"p99_ms": 100.0, "error_pct": 0.1},
        slo_text="p99 ≤ 100 ms",
        cpus=1,
        memory_mb=512.0,
        required=DEFAULT_REQUIRED,
        partial=False,
    )
    assert set(rec) >= {"slo", "budget", "required", "pick", "ranked", "rejected", "summary"}
    assert rec["budget"] == {"cpus": 1, "memory_mb": 512.0}
    assert rec["pick"]["backend"] == "gunicorn-nginx" and rec["pick"]["config"] == {"workers": 3}
    assert rec["pick"]["command"] == ["gunicorn --workers 3 app:app", "nginx -c nginx.conf"]
    entry = rec["ranked"][0]
    assert set(entry) >= {
        "backend",
        "config",
        "capacity_rps",
        "capacity_per_cpu",
        "uss_mb_per_worker",
        "pss_mb",
        "p99_ms_at_half",
        "scenarios",
        "overload",
        "why",
    }
    assert entry["scenarios"] == PASSED
    assert rec["rejected"] == [
        {
            "backend": "flask-dev",
            "reasons": ["worker-kill: not recovered: one process (3 failed) (a crash is an outage)"],
        }
    ]
    assert rec["summary"].startswith("Deploy with gunicorn behind nginx proxy_pass")
    assert "2,400 req/s within p99 ≤ 100 ms on 1 CPU, 20 MB per worker" in rec["summary"]
    assert "Runner-up: uwsgi" in rec["summary"] and "Rejected: flask-dev — worker-kill" in rec["summary"]
    md = markdown(rec)
    assert md[0] == "## The answer" and md[2] == rec["summary"]
    assert "nginx -c nginx.conf" in md and "events {}" in md
    assert any(RULE in line for line in md)


def test_the_default_grid_follows_the_server_cpus_and_the_backends_knobs():
    assert grid("uwsgi", 1) == [Config(w, t) for w in (1, 3) for t in (1, 4)]
    assert len(grid("uwsgi", 2)) == 6  # workers 1, 2, 5 × threads 1, 4
    # gunicorn's worker class is a knob: each class × workers cpus, 2·cpus + 1; gthread's × 4 threads
    assert grid("gunicorn", 2) == [
        Config(2, 1, "sync"),
        Config(5, 1, "sync"),
        Config(2, 4, "gthread"),
        Config(5, 4, "gthread"),
        Config(2, 1, "gevent"),
        Config(5, 1, "gevent"),
    ]
    assert [c.workers for c in grid("gunicorn-nginx", 1)] == [1, 3] * 3
    assert grid("gunicorn", 1, {"workers": (1,), "worker_class": ("sync",)}) == [Config(1, 1, "sync")]
    assert grid("gunicorn", 1, {"workers": (2,), "threads": (1, 8), "worker_class": ("gthread", "sync")}) == [
        Config(2, 1, "gthread"),
        Config(2, 8, "gthread"),
        Config(2, 1, "sync"),
    ]
    # a row of one class (the compare view's) keeps its class; the class knob is not its own
    assert grid("gunicorn-gevent", 1, {"workers": (1,), "worker_class": ("sync",)}) == [Config(1, 1, "gevent")]
    assert grid("waitress", 1) == [Config(1, 1), Config(1, 4)]
    assert grid("flask-dev", 4) == [Config(1, 1)]
    assert grid("gunicorn-gthread", 1, {"workers": (2,), "threads": (1, 8)}) == [
        Config(2, 1, "gthread"),
        Config(2, 8, "gthread"),
    ]
    thumb, said = rule_of_thumb("gunicorn-nginx", 2, "sync")
    assert thumb == Config(5, 1, "sync") and "2 × cores + 1 = 5" in said
    assert rule_of_thumb("gunicorn", 1, "gthread")[0] == Config(3, 4, "gthread")
    assert rule_of_thumb("uwsgi", 2)[0] is None


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("garbage", "--sweep takes workers=A,B, threads=A,B and worker_class=A,B"),
        ("worker_class=sync,eventlet", "--sweep worker_class values must be sync, gthread, gevent, got 'eventlet'"),
        ("worker_class=sync worker_class=gevent", "gives worker_class twice"),
        ("workers=1,2,3,4,5,6,7,8,9 threads=1,2,3 worker_class=gthread", "asks for 27 configs per backend"),
        ("workers=", "--sweep workers values must be whole numbers"),
        ("threads=0", "from 1 to"),
        ("workers=1,2 workers=3", "gives workers twice"),
        ("cores=2", "--sweep takes workers=A,B"),
    ],
)
def test_sweep_garbage_is_refused(value, needle):
    with pytest.raises(OptionError, match=needle):
        parse_sweep(value)
    assert parse_sweep("workers=1,2,4 threads=1,8") == {"workers": (1, 2, 4), "threads": (1, 8)}
    assert parse_sweep(["workers=1,2", "threads=4"]) == {"workers": (1, 2), "threads": (4,)}
    assert parse_sweep("worker_class=gevent,sync workers=3") == {"worker_class": ("gevent", "sync"), "workers": (3,)}


BASE = ["--recommend", "--backends", "gunicorn,flask-dev"]


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--sweep", "workers=two"], "--sweep workers values must be whole numbers"),
        (["--sweep", "garbage"], "--sweep takes workers=A,B"),
        (["--memory-budget", "5MB"], "--memory-budget 5MB: no config fits"),
        (["--memory-budget", "lots"], "--memory-budget must be a size"),
        (["--memory-budget", "0"], "--memory-budget must be above 0"),
        (
            ["--require", "slow-clients,teleport"],
            "--require must name slow-clients, slow-readers, slow-uploads, worker-kill, reload or none",
        ),
        (["--scenario", "reload"], "--recommend runs its own capacity searches and scenarios"),
        (["--workers", "2"], "use --sweep workers=A,B"),
        (
            ["--backends", "uwsgi", "--sweep", "worker_class=gevent"],
            "--sweep worker_class is a knob of gunicorn and gunicorn-nginx: none of --backends has it",
        ),
    ],
)
def test_bad_recommend_input_is_one_line_and_exit_2(cli, extra, needle):
    cli.refused([*BASE, *extra], needle)


def test_recommend_options_need_recommend(cli):
    cli.refused(["--backend", "gunicorn", "--sweep", "workers=1"], "--sweep goes with --recommend")
    cli.refused(["--backend", "gunicorn", "--require", "none"], "--require goes with --recommend")


def test_a_saved_scenario_keeps_the_recommend_options(tmp_path):
    from wsgicompare.settings.config_file import dump_toml, to_config
    from wsgicompare.settings.options import parse_options

    argv = ["--recommend", "--backends", "gunicorn", "--sweep", "workers=1,3", "threads=4", "worker_class=sync,gthread"]
    argv += ["--memory-budget", "1.5GB", "--require", "none", "--slo", "p99=50ms"]
    o = parse_options(argv)
    path = tmp_path / "rec.toml"
    path.write_text(dump_toml(to_config(o)))
    back = parse_options(["--config", str(path)])
    assert back.recommend and back.sweep == {"workers": (1, 3), "threads": (4,), "worker_class": ("sync", "gthread")}
    assert back.memory_budget == 1536.0 and back.require == () and back.backends == ["gunicorn"]


def test_without_backends_the_candidates_are_the_available_ones_serving_the_app():
    from wsgicompare.settings.options import parse_options
    from wsgicompare.settings.recommend_options import candidates

    found = candidates(parse_options(["--recommend"]))
    assert found and not {"nginx-static", "php-fpm-nginx", "tornado"} & set(found)
    assert candidates(parse_options(["--recommend", "--backends", "gunicorn"])) == ["gunicorn"]
    # gunicorn's gthread and gevent rows are configs of gunicorn's sweep, not candidates beside it
    assert "gunicorn" in found and not {"gunicorn-gthread", "gunicorn-gevent"} & set(found)
    named = candidates(parse_options(["--recommend", "--backends", "gunicorn,gunicorn-gevent"]))
    assert named == ["gunicorn", "gunicorn-gevent"]  # named ones are measured as named


def test_the_reports_open_with_the_answer():
    from wsgicompare.reporting.export import render

    d = decide([cand("gunicorn-nginx", 2400.0, command=["gunicorn app:app"])], DEFAULT_REQUIRED)
    rec = recommendation(
        d, slo={}, slo_text="p99 ≤ 100 ms", cpus=1, memory_mb=None, required=DEFAULT_REQUIRED, partial=False
    )
    meta = {"created": "now", "machine": {}, "load": {}, "recommendation": rec}
    assert render("md", [], meta).startswith("# wsgicompare report\n\n## The answer\n\nDeploy with")
    html = render("html", [], meta)
    assert html.index("<h2>The answer</h2>") < html.index("<h2>Comparison</h2>")
    assert json.loads(render("json", [], meta))["recommendation"]["pick"]["backend"] == "gunicorn-nginx"


def test_the_tuned_config_is_compared_with_the_sweep_and_the_rule_of_thumb_in_figures():
    from wsgicompare.reporting.recommend.run import thumb_text, tuning_text
    from wsgicompare.results import RunResult

    def probe(rps: float) -> RunResult:
        return RunResult(backend="gunicorn-nginx", title="t", workload="hello", status="ok", rps_2xx=rps)

    one, three, five = Config(1, 1, "sync"), Config(3, 1, "sync"), Config(5, 1, "sync")
    probes = [(one, probe(2600.0)), (three, probe(2500.0)), (five, probe(2100.0))]
    confirmed = [(three, probe(0.0), 2903.0), (one, probe(0.0), 2092.0)]
    said = tuning_text("gunicorn-nginx", three, 2903.0, confirmed, probes)
    assert said == "tuned: 3 sync workers confirmed 2,903 req/s, 1 sync worker 2,092 req/s"
    said = tuning_text("gunicorn-nginx", one, 2092.0, confirmed[1:], probes)
    assert said == "tuned on 3 probes: 1 sync worker 2,600 2xx req/s, the next 3 sync workers 2,500"
    assert thumb_text("gunicorn-nginx", three, 1, probes).endswith("the tuned config agrees (3 sync workers)")
    against = thumb_text("gunicorn-nginx", one, 1, probes)
    assert "2 × cores + 1 = 3 workers on 1 CPU; tuned to 1 sync worker instead" in against
    assert "2,600 2xx req/s against 2,500 at 3 workers (+4 %)" in against
    assert "no magic rule" in thumb_text("uwsgi", Config(3, 4), 1, [])
    assert "(12 at once)" in thumb_text("uwsgi", Config(3, 4), 1, [])


def test_a_confirmation_is_checked_against_recommends_own_step():
    from wsgicompare.settings.options import parse_options

    assert parse_options([*BASE, "--confirm", "2"]).confirm == 2.0  # recommend's steps are 2 s
    with pytest.raises(OptionError, match=r"--confirm 1.5s is shorter than a step \(2s\)"):
        parse_options([*BASE, "--confirm", "1.5"])


def test_a_capacity_search_the_loader_ended_is_searched_again_once():
    """The Recommender's flow on given figures (its runner is the conductor's run_one in
    a real run): a search that ended loader-bound is searched again, once, and the second
    one's figure is the backend's; two loader-bound searches leave it without a capacity."""
    import threading
    from dataclasses import replace

    from wsgicompare.engine.capacity import parse_slo
    from wsgicompare.engine.runspec import default_load, default_spec
    from wsgicompare.reporting.recommend.run import Recommender, Settings
    from wsgicompare.results import CapacityResult, RunResult

    guesses: list[float | None] = []  # each search's first guess

    def runner_with(limits: list[str]):
        searches: list[str] = []

        def run_one(spec) -> RunResult:
            r = RunResult(backend=spec.backend, title="t", workload="hello", status="ok", rps_2xx=1000.0)
            if spec.capacity is None:
                return r  # the probe, and p99 at half the capacity
            limit = limits[len(searches)]
            searches.append(limit)
            guesses.append(spec.capacity.probe_rps)
            cap = CapacityResult(rps=900.0 if limit == "server" else None, limit=limit, verdict=f"{limit} limit")
            return replace(r, capacity=cap)

        return run_one, searches

    spec = default_spec("gunicorn-nginx", load=default_load(duration_s=1.0))
    settings = Settings(slo=parse_slo("p99=100ms"), cpus=1, sweep=parse_sweep(["workers=1 worker_class=sync"]))
    run_one, searches = runner_with(["loader", "server"])
    rec = Recommender(run_one, settings, threading.Event(), lambda line: None)
    rec.plan([spec])
    cand, _ = rec.measure(spec)
    assert searches == ["loader", "server"] and cand.capacity_rps == 900.0
    assert guesses == [1000.0, 1000.0]  # the search again starts from the same probe stage
    run_one, searches = runner_with(["loader", "loader", "server"])
    cand, _ = Recommender(run_one, settings, threading.Event(), lambda line: None).measure(spec)
    assert searches == ["loader", "loader"] and cand.capacity_rps is None
    assert cand.capacity_note == "loader limit"


def test_a_reference_is_ranked_apart_for_scale_and_is_never_the_pick():
    php = cand("php-fpm-nginx", 10_322.0, reference=True, config_text="1 worker")
    d = decide([php, cand("uwsgi-nginx", 6189.0), cand("gunicorn-nginx", 3577.0)], DEFAULT_REQUIRED)
    assert d.pick is not None and d.pick.backend == "uwsgi-nginx"
    assert order(d) == ["uwsgi-nginx", "gunicorn-nginx"] and [c.backend for c in d.references] == ["php-fpm-nginx"]
    assert not any("php-fpm-nginx" in line for line in d.why["uwsgi-nginx"])  # compared with Python ones only
    rec = recommendation(
        d, slo={}, slo_text="p99 ≤ 100 ms", cpus=1, memory_mb=None, required=DEFAULT_REQUIRED, partial=False
    )
    assert rec["pick"]["backend"] == "uwsgi-nginx" and rec["references"][0]["backend"] == "php-fpm-nginx"
    assert rec["summary"].startswith("Deploy with uWSGI (--socket TCP) behind nginx")
    assert (
        "For scale (a reference that serves no Python app, never the pick): php-fpm-nginx 1 worker: 10,322"
        in (rec["summary"])
    )
    assert "never the pick" in RULE
    # a reference alone (or beside rejected Python backends) is no answer
    alone = recommendation(
        decide([php], DEFAULT_REQUIRED), slo={}, slo_text="", cpus=1, memory_mb=None, required=(), partial=False
    )
    assert alone["pick"] is None
    assert alone["summary"].startswith("No Python backend can be recommended: only a reference was measured.")
    # rejected like any other when it fails a required scenario
    failed = cand("php-fpm-nginx", 10_322.0, reference=True, scenarios={**PASSED, "reload": "fail"})
    assert decide([failed], DEFAULT_REQUIRED).references == []


def test_a_config_that_confirmed_more_but_failed_a_scenario_is_named_with_what_it_failed():
    """The flow on given figures: 3 workers confirm more than 1, but fail the reload that
    1 worker passed; 1 worker is chosen and its tuning line says why not 3. Each search
    starts from its config's probe."""
    import threading
    from dataclasses import replace

    from wsgicompare.engine.capacity import parse_slo
    from wsgicompare.engine.runspec import default_load, default_spec
    from wsgicompare.reporting.recommend.run import Recommender, Settings
    from wsgicompare.results import CapacityResult, RunResult, ScenarioResult

    searched: dict[int, float | None] = {}  # workers → the search's first guess

    def run_one(spec) -> RunResult:
        workers = spec.server.workers
        r = RunResult(backend=spec.backend, title="t", workload="hello", status="ok", rps_2xx=1000.0 - workers)
        if spec.capacity is not None:
            searched[workers] = spec.capacity.probe_rps
            return replace(r, capacity=CapacityResult(rps=900.0 + 100 * workers, limit="server"))
        if spec.scenario is not None:
            failed = 2 if workers == 3 else 0
            said = {"name": spec.scenario.name, "status": "ok", "recovered": True, "failed_requests": failed}
            return replace(r, scenario=ScenarioResult.from_dict(said))
        return r

    spec = default_spec("gunicorn-nginx", load=default_load(duration_s=1.0))
    settings = Settings(
        slo=parse_slo("p99=100ms"), cpus=1, sweep=parse_sweep(["workers=1,3 worker_class=sync"]), required=("reload",)
    )
    cand, _ = Recommender(run_one, settings, threading.Event(), lambda line: None).measure(spec)
    assert cand.capacity_rps == 1000.0 and cand.config["workers"] == 1
    # each search starts from its config's probe stage (the same closed loop: not probed again)
    assert searched == {1: 999.0, 3: 997.0}
    assert cand.tuning.startswith("tuned: 1 sync worker confirmed 1,000 req/s; 3 sync workers confirmed 1,200 req/s")
    assert cand.tuning.endswith("but failed reload: 2 failed, max — ms"), cand.tuning


def test_gunicorns_worker_class_is_swept_on_the_same_server_and_named_in_the_answer():
    """The flow on given figures: gunicorn's sync, gthread and gevent configs are each
    started as gunicorn with that worker class (the spec's server says it; gthread with
    the threads knob), the best probe wins, and the answer names the class in its config."""
    import threading
    from dataclasses import replace

    from wsgicompare.engine.capacity import parse_slo
    from wsgicompare.engine.runspec import default_load, default_spec
    from wsgicompare.reporting.recommend.run import Recommender, Settings
    from wsgicompare.results import CapacityResult, RunResult

    asked: list[tuple[str, str | None, int, int]] = []
    rates = {"sync": 900.0, "gthread": 1500.0, "gevent": 1200.0}

    def run_one(spec) -> RunResult:
        server = spec.server
        asked.append((spec.backend, server.worker_class, server.workers, server.threads))
        rps = rates[server.worker_class or "sync"] + 100 * server.workers
        r = RunResult(backend=spec.backend, title="t", workload="hello", status="ok", rps_2xx=rps)
        if spec.capacity is not None:
            return replace(r, capacity=CapacityResult(rps=rps - 100, limit="server"))
        return r

    sweep = parse_sweep(["workers=1,3 worker_class=sync,gthread,gevent threads=8"])
    settings = Settings(slo=parse_slo("p99=100ms"), cpus=1, sweep=sweep)
    spec = default_spec("gunicorn", load=default_load(duration_s=1.0))
    cand, _ = Recommender(run_one, settings, threading.Event(), lambda line: None).measure(spec)
    probes = asked[:6]
    assert probes == [
        ("gunicorn", "sync", 1, 1),
        ("gunicorn", "sync", 3, 1),
        ("gunicorn", "gthread", 1, 8),
        ("gunicorn", "gthread", 3, 8),
        ("gunicorn", "gevent", 1, 1),
        ("gunicorn", "gevent", 3, 1),
    ]
    assert set(asked[6:]) <= {("gunicorn", "gthread", 3, 8)}  # every later stage on the chosen config
    assert cand.config == {"workers": 3, "threads": 8, "worker_class": "gthread"}
    assert cand.config_text == "3 gthread workers × 8 threads" and cand.capacity_rps == 1700.0
    assert "gunicorn's docs: 2 × cores + 1 = 3 workers on 1 CPU: the tuned config agrees" in cand.thumb
    d = decide([cand], ())
    rec = recommendation(d, slo={}, slo_text="p99 ≤ 100 ms", cpus=1, memory_mb=None, required=(), partial=False)
    assert rec["summary"].startswith("Deploy with gunicorn (gunicorn), 3 gthread workers × 8 threads: 1,700 req/s")
    assert rec["pick"]["config"]["worker_class"] == "gthread"
    # a row of one class is started as that row: its class is not the config's to change
    asked.clear()
    row = default_spec("gunicorn-gevent", load=default_load(duration_s=1.0))
    rec_row = Recommender(run_one, replace(settings, required=()), threading.Event(), lambda line: None)
    cand, _ = rec_row.measure(row)
    assert {a[1] for a in asked} == {None} and cand.config["worker_class"] == "gevent"
