"""The command line, in-process (tests/cli_support.py: main(argv) behind a tripwire that
fails the test if anything would start): bad input ends as one line and exit 2;
the option parser and the config loader never raise anything but OptionError
(hypothesis); a scenario written with --save-config reads back to the same options."""

from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict
from datetime import timedelta

import pytest
from backend_support import require_backend
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from wsgicompare.backends import get_backend
from wsgicompare.engine.runspec import available_cpus
from wsgicompare.parsing import parse_duration, parse_int
from wsgicompare.settings.config_file import dump_toml, to_config
from wsgicompare.settings.options import (
    CONFIG_KEYS,
    OptionError,
    Options,
    parse_options,
    read_config,
)

#: the ``cli`` fixture: main(argv) in-process behind the tripwire
pytest_plugins = ["cli_support"]

#: the few cases run as a real ``python -m wsgicompare`` (exit code and the one stderr line end
#: to end) are in tests/test_bad_input.py (test_bad_input_end_to_end) and tests/test_help.py


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory):
    """User apps for --app: one that raises at import, one that is not callable."""
    d = tmp_path_factory.mktemp("apps")
    (d / "raising_app.py").write_text("raise RuntimeError('database is down')\n")
    (d / "notcallable_app.py").write_text("app = 42\n")
    return str(d)


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--run-all", "-c", "-5"], "--concurrency must be a whole number from 1 to 100000, got -5"),
        (["--backend", "gunicorn", "--workload", "nope"], "unknown workload 'nope'"),
        (["--backend", "nope"], "unknown backend 'nope'"),
        (["--run-all", "-d", "ten"], "--duration must be a duration such as 10s"),
        (["--run-all", "--config", "/nonexistent/scenario.toml"], "cannot read it"),
        (["--url", "http://192.0.2.1:8080/"], "not a loopback address"),
        (["--run-all", "-o", "/nonexistent-dir/report.md"], "does not exist"),
        (["--frobnicate"], "unrecognized arguments: --frobnicate"),
        (["--backend", "gunicorn", "--app", "raising_app:app"], "database is down"),
        (["--backend", "gunicorn", "--app", "notcallable_app:app"], "not callable"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, needle, app_dir, cli):
    cli.refused(args, needle, cwd=app_dir)
    assert cli.last.app_checks == ([args[-1]] if "--app" in args else [])  # the one child planning may start


def _busy_port() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    return sock


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--run-all", "-c", "0"], "--concurrency must be a whole number"),
        (["--run-all", "-d", "-1"], "--duration must be a duration"),
        (["--run-all", "-d", "0"], "--duration must be above 0 s"),
        (["--run-all", "-d", "1e9"], "--duration must be a duration"),
        (["--run-all", "-d", "48h"], "at most 86400 s"),
        (["--run-all", "--warmup", "2h"], "--warmup must be from 0 s to 3600 s"),
        (["--run-all", "--rate", "nan"], "--rate must be a number above 0"),
        (["--run-all", "--rate", "-3"], "--rate must be a number above 0"),
        (["--run-all", "--workers", "0"], "--workers must be a whole number from 1 to 256"),
        (["--run-all", "--threads", "100000"], "--threads must be a whole number from 1 to 1024"),
        (["--run-all", "--repeat", "0"], "--repeat must be a whole number from 1 to 100"),
        (["--run-all", "--server-cpus", "999"], "CPU 999 is not available"),
        (["--run-all", "--loader-cpus", "3-1"], "runs backwards"),
        (["--run-all", "-c", "2", "--loader-procs", "4"], "--loader-procs 4 is more than --concurrency 2"),
        (["--run-all", "--export", "pdf"], "--export must be one of md, json, csv, html"),
        (["--run-all", "--export", "md", "--export", "json"], "several --export formats need -o/--output"),
        (["--backend", "gunicorn", "--backends", "uwsgi"], "give --backend or --backends, not both"),
        (["--backend", "gunicorn", "--port", "0"], "--port must be a whole number from 1 to 65535"),
        (["--json"], "--json goes with --list-backends"),
        (["--url", "http://127.0.0.1:1/", "--backend", "gunicorn"], "cannot be combined"),
        (["--url", "ftp://127.0.0.1/"], "--url must be an http:// URL"),
        (["--backend", "gunicorn", "--app", "not a target"], "--app must look like 'module:callable'"),
        (["--backend", "gunicorn", "--app", "no_such_module_xyz:app"], "no module named 'no_such_module_xyz'"),
        (["--backend", "gunicorn", "--path", "/x"], "--path applies to --app"),
        (["--backend", "gunicorn", "-c"], "expected one argument"),
        (["--export", "md"], "--export needs something to run"),
    ],
)
def test_more_bad_input_in_process(args, needle, cli):
    cli.refused(args, needle)


