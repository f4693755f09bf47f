"""The TUI's plain parts: form parsing, the tick history the clock draws from, and the
block-character renderers."""

from __future__ import annotations

import pytest
from tui_snapshot_app import make_ticks

from wsgicompare.session import FORM_OPTIONS, FieldError, LoadSettings, SettingsError
from wsgicompare.settings.options import OptionError, parse_options
from wsgicompare.tui.model import (
    TickHistory,
    fmt_ms,
    human_count,
    parse_field,
    settings_fields,
    settings_from_fields,
)
from wsgicompare.tui.widgets.draw import hbar, resample, spark_rows


def test_parse_field_accepts_in_range_values():
    assert parse_field("concurrency", " 64 ") == 64
    assert parse_field("duration_s", "2.5") == 2.5
    assert parse_field("rate", "") is None  # empty rate = closed loop
    assert parse_field("warmup_s", "0") == 0


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("concurrency", "", "required"),
        ("concurrency", "1.5", "whole number"),
        ("concurrency", "0", "1…100000"),
        ("concurrency", "100001", "1…100000"),
        ("duration_s", "nan", ">0…86400"),
        ("rate", "x", "a number"),
        ("rate", "0", ">0…1e+07"),
        ("workers", "-1", "1…256"),
    ],
)
def test_parse_field_refuses_with_a_short_message(name, text, message):
    """Beside the field a short refusal; the refusal itself is the command line's, word for word."""
    with pytest.raises(FieldError) as refused:
        parse_field(name, text)
    assert refused.value.short == message
    option = FORM_OPTIONS[name].name
    assert str(refused.value).startswith(f"--{option} ")
    if text:
        with pytest.raises(OptionError) as cli:
            parse_options([f"--{option}", text])
        assert str(cli.value) == str(refused.value)


def test_settings_need_a_stop_rule():
    values = {name: parse_field(name, text) for name, text in settings_fields(LoadSettings()).items()}
    values["duration_s"] = None
    with pytest.raises(SettingsError, match="stop rule"):
        settings_from_fields(values)
    values["reps"] = 100
    assert settings_from_fields(values).stop_rule() == "100 reps"


def test_settings_fields_round_trip():
    settings = LoadSettings(concurrency=8, duration_s=2.0, requests=500, rate=100.0)
    parsed = {name: parse_field(name, text) for name, text in settings_fields(settings).items()}
    assert settings_from_fields({**parsed, "workload": "hello", "keepalive": True}) == settings


def test_history_frames_only_when_a_tick_arrived():
    history = TickHistory(points=10)
    assert history.frame() is None
    ticks = make_ticks(n=14)
    for tick in ticks[:3]:
        history.add(tick)
    frame = history.frame()
    assert frame is not None and frame.tick is ticks[2]
    assert history.frame() is None  # nothing new: the clock repaints nothing
    for tick in ticks[3:]:
        history.add(tick)
    frame = history.frame()
    assert frame.tick is ticks[-1]
    assert len(frame.server_cpu_pct) == 10  # bounded by points
    assert frame.rps == tuple(t.rps for t in ticks[-10:])  # all load ticks by now
    assert history.frame(force=True) is not None
    # warm-up ticks are not part of the throughput or p99 series; the server's are
    early = TickHistory(points=10)
    for tick in ticks[:6]:
        early.add(tick)
    frame = early.frame()
    assert [t.phase for t in ticks[:6]] == ["warmup"] * 4 + ["load"] * 2
    assert frame.rps == (ticks[4].rps, ticks[5].rps)
    assert frame.p99_ms == (ticks[4].p99_ms, ticks[5].p99_ms)
    assert frame.server_cpu_pct == tuple(t.server_cpu_pct for t in ticks[:6])


def test_spark_rows_scale_to_the_peak_and_height():
    assert spark_rows([0, 4, 8], width=3, height=2) == ["  █", " ██"]  # half the peak fills the lower row
    assert spark_rows([0, 2, 8], width=3, height=2) == ["  █", " ▄█"]
    assert spark_rows([], 4, 1) == ["    "]
    assert spark_rows([1, 2, 3, 4, 5, 6], width=3, height=1)[0] == "▅▇█"  # last `width` values
    assert spark_rows([0.001, 100], width=2, height=1)[0][0] == "▁"  # a non-zero value stays visible


def test_hbar_and_resample():
    assert hbar(5, 10, 4) == "██"
    assert hbar(10, 10, 4) == "████"
    assert hbar(1, 0, 4) == ""
    assert resample([1, 1, 3, 3], 2) == [1, 3]
    assert resample([1, 2], 5) == [1, 1, 2, 2]  # stretched to fill the columns


def test_number_formats():
    assert human_count(None) == "—"
    assert human_count(999) == "999"
    assert human_count(2600) == "2.6k"
    assert human_count(2_500_000) == "2.5M"
    assert fmt_ms(0.123) == "0.12" and fmt_ms(44.71) == "44.7" and fmt_ms(1234.5) == "1234"


