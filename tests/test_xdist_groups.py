"""The suite's xdist groups hold (tests/conftest.py): under ``--dist loadgroup`` each test
of a module with a shared fixture, and of the kernel-counter modules, carries its group
in its id, which is what keeps the group on one worker. Once the groups' markers came
after xdist had named the tests, and every worker that ran one test of such a module
started that module's server, reports or Ray cluster again."""

from __future__ import annotations

import os

import pytest
from conftest import KERNEL_COUNTER_MODULES, SHARED_FIXTURE_MODULES


def test_every_grouped_module_runs_its_tests_under_its_group(request: pytest.FixtureRequest) -> None:
    if not os.environ.get("PYTEST_XDIST_WORKER") or not request.config.getvalue("loadgroup"):
        pytest.skip("only under pytest-xdist's --dist loadgroup (the suite's default options)")
    groups = {"kernel-counters", *SHARED_FIXTURE_MODULES}
    seen = 0
    for item in request.session.items:
        module = item.path.stem
        want = "kernel-counters" if module in KERNEL_COUNTER_MODULES else module
        if module in KERNEL_COUNTER_MODULES or module in SHARED_FIXTURE_MODULES:
            seen += 1
            assert item.nodeid.endswith(f"@{want}"), item.nodeid
        else:
            # the rest go test by test (an "@" may be in a parameter's id: a URL's user part)
            assert not any(item.nodeid.endswith(f"@{g}") for g in groups), item.nodeid
    if not seen:
        pytest.skip("no grouped module in this run")