def test_a_workload_the_backend_does_not_serve_is_bad_input(cli):
    # only a backend that is available gets as far as its workloads
    require_backend(get_backend("nginx-static"))
    cli.refused(["--backend", "nginx-static", "--workload", "cpu"], "does not serve workload 'cpu'")


def test_busy_explicit_port_is_bad_input(cli):
    with _busy_port() as sock:
        port = sock.getsockname()[1]
        line = cli.refused(["--backend", "gunicorn", "--port", str(port)], "already in use")
    assert line == f"wsgicompare: error: --port {port} is already in use"


def test_unwritable_output_is_bad_input(tmp_path, cli):
    if os.geteuid() == 0:
        target = tmp_path / "a-directory"
        target.mkdir()
        cli.refused(["--run-all", "-o", str(target / "missing" / "r.md")], "does not exist")
    else:  # pragma: no cover - root ignores permission bits
        tmp_path.chmod(0o500)
        cli.refused(["--run-all", "-o", str(tmp_path / "r.md")], "cannot write")


@pytest.mark.parametrize(
    "text, needle",
    [
        ("concurrency = [1, 2\n", "not valid TOML"),
        ("concurency = 10\n", "unknown option 'concurency'"),
        ("[load]\nconcurrency = 10\n", "unknown option 'load'"),
        ("[concurrency]\nn = 10\n", "'concurrency' must be a value, not a table"),
        ("concurrency = true\n", "--concurrency must be a whole number"),
        ("concurrency = -1\n", "--concurrency must be a whole number"),
        ("duration = 'forever'\n", "--duration must be a duration"),
        ("backends = [1, 2]\n", "--backends must be a comma-separated list"),
        ("backends = ['gunicorn; rm -rf /']\n", "is not a valid name"),
        ("run-all = 'yes'\n", "run-all must be true or false"),
        ("x" * 70_000 + " = 1\n", "too big for a scenario file"),
        ("\udcff", "not valid TOML"),
    ],
)
def test_malformed_or_hostile_config_is_one_line(tmp_path, cli, text, needle):
    path = tmp_path / "scenario.toml"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    cli.refused(["--config", str(path)], needle)


# -- good input -----------------------------------------------------------------------------


def test_version_and_help_exit_0(cli):
    done = cli.run(["--version"])
    assert done.code == 0 and done.out.startswith("wsgicompare ")
    done = cli.run(["--help"])
    assert done.code == 0 and "--run-all" in done.out


def test_list_backends_json(cli):
    done = cli.run(["--list-backends", "--json"])
    assert done.code == 0, done.err
    rows = json.loads(done.out)
    ids = [r["id"] for r in rows]
    for seed in ("flask-dev", "gunicorn", "uwsgi", "uwsgi-nginx", "php-fpm-nginx"):
        assert seed in ids
    for row in rows:
        assert {"id", "title", "family", "seed", "available", "missing", "hint"} <= row.keys()
        assert isinstance(row["seed"], bool) and isinstance(row["available"], bool)
        assert isinstance(row["missing"], list)


def test_list_backends_table(cli):
    done = cli.run(["--list-backends"])
    assert done.code == 0
    out = done.out
    assert "flask-dev" in out and "uwsgi-nginx-unix" in out and "available" in out


def test_durations_in_every_spelling():
    assert parse_duration("d", "10") == 10.0
    assert parse_duration("d", "10s") == 10.0
    assert parse_duration("d", "500ms") == 0.5
    assert parse_duration("d", "2m") == 120.0
    assert parse_duration("d", " 1.5 s ") == 1.5
    assert parse_duration("d", 3) == 3.0
    assert parse_duration("w", "0", zero_ok=True) == 0.0


