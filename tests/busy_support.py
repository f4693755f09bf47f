"""Running a test's load again where a busy machine moved its figure.

The suite shares two cores among three workers (and, in the flake hunt, a busy loop on
each core). Another test's processes can take the CPU from a server or the loader for a
second: a phase's calm rate, a test server's rate at its capacity or a loader's schedule
then falls short for a reason that is not the behaviour under test. Such a test runs its
load again, at most ATTEMPTS times, until the figure holds: a behaviour that holds shows it
in one of three runs, one that does not in none, and the last run's figures are what the
test's own assertions then fail on."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

#: runs of a load before a test gives up on a busy machine
ATTEMPTS = 3

T = TypeVar("T")


def again_until(run: Callable[[], T], holds: Callable[[T], bool]) -> T:
    """``run()`` until ``holds`` its result, at most ATTEMPTS times; the last result either way."""
    for _ in range(ATTEMPTS):
        result = run()
        if holds(result):
            break
    return result
