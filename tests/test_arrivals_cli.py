"""--arrivals and --seed through the real entry point: bad values are one line and exit
2; Poisson is the capacity steps' default and uniform a --rate run's; a scenario file
keeps both; the report records how the open loop spaced its requests and from which
seed (a small real server on loopback, a load of a second or two)."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from tests.loader_servers import serve
from wsgicompare.cli import main
from wsgicompare.engine.capacity import CapacityPlan, parse_slo, step_seed
from wsgicompare.engine.conductor import Conductor
from wsgicompare.engine.runspec import default_load, plan_specs, url_spec
from wsgicompare.settings.config_file import dump_toml, to_config
from wsgicompare.settings.options import parse_options

#: the ``cli`` fixture: main(argv) in-process behind the tripwire (tests/cli_support.py)
pytest_plugins = ["cli_support"]


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--rate", "100", "--arrivals", "gaussian"], "--arrivals must be uniform or poisson, got 'gaussian'"),
        (["--rate", "100", "--arrivals", "poisson", "--seed", "-1"], "--seed must be a whole number from 0"),
        (["--rate", "100", "--arrivals", "poisson", "--seed", "abc"], "--seed must be a whole number from 0"),
        (
            ["--arrivals", "poisson"],
            "--arrivals goes with an open loop: --rate, --find-capacity, --rates or --scenario",
        ),
        (["--seed", "3"], "--seed goes with an open loop"),
        (["--rate", "100", "--seed", "3"], "--seed draws Poisson arrivals: it does not go with a uniform open loop"),
        (["--find-capacity", "--arrivals", "uniform", "--seed", "3"], "it does not go with --arrivals uniform"),
    ],
)
def test_bad_arrivals_are_one_line_and_exit_2(capsys, args: list[str], needle: str) -> None:
    assert main(["--url", "http://127.0.0.1:1/", "-d", "1", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("wsgicompare: error: "), err
    assert needle in err, err


#: the app (no --backend, --run-all or --url) and a headless run of the CLI
APP, CLI = (), ("--backend", "gunicorn")


@pytest.mark.parametrize("scenario", ["worker-kill", "reload", "slow-clients"])
@pytest.mark.parametrize("flag", [["--arrivals", "poisson"], ["--arrivals", "uniform"], ["--seed", "3"]])
def test_arrivals_with_a_closed_loop_scenario_are_refused(cli, scenario: str, flag: list[str]) -> None:
    # these scenarios run a closed loop (no --rate): how an open loop spaces its requests
    # cannot apply, and was silently ignored
    needle = f"{flag[0]} goes with an open loop: --rate, --find-capacity, --rates or --scenario overload"
    cli.refused([*CLI, "-d", "2", "--scenario", scenario, *flag], needle)
    # where an open loop runs, they apply: the overload's, or a scenario run at --rate
    for args in (["--scenario", "overload"], ["--scenario", scenario, "--rate", "100"]):
        options = parse_options([*CLI, "-d", "2", *args, "--arrivals", "poisson", "--seed", "3"])
        assert [(s.load.arrivals, s.load.seed) for s in plan_specs(options, ["gunicorn"])] == [("poisson", 3)]


@pytest.mark.parametrize("where", [APP, (*CLI, "--find-capacity")], ids=["app", "cli"])
def test_the_app_and_the_cli_take_a_seed_by_one_rule(cli, where: tuple[str, ...]) -> None:
    # a capacity search draws Poisson arrivals unless --arrivals uniform: --seed alone
    # seeds them, in the app (its f key, its capacity box) as in a headless search
    from wsgicompare.session import LoadSettings, Session

    options = parse_options([*where, "--seed", "3"])
    if options.headless:
        specs = plan_specs(options, ["gunicorn"])
    else:
        settings = LoadSettings(concurrency=4, duration_s=1.0, warmup_s=0.0, workload="hello", workers=1, threads=2)
        specs = Session(options).plan(settings, ["gunicorn"], capacity=True)
    assert [(s.load.arrivals, s.load.seed) for s in specs] == [("poisson", 3)]
    # and both refuse it with uniform arrivals, in the same words
    line = cli.refused([*where, "--arrivals", "uniform", "--seed", "3"], "--seed")
    assert line == "wsgicompare: error: --seed draws Poisson arrivals: it does not go with --arrivals uniform"


def plan(*args: str):
    return plan_specs(parse_options(["--backends", "gunicorn,uwsgi", *args]), ["gunicorn", "uwsgi"])


def test_capacity_steps_default_to_poisson_and_a_rate_run_to_uniform() -> None:
    for mode in (["--find-capacity"], ["--rates", "100,200"]):
        specs = plan(*mode)
        assert {s.load.arrivals for s in specs} == {"poisson"}
        assert {s.capacity.arrivals for s in specs if s.capacity} == {"poisson"}
        # one seed chosen for the whole plan: every backend gets the same arrivals
        assert len({s.load.seed for s in specs}) == 1 and isinstance(specs[0].load.seed, int)
    uniform = plan("--rate", "100")
    assert {(s.load.arrivals, s.load.seed) for s in uniform} == {("uniform", None)}
    kept = plan("--find-capacity", "--arrivals", "uniform")
    assert {(s.load.arrivals, s.capacity.arrivals if s.capacity else None) for s in kept} == {("uniform", "uniform")}
    seeded = plan("--rate", "100", "--arrivals", "poisson", "--seed", "7")
    assert {(s.load.arrivals, s.load.seed) for s in seeded} == {("poisson", 7)}
    assert plan("--find-capacity", "--seed", "9")[0].load.seed == 9


def test_a_scenario_file_keeps_arrivals_and_seed(tmp_path, capsys) -> None:
    argv = ["--url", "http://127.0.0.1:1/", "--rate", "300", "--arrivals", "poisson", "--seed", "12"]
    path = tmp_path / "poisson.toml"
    assert main([*argv, "--save-config", str(path)]) == 0
    text = path.read_text()
    assert 'arrivals = "poisson"' in text and "seed = 12" in text
    back = parse_options(["--config", str(path)])
    assert {**asdict(back), "config": None} == {**asdict(parse_options(argv)), "config": None}
    path.write_text(dump_toml({**to_config(back), "arrivals": "bursty"}))
    assert main(["--config", str(path)]) == 2
    assert "--arrivals must be uniform or poisson, got 'bursty'" in capsys.readouterr().err


def test_help_lists_arrivals_and_seed_with_the_load(capsys) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    load = out[out.index("Load:") : out.index("Capacity:")]
    assert "--arrivals KIND" in load and "--seed N" in load


def test_a_poisson_run_records_its_arrivals_and_seed_in_every_output(tmp_path) -> None:
    out = tmp_path / "r"
    with serve("ok") as server:
        argv = ["--url", server.url, "-c", "8", "-d", "1", "--warmup", "0", "--rate", "300"]
        code = main(
            [*argv, "--arrivals", "poisson", "--seed", "5", "--export", "json", "--export", "md", "-o", str(out)]
        )
        assert code == 0
        assert main([*argv, "--export", "json", "-o", str(tmp_path / "u.json")]) == 0
    doc = json.loads((tmp_path / "r.json").read_text())
    assert (doc["load"]["arrivals"], doc["load"]["seed"]) == ("poisson", 5)
    (run,) = doc["runs"]
    assert (run["loader"]["arrivals"], run["loader"]["seed"]) == ("poisson", 5)
    assert run["loader"]["carried_over"] + run["loader"]["scheduled"] == (
        run["requests"] + run["loader"]["in_flight_dropped"] + run["loader"]["unsent"]
    )
    assert "open loop 300 req/s, poisson arrivals (seed 5)" in (tmp_path / "r.md").read_text()
    uniform = json.loads((tmp_path / "u.json").read_text())
    assert uniform["load"]["arrivals"] == "uniform" and "seed" not in uniform["load"]
    assert uniform["runs"][0]["loader"]["arrivals"] == "uniform" and "seed" not in uniform["runs"][0]["loader"]


def test_a_capacity_ladder_runs_its_steps_with_poisson_arrivals_by_default(tmp_path) -> None:
    with serve("ok") as server:
        argv = ["--url", server.url, "--rates", "200", "--step-duration", "0.5"]
        code = main([*argv, "--export", "json", "--export", "md", "-o", str(tmp_path / "cap")])
    assert code == 0
    doc = json.loads((tmp_path / "cap.json").read_text())
    seed = doc["load"]["seed"]
    assert doc["load"]["arrivals"] == "poisson" and isinstance(seed, int)
    (run,) = doc["runs"]
    # each step draws its own arrivals from the run's seed (a confirmation never replays its step)
    steps = run["capacity"]["steps"]
    assert run["loader"]["arrivals"] == "poisson"
    assert run["loader"]["seed"] in {step_seed(seed, i) for i in range(len(steps))} and run["loader"]["seed"] != seed
    assert (
        f"open-loop ladder 200 req/s at p99 ≤ 100 ms, errors ≤ 0.1 % · poisson arrivals (seed {seed})"
        in (tmp_path / "cap.md").read_text()
    )


def test_a_capacity_plan_draws_poisson_steps_from_a_uniform_load() -> None:
    # a plan built directly (as benchmarks/capacity_accuracy.py does) on the default
    # load, whose arrivals are uniform: its steps are Poisson unless the plan says otherwise
    load = default_load(cpus=(), duration_s=1.0, warmup_s=0.5, timeout_s=5.0, max_wall_s=30.0, tick_s=0.1)
    assert load.arrivals == "uniform"
    plan = CapacityPlan(slo=parse_slo("p99=100ms"), rates=(200.0,), step_s=0.5)
    with serve("ok") as server:
        result = Conductor(settle_max_s=1.0).run_one(replace(url_spec(server.url, load=load), capacity=plan))
    assert result.loader is not None and result.loader.arrivals == "poisson"
    assert isinstance(result.loader.seed, int)  # chosen by the run, and reported


def test_saved_reports_that_differ_only_in_their_seed_share_a_load(tmp_path) -> None:
    from wsgicompare.reporting.saved import load_reports

    golden = json.loads((Path(__file__).parent / "golden" / "report.json").read_text())
    paths = []
    for name, seed in (("a.json", 1), ("b.json", 2), ("c.json", 1)):
        doc = {**golden, "load": {**golden["load"], "rate": 100.0, "arrivals": "poisson", "seed": seed}}
        (tmp_path / name).write_text(json.dumps(doc))
        paths.append(str(tmp_path / name))
    _, same = load_reports([paths[0], paths[2]])
    assert same is not None and same["load"]["seed"] == 1
    _, seeds = load_reports(paths[:2])  # one load, two seeds: each run's loader.seed says which
    assert seeds is not None and seeds["load"]["seed"] is None and seeds["load"]["rate"] == 100.0
    other = json.loads((tmp_path / "b.json").read_text())
    (tmp_path / "b.json").write_text(json.dumps({**other, "load": {**other["load"], "rate": 200.0}}))
    assert load_reports(paths[:2])[1] is None


def test_the_apps_searches_draw_their_own_seeds_and_still_export_together() -> None:
    from wsgicompare.results import RunResult
    from wsgicompare.session import LoadSettings, Session

    session = Session()
    settings = LoadSettings(concurrency=4, duration_s=1.0, warmup_s=0.0, workload="hello", workers=1, threads=2)
    (first,) = session.plan(settings, ["gunicorn"], capacity=True)
    (second,) = session.plan(settings, ["waitress"], capacity=True)
    assert first.load.arrivals == second.load.arrivals == "poisson"
    assert first.load.seed != second.load.seed  # each start draws one (one in 2**32 alike)
    # two starts' results, as the session keeps them: one load, one report
    session.results = [RunResult(s.backend, s.backend, s.workload, "ok") for s in (first, second)]
    session._result_specs = [first, second]
    runs, specs, left_out = session.runs_to_export()
    assert [r.backend for r in runs] == ["gunicorn", "waitress"] and left_out == 0
