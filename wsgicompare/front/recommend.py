"""``--recommend`` headless: the Recommender over the plan's backends, a line of progress
per finished stage with an ETA, every finished backend written to the reports at once,
and Ctrl-C keeping what is done (the answer from it, marked partial)."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from wsgicompare.engine.conductor import Conductor
from wsgicompare.engine.runspec import RunSpec
from wsgicompare.reporting.recommend.campaign import Campaign
from wsgicompare.results import RunResult
from wsgicompare.settings.recommend_options import settings_of

if TYPE_CHECKING:
    from wsgicompare.settings.options import Options

PROG = "wsgicompare"
#: writes the reports: (results, files_only) → False when one could not be written
Write = Callable[[list[RunResult], bool], bool]


def run_recommend(
    o: Options,
    specs: list[RunSpec],
    meta: dict[str, Any],
    settle_max_s: float,
    write: Write,
    interrupt: Any,
    stream: Any = None,
) -> int:
    """Measure every backend of ``specs`` (one per backend) and write the answer; the exit
    code as the CLI's (0 done, 1 nothing measured or an export not written, 130/143)."""
    stream = stream or sys.stderr
    s = settings_of(o)
    cancel = threading.Event()
    conductor = Conductor(settle_max_s=settle_max_s)
    run = Campaign(
        specs, s, lambda spec, cancel: conductor.run_one(spec, None, cancel), cancel, lambda line: _say(stream, line)
    )
    started = time.monotonic()
    _say(
        stream,
        f"recommend: {len(run.specs)} backends, {run.rec.clock.total} runs at most, SLO {s.slo.text()}, "
        f"{s.cpus} server CPU(s)",
    )
    with interrupt(cancel) as caught:
        try:
            for spec in run.specs:
                if cancel.is_set():
                    break
                cand = run.measure(spec)
                meta["recommendation"] = run.answer(partial=True)
                write(run.results, True)  # every finished backend on disk at once
                _say(stream, f"{spec.backend}: {'done' if cand.finished else 'stopped'} — {run.rec.clock.eta()}")
        except KeyboardInterrupt:
            caught.signum = caught.signum or 2
    interrupted = caught.signum is not None or cancel.is_set()
    meta["recommendation"] = run.answer(partial=interrupted)
    written = write(run.results, False)
    _say(stream, f"recommendation ({time.monotonic() - started:.0f} s): {meta['recommendation']['summary']}")
    if not written:
        return 1
    if caught.signum is not None:
        return 128 + int(caught.signum)
    return 0 if any(r.status == "ok" for r in run.results) else 1


def _say(stream: Any, line: str) -> None:
    print(f"{PROG}: {line}", file=stream, flush=True)
