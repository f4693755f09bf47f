"""Progress of a headless run on stderr.

On a terminal: a progress bar (runs done of all, the current run and capacity step,
elapsed and an ETA) over a live table that shows only the active and the latest
rows, so a 57-run matrix does not scroll off the screen. Elsewhere (a CI log): one
line per finished run and per capacity step."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, TextIO

from wsgicompare.engine.capacity import DEFAULT_MAX_STEPS, Step
from wsgicompare.engine.runspec import RunSpec
from wsgicompare.reporting.export.ranking import headline
from wsgicompare.results import RunResult, Tick

#: rows of the live table besides the one under load: the latest finished ones
LIVE_ROWS = 8
#: seconds a run takes beyond its load (start, stop, settle) for the first ETA
RUN_OVERHEAD_S = 2.0


def expected_s(spec: RunSpec) -> float:
    """Seconds one spec should take, before any run has been timed: its load (or a
    capacity search's probe and steps) and the start/stop around it."""
    load = spec.load
    plan = spec.capacity
    if plan is not None:
        steps = len(plan.rates) if plan.rates else min(plan.max_steps, DEFAULT_MAX_STEPS)
        # a search keeps a step of its budget for the confirmation run, which is longer
        confirm = plan.confirm_s - plan.step_s if plan.confirm_s and not plan.rates else 0.0
        probe = plan.probe_s if plan.own_probe else 0.0
        return probe + steps * (plan.step_s + plan.step_warmup_s + 1.0) + confirm + RUN_OVERHEAD_S
    if load.duration_s is not None:
        return load.warmup_s + load.duration_s + RUN_OVERHEAD_S
    return RUN_OVERHEAD_S + load.warmup_s + 10.0  # --requests/--reps: unknown, a guess


class Progress:
    """Feeds on the conductor's ticks, steps and results (any thread)."""

    def __init__(self, specs: list[RunSpec], stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.live_mode = self.stream.isatty()
        self.total = len(specs)
        self.expected = [expected_s(s) for s in specs]
        self.rows: dict[tuple[str, str], dict[str, Any]] = {}
        self.order: list[tuple[str, str]] = []  # rows in the order they became active
        self.done = 0
        self.started = time.monotonic()
        self.run_started = self.started
        self.run_times: list[float] = []  # wall seconds of each finished run
        self.current: tuple[str, str] | None = None  # the run the ticks are about
        self.steps = 0  # capacity steps of the current run so far
        self.last_step = ""
        self.live: Any = None  # rich.live.Live once started (rich is imported only for a terminal)
        self._lock = threading.Lock()

    def __enter__(self) -> Progress:
        if self.live_mode:
            # rich's live display (~15 ms) only for a terminal: a log or CI run never loads it
            from rich.console import Console
            from rich.live import Live

            self.live = Live(
                get_renderable=self._render, console=Console(file=self.stream), refresh_per_second=4, transient=False
            )
            self.live.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.live is not None:
            self.live.stop()

    def eta_s(self) -> float:
        """Seconds left: the runs to go at the mean time of those done (the specs' own
        estimate until one is), less what the current one has run."""
        left = self.expected[self.done :]
        if not left:
            return 0.0
        if self.run_times:
            per_run = sum(self.run_times) / len(self.run_times)
            remaining = per_run * len(left)
        else:
            remaining = sum(left)
        return max(0.0, remaining - (time.monotonic() - self.run_started))

    def on_step(self, step: Step) -> None:
        """A capacity step ended: one line (or the live table's phase column)."""
        text = step_line(step)
        with self._lock:
            self.steps += 1
            self.last_step = f"step {self.steps}: {text}"
        if not self.live_mode:
            self.stream.write(f"  {self.last_step}\n")
            self.stream.flush()

    def on_tick(self, tick: Tick) -> None:
        key = (tick.backend, tick.workload)
        with self._lock:
            if key != self.current:
                self.current, self.steps, self.last_step = key, 0, ""
                if key not in self.rows:
                    self.order.append(key)
            self.rows[key] = {
                "phase": tick.phase,
                "elapsed": tick.elapsed_s,
                "remaining": tick.remaining_s,
                "rps_2xx": tick.rps_2xx,
                "rps_other": tick.rps - tick.rps_2xx,
                "errors": sum(tick.errors.values()),
                "p99": tick.cum_p99_ms,
                "reason": self.last_step,
            }

    def on_result(self, result: RunResult) -> None:
        now = time.monotonic()
        key = (result.backend, result.workload)
        with self._lock:
            self.done += 1
            self.run_times.append(now - self.run_started)
            self.run_started = now
            if key not in self.rows:
                self.order.append(key)
            self.rows[key] = {
                "phase": result.status,
                "elapsed": result.elapsed_s,
                "remaining": None,
                "rps_2xx": result.rps_2xx,
                "rps_other": result.rps - result.rps_2xx,
                "errors": result.failures,
                "p99": result.latency_ms.p99,
                "reason": result.capacity.verdict if result.capacity else result.reason,
            }
            self.current = None
        if not self.live_mode:
            self.stream.write(finished_line(result, self.done, self.total) + "\n")
            self.stream.flush()

    def _render(self) -> Any:
        # imported here with rich.live above (only a terminal draws this)
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        with self._lock:
            keys = list(self.order)
            rows = dict(self.rows)
            done, current, last_step = self.done, self.current, self.last_step
        # the active row and the latest finished ones: a long matrix stays on screen
        shown = [k for k in keys if k != current][-LIVE_ROWS:]
        if current is not None and current in rows:
            shown.append(current)
        hidden = len(keys) - len(shown)
        elapsed = time.monotonic() - self.started
        head = Table.grid(padding=(0, 1))
        head.add_row(
            Text(f"{done}/{self.total} runs", style="bold"),
            ProgressBar(total=max(1, self.total), completed=done, width=30),
            Text(f"{_clock(elapsed)} elapsed · ETA {_clock(self.eta_s())}"),
        )
        now = f"now: {current[0]} {current[1]}" + (f" · {last_step}" if last_step else "") if current else ""
        table = Table(box=None, pad_edge=False)
        for name, justify in (
            ("backend", "left"),
            ("workload", "left"),
            ("phase", "left"),
            ("elapsed", "right"),
            ("left", "right"),
            ("2xx req/s", "right"),
            ("other req/s", "right"),
            ("p99 ms", "right"),
            ("failures", "right"),
        ):
            table.add_column(name, justify=justify)  # type: ignore[arg-type]
        for backend, workload in shown:
            row = rows[(backend, workload)]
            phase = row["phase"]
            style = {"ok": "green", "failed": "red", "unavailable": "yellow"}.get(phase, "bold")
            table.add_row(
                backend,
                workload,
                f"[{style}]{phase}[/]" + (f" [dim]{row['reason'][:60]}[/]" if row.get("reason") else ""),
                _fmt(row.get("elapsed"), "{:.1f} s"),
                _fmt(row.get("remaining"), "{:.1f} s"),
                _fmt(row.get("rps_2xx"), "{:,.0f}"),
                _fmt(row.get("rps_other") or None, "{:,.0f}"),  # blank unless some answer was not a 2xx
                _fmt(row.get("p99"), "{:.1f}"),
                _fmt(row.get("errors"), "{:,}"),
            )
        parts: list[Any] = [head]
        if now:
            parts.append(Text(now, style="dim"))
        if hidden:
            parts.append(Text(f"… {hidden} earlier run{'s' if hidden != 1 else ''} not shown", style="dim"))
        parts.append(table)
        return Group(*parts)


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return (
        f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        if seconds >= 3600
        else f"{seconds // 60}:{seconds % 60:02d}"
    )


def _fmt(value: Any, pattern: str) -> str:
    return "" if value is None else pattern.format(value)


def step_line(step: Step) -> str:
    p99 = "—" if step.p99_ms is None else f"{step.p99_ms:.1f} ms"
    verdict = "met" if step.met else f"not met ({step.why})"
    return f"{step.rate:,.0f} req/s offered → {step.rps:,.0f} served, p99 {p99}: {verdict}"


def finished_line(r: RunResult, done: int, total: int) -> str:
    head = f"[{done}/{total}] {r.backend} {r.workload}: {r.status}"
    if r.capacity:
        head += f" · {r.capacity.verdict}"
    if r.requests:
        p99 = r.latency_ms.p99
        head += f" · {headline(r)}" + (f" · p99 {p99:.1f} ms" if p99 is not None else "")
        head += f" · {r.failures:,} failures"
    if r.reason:
        head += f" · {r.reason}"
    waited = r.settle.waited_s if r.settle is not None else None
    if waited:
        head += f" · waited {waited:.1f} s for the previous port to settle"
    return head
