"""The app's recommend screen (issue #22): `r` on real servers shows each stage as it runs
and ends with the answer first, in the Markdown report's own words, then the ranked and
the rejected backends; Ctrl-C stops the run, leaves no process behind and shows the
partial answer marked partial; Esc then goes back to the main screen."""

from __future__ import annotations

import pytest
from backend_support import require_backend
from test_tui_app import banner, select, server_processes, short_conductor, wait_for

from wsgicompare.backends import get_backend
from wsgicompare.engine.capacity import parse_slo
from wsgicompare.reporting.recommend.report import markdown, ranked_rows, rejected_rows
from wsgicompare.reporting.recommend.sweep import parse_sweep
from wsgicompare.settings.options import Options, parse_options
from wsgicompare.tui.app import WsgiCompareApp
from wsgicompare.tui.screens import MainScreen, RecommendScreen
from wsgicompare.tui.screens.recommend import STAGE_COLUMNS

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


def short(require: tuple[str, ...]) -> Options:
    """A tiny --recommend plan, as tests/test_recommend_real.py's but on /io (a 10 ms wait:
    ~100 req/s on one sync worker, so the loader, sharing its CPU with this test's app, is
    never the limit): one config (gunicorn's sync class), 0.5 s steps (two at most), no confirmation run, 2.5 s scenarios at
    60 req/s uniform."""
    return Options(
        workloads=["io"],
        sweep=parse_sweep(["workers=1 worker_class=sync"]),
        step_duration=0.5,
        max_steps=2,
        confirm=0.0,
        duration=2.5,
        rate=60.0,
        warmup=0.5,
        slo=parse_slo("p90=100ms"),
        settle_max=0.0,
        require=require,
    )


def shown(screen: RecommendScreen, part: str) -> str:
    return str(screen.query_one(part).render())


async def test_r_shows_progress_then_the_answer_first_in_the_reports_words():
    for b in ("gunicorn", "flask-dev"):
        require_backend(get_backend(b))
    app = WsgiCompareApp(short(("worker-kill",)), conductor=short_conductor())
    async with app.run_test(size=(160, 48)) as pilot:
        # space marks the backends r measures (none marked: every candidate)
        for b in ("flask-dev", "gunicorn", "waitress"):
            select(app, b)
            await pilot.press("space")
        await pilot.press("space")  # waitress unmarked again
        assert "r recommends among flask-dev, gunicorn" in banner(app)
        await pilot.press("r")
        screen = app.screen
        assert isinstance(screen, RecommendScreen) and screen.running
        assert "2 backends · io · SLO p90 ≤ 100 ms" in shown(screen, "#rec-header")
        assert "required: worker-kill" in shown(screen, "#rec-header")
        # live: what runs now (backend, phase, stage, ETA), and each finished stage as a row
        await wait_for(pilot, lambda: screen.current is not None, 20, "a first stage")
        now = shown(screen, "#rec-now")
        assert "flask-dev" in now and "probe" in now and "stages" in now and "ETA" in now
        await wait_for(pilot, lambda: screen.answer is not None, 60, "the answer")
        answer = screen.answer
        assert answer is not None and not answer["partial"], answer["summary"]
        stages = screen.query_one("#rec-stages")
        rows = [dict(zip(STAGE_COLUMNS, map(str, stages.get_row_at(i)))) for i in range(stages.row_count)]
        assert [r["backend"] for r in rows[:2]] == ["flask-dev", "flask-dev"] and rows[0]["stage"] == "probe"
        assert rows[1]["stage"] == "worker-kill" and rows[1]["phase"] == "scenarios"
        assert any(r["backend"] == "gunicorn" and r["phase"] == "capacity + memory" for r in rows)
        assert all(r["measured"] and r["config"] for r in rows)  # each with its figure and config
        # flask-dev is rejected: one process, a killed worker is an outage
        assert [r["backend"] for r in answer["rejected"]][0] == "flask-dev", answer["summary"]
        text = shown(screen, "#rec-answer")
        assert screen.query_one("#rec-answer").border_title == "final"
        # the answer first, in the Markdown report's own sentences (one source)
        assert text.startswith("The answer\n" + answer["summary"])
        md = markdown(answer)
        assert answer["summary"] in md
        if answer["pick"] is not None:
            assert answer["pick"]["backend"] == "gunicorn"
            assert "Pick: gunicorn, 1 sync worker. Why:" in text
            why = answer["ranked"][0]["why"]
            assert why and all(w in text and f"- {w}" in md for w in why)
            assert answer["pick"]["command"][0] in text
        else:
            # a machine busy with other tests can make the loader the limit of the search:
            # then no capacity, and gunicorn is rejected for that (said as such)
            assert "loader-bound" in answer["rejected"][1]["reasons"][0], answer["summary"]
        # the ranked and rejected tables: the report's rows
        ranked = screen.query_one("#rec-ranked")
        assert ranked.display == bool(answer["ranked"])
        assert [[str(c) for c in ranked.get_row_at(i)] for i in range(ranked.row_count)] == ranked_rows(answer)
        rejected = shown(screen, "#rec-rejected")
        assert rejected.startswith("flask-dev: worker-kill: not recovered: one process")
        assert rejected.splitlines() == [f"{b}: {why}" for b, why in rejected_rows(answer)]
        assert "done" in shown(screen, "#rec-now") and not app.session.running
        assert server_processes() == []
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


async def test_ctrl_c_stops_the_run_leaves_nothing_running_and_shows_the_partial_answer():
    require_backend(get_backend("gunicorn"))
    app = WsgiCompareApp(short(()), conductor=short_conductor())
    async with app.run_test(size=(120, 40)) as pilot:
        select(app, "gunicorn")
        await pilot.press("space")
        await pilot.press("r")
        screen = app.screen
        assert isinstance(screen, RecommendScreen)
        # the probe done, the capacity search going: stop it there
        await wait_for(pilot, lambda: screen.current is not None and screen.current.done >= 1, 20, "the probe")
        await pilot.press("ctrl+c")
        assert "stopp" in shown(screen, "#rec-now")  # stopping, or already stopped
        await wait_for(pilot, lambda: screen.answer is not None, 20, "the partial answer")
        assert app.is_running and app.screen is screen  # ctrl+c stopped the run, not the app
        answer = screen.answer
        assert answer is not None and answer["partial"] and answer["pick"] is None
        assert answer["unfinished"] == ["gunicorn"]
        text = shown(screen, "#rec-answer")
        assert screen.query_one("#rec-answer").border_title == "final, partial: stopped"
        assert text.startswith("The answer (partial)\n") and "Partial: the run was stopped before gunicorn" in text
        assert "stopped: the answer is partial" in shown(screen, "#rec-now")
        assert not app.session.running and server_processes() == []
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen) and not app.main.load_running


def test_the_app_takes_the_recommend_options_a_headless_run_refuses_without_recommend():
    o = parse_options(["--sweep", "workers=1,2", "--require", "worker-kill", "--memory-budget", "200MB"])
    assert not o.headless and o.require == ("worker-kill",) and o.memory_budget == 200.0