def scenario_ticks(event_at: int, n: int = 12) -> list:
    """A scenario run's ticks: a "starting" tick, then load; tick ``event_at`` carries the
    event (Tick.event), and from it on every tick the event's live line among its warnings
    (as scenarios.ScenarioEvent.notes gives it); a later tick the end of a loader event."""
    from dataclasses import replace

    ticks = [replace(t, phase="load", warnings=()) for t in make_ticks(n=n)]
    line = "worker-kill at 1.2 s: signal SIGKILL pid 4242"
    ticks = [t if i < event_at else replace(t, warnings=("backlog overflowed", line)) for i, t in enumerate(ticks)]
    if event_at < n:
        ticks[event_at] = replace(ticks[event_at], event=line)
    if event_at + 3 < n:
        ticks[event_at + 3] = replace(ticks[event_at + 3], event="worker-kill ends at 1.5 s")
    return [replace(ticks[0], phase="starting"), *ticks]


def test_a_scenario_frame_marks_the_event_from_the_tick_that_carries_it():
    from dataclasses import replace

    history = TickHistory()
    history.clear(scenario=True)
    # a warning that reads like an event line is no event: only Tick.event is
    for tick in scenario_ticks(event_at=20, n=6):
        history.add(replace(tick, warnings=("worker-kill at 0.1 s: signal SIGKILL pid 1",)))
    assert history.frame().event_index is None
    history = TickHistory()
    history.clear(scenario=True)
    for tick in scenario_ticks(event_at=5):
        history.add(tick)
    frame = history.frame()
    assert frame.scenario and frame.event_index == 5
    assert frame.event == "worker-kill at 1.2 s: signal SIGKILL pid 4242"
    # the next run (an "all" or a run-all) starts its own timeline, its event not yet fired
    for tick in scenario_ticks(event_at=20, n=4):
        history.add(tick)
    frame = history.frame()
    assert len(frame.rps) == 4 and frame.event_index is None and frame.event == ""
    # a plain load marks nothing, whatever its warnings say
    plain = TickHistory()
    for tick in scenario_ticks(event_at=5):
        plain.add(tick)
    frame = plain.frame()
    assert frame.event_index is None and not frame.scenario


def test_a_timeline_keeps_the_event_on_the_chart():
    from wsgicompare.tui.widgets.draw import EVENT_GLYPH, event_axis, marked_rows, timeline

    # points that fit are stretched; the event's column follows
    assert timeline([1, 2, 3], width=10, stretch=2, event_index=1) == ([1, 1, 2, 2, 3, 3], 2)
    # a run longer than the chart is averaged into it, the event at its share of the width
    cols, column = timeline(list(range(100)), width=10, stretch=1, event_index=50)
    assert len(cols) == 10 and column == 5
    assert timeline([], 10, 1, None) == ([], None)
    # the event column is drawn through the chart: a bar keeps its block, empty space gets the glyph
    assert marked_rows(["  █", " ██"], 1) == [(" ", EVENT_GLYPH, "█"), (" ", "█", "█")]
    assert marked_rows(["ab"], None) == [("ab", "", "")]
    head, label, tail = event_axis("0 s", "9 s", "┃reload at 3.0 s", 8, 40)
    assert (head + label + tail).startswith("0 s") and (head + label + tail).endswith("9 s")
    assert len(head) == 8 and len(head + label + tail) == 40


def test_the_scorecard_text_has_a_row_per_backend():
    from wsgicompare.tui.widgets.scorecard import scorecard_text

    rows = [("gunicorn", [(True, "✓ back in 0.4 s, 10 failed"), (None, "unsupported")])]
    lines = scorecard_text(["worker-kill", "reload"], rows, 80).plain.split("\n")
    assert lines[0].split() == ["backend", "worker-kill", "reload"]
    assert lines[1].startswith("gunicorn") and "✓ back in 0.4 s, 10 failed" in lines[1] and "unsupported" in lines[1]
    # too narrow: cells are cut short, never wrapped
    narrow = scorecard_text(["worker-kill", "reload"], rows, 36).plain.split("\n")
    assert len(narrow) == 2 and "…" in narrow[1]


def test_the_header_says_the_scenario():
    from dataclasses import replace

    from wsgicompare.session import Session
    from wsgicompare.tui.model import header_text

    settings = LoadSettings(duration_s=3.0)
    session = Session()
    assert "scenario" not in header_text(settings, session)
    assert header_text(replace(settings, scenarios=("worker-kill",)), session).endswith("scenario worker-kill ⅓ in")
    both = replace(settings, scenarios=("worker-kill", "reload"), event_at_s=1.5)
    assert header_text(both, session, short=True).endswith("scenario worker-kill,reload at 1.5 s")
