"""``--recommend`` headless: the Recommender over the plan's backends, a line of progress
per finished stage with an ETA, every finished backend written to the reports at once,
and Ctrl-C keeping what is done (the answer from it, marked partial)."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from wsgicompare.engine.capacity import DEFAULT_SLO, STEP_WARMUP_S, parse_slo
from wsgicompare.engine.conductor import Conductor
from wsgicompare.engine.runspec import RunSpec
from wsgicompare.reporting.recommend.report import recommendation
from wsgicompare.reporting.recommend.rule import Candidate, decide
from wsgicompare.reporting.recommend.run import CONFIRM_S, MAX_STEPS, PROBE_WARMUP_S, Recommender, Settings
from wsgicompare.reporting.recommend.sweep import SCENARIO_S, STEP_S
from wsgicompare.results import RunResult
from wsgicompare.settings.recommend_options import required, server_cpu_count

if TYPE_CHECKING:
    from wsgicompare.settings.options import Options

PROG = "wsgicompare"
#: writes the reports: (results, files_only) → False when one could not be written
Write = Callable[[list[RunResult], bool], bool]


def settings_of(o: Options) -> Settings:
    """What the options ask of --recommend's runs (its own defaults where none is given)."""
    return Settings(
        slo=o.slo or parse_slo(DEFAULT_SLO),
        cpus=server_cpu_count(o),
        step_s=o.step_duration or STEP_S,
        max_steps=o.max_steps or MAX_STEPS,
        confirm_s=CONFIRM_S if o.confirm is None else o.confirm,
        probe_warmup_s=PROBE_WARMUP_S if o.warmup is None else o.warmup,
        step_warmup_s=STEP_WARMUP_S if o.warmup is None else o.warmup,
        scenario_s=o.duration or SCENARIO_S,
        event_at_s=o.event_at,
        scenario_rate=o.rate,
        slow_clients=o.slow_clients,
        concurrency=o.concurrency,
        required=required(o),
        memory_budget=o.memory_budget,
        sweep=o.sweep,
    )


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
    specs = list({spec.backend: spec for spec in reversed(specs)}.values())[::-1]  # one per backend
    rec = Recommender(lambda spec: conductor.run_one(spec, None, cancel), s, cancel, lambda line: _say(stream, line))
    rec.plan(specs)
    candidates: list[Candidate] = []
    results: list[RunResult] = []
    started = time.monotonic()

    def answer(partial: bool) -> dict[str, Any]:
        pending = [spec.backend for spec in specs if spec.backend not in {c.backend for c in candidates}]
        return recommendation(
            decide(candidates, s.required, s.memory_budget),
            slo=s.slo.to_dict(),
            slo_text=s.slo.text(),
            cpus=s.cpus,
            memory_mb=s.memory_budget,
            required=s.required,
            partial=partial,
            pending=pending,
        )

    _say(
        stream,
        f"recommend: {len(specs)} backends, {rec.clock.total} runs at most, SLO {s.slo.text()}, {s.cpus} server CPU(s)",
    )
    with interrupt(cancel) as caught:
        try:
            for spec in specs:
                if cancel.is_set():
                    break
                cand, runs = rec.measure(spec)
                candidates.append(cand)
                results.extend(runs)
                meta["recommendation"] = answer(partial=True)
                write(results, True)  # every finished backend on disk at once
                _say(stream, f"{spec.backend}: {'done' if cand.finished else 'stopped'} — {rec.clock.eta()}")
        except KeyboardInterrupt:
            caught.signum = caught.signum or 2
    interrupted = caught.signum is not None or cancel.is_set()
    meta["recommendation"] = answer(partial=interrupted or any(not c.finished for c in candidates))
    written = write(results, False)
    _say(stream, f"recommendation ({time.monotonic() - started:.0f} s): {meta['recommendation']['summary']}")
    if not written:
        return 1
    if caught.signum is not None:
        return 128 + int(caught.signum)
    return 0 if any(r.status == "ok" for r in results) else 1


def _say(stream: Any, line: str) -> None:
    print(f"{PROG}: {line}", file=stream, flush=True)
