"""One checked plan for both front ends: the same bad values sent through the command
line (``main(argv)`` in-process, behind the tripwire) and through the app's form (a
Textual pilot) get the same refusal, word for word — a field's own range (the option
table's converter) and the plan's checks (``runspec.checked_specs``: LoadProfile's
validation, the open-file rule, the rate rule). Nothing starts in either."""

from __future__ import annotations

import pytest

from wsgicompare.loader import MAX_CONCURRENCY, connection_room
from wsgicompare.settings.options import Options, parse_options
from wsgicompare.tui.app import WsgiCompareApp
from wsgicompare.tui.widgets.load_form import LoadForm

#: the ``cli`` fixture: main(argv) in-process behind the tripwire (tests/cli_support.py)
pytest_plugins = ["cli_support"]

pytestmark = pytest.mark.anyio

PREFIX = "wsgicompare: error: "


@pytest.fixture
def anyio_backend():
    return "asyncio"


def _over_open_files() -> str:
    """One connection more than a loader process can hold here (its hard open-file limit)."""
    room = connection_room()
    if room is None or room + 1 > MAX_CONCURRENCY:
        pytest.skip("the hard open-file limit is above what -c may ask: no -c is refused for it")
    return str(room + 1)


async def _form_refusal(field: str, text: str) -> str:
    """What the app's form says of ``text`` typed into ``field`` (the rest: a short valid load)."""
    options = Options(concurrency=8, duration=2.0, warmup=0.0, workloads=["hello"], workers=1, threads=2)
    app = WsgiCompareApp(options)
    async with app.run_test(size=(120, 36)) as pilot:
        form = app.main.query_one(LoadForm)
        assert form.settings is not None and form.refusal == ""
        app.main.query_one(f"#f-{field}").value = text
        await pilot.pause()
        assert form.settings is None and app.main.query_one("#load-button").disabled
        shown = str(app.main.query_one("#form-error").render()) or app.main.query_one(f"#e-{field}").tooltip
        assert shown == form.refusal, (shown, form.refusal)
        return form.refusal


@pytest.mark.parametrize(
    ("field", "text", "flag"),
    [
        ("concurrency", "over-open-files", "-c"),  # the open-file rule: the app took it before
        ("rate", "300000", "--rate"),  # beyond one loader process's rate: the app took it before
        ("rate", "0", "--rate"),  # the rate floor: one rule (the app's was 0.1, the CLI's > 0)
        ("concurrency", "0", "-c"),
        ("duration_s", "-1", "-d"),
        ("warmup_s", "1h1s", "--warmup"),
        ("workers", "1.5", "--workers"),
        ("concurrency", "10_000", "-c"),  # the form once read it as Python does, the CLI never
    ],
)
async def test_the_same_bad_value_gets_the_same_refusal_from_both_front_ends(cli, field, text, flag):
    if text == "over-open-files":
        text = _over_open_files()
    line = cli.refused(["--backend", "flask-dev", "-d", "1", flag, text], "")
    assert line.startswith(PREFIX)
    assert await _form_refusal(field, text) == line.removeprefix(PREFIX)


async def test_a_rate_above_the_floor_passes_both_front_ends():
    """0.05 req/s: above zero, so a rate (the app refused below 0.1 before)."""
    assert parse_options(["--backend", "flask-dev", "--rate", "0.05"]).rate == 0.05
    options = Options(concurrency=8, duration=2.0, warmup=0.0, workloads=["hello"], workers=1, threads=2)
    app = WsgiCompareApp(options)
    async with app.run_test(size=(120, 36)) as pilot:
        app.main.query_one("#f-rate").value = "0.05"
        await pilot.pause()
        settings = app.main.query_one(LoadForm).settings
        assert settings is not None and settings.rate == 0.05
