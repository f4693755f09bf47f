"""Snapshot tests of the TUI from fixed data (tests/tui_snapshot_app.py): the main
screen mid-run at a large and a small terminal size, the light theme, the compare
view, and the form refusing a bad value. Update with `pytest --snapshot-update`
after looking at the new SVGs."""

from __future__ import annotations

import os
from dataclasses import replace

import pytest
from tui_snapshot_app import OPTIONS, compare_app, main_screen_app

from wsgicompare.tui.app import WsgiCompareApp


@pytest.fixture(autouse=True)
def no_snapshot_update_in_ci(request):
    """`--snapshot-update` rewrites the SVGs and passes (each is compared with what was just
    written): CI must check them, never rewrite them."""
    if request.config.getoption("update_snapshots", default=False) and os.environ.get("CI"):
        pytest.fail(
            f"--snapshot-update under CI={os.environ['CI']}: snapshots are never rewritten in CI", pytrace=False
        )


def test_main_screen_mid_run_large(snap_compare):
    assert snap_compare(main_screen_app(), terminal_size=(160, 48))


def test_main_screen_mid_run_small(snap_compare):
    assert snap_compare(main_screen_app(), terminal_size=(80, 24))


def test_main_screen_light_theme(snap_compare):
    assert snap_compare(main_screen_app(replace(OPTIONS, theme="light")), terminal_size=(120, 36))


def test_compare_view(snap_compare):
    assert snap_compare(compare_app(), press=["c"], terminal_size=(160, 48))


def test_invalid_setting_shows_message_and_disables_load(snap_compare):
    async def type_bad_concurrency(pilot):
        app = pilot.app
        assert isinstance(app, WsgiCompareApp)
        field = app.main.query_one("#f-concurrency")
        field.value = "-3"
        await pilot.pause()
        app.main.query_one("#backends").focus()  # no blinking cursor in the snapshot
        await pilot.pause()

    assert snap_compare(compare_app(), terminal_size=(120, 36), run_before=type_bad_concurrency)
