"""The conductor: one run = start backend → ready → warm-up → load → stop → RunResult.
Work in progress: the API below is final (ARCHITECTURE.md), the body lands next."""

from __future__ import annotations

import threading
from typing import Callable

from wsgicompare.results import RunResult, Tick
from wsgicompare.spec import (  # noqa: F401  (re-exported: RunSpec lives with its defaults)
    URL_BACKEND,
    RunSpec,
    default_cpus,
    default_load,
    default_server_config,
    default_spec,
    matrix,
    url_spec,
)

OnTick = Callable[[Tick], None]
OnResult = Callable[[RunResult], None]


class Conductor:
    """Runs specs one after another; blocking, callable from any thread (no signal handlers)."""

    def run_one(self, spec: RunSpec, on_tick: OnTick | None = None, cancel: threading.Event | None = None) -> RunResult:
        raise NotImplementedError

    def run_all(
        self,
        specs: list[RunSpec],
        on_tick: OnTick | None = None,
        on_result: OnResult | None = None,
        cancel: threading.Event | None = None,
    ) -> list[RunResult]:
        raise NotImplementedError