def test_defaults_and_cli_over_config(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text("concurrency = 8\nduration = '3s'\nbackends = ['flask-dev', 'gunicorn']\nrun-all = true\n")
    o = parse_options(["--config", str(path), "-c", "16"])
    assert o.concurrency == 16  # the command line wins
    assert o.duration == 3.0 and o.backends == ["flask-dev", "gunicorn"] and o.run_all


def test_save_config_round_trips_to_the_same_options(tmp_path, cli):
    path = tmp_path / "scenario.toml"
    argv = [
        "--run-all",
        "--backends",
        "flask-dev,uwsgi",
        "-c",
        "32",
        "-d",
        "1500ms",
        "--warmup",
        "0.5",
        "--workloads",
        "hello,json",
        "--repeat",
        "3",
        "--workers",
        "2",
        "--threads",
        "8",
        "--server-cpus",
        str(available_cpus()[-1]),
        "--no-keepalive",
        "--timeout",
        "2s",
        "--export",
        "json",
        "-o",
        str(tmp_path / "r.json"),
        "--cluster",
        "head:6379",
        "--server-node",
        "10.0.0.5",
        "--allow-remote",
    ]
    assert cli.run([*argv, "--save-config", str(path)]).code == 0
    back = parse_options(["--config", str(path)])
    original = parse_options(argv)
    assert {**asdict(back), "config": None} == {**asdict(original), "config": None}


# -- property tests -----------------------------------------------------------------------

_texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)


#: parse-only properties (no file, no process): a deadline so generous only a pathological
#: parse reaches it; the ones that write and read files have none
PARSE_DEADLINE = timedelta(seconds=5)


@settings(deadline=PARSE_DEADLINE)
@given(_texts)
def test_any_duration_text_is_a_bounded_number_or_a_one_line_error(text):
    try:
        value = parse_duration("duration", text)
    except OptionError as exc:
        assert "\n" not in str(exc)
    else:
        assert 0 < value <= 24 * 3600


@settings(deadline=PARSE_DEADLINE)
@given(st.one_of(_texts, st.integers(), st.floats(allow_nan=True), st.booleans(), st.none()))
@example("0\x1f")  # \\s matches it, int() refuses it: found by this test once
def test_any_int_value_is_in_range_or_a_one_line_error(value):
    try:
        n = parse_int("concurrency", value, 1, 100_000)
    except OptionError as exc:
        assert "\n" not in str(exc)
    else:
        assert isinstance(n, int) and 1 <= n <= 100_000


_flags = [
    "-c",
    "-d",
    "-r",
    "--requests",
    "--rate",
    "--warmup",
    "--timeout",
    "--delay",
    "--workload",
    "--workloads",
    "--backend",
    "--backends",
    "--repeat",
    "--workers",
    "--threads",
    "--server-cpus",
    "--loader-cpus",
    "--loader-procs",
    "--path",
    "--export",
    "--port",
    "--settle-max",
]
_switches = ["--run-all", "--no-keepalive", "--allow-remote"]
_values = st.one_of(
    st.sampled_from(
        [
            "0",
            "1",
            "-1",
            "64",
            "10s",
            "500ms",
            "2m",
            "1e9",
            "nan",
            "inf",
            "",
            "hello",
            "a,b",
            "0-1",
            "gunicorn",
            "md",
            "json",
            "/x",
            "1,1",
            "99999999999999",
        ]
    ),
    _texts,
)
_argv = st.lists(
    st.one_of(st.tuples(st.sampled_from(_flags), _values).map(list), st.sampled_from(_switches).map(lambda s: [s])),
    max_size=6,
).map(lambda parts: [x for part in parts for x in part])


@settings(max_examples=300, deadline=PARSE_DEADLINE, suppress_health_check=[HealthCheck.too_slow])
@given(_argv)
def test_any_command_line_parses_or_fails_with_one_line(argv):
    try:
        options = parse_options(argv)
    except OptionError as exc:
        assert "\n" not in str(exc) and str(exc)
    else:
        assert isinstance(options, Options)
        if options.concurrency is not None:
            assert 1 <= options.concurrency <= 100_000


