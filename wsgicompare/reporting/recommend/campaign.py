"""One ``--recommend`` run over its backends, for the headless CLI (front/recommend.py) and the
app (the session's ``recommend``) alike: the Recommender per backend in turn, what each
finished with, and the answer so far (the JSON ``recommendation``, partial or not)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from wsgicompare.engine.runspec import RunSpec
from wsgicompare.reporting.recommend.report import recommendation
from wsgicompare.reporting.recommend.rule import Candidate, decide
from wsgicompare.reporting.recommend.run import Recommender, Settings, Stage
from wsgicompare.results import RunResult


class Campaign:
    """``specs`` (the first spec of each backend counts) measured one backend at a time;
    ``run_one(spec, cancel)`` is the conductor's run (a fresh server each), ``say`` gets each
    progress line, ``on_stage`` each stage as it begins and ends."""

    def __init__(
        self,
        specs: list[RunSpec],
        settings: Settings,
        run_one: Callable[[RunSpec, threading.Event], RunResult],
        cancel: threading.Event,
        say: Callable[[str], None] = lambda line: None,
        on_stage: Callable[[Stage], object] | None = None,
    ) -> None:
        self.specs = list({spec.backend: spec for spec in reversed(specs)}.values())[::-1]  # one per backend
        self.settings, self.cancel = settings, cancel
        self.rec = Recommender(lambda spec: run_one(spec, cancel), settings, cancel, say)
        self.rec.on_stage = on_stage
        self.rec.plan(self.specs)
        #: each measured backend's candidate, in order, and every run it made
        self.candidates: list[Candidate] = []
        self.results: list[RunResult] = []

    def measure(self, spec: RunSpec) -> Candidate:
        """One backend from probe to overload (stopped early when cancelled)."""
        cand, runs = self.rec.measure(spec)
        self.candidates.append(cand)
        self.results.extend(runs)
        return cand

    def run(self, after_each: Callable[[Candidate], object] = lambda cand: None) -> dict[str, Any]:
        """Every backend in turn until cancelled; the answer (partial when cancelled)."""
        for spec in self.specs:
            if self.cancel.is_set():
                break
            after_each(self.measure(spec))
        return self.answer(self.cancel.is_set())

    def answer(self, partial: bool) -> dict[str, Any]:
        """The ``recommendation`` from what finished; partial also when a backend was stopped."""
        s, done = self.settings, {c.backend for c in self.candidates}
        return recommendation(
            decide(self.candidates, s.required, s.memory_budget),
            slo=s.slo.to_dict(),
            slo_text=s.slo.text(),
            cpus=s.cpus,
            memory_mb=s.memory_budget,
            required=s.required,
            partial=partial or any(not c.finished for c in self.candidates),
            pending=[spec.backend for spec in self.specs if spec.backend not in done],
        )
