"""Suite-wide guard: no test module may leave a process behind.

Every module's teardown waits briefly for its descendants to go, then fails the
module (and kills the leftovers, so one leak doesn't cascade) if any remain.
The backends' reaper and multiprocessing's resource tracker live as long as the
test process by design and are not counted."""

from __future__ import annotations

import time

import psutil
import pytest
from process_support import stray_descendants as _stray_descendants


@pytest.fixture(scope="module", autouse=True)
def no_process_left_behind():
    yield
    deadline = time.monotonic() + 5.0
    strays = _stray_descendants()
    while strays and time.monotonic() < deadline:
        time.sleep(0.1)
        strays = _stray_descendants()
    if strays:
        described = []
        for proc in strays:
            try:
                described.append(f"{proc.pid} {' '.join(proc.cmdline())[:120]}")
                proc.kill()
            except psutil.Error:
                pass
        pytest.fail("processes left behind by this module: " + "; ".join(described), pytrace=False)


#: modules that raise or read the machine-wide TCP counters (ListenOverflows, SYN drops:
#: tiny-backlog servers, thousands of connects) run in one pytest-xdist worker, one after
#: another, so no run reads another module's overflow as its own
KERNEL_COUNTER_MODULES = frozenset(
    {
        "test_verdicts_real",
        "test_reliability_overload",
        "test_loader",
        "test_loader_slow_clients",
        "test_conductor",
    }
)


#: the groups that take longest, longest first (measured with --durations on the 2-core
#: machine): xdist hands groups out in collection order, so these start at once and
#: the short ones fill the gaps at the end (longest-processing-time-first scheduling)
LONGEST_FIRST = (
    "kernel-counters",
    "test_cluster",
    "test_reliability_signals",
    "test_recommend_real",
    "test_tui_recommend",
    "test_capacity",
    "test_scenarios_slow_transfers",
    "test_backends",
    "test_workloads",
    "test_scenarios",
    "test_cli_e2e",
    "test_tui_app",
    "test_loader_open_loop",
    "test_serve",
    "test_scenarios_loader",
    "test_tui_capacity",
    "test_tui_polish",
)


#: modules whose tests share a module-scoped fixture (a started server, the Ray cluster):
#: they stay in one worker so it starts once. Every other test goes to whichever worker
#: is free (its own xdist scope), which balances the two cores far better than by module
SHARED_FIXTURE_MODULES = frozenset(
    {
        "test_bad_input",
        "test_cli",
        "test_cluster",
        "test_loader_histogram",
        "test_open_reports",
        "test_server_memory",
        "test_workloads",
    }
)


def _group(item: pytest.Item) -> str | None:
    module = item.path.stem
    if module in KERNEL_COUNTER_MODULES:
        return "kernel-counters"
    return module if module in SHARED_FIXTURE_MODULES else None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (``-n 3 --dist loadgroup``): the kernel-counter modules share one
    worker, a module with shared fixtures stays in one, the rest spread test by test;
    the longest go first. First among the hooks: xdist's own reads the groups' markers
    (to name each test's group) in the same hook, and after this one had run it found
    none — every module's shared server, report and Ray cluster was then started again
    in each worker that ran one of its tests (tests/test_xdist_groups.py)."""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    order = {id(item): i for i, item in enumerate(items)}

    def key(item: pytest.Item) -> tuple[int, int]:
        return (rank.get(_group(item) or item.path.stem, len(rank)), order[id(item)])

    items.sort(key=key)
    for item in items:
        group = _group(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