_toml_scalars = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.booleans(),
    _texts,
    st.lists(st.one_of(st.integers(-5, 5), _texts), max_size=3),
)
_config_keys = st.one_of(st.sampled_from(CONFIG_KEYS), st.sampled_from(["bogus", "concurency", "c"]))


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(st.dictionaries(_config_keys, _toml_scalars, max_size=5))
def test_any_config_file_gives_options_or_one_line(tmp_path, table):
    path = tmp_path / "s.toml"
    path.write_text(dump_toml(table))
    try:
        read_config(str(path))
        options = parse_options(["--config", str(path)])
    except OptionError as exc:
        assert "\n" not in str(exc) and str(exc)
    else:
        assert isinstance(options, Options)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(
    concurrency=st.integers(1, 100_000),
    duration=st.floats(0.001, 24 * 3600),
    warmup=st.floats(0, 3600),
    workloads=st.lists(st.sampled_from(["hello", "json", "cpu", "io", "bytes"]), min_size=1, max_size=3, unique=True),
    repeat=st.integers(1, 100),
    keepalive=st.booleans(),
)
def test_config_round_trip_property(tmp_path, concurrency, duration, warmup, workloads, repeat, keepalive):
    o = Options(
        concurrency=concurrency,
        duration=duration,
        warmup=warmup,
        workloads=workloads,
        repeat=repeat,
        no_keepalive=not keepalive,
        run_all=True,
    )
    path = tmp_path / "s.toml"
    path.write_text(dump_toml(to_config(o)))
    back = parse_options(["--config", str(path)])
    assert {**asdict(back), "config": None} == {**asdict(o), "config": None}


# -- planning: defaults and the run matrix (nothing started) ---------------------------------


def plan_for(*argv: str):
    from wsgicompare.cli import make_plan

    return make_plan(parse_options(list(argv)))


def test_plan_defaults_split_the_cpus_and_fill_the_budget():
    plan = plan_for("--backend", "gunicorn")
    (spec,) = plan.specs
    cpus = available_cpus()
    if len(cpus) >= 2:
        assert spec.load.cpus == (cpus[0],) and spec.server.cpus == cpus[1:]
        assert spec.server.workers == len(cpus) - 1
    assert spec.server.threads == 4
    assert spec.load.concurrency == 64 and spec.load.duration_s == 10.0 and spec.load.warmup_s == 1.0
    assert spec.workload == "hello" and spec.repeat == 1
    assert plan.targets == {"md": None}  # one export to stdout by default
    assert plan.meta["load"]["concurrency"] == 64 and plan.meta["machine"]["cores"] >= 1


def test_plan_matrix_is_backend_major_and_stop_rules_follow_the_options(tmp_path):
    plan = plan_for(
        "--run-all",
        "--backends",
        "flask-dev,gunicorn",
        "--workloads",
        "hello,json",
        "--requests",
        "500",
        "--export",
        "json",
        "--export",
        "csv",
        "-o",
        str(tmp_path / "r"),
    )
    assert [(s.backend, s.workload) for s in plan.specs] == [
        ("flask-dev", "hello"),
        ("flask-dev", "json"),
        ("gunicorn", "hello"),
        ("gunicorn", "json"),
    ]
    assert plan.specs[0].load.duration_s is None and plan.specs[0].load.requests == 500
    assert plan.targets == {"json": str(tmp_path / "r.json"), "csv": str(tmp_path / "r.csv")}


def test_plan_gives_a_single_backend_its_port_and_the_cpus_left_over():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cpus = available_cpus()
    plan = plan_for("--backend", "flask-dev", "--port", str(port), "--server-cpus", str(cpus[0]))
    spec = plan.specs[0]
    assert spec.server.port == port and spec.server.cpus == (cpus[0],)
    assert spec.load.cpus == (tuple(c for c in cpus if c != cpus[0])[:1])


def test_plan_for_url_starts_nothing_and_keeps_the_path():
    plan = plan_for("--url", "http://localhost:8080/api/ping?x=1", "-c", "4")
    (spec,) = plan.specs
    assert spec.is_url and spec.server is None and spec.load.url == "http://localhost:8080/api/ping?x=1"
    assert spec.workload == "/api/ping" and plan.meta["load"]["url"] == spec.load.url


def test_the_apps_refresh_and_theme_are_options_and_reach_the_app():
    from wsgicompare.tui.app import options_from

    o = parse_options(["--theme", "light", "--refresh-hz", "2"])
    assert (o.theme, o.refresh_hz, o.headless) == ("light", 2.0, False)  # still opens the app
    app_options = options_from(o)
    assert (app_options.theme, app_options.refresh_hz) == ("light", 2.0)
    for bad in (["--theme", "blue"], ["--refresh-hz", "0"], ["--refresh-hz", "100"]):
        with pytest.raises(OptionError):
            parse_options(bad)
