"""The main screen: the backends and the load form on the left, the four live panels,
the banner.

Data flows one way. The session's run thread only appends each Tick to a
``TickHistory``; the screen's own clock (``refresh_hz``, default 4 Hz) turns the
newest ticks into one immutable ``LiveFrame`` and hands it to the four panels through
a reactive attribute. Nothing is redrawn per request or per tick message, and the
backend table changes only when a backend's state does, because on a 2-core machine
every percent of CPU the UI burns is taken from the load."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from textual import on
from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical
from textual.reactive import var
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Static

from wsgicompare.results import RunResult
from wsgicompare.session import (
    DEFAULT_REFRESH_HZ,
    MAX_REFRESH_HZ,
    MIN_REFRESH_HZ,
    LoadSettings,
    Session,
    Step,
    one_line,
)

from ..messages import CapacityStep, LoadEnded, RunFinished, SettingsChanged
from ..model import BackendRow, CapacityLadder, LiveFrame, TickHistory, header_text
from ..widgets import (
    BackendHint,
    BackendTable,
    Banner,
    FailuresPanel,
    LatencyPanel,
    LoadForm,
    ServerPanel,
    StepLadder,
    ThroughputPanel,
)

#: terminals narrower than this get the slim layout (fewer table columns, shorter form)
NARROW_COLUMNS = 120

#: a tick's phase -> the backend's state in the table
PHASE_STATES = {
    "starting": "starting",
    "warmup": "under load",
    "load": "under load",
    "stopping": "stopping",
    "done": "stopping",
    "failed": "failed",
}


class MainScreen(Screen[None]):
    """The app's actions and the session's messages end here (see WsgiCompareApp)."""

    #: the latest frame the clock built; every live panel draws from it (data_bind).
    #: A `var`, not a `reactive`: a repainting reactive on the screen repaints all of
    #: it, which measured 3× the cost of repainting the four panels alone
    live: var[LiveFrame | None] = var(None)

    def __init__(
        self,
        session: Session,
        history: TickHistory,
        *,
        states: Mapping[str, str] | None = None,
        refresh_hz: float | None = DEFAULT_REFRESH_HZ,
        output_dir: str = ".",
    ) -> None:
        """``states`` sets backends' first states (snapshots); ``refresh_hz`` None
        freezes the clock, so the screen only changes when told; exports go to ``output_dir``."""
        super().__init__()
        self.session = session
        self.history = history
        self.output_dir = output_dir
        self._first_states = dict(states or {})
        self._refresh_hz = refresh_hz
        #: a load is running (from the press of `l` until its LoadEnded is handled)
        self.load_running = False
        self._running_backend: str | None = None
        self._last_state_key: tuple[str, str] | None = None
        #: banner lines by source: "live" (the running load's verdicts) and "app" (messages)
        self._banner_lines: dict[str, tuple[tuple[str, str], ...]] = {"live": (), "app": ()}
        self._mounted = False

    def compose(self) -> ComposeResult:
        yield Static("", id="header", classes="app-header")
        with Horizontal(id="body"):
            with Vertical(id="left"):
                yield BackendTable(id="backends")
                yield BackendHint("", id="hint")
                yield LoadForm(
                    self.session.workloads,
                    self.session.check,
                    self.session.initial_settings.scenarios,
                    id="settings",
                )
            with Grid(id="panels"):
                yield ThroughputPanel(id="throughput", classes="panel").data_bind(frame=MainScreen.live)
                yield LatencyPanel(id="latency", classes="panel").data_bind(frame=MainScreen.live)
                yield FailuresPanel(id="failures", classes="panel").data_bind(frame=MainScreen.live)
                yield ServerPanel(id="server", classes="panel").data_bind(frame=MainScreen.live)
        yield StepLadder(id="ladder")
        yield Banner(id="banner")
        yield Footer()

    def on_mount(self) -> None:
        self._mounted = True
        self.fit_width(self.app.size.width)
        for panel_id, title in (
            ("throughput", "Throughput"),
            ("latency", "Latency"),
            ("failures", "Failures"),
            ("server", "Server"),
        ):
            self.query_one(f"#{panel_id}").border_title = title
        self.query_one("#left").border_title = "Backends"
        self.query_one(LoadForm).border_title = "Load"
        self.query_one(LoadForm).fill(self.session.initial_settings)
        self._show_catalog()
        frame = self.history.frame(force=True)
        if frame is not None:
            self._apply_frame(frame)
        self._update_header()
        if self._refresh_hz is not None:
            self.set_interval(1.0 / max(MIN_REFRESH_HZ, min(MAX_REFRESH_HZ, self._refresh_hz)), self.refresh_live)
        self.query_one(BackendTable).focus()

    def fit_width(self, columns: int) -> None:
        """Slim layout below NARROW_COLUMNS (the app hands every terminal resize on)."""
        if not self._mounted:  # on_mount fits the width it finds
            return
        narrow = columns < NARROW_COLUMNS
        self.set_class(narrow, "-narrow")
        self.query_one(BackendTable).set_narrow(narrow)
        self._show_hint()

    def _show_catalog(self) -> None:
        try:
            raw_rows = self.session.catalog_rows()
        except Exception as exc:  # keep the app usable; say why the list is empty
            raw_rows = []
            self.set_banner("app", [("error", f"backend catalog unavailable: {exc}")])
        last_rps = {r.backend: r.rps_2xx for r in self.session.results if r.status == "ok"}
        rows = []
        for raw in raw_rows:
            row = BackendRow.from_catalog(raw)
            rows.append(replace(row, state=self._first_states.get(row.id, row.state), last_rps=last_rps.get(row.id)))
        self.query_one(BackendTable).show(rows)
        self._show_hint()

    # -- what the screen holds ------------------------------------------------------

    @property
    def settings(self) -> LoadSettings | None:
        """The form's settings; None while a field is invalid."""
        return self.query_one(LoadForm).settings

    @property
    def rows(self) -> Mapping[str, BackendRow]:
        return self.query_one(BackendTable).backends

    def selected_backend(self) -> str | None:
        row = self.query_one(BackendTable).selected
        return None if row is None else row.id

    def set_state(self, backend: str, state: str, reason: str = "") -> None:
        row = self.rows.get(backend)
        if row is not None:
            self._put(replace(row, state=state, reason=reason))

    def _put(self, row: BackendRow) -> None:
        self.query_one(BackendTable).put(row)
        if self.selected_backend() == row.id:
            self._show_hint()

    def _show_hint(self) -> None:
        self.query_one(BackendHint).row = self.query_one(BackendTable).selected

    @on(DataTable.RowHighlighted, "#backends")
    def _row_highlighted(self) -> None:
        self._show_hint()

    @on(SettingsChanged)
    def _settings_changed(self) -> None:
        self._update_header()
        self.app.refresh_bindings()

    @on(Button.Pressed, "#load-button")
    def _load_button(self) -> None:
        if self.load_running:
            self.stop_load()
        else:
            self.load()

    # -- header, banner -------------------------------------------------------------

    def header_text(self, short: bool = False) -> str:
        return header_text(self.settings or self.session.initial_settings, self.session, short)

    def _update_header(self) -> None:
        self.query_one("#header", Static).update(f" [b]wsgicompare[/b] — {self.header_text()}")

    def set_banner(self, source: str, lines: Iterable[tuple[str, str]]) -> None:
        """Lines from one source ("live" verdicts of the running load, or "app" messages)."""
        lines = tuple(lines)
        if self._banner_lines.get(source) == lines:
            return
        self._banner_lines[source] = lines
        self.query_one(Banner).lines = self._banner_lines["live"] + self._banner_lines["app"]

    # -- the clock ------------------------------------------------------------------

    def refresh_live(self) -> None:
        """Runs refresh_hz times a second: push the newest tick to the panels, if any came."""
        frame = self.history.frame()
        if frame is not None:
            self._apply_frame(frame)

    def _apply_frame(self, frame: LiveFrame) -> None:
        self.live = frame
        tick = frame.tick
        self.set_banner("live", tuple(("warn", w) for w in tick.warnings))
        state_key = (tick.backend, tick.phase)
        if state_key != self._last_state_key:
            # a run moves through phases a few times per run: cheap to mirror in the table
            self._last_state_key = state_key
            if self._running_backend and self._running_backend != tick.backend:
                self.set_state(self._running_backend, "stopped")
            self._running_backend = tick.backend
            self._ladder_follows(tick.backend)
            phase_state = PHASE_STATES.get(tick.phase)
            if phase_state:
                self.set_state(tick.backend, phase_state)

    # -- what the keys do (the app's actions) -------------------------------------------

    def _usable_backend(self, verb: str) -> str | None:
        row = self.query_one(BackendTable).selected
        if row is None:
            self.notify("no backend selected", severity="warning")
            return None
        if not row.available:
            self.notify(f"cannot {verb} {row.id}: missing {', '.join(row.missing)}. {row.hint}", severity="error")
            self._show_hint()
            return None
        return row.id

    def toggle_backend(self) -> None:
        """Start the selected backend by hand, or stop it."""
        backend = self._usable_backend("start")
        if backend is None:
            return
        if self.load_running:
            # a server started now would share the server CPUs with the one being measured
            self.notify("a load is running: x stops it", severity="warning")
            return
        if self.rows[backend].state in ("starting", "stopping", "under load"):
            return
        if backend in self.session.servers:
            self.set_state(backend, "stopping")
            self.session.stop(backend)
        elif self.settings is None:
            self.notify("fix the load settings first (workers, threads)", severity="error")
        else:
            self.set_state(backend, "starting")
            self.session.start(backend, self.settings)

    def load(self) -> None:
        """Load the selected backend with the form's settings."""
        if self.load_running:
            self.notify("a load is already running (x stops it)", severity="warning")
            return
        if self.settings is None:
            self.notify("the load settings are not valid", severity="error")
            return
        backend = self._usable_backend("load")
        if backend is not None:
            self._begin_load([backend])

    def find_capacity(self) -> None:
        """Search the selected backend's capacity at the form's SLO, whatever the
        "find capacity" box says."""
        if self.load_running:
            self.notify("a load is already running (x stops it)", severity="warning")
            return
        if self.settings is None:
            self.notify("the load settings are not valid", severity="error")
            return
        if self.settings.scenarios:
            # a search is many short runs at chosen rates: no place for a timed event
            self.notify("a scenario is one timed run: set scenario to none to find the capacity", severity="error")
            return
        backend = self._usable_backend("load")
        if backend is not None:
            self._begin_load([backend], capacity=True)

    def run_all(self) -> None:
        """Load every available backend in turn (a capacity search each when the form's
        "find capacity" box is ticked)."""
        if self.load_running or self.settings is None:
            self.notify(
                "cannot run all now" if self.load_running else "the load settings are not valid", severity="error"
            )
            return
        backends = [r.id for r in self.rows.values() if r.available]
        if not backends:
            self.notify("no backend available", severity="error")
            return
        self._begin_load(backends)

    def _begin_load(self, backends: list[str], capacity: bool | None = None) -> None:
        assert self.settings is not None
        specs = self.session.plan(self.settings, backends, capacity=capacity)
        plan = specs[0].capacity if specs else None
        ladder = self.query_one(StepLadder)
        if plan is None:
            ladder.ladder = None
        else:
            ladder.ladder = CapacityLadder(
                backend=backends[0],
                slo=plan.slo.text(),
                percentile=plan.slo.percentile,
                max_steps=len(plan.rates) if plan.rates else plan.max_steps,
            )
        self._set_load_running(True)
        self.set_banner("app", ())
        self.history.clear(scenario=any(spec.scenario is not None for spec in specs))
        self._last_state_key = None
        self._running_backend = backends[0]
        self.set_state(backends[0], "starting")
        post = self.app.post_message  # the callbacks run on the session's thread: no app lookup there
        self.session.run(
            specs,
            on_tick=self.history.add,  # store only: the clock does the drawing
            on_result=lambda result: post(RunFinished(result)),
            on_end=lambda error: post(LoadEnded(error)),
            on_step=lambda backend, step: post(CapacityStep(backend, step)),
        )

    def stop_load(self) -> None:
        if self.load_running:
            self.session.cancel_run()
            self.set_banner("app", [("info", "stopping the load …")])

    def _set_load_running(self, running: bool) -> None:
        self.load_running = running
        self.query_one(LoadForm).show_load_running(running)
        self.app.refresh_bindings()

    def export_results(self, fmt: str) -> str | None:
        """Write the runs of the latest load settings; show the path, and how many runs
        with other settings were left out."""
        try:
            exported = self.session.export_runs(fmt, self.output_dir)
        except Exception as exc:
            self.notify(f"export failed: {one_line(exc)}", severity="error")
            return None
        lines = [("info", f"exported {fmt} → {exported.path}")]
        self.notify(f"exported to {exported.path}")
        if exported.left_out:
            left_out = exported.left_out
            note = (
                f"{left_out} run{'s' if left_out != 1 else ''} with other load settings left out "
                "(export after each load to keep them)"
            )
            lines.append(("warn", note))
            self.notify(note, severity="warning")
        self.set_banner("app", lines)
        return exported.path

    # -- what the session said (the app's message handlers) ------------------------------

    def backend_state_changed(self, backend: str, state: str, detail: str) -> None:
        self.set_state(backend, state, detail if state == "failed" else "")
        if state == "failed":
            self.set_banner("app", [("error", f"{backend}: {detail}")])
        elif state == "ready" and detail:
            self.notify(f"{backend} ready at {detail}")

    def run_finished(self, result: RunResult) -> None:
        row = self.rows.get(result.backend)
        if row is not None:
            if result.status == "ok":
                self._put(replace(row, last_rps=result.rps_2xx, state="stopped", reason=""))
            else:
                self.set_state(result.backend, "failed", result.reason)
        self._capacity_finished(result)
        # the ladder shows the capacity verdict: not twice
        shown = result.capacity.verdict if result.capacity else None
        lines = [("warn", f"{result.backend}: {v}") for v in result.verdicts if v != shown]
        if result.status != "ok":
            lines.insert(0, ("error", f"{result.backend} {result.status}: {result.reason}"))
        self.set_banner("app", lines[:4])

    def _ladder_follows(self, backend: str) -> None:
        """A run-all's search moved on to ``backend``: its ladder starts empty (probing)."""
        widget = self.query_one(StepLadder)
        ladder = widget.ladder
        if ladder is not None and ladder.backend != backend:
            widget.ladder = replace(ladder, backend=backend, steps=(), verdict="", capacity_rps=None, limit="")

    def capacity_step(self, backend: str, step: Step) -> None:
        """A step ended: the ladder grows by one column (steps are seconds apart, so each
        is drawn as it comes; a new backend of a run-all starts a new ladder)."""
        widget = self.query_one(StepLadder)
        ladder = widget.ladder
        if ladder is None:
            return
        if ladder.backend != backend:  # its first tick has not been drawn yet
            self._ladder_follows(backend)
            ladder = widget.ladder
            assert ladder is not None
        widget.ladder = ladder.with_step(step)

    def _capacity_finished(self, result: RunResult) -> None:
        widget = self.query_one(StepLadder)
        ladder = widget.ladder
        if ladder is None or not result.capacity:
            return
        if ladder.backend != result.backend:  # a run-all backend whose search took no step
            self._ladder_follows(result.backend)
            ladder = widget.ladder
            assert ladder is not None
        widget.ladder = ladder.finished(result.capacity)

    def load_ended(self, error: str) -> None:
        # draw the final tick now rather than on the next clock beat
        frame = self.history.frame()
        if frame is not None:
            self._apply_frame(frame)
        servers = self.session.servers
        for row in list(self.rows.values()):
            if row.state in ("under load", "starting", "stopping") and row.id not in servers:
                self.set_state(row.id, "stopped")
        self._running_backend = None
        self._last_state_key = None
        self.set_banner("live", ())
        if error:
            self.set_banner("app", [("error", f"run failed: {error}")])
        self._set_load_running(False)
