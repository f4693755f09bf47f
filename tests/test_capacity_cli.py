"""--find-capacity and --rates through the real entry point: bad input refused with one
line and exit 2 before anything starts; a real backend's capacity written to md, json
and html; a TOML scenario keeps the capacity options."""

from __future__ import annotations

import csv
import io
import json

import pytest
from backend_support import require_backend

from wsgicompare.backends import get_backend
from wsgicompare.cli import main
from wsgicompare.engine.capacity import STEP_WARMUP_S, confirm_seconds, parse_slo
from wsgicompare.engine.runspec import capacity_plan
from wsgicompare.session import Session
from wsgicompare.settings.config_file import dump_toml, to_config
from wsgicompare.settings.options import OptionError, parse_options

#: the ``cli`` fixture: main(argv) in-process behind the tripwire (tests/cli_support.py)
pytest_plugins = ["cli_support"]


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--slo", "p99=abc"], "--slo"),
        (["--slo", "p42=1ms"], "unknown part 'p42'"),
        (["--slo", "p99=50ms,errors=150%"], "--slo errors"),
        (["--slo", "errors=-1%"], "--slo errors"),
        (["--rates", ","], "--rates"),
        (["--rates", "100,0"], "--rates"),
        (["--rates", "-5"], "--rates"),
        (["--rate", "100"], "leave out --rate"),
        (["--rates", "100,200"], "not both"),
        (["--max-steps", "1"], "--max-steps"),
        (["--step-duration", "0"], "--step-duration"),
        (["--confirm", "0.5"], "--confirm must be 0 (no confirmation) or from 1 s"),
        (["--confirm", "2s"], "--confirm 2s is shorter than a step (3s)"),
        (["--step-duration", "5", "--confirm", "4"], "--confirm 4s is shorter than a step (5s)"),
        (["--confirm", "-1"], "--confirm must be"),
    ],
)
def test_bad_capacity_input_is_one_line_and_exit_2(args: list[str], needle: str, cli) -> None:
    base = ["--backend", "gunicorn", "--find-capacity"]
    if args[0] == "--rates" and args[1] != "100,200":
        base = ["--backend", "gunicorn"]  # a ladder: the bad --rates value alone
    cli.refused([*base, *args], needle)


def test_capacity_options_alone_need_a_capacity_mode() -> None:
    with pytest.raises(OptionError, match="--slo goes with --find-capacity or --rates"):
        parse_options(["--backend", "gunicorn", "--slo", "p99=50ms"])
    with pytest.raises(OptionError, match="--max-steps bounds a search"):
        parse_options(["--backend", "gunicorn", "--rates", "10,20", "--max-steps", "4"])
    with pytest.raises(OptionError, match="--confirm confirms a search's capacity"):
        parse_options(["--backend", "gunicorn", "--rates", "10,20", "--confirm", "5"])
    with pytest.raises(OptionError, match="--confirm goes with --find-capacity or --rates"):
        parse_options(["--backend", "gunicorn", "--confirm", "5"])
    assert parse_options(["--backend", "gunicorn", "--find-capacity", "--confirm", "0"]).confirm == 0


def test_a_scenario_file_keeps_the_capacity_options(tmp_path) -> None:
    o = parse_options(
        [
            "--backend",
            "gunicorn",
            "--find-capacity",
            "--slo",
            "p90=20ms,errors=1%",
            "--max-steps",
            "6",
            "--confirm",
            "20",
        ]
    )
    path = tmp_path / "cap.toml"
    path.write_text(dump_toml(to_config(o)))
    again = parse_options(["--config", str(path)])
    assert (again.find_capacity, again.slo, again.max_steps, again.confirm) == (True, o.slo, 6, 20.0)
    ladder = parse_options(["--backend", "gunicorn", "--rates", "100,50"])
    path.write_text(dump_toml(to_config(ladder)))
    assert parse_options(["--config", str(path)]).rates == (50.0, 100.0)


def test_find_capacity_of_a_real_backend_writes_md_json_and_html(tmp_path) -> None:
    require_backend(get_backend("gunicorn"))
    out = tmp_path / "cap"
    code = main(
        [
            "--backend",
            "gunicorn",
            "--find-capacity",
            # /io (a 10 ms wait): the server's limit is its sync worker (one per server CPU:
            # one here), ~90 req/s, so the search costs little CPU (on /hello the server and
            # the loader ran flat out: 12.9 s of CPU for the search, 3.8 s on /io)
            "--workload",
            "io",
            "--slo",
            # p50: a confirmation of 2 s runs a little longer at this server's rates, until it
            # holds 100 answers beyond the percentile (a p99 would want a minute at 100 req/s)
            "p50=50ms",
            "--step-duration",
            "1",
            "--max-steps",
            "4",
            "--confirm",
            "2",
            # each step's warm-up (the search's own second unless --warmup is given)
            "--warmup",
            "0.5",
            "--export",
            "md",
            "--export",
            "json",
            "--export",
            "html",
            "-o",
            str(out),
        ]
    )
    assert code == 0
    doc = json.loads((tmp_path / "cap.json").read_text())
    assert doc["load"]["capacity"]["step_warmup_s"] == 0.5
    (run,) = doc["runs"]
    cap = run["capacity"]
    assert 1 <= len(cap["steps"]) <= 4
    assert cap["limit"] in ("server", "max-steps", "loader")
    assert cap["slo"] == {"p50_ms": 50.0, "error_pct": 0.1}
    searched = [s for s in cap["steps"] if not s.get("confirm")]
    if not any(s["met"] for s in searched):  # a busy machine: nothing met, nothing to confirm
        assert cap["rps"] is None and "confirmed" not in cap
    elif cap["limit"] != "loader":
        # the figure is the confirmation run's (--confirm 2 or longer), the last step
        confirmed = cap["confirmed"]
        assert cap["steps"][-1]["confirm"] and cap["steps"][-1]["duration_s"] == confirmed["duration_s"]
        if confirmed["met"]:
            assert cap["rps"] == confirmed["rps"] > 0 and confirmed["p50_ms"] <= 50
            # --confirm 2, or as long as 100 answers beyond the p50 take at its rate (~2.2 s at 90 req/s)
            want = confirm_seconds(2.0, confirmed["rate"], parse_slo("p50=50ms"))
            assert confirmed["duration_s"] == pytest.approx(want, abs=0.3), (confirmed, want)
        else:
            assert cap["rps"] is None and cap["verdict"].startswith("no capacity confirmed")
    md = (tmp_path / "cap.md").read_text()
    assert "| capacity req/s |" in md and "**Capacity**:" in md
    html = (tmp_path / "cap.html").read_text()
    assert "Latency vs offered load" in html


def test_warmup_is_each_capacity_steps_warm_up_when_given() -> None:
    # --warmup was once ignored by a search: its steps warmed for the search's own second
    given = capacity_plan(parse_options(["--backend", "gunicorn", "--find-capacity", "--warmup", "250ms"]))
    assert given is not None and given.step_warmup_s == 0.25
    ladder = capacity_plan(parse_options(["--backend", "gunicorn", "--rates", "10,20", "--warmup", "3s"]))
    assert ladder is not None and ladder.step_warmup_s == 3.0
    default = capacity_plan(parse_options(["--backend", "gunicorn", "--find-capacity"]))
    assert default is not None and default.step_warmup_s == STEP_WARMUP_S


def test_the_app_takes_the_capacity_settings_for_its_own_searches() -> None:
    o = parse_options(["--slo", "p90=20ms", "--step-duration", "1", "--max-steps", "4"])
    assert not o.headless and not o.find_capacity
    assert (o.slo.spec(), o.step_duration, o.max_steps) == ("p90=20ms,errors=0.1%", 1.0, 4)


def test_a_loader_bound_ladder_carries_no_capacity_in_any_output(tmp_path) -> None:
    # two loader processes share CPU 0 against nginx serving a file: 200 req/s is met,
    # 150,000 req/s is far past what they can send. The search measured the loader, so
    # no output may show the met 200 req/s as the server's capacity (issue 20, item 2)
    require_backend(get_backend("nginx-static"))
    out = tmp_path / "lb"
    # short steps: a loader-bound one burns both CPUs (the loader's, flat out, and nginx's) for its whole length
    args = ["--backend", "nginx-static", "--rates", "200,150000", "--slo", "p99=100ms", "--step-duration", "0.5"]
    args += ["--warmup", "0.3"]
    args += ["--loader-procs", "2", "--loader-cpus", "0", "--fail-if", "capacity<1", "-o", str(out)]
    for fmt in ("md", "json", "csv", "html"):
        args += ["--export", fmt]
    assert main(args) == 3  # capacity<1 breaks: there is no capacity to pass it
    (run,) = json.loads((tmp_path / "lb.json").read_text())["runs"]
    cap = run["capacity"]
    assert cap["limit"] == "loader", cap["verdict"]
    # a met step before the loader's limit (a step the loader lagged in is measured again)
    met = [s for s in cap["steps"] if s["met"]]
    assert [s["rate"] for s in met] == [200.0], cap["steps"]
    assert (cap["rps"], cap["offered_rps"], cap["bound_at"]) == (None, None, 150_000.0)
    shown = "loader-bound at 150,000 req/s"
    md = (tmp_path / "lb.md").read_text()
    assert f"| {shown} |" in md.split("## Runs")[0]  # the table's capacity cell
    assert "★ best" not in md
    (row,) = csv.DictReader(io.StringIO((tmp_path / "lb.csv").read_text()))
    assert (row["capacity_rps"], row["capacity_limit"]) == ("", "loader")
    assert row["verdicts"].startswith(shown)
    page = (tmp_path / "lb.html").read_text()
    assert f'<td class="n">{shown}</td>' in page and "★" not in page.split("<h2>Commands")[0]
    # a report saved before the rule (the met step's rate in rps, no bound_at) reads the same
    doc = json.loads((tmp_path / "lb.json").read_text())
    doc["runs"][0]["capacity"].update(rps=met[0]["rps"], offered_rps=200.0)
    del doc["runs"][0]["capacity"]["bound_at"]
    old = tmp_path / "old.json"
    old.write_text(json.dumps(doc))
    options = parse_options(["--open", str(old)])
    session = Session(options, results=options.open_reports)
    (tmp_path / "again").mkdir()
    with open(session.export_runs("md", str(tmp_path / "again")).path) as f:
        assert f"| {shown} |" in f.read().split("## Runs")[0]
