"""The interactive comparator: pick a backend, start it, fire the load, watch it live.

Data flows one way. A thread worker runs the conductor (blocking) and only appends
each Tick to a ``TickHistory``; the app's own clock (``refresh_hz``, default 4 Hz)
turns the newest ticks into one immutable ``LiveFrame`` and hands it to the four
panels through a reactive attribute. Nothing is redrawn per request or per tick
message, and the backend table changes only when a backend's state does, because
on a 2-core machine every percent of CPU the UI burns is taken from the load."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, ScrollableContainer, Vertical, VerticalScroll
from textual.coordinate import Coordinate
from textual.message import Message
from textual.reactive import var
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Checkbox, DataTable, Footer, Input, Label, Select, Static

from wsgicompare.export.ranking import ordered
from wsgicompare.results import RunResult, Tick
from wsgicompare.signals import set_from_signal_handler

from .messages import BackendStateChanged, LoadEnded, RunFinished
from .model import (
    FALLBACK_WORKLOADS,
    FIELD_RULES,
    BackendRow,
    LiveFrame,
    LoadSettings,
    SettingsError,
    TickHistory,
    human_count,
    parse_field,
    settings_fields,
    settings_from_fields,
)
from .widgets import Banner, FailuresPanel, LatencyPanel, RunBars, RunColumn, ServerPanel, ThroughputPanel

#: state -> (marker, component style) for the backend table
STATE_MARKERS = {
    "stopped": "○",
    "starting": "◌",
    "ready": "●",
    "under load": "▶",
    "stopping": "◌",
    "failed": "✗",
}

#: numeric form fields: (field name, label, placeholder)
FORM_FIELDS = (
    ("concurrency", "concurrency", "clients"),
    ("duration_s", "duration s", "none"),
    ("requests", "requests", "none"),
    ("reps", "reps/client", "none"),
    ("rate", "rate req/s", "closed"),
    ("warmup_s", "warm-up s", "seconds"),
    ("workers", "workers", "processes"),
    ("threads", "threads", "per worker"),
)


@dataclass(frozen=True)
class AppOptions:
    """What the app needs from the command line; every field has a default, so the CLI
    may pass its argparse Namespace (read with getattr) or nothing at all."""

    #: panel refreshes per second
    refresh_hz: float = 4.0
    #: "dark" or "light"
    theme: str = "dark"
    #: directory for exports and screenshots
    output_dir: str = "."
    #: CPUs for the server processes (None: the conductor's default split)
    server_cpus: tuple[int, ...] | None = None
    #: CPUs for the loader processes (None: the conductor's default split)
    loader_cpus: tuple[int, ...] | None = None
    #: "module:callable" of the user's WSGI app; None = the bundled test app
    app: str | None = None
    #: request path on the user's app (only with ``app``); None = "/"
    path: str | None = None
    #: fixed port for the backends (None: a free one per start)
    port: int | None = None
    #: initial load settings of the form
    settings: LoadSettings = LoadSettings()
    #: seconds a request may take before it counts as a timeout (None: the loader's default)
    timeout_s: float | None = None
    #: closed-loop think time in seconds (siege -d); None: no delay
    delay_s: float | None = None
    #: loader processes (None: the loader's default)
    loader_procs: int | None = None
    #: most seconds to wait between runs for the previous port's sockets to drain (None: the conductor's default)
    settle_max_s: float | None = None


def options_from(namespace: Any) -> AppOptions:
    """Tolerant conversion of the CLI's parsed arguments (or None) into AppOptions."""
    if isinstance(namespace, AppOptions):
        if namespace.server_cpus is None or namespace.loader_cpus is None:
            from wsgicompare.spec import cpu_split

            loader_cpus, server_cpus = cpu_split(
                namespace.loader_cpus, namespace.server_cpus, namespace.loader_procs or 1
            )
            namespace = replace(namespace, server_cpus=server_cpus, loader_cpus=loader_cpus)
        return namespace
    if namespace is None:
        namespace = object()
    from wsgicompare.spec import cpu_split, default_server_config

    def opt(name: str, default: Any) -> Any:
        value = getattr(namespace, name, None)
        return default if value is None else value

    given_loader, given_server = opt("loader_cpus", None), opt("server_cpus", None)
    loader_cpus, server_cpus = cpu_split(
        None if given_loader is None else tuple(given_loader),
        None if given_server is None else tuple(given_server),
        int(opt("loader_procs", 1)),
    )
    server = default_server_config(server_cpus=server_cpus)
    workloads = opt("workload", None) or opt("workloads", None)
    if isinstance(workloads, (list, tuple)):
        workloads = workloads[0] if workloads else None
    base = LoadSettings(workers=server.workers, threads=server.threads)
    settings = LoadSettings(
        concurrency=int(opt("concurrency", base.concurrency)),
        duration_s=opt("duration", opt("duration_s", base.duration_s)),
        requests=opt("requests", None),
        reps=opt("reps", None),
        rate=opt("rate", None),
        keepalive=not bool(getattr(namespace, "no_keepalive", False)) and bool(opt("keepalive", True)),
        warmup_s=float(opt("warmup", opt("warmup_s", base.warmup_s))),
        workload=str(workloads or base.workload),
        workers=int(opt("workers", base.workers)),
        threads=int(opt("threads", base.threads)),
    )
    if settings.requests is not None or settings.reps is not None:
        if getattr(namespace, "duration", None) is None:
            settings = replace(settings, duration_s=None)
    return AppOptions(
        refresh_hz=float(opt("refresh_hz", 4.0)),
        theme=str(opt("theme", "dark")),
        output_dir=str(opt("output_dir", opt("output", "."))),
        server_cpus=server_cpus,
        loader_cpus=loader_cpus,
        app=opt("app", None),
        path=opt("path", None),
        port=opt("port", None),
        settings=settings,
        timeout_s=opt("timeout", None),
        delay_s=opt("delay", None),
        loader_procs=opt("loader_procs", None),
        settle_max_s=opt("settle_max", None),
    )


# -- screens ----------------------------------------------------------------------------


class CompareScreen(Screen):
    """Every finished run side by side, with req/s and p99 bars across the top.
    Redrawn only when a run finishes, never per tick."""

    BINDINGS = [
        Binding("c,escape", "app.pop_screen", "back"),
        Binding("e", "app.export", "export"),
        Binding("ctrl+s", "app.screenshot", "svg"),
        Binding("q", "app.quit", "quit"),
    ]

    def compose(self) -> ComposeResult:
        yield Static("", id="compare-header", classes="app-header")
        yield RunBars(id="bars")
        yield ScrollableContainer(id="columns")
        yield Footer()

    def __init__(self) -> None:
        super().__init__()
        self._shown: tuple[RunResult, ...] | None = None

    def on_mount(self) -> None:
        self.show_results(self.app.results)  # type: ignore[attr-defined]

    def on_screen_resume(self) -> None:
        self.show_results(self.app.results)  # type: ignore[attr-defined]

    def show_results(self, results: Iterable[RunResult]) -> None:
        results = tuple(results)
        if results == self._shown:
            return
        self._shown = results
        self.query_one("#compare-header", Static).update(
            f" wsgicompare — compare · {len(results)} run{'s' if len(results) != 1 else ''} · "
            + self.app.header_text(short=True)  # type: ignore[attr-defined]
        )
        self.query_one(RunBars).results = results
        columns = self.query_one("#columns", ScrollableContainer)
        columns.remove_children()
        columns.mount_all([RunColumn(r, classes="run-column") for r in ordered(results)])
        self._size_columns()

    def on_resize(self) -> None:
        self._size_columns()

    def _size_columns(self) -> None:
        """Share the width between the runs: 26 to 44 columns each, scrolling beyond."""
        columns = list(self.query(RunColumn))
        if not columns:
            return
        width = max(26, min(44, (self.size.width - 1) // len(columns)))
        for column in columns:
            column.styles.width = width


class ExportScreen(ModalScreen[str | None]):
    """Pick a format; the file's path is shown after writing."""

    BINDINGS = [Binding("escape", "dismiss(None)", "cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(id="export-box"):
            yield Label("Export the runs of the latest load settings as …")
            with Horizontal(id="export-buttons"):
                yield Button("Markdown", id="md", variant="primary")
                yield Button("JSON", id="json")
                yield Button("HTML", id="html")
                yield Button("cancel", id="cancel", variant="default")

    @on(Button.Pressed)
    def chosen(self, event: Button.Pressed) -> None:
        self.dismiss(None if event.button.id == "cancel" else event.button.id)


# -- the app ----------------------------------------------------------------------------


class WsgiCompareApp(App[int]):
    """wsgicompare's interactive comparator."""

    CSS_PATH = "app.tcss"
    TITLE = "wsgicompare"
    ENABLE_COMMAND_PALETTE = False

    BINDINGS = [
        # short descriptions: the whole footer must fit in 80 columns
        Binding("s", "toggle_backend", "start/stop"),
        Binding("l", "load", "load"),
        Binding("x", "stop_load", "stop"),
        Binding("a", "run_all", "run all"),
        Binding("c", "compare", "compare"),
        Binding("e", "export", "export"),
        Binding("ctrl+s", "screenshot", "svg"),
        Binding("q", "quit", "quit"),
        Binding("ctrl+c", "quit", "quit", show=False, priority=True),
        Binding("ctrl+t", "toggle_theme", "light/dark", show=False),
        Binding("escape", "focus_backends", "backends", show=False),
    ]

    #: the latest frame the clock built; every live panel draws from it (data_bind).
    #: A `var`, not a `reactive`: a repainting reactive on the App repaints the whole
    #: screen, which measured 3× the cost of repainting the four panels alone
    live: var[LiveFrame | None] = var(None)

    def __init__(
        self,
        options: Any = None,
        *,
        catalog: list[dict[str, Any]] | None = None,
        conductor: Any = None,
        results: Iterable[RunResult] = (),
        ticks: Iterable[Tick] = (),
        states: dict[str, str] | None = None,
        clock: bool = True,
    ) -> None:
        """``catalog``, ``results``, ``ticks`` and ``states`` inject fixed data (snapshot
        tests, screenshots); ``conductor`` replaces the real Conductor; ``clock=False``
        freezes the refresh clock so the screen only changes when told."""
        super().__init__()
        _start_resource_tracker()
        self.options = options_from(options)
        self._catalog_rows = catalog
        self._conductor = conductor
        self.results: list[RunResult] = list(results)
        self.history = TickHistory()
        for tick in ticks:
            self.history.add(tick)
        self._initial_states = dict(states or {})
        self._clock_enabled = clock
        self.rows: dict[str, BackendRow] = {}
        self.settings: LoadSettings | None = self.options.settings
        self._field_errors: dict[str, str] = {}
        #: set to end the current load (x), or everything (quit)
        self._cancel_load = threading.Event()
        #: set once, on quit: also ends a manual start still waiting for its server
        self._quit_event = threading.Event()
        #: servers started with `s` (not by a run), by backend id
        self._servers: dict[str, Any] = {}
        self._servers_lock = threading.Lock()
        #: signalled whenever a manual start/stop worker ends (uses _servers_lock)
        self._servers_settled = threading.Condition(self._servers_lock)
        #: manual start/stop workers (`s`) not finished yet; a load waits for them to end
        self._pending_server_ops = 0
        #: threads currently running something that holds processes (joined on quit)
        self._busy_threads: set[threading.Thread] = set()
        self._loading = False
        self._running_backend: str | None = None
        self._last_state_key: tuple[str, str] | None = None
        self._banner_lines: dict[str, tuple[tuple[str, str], ...]] = {"live": (), "app": ()}
        self._quitting = False
        self._specs_for_export: list[Any] = []
        #: the spec each entry of ``results`` ran with (None: injected, not run here), so an
        #: export describes each run by its own load settings, not the latest ones
        self._result_specs: list[Any] = [None] * len(self.results)
        #: the main screen (set on mount); actions address it even under the compare view
        self._main_screen: Screen | None = None
        #: narrow layout (< 120 columns): fewer table columns, shorter form
        self._narrow = False

    # -- layout ---------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static("", id="header", classes="app-header")
        with Horizontal(id="body"):
            with Vertical(id="left"):
                yield DataTable(id="backends", cursor_type="row", zebra_stripes=False)
                yield Static("", id="hint")
                with VerticalScroll(id="settings"):
                    for name, label, placeholder in FORM_FIELDS:
                        with Horizontal(classes="field"):
                            yield Label(label, classes="field-label")
                            yield Input(id=f"f-{name}", placeholder=placeholder, compact=True, classes="field-input")
                            yield Label("", id=f"e-{name}", classes="field-error")
                    with Horizontal(classes="field"):
                        yield Label("workload", classes="field-label")
                        yield Select(
                            [(w, w) for w in self._workload_names()],
                            id="f-workload",
                            allow_blank=False,
                            compact=True,
                            classes="field-input",
                        )
                    with Horizontal(classes="field"):
                        yield Label("keep-alive", classes="field-label")
                        yield Checkbox("", value=True, id="f-keepalive", compact=True)
                    yield Label("", id="form-error", classes="field-error")
                    yield Button("▶ load", id="load-button", variant="success", compact=True)
            with Grid(id="panels"):
                yield ThroughputPanel(id="throughput", classes="panel").data_bind(frame=WsgiCompareApp.live)
                yield LatencyPanel(id="latency", classes="panel").data_bind(frame=WsgiCompareApp.live)
                yield FailuresPanel(id="failures", classes="panel").data_bind(frame=WsgiCompareApp.live)
                yield ServerPanel(id="server", classes="panel").data_bind(frame=WsgiCompareApp.live)
        yield Banner(id="banner")
        yield Footer()

    @property
    def _main(self) -> Screen:
        """The main screen (actions also run while the compare screen is on top)."""
        return self._main_screen or self.screen

    def on_mount(self) -> None:
        # actions also run while the compare screen is on top: always address the main one
        self._main_screen = self.screen
        self._narrow = self.size.width < 120
        self._main.set_class(self._narrow, "-narrow")
        if self.options.theme == "light":
            self.theme = "textual-light"
        for panel_id, title in (
            ("throughput", "Throughput"),
            ("latency", "Latency"),
            ("failures", "Failures"),
            ("server", "Server"),
        ):
            self._main.query_one(f"#{panel_id}").border_title = title
        self._main.query_one("#left").border_title = "Backends"
        self._main.query_one("#settings").border_title = "Load"
        self._fill_form(self.options.settings)
        self._load_catalog()
        frame = self.history.frame(force=True)
        if frame is not None:
            self._apply_frame(frame)
        self._update_header()
        if self._clock_enabled:
            self.set_interval(1.0 / max(0.5, min(30.0, self.options.refresh_hz)), self.refresh_live)
        self._main.query_one("#backends", DataTable).focus()

    def on_resize(self, event) -> None:
        narrow = self.size.width < 120
        if self._main is not None and narrow != self._narrow:
            self._narrow = narrow
            self._main.set_class(narrow, "-narrow")
            if self.rows:
                self._build_table()

    def _workload_names(self) -> list[str]:
        try:
            from wsgicompare.backends import WORKLOADS

            return list(WORKLOADS)
        except Exception:  # the catalog may be injected and the backends package not importable
            return list(FALLBACK_WORKLOADS)

    def _load_catalog(self) -> None:
        rows = self._catalog_rows
        if rows is None:
            try:
                from wsgicompare.backends import catalog_rows

                rows = catalog_rows()
            except Exception as exc:  # keep the app usable; say why the list is empty
                rows = []
                self.set_banner("app", [("error", f"backend catalog unavailable: {exc}")])
        for raw in rows:
            row = BackendRow.from_catalog(raw)
            row.state = self._initial_states.get(row.id, row.state)
            self.rows[row.id] = row
        for result in self.results:
            if result.backend in self.rows and result.status == "ok":
                self.rows[result.backend].last_rps = result.rps_2xx
        self._build_table()

    def _columns(self) -> tuple[str, ...]:
        # narrow terminals drop the state column: the marker still tells it, the hint spells it
        return ("marker", "id", "rps") if self._narrow else ("marker", "id", "state", "rps")

    def _build_table(self) -> None:
        """(Re)build the table: at start and when the terminal crosses the narrow width."""
        table = self._main.query_one("#backends", DataTable)
        cursor = table.cursor_row
        table.clear(columns=True)
        # fixed widths: a width change would re-layout the table on every state change
        id_width = max([7, *(len(r.id) for r in self.rows.values())])
        headers: dict[str, tuple[str | Text, int]] = {
            "marker": ("", 1),
            "id": ("backend", id_width),
            "state": ("state", 10),
            "rps": (Text("req/s", justify="right"), 5),
        }
        for key in self._columns():
            label, width = headers[key]
            table.add_column(label, key=key, width=width)
        for row in self.rows.values():
            table.add_row(*self._row_cells(row), key=row.id)
        if self.rows:
            table.move_cursor(row=min(cursor, len(self.rows) - 1))
        self._show_hint()

    def _row_cells(self, row: BackendRow) -> tuple[Any, ...]:
        if not row.available:
            dim = "dim"
            cells = {
                "marker": Text("✗", style=dim),
                "id": Text(row.id, style=dim),
                "state": Text("missing", style=dim),
                "rps": Text("—", style=dim, justify="right"),
            }
        else:
            state_style = {"failed": "bold red", "under load": "bold", "ready": "green"}.get(row.state, "")
            cells = {
                "marker": Text(STATE_MARKERS.get(row.state, "?"), style=state_style),
                "id": Text(row.id),
                "state": Text(row.state, style=state_style),
                "rps": Text(human_count(row.last_rps), justify="right"),
            }
        return tuple(cells[key] for key in self._columns())

    def _refresh_row(self, backend: str) -> None:
        """Rewrite one row's cells: only on a state change or a finished run, never per tick."""
        row = self.rows.get(backend)
        if row is None:
            return
        table = self._main.query_one("#backends", DataTable)
        for key, value in zip(self._columns(), self._row_cells(row)):
            table.update_cell(backend, key, value)
        if self.selected_backend() == backend:
            self._show_hint()

    def set_state(self, backend: str, state: str, reason: str = "") -> None:
        row = self.rows.get(backend)
        if row is None or (row.state == state and row.reason == reason):
            return
        row.state, row.reason = state, reason
        self._refresh_row(backend)

    def selected_backend(self) -> str | None:
        table = self._main.query_one("#backends", DataTable)
        if not table.row_count:
            return None
        try:
            key = table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key
        except Exception:
            return None
        return None if key is None else str(key.value)

    def _show_hint(self) -> None:
        backend = self.selected_backend()
        hint = self._main.query_one("#hint", Static)
        row = self.rows.get(backend or "")
        if row is None:
            hint.update("")
            return
        title = Text.assemble((row.title, "bold"), f" · {row.family}")
        if not row.available:
            missing = ", ".join(row.missing) or "something"
            title.append(f"\nmissing {missing}", "red")
            title.append(f"\n{row.hint}")
        elif row.state == "failed" and row.reason:
            title.append(f"\nfailed: {row.reason}", "red")
        else:
            title.append(f"\n{row.state}")
        hint.update(title)

    @on(DataTable.RowHighlighted, "#backends")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_hint()

    # -- settings form --------------------------------------------------------------

    def _fill_form(self, settings: LoadSettings) -> None:
        for name, text in settings_fields(settings).items():
            self._main.query_one(f"#f-{name}", Input).value = text
        select = self._main.query_one("#f-workload", Select)
        names = self._workload_names()
        select.value = settings.workload if settings.workload in names else names[0]
        self._main.query_one("#f-keepalive", Checkbox).value = settings.keepalive
        self._validate_form()

    @on(Input.Changed)
    @on(Select.Changed)
    @on(Checkbox.Changed)
    def _form_changed(self, event: Message) -> None:
        self._validate_form()

    def _validate_form(self) -> None:
        """Parse every field as typed; a bad one shows its message beside it and disables load."""
        values: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for name in FIELD_RULES:
            try:
                values[name] = parse_field(name, self._main.query_one(f"#f-{name}", Input).value)
            except SettingsError as exc:
                errors[name] = str(exc)
        for name in FIELD_RULES:
            label = self._main.query_one(f"#e-{name}", Label)
            label.update(errors.get(name, ""))
            self._main.query_one(f"#f-{name}", Input).set_class(name in errors, "-invalid")
        form_error = ""
        settings = None
        if not errors:
            workload = self._main.query_one("#f-workload", Select).value
            values["workload"] = str(workload) if workload != Select.BLANK else "hello"
            values["keepalive"] = self._main.query_one("#f-keepalive", Checkbox).value
            try:
                settings = settings_from_fields(values)
                self._check_with_profile(settings)
            except (SettingsError, ValueError) as exc:
                form_error = str(exc)
                settings = None
        self._main.query_one("#form-error", Label).update(form_error)
        self._field_errors = errors
        self.settings = settings
        self._update_load_button()
        self._update_header()

    def _check_with_profile(self, settings: LoadSettings) -> None:
        """Let the loader's own validation have the last word (one-line LoadProfileError)."""
        from wsgicompare.loader.profile import LoadProfileError

        try:
            self._load_profile(settings).validate()
        except LoadProfileError as exc:
            raise SettingsError(str(exc)) from None

    def _load_profile(self, settings: LoadSettings):
        from wsgicompare.spec import default_load

        return default_load(
            concurrency=settings.concurrency,
            duration_s=settings.duration_s,
            requests=settings.requests,
            reps=settings.reps,
            rate=settings.rate,
            keepalive=settings.keepalive,
            warmup_s=settings.warmup_s,
            **self._load_extras(),
        )

    def _load_extras(self) -> dict[str, Any]:
        """Load options the form does not show but the command line may set."""
        extras: dict[str, Any] = {}
        if self.options.loader_cpus is not None:
            extras["cpus"] = tuple(self.options.loader_cpus)
        if self.options.timeout_s is not None:
            extras["timeout_s"] = float(self.options.timeout_s)
        if self.options.delay_s is not None:
            extras["delay_s"] = float(self.options.delay_s)
        if self.options.loader_procs is not None:
            extras["procs"] = int(self.options.loader_procs)
        return extras

    def _update_load_button(self) -> None:
        button = self._main.query_one("#load-button", Button)
        button.disabled = self.settings is None or self._loading
        button.label = "■ stop load" if self._loading else "▶ load"
        if self._loading:
            button.disabled = False
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Grey out in the footer what cannot run now (None = shown but disabled)."""
        if action in ("load", "run_all"):
            return None if (self.settings is None or self._loading) else True
        if action == "stop_load":
            return True if self._loading else None
        return True

    @on(Button.Pressed, "#load-button")
    def _load_button(self) -> None:
        if self._loading:
            self.action_stop_load()
        else:
            self.action_load()

    # -- header, banner -------------------------------------------------------------

    def header_text(self, short: bool = False) -> str:
        s = self.settings or self.options.settings
        cpus = lambda c: ",".join(map(str, c)) if c else "any"  # noqa: E731
        path = self.app_path()
        parts = [
            s.workload if path is None else f"{self.options.app} {path}",
            f"c={s.concurrency}",
            s.stop_rule(),
            "keep-alive" if s.keepalive else "no keep-alive",
            f"server CPU {cpus(self.options.server_cpus)}",
            f"loader CPU {cpus(self.options.loader_cpus)}",
            f"{s.workers}×{s.threads} workers×threads",
            f"open loop {s.rate:g}/s" if s.rate else "closed loop",
        ]
        if short:
            parts = parts[:2] + parts[3:6]
        return " · ".join(parts)

    def _update_header(self) -> None:
        try:
            header = self._main.query_one("#header", Static)
        except Exception:
            return
        header.update(f" [b]wsgicompare[/b] — {self.header_text()}")

    def set_banner(self, source: str, lines: Iterable[tuple[str, str]]) -> None:
        """Lines from one source ("live" verdicts of the running load, or "app" messages)."""
        lines = tuple(lines)
        if self._banner_lines.get(source) == lines:
            return
        self._banner_lines[source] = lines
        self._main.query_one(Banner).lines = self._banner_lines["live"] + self._banner_lines["app"]

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
            phase_state = {
                "starting": "starting",
                "warmup": "under load",
                "load": "under load",
                "stopping": "stopping",
                "done": "stopping",
                "failed": "failed",
            }.get(tick.phase)
            if phase_state:
                self.set_state(tick.backend, phase_state)

    # -- worker plumbing ------------------------------------------------------------

    def _track_thread(self) -> Callable[[], None]:
        thread = threading.current_thread()
        self._busy_threads.add(thread)
        return lambda: self._busy_threads.discard(thread)

    def conductor(self) -> Any:
        if self._conductor is None:
            from wsgicompare.conductor import Conductor

            settle = self.options.settle_max_s
            self._conductor = Conductor() if settle is None else Conductor(settle_max_s=float(settle))
        return self._conductor

    def _server_config(self, settings: LoadSettings):
        from wsgicompare.spec import default_server_config

        return default_server_config(
            workers=settings.workers,
            threads=settings.threads,
            server_cpus=self.options.server_cpus,
            port=self.options.port,
            app=self.options.app,
        )

    def app_path(self) -> str | None:
        """The path loaded on the user's app (as the CLI does: --path or "/"); None
        without --app, where the workload names the path."""
        return (self.options.path or "/") if self.options.app else None

    def make_spec(self, backend: str, settings: LoadSettings):
        from wsgicompare.spec import default_spec

        path = self.app_path()
        return default_spec(
            backend,
            # the user's app knows nothing of the bundled workloads: name the run by its path
            settings.workload if path is None else path,
            load=self._load_profile(settings),
            server=self._server_config(settings),
            path=path,
        )

    # -- actions --------------------------------------------------------------------

    def _usable_backend(self, verb: str) -> str | None:
        backend = self.selected_backend()
        row = self.rows.get(backend or "")
        if row is None:
            self.notify("no backend selected", severity="warning")
            return None
        if not row.available:
            self.notify(f"cannot {verb} {row.id}: missing {', '.join(row.missing)}. {row.hint}", severity="error")
            self._show_hint()
            return None
        return row.id

    def action_toggle_backend(self) -> None:
        backend = self._usable_backend("start")
        if backend is None:
            return
        row = self.rows[backend]
        if self._loading:
            # a server started now would share the server CPUs with the one being measured
            self.notify("a load is running: x stops it", severity="warning")
            return
        if row.state in ("starting", "stopping", "under load"):
            return
        if backend in self._servers:
            self.set_state(backend, "stopping")
            self._begin_server_op()
            self._stop_server_worker(backend)
        elif self.settings is None:
            self.notify("fix the load settings first (workers, threads)", severity="error")
        else:
            self.set_state(backend, "starting")
            self._begin_server_op()
            self._start_server_worker(backend, self._server_config(self.settings))

    def _begin_server_op(self) -> None:
        """Count a manual start/stop before its worker exists, so a load begun right after
        (same event loop turn) already sees it pending."""
        with self._servers_lock:
            self._pending_server_ops += 1

    def _end_server_op(self) -> None:
        with self._servers_lock:
            self._pending_server_ops -= 1
            self._servers_settled.notify_all()

    def _settle_server_ops(self, cancel: threading.Event, timeout_s: float = 60.0) -> None:
        """Wait (load worker thread) until no manual start/stop is in flight: a start that
        finished during the load would add a server on the server CPUs mid-measurement."""
        deadline = time.monotonic() + timeout_s
        with self._servers_lock:
            while self._pending_server_ops > 0 and not cancel.is_set():
                left_s = deadline - time.monotonic()
                if left_s <= 0:
                    break
                self._servers_settled.wait(min(0.2, left_s))

    @work(thread=True, group="server", exit_on_error=False)
    def _start_server_worker(self, backend: str, config: Any) -> None:
        untrack = self._track_thread()
        try:
            from wsgicompare.backends import BackendError, get_backend

            try:
                # quitting cancels a slow start at once instead of waiting out its ready timeout
                server = get_backend(backend).start(config, cancel=self._quit_event)
            except BackendError as exc:
                self.post_message(BackendStateChanged(backend, "failed", _one_line(exc)))
                return
            with self._servers_lock:
                # the app quit, or a load began, while this backend was starting: the
                # load stops manual servers first, and this one came too late for that
                discard = self._quitting or self._loading
                if not discard:
                    self._servers[backend] = server
            if discard:
                server.stop()
                if not self._quitting:
                    self.post_message(BackendStateChanged(backend, "stopped"))
                return
            self.post_message(BackendStateChanged(backend, "ready", f"{server.url} in {server.startup_s:.2f} s"))
        except Exception as exc:  # any other failure is shown, never raised into the UI
            self.post_message(BackendStateChanged(backend, "failed", _one_line(exc)))
        finally:
            self._end_server_op()
            untrack()

    @work(thread=True, group="server", exit_on_error=False)
    def _stop_server_worker(self, backend: str) -> None:
        untrack = self._track_thread()
        try:
            with self._servers_lock:
                server = self._servers.pop(backend, None)
            if server is not None:
                server.stop()
            self.post_message(BackendStateChanged(backend, "stopped"))
        except Exception as exc:
            self.post_message(BackendStateChanged(backend, "failed", f"stop: {_one_line(exc)}"))
        finally:
            self._end_server_op()
            untrack()

    def action_load(self) -> None:
        if self._loading:
            self.notify("a load is already running (x stops it)", severity="warning")
            return
        if self.settings is None:
            self.notify("the load settings are not valid", severity="error")
            return
        backend = self._usable_backend("load")
        if backend is None:
            return
        self._begin_load([backend])

    def action_run_all(self) -> None:
        if self._loading or self.settings is None:
            self.notify("cannot run all now" if self._loading else "the load settings are not valid", severity="error")
            return
        backends = [r.id for r in self.rows.values() if r.available]
        if not backends:
            self.notify("no backend available", severity="error")
            return
        self._begin_load(backends)

    def _begin_load(self, backends: list[str]) -> None:
        assert self.settings is not None
        specs = [self.make_spec(b, self.settings) for b in backends]
        self._specs_for_export = specs
        self._cancel_load = threading.Event()
        self._loading = True
        self._update_load_button()
        self.set_banner("app", ())
        self.history.clear()
        self._last_state_key = None
        self._running_backend = backends[0]
        self.set_state(backends[0], "starting")
        self._load_worker(specs, self._cancel_load)

    @work(thread=True, exclusive=True, group="load", exit_on_error=False)
    def _load_worker(self, specs: list[Any], cancel: threading.Event) -> None:
        """Blocking conductor calls; only appends ticks and posts messages."""
        untrack = self._track_thread()
        error = ""
        try:
            # a server started with `s` would hold the port budget and the CPUs: the
            # conductor starts its own, so stop ours first, once any start or stop still
            # in flight has ended (a start ending later would stop its server itself)
            self._settle_server_ops(cancel)
            for spec in specs:
                with self._servers_lock:
                    server = self._servers.pop(spec.backend, None)
                if server is not None:
                    self.post_message(BackendStateChanged(spec.backend, "stopping"))
                    server.stop()
            conductor = self.conductor()
            if len(specs) == 1:
                result = conductor.run_one(specs[0], self._on_tick, cancel)
                self.post_message(RunFinished(result))
            else:
                conductor.run_all(specs, self._on_tick, lambda r: self.post_message(RunFinished(r)), cancel)
        except Exception as exc:
            error = _one_line(exc)
        finally:
            untrack()
            self.post_message(LoadEnded(error))

    def _on_tick(self, tick: Tick) -> None:
        """Called in the conductor's thread: store only; the clock does the drawing."""
        self.history.add(tick)

    def action_stop_load(self) -> None:
        if self._loading:
            self._cancel_load.set()
            self.set_banner("app", [("info", "stopping the load …")])

    def action_toggle_theme(self) -> None:
        """Light for a bright room or a projector, dark otherwise."""
        self.theme = "textual-dark" if self.theme == "textual-light" else "textual-light"

    def action_focus_backends(self) -> None:
        """Leave the form (where letters are typed, not keys) for the backend table."""
        if self.screen is self._main:
            self._main.query_one("#backends", DataTable).focus()

    def action_compare(self) -> None:
        if isinstance(self.screen, CompareScreen):
            self.pop_screen()
            return
        # installed once and kept: composing it anew on every `c` cost a few hundred ms under load
        if not self.is_screen_installed("compare"):
            self.install_screen(CompareScreen(), name="compare")
        self.push_screen("compare")

    def action_export(self) -> None:
        if not self.results:
            self.notify("nothing to export yet: no finished run", severity="warning")
            return

        def write(fmt: str | None) -> None:
            if fmt:
                self.export_results(fmt)

        self.push_screen(ExportScreen(), write)

    def runs_to_export(self) -> tuple[list[RunResult], list[Any], int]:
        """(runs, their specs, how many left out): the runs that share the latest run's
        load settings. A report has one "load" header; a run made with other settings
        under it would be misattributed, so it is left out (and the user told)."""
        from wsgicompare.export import load_options

        def settings_key(spec: Any) -> dict[str, Any]:
            options = load_options([spec])
            options.pop("workloads", None)  # runs of one load may differ in workload, not in load
            return options

        latest = next((s for s in reversed(self._result_specs) if s is not None), None)
        if latest is None:  # injected results only: nothing to tell them apart by
            return list(self.results), [], 0
        key = settings_key(latest)
        kept = [(r, s) for r, s in zip(self.results, self._result_specs) if s is None or settings_key(s) == key]
        specs = [s for _, s in kept if s is not None]
        return [r for r, _ in kept], specs, len(self.results) - len(kept)

    def export_results(self, fmt: str) -> str | None:
        """Write the runs of the latest load settings with the conductor's exporter; show
        the path, and how many runs with other settings were left out."""
        from wsgicompare import export

        try:
            runs, specs, left_out = self.runs_to_export()
            meta = export.make_meta(specs or self._specs_for_export or [self.make_spec("url", self.options.settings)])
            text = export.render(fmt, runs, meta)
            stamp = time.strftime("%Y%m%d-%H%M%S")
            path = os.path.abspath(os.path.join(self.options.output_dir, f"wsgicompare-{stamp}{export.SUFFIX[fmt]}"))
            export.write_atomic(path, text)
        except Exception as exc:
            self.notify(f"export failed: {_one_line(exc)}", severity="error")
            return None
        lines = [("info", f"exported {fmt} → {path}")]
        self.notify(f"exported to {path}")
        if left_out:
            note = (
                f"{left_out} run{'s' if left_out != 1 else ''} with other load settings left out "
                "(export after each load to keep them)"
            )
            lines.append(("warn", note))
            self.notify(note, severity="warning")
        self.set_banner("app", lines)
        return path

    def action_screenshot(self, filename: str | None = None, path: str | None = None) -> None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        try:
            path = self.save_screenshot(filename=f"wsgicompare-{stamp}.svg", path=self.options.output_dir)
        except OSError as exc:
            self.notify(f"screenshot failed: {exc}", severity="error")
            return
        self.set_banner("app", [("info", f"screenshot → {os.path.abspath(path)}")])

    async def action_quit(self) -> None:
        """Stop the load and every backend (off the event loop), then exit."""
        if self._quitting:
            return
        self.set_banner("app", [("info", "stopping the load and every backend …")])
        await asyncio.to_thread(self.stop_everything)
        self.exit(0)

    def stop_everything(self, timeout_s: float = 30.0) -> None:
        """Idempotent, blocking: cancel the load, stop every server we started, wait for workers."""
        self._quitting = True
        self._quit_event.set()
        self._cancel_load.set()
        with self._servers_lock:
            servers = list(self._servers.items())
            self._servers.clear()
        for backend, server in servers:
            try:
                server.stop()
            except Exception:
                pass  # its process groups are killed by the backends' reaper anyway
        # thread workers run on the event loop's executor threads, which live on after
        # their work: joining one waits out the whole timeout, so wait for the work to
        # end instead (each worker untracks itself in its finally)
        deadline = time.monotonic() + timeout_s
        me = threading.current_thread()
        while any(t is not me for t in list(self._busy_threads)) and time.monotonic() < deadline:
            time.sleep(0.05)
        # a start that raced the quit may have stored a server after the first sweep
        with self._servers_lock:
            late = list(self._servers.values())
            self._servers.clear()
        for server in late:
            try:
                server.stop()
            except Exception:
                pass

    def on_unmount(self) -> None:
        # last line of defence when the app ends without action_quit (e.g. an exception)
        if not self._quitting or self._servers or self._busy_threads:
            self.stop_everything()

    # -- worker messages ------------------------------------------------------------

    @on(BackendStateChanged)
    def _backend_state(self, message: BackendStateChanged) -> None:
        self.set_state(message.backend, message.state, message.detail if message.state == "failed" else "")
        if message.state == "failed":
            self.set_banner("app", [("error", f"{message.backend}: {message.detail}")])
        elif message.state == "ready" and message.detail:
            self.notify(f"{message.backend} ready at {message.detail}")

    @on(RunFinished)
    def _run_finished(self, message: RunFinished) -> None:
        result = message.result
        self.results.append(result)
        self._result_specs.append(next((s for s in self._specs_for_export if s.backend == result.backend), None))
        row = self.rows.get(result.backend)
        if row is not None:
            if result.status == "ok":
                row.last_rps = result.rps_2xx
                self.set_state(result.backend, "stopped")
                self._refresh_row(result.backend)
            else:
                self.set_state(result.backend, "failed", result.reason)
        lines = [("warn", f"{result.backend}: {v}") for v in result.verdicts]
        if result.status != "ok":
            lines.insert(0, ("error", f"{result.backend} {result.status}: {result.reason}"))
        self.set_banner("app", lines[:4])
        if isinstance(self.screen, CompareScreen):
            self.screen.show_results(self.results)

    @on(LoadEnded)
    def _load_ended(self, message: LoadEnded) -> None:
        self._loading = False
        # draw the final tick now rather than on the next clock beat
        frame = self.history.frame()
        if frame is not None:
            self._apply_frame(frame)
        for row in self.rows.values():
            if row.state in ("under load", "starting", "stopping") and row.id not in self._servers:
                self.set_state(row.id, "stopped")
        self._running_backend = None
        self._last_state_key = None
        self.set_banner("live", ())
        if message.error:
            self.set_banner("app", [("error", f"run failed: {message.error}")])
        self._update_load_button()


def _start_resource_tracker() -> None:
    """Start multiprocessing's resource tracker now, while sys.stderr is the real one.
    The loader's processes are spawned, and the first spawn starts the tracker, passing
    it sys.stderr.fileno(); while the app runs, Textual's stderr capture answers -1 and
    that spawn fails with "bad value(s) in fds_to_keep"."""
    from multiprocessing import resource_tracker

    try:
        resource_tracker.ensure_running()
    except Exception:  # no tracker only matters if a spawn happens; it will say so then
        pass


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def run_app(options: Any = None) -> int:
    """Open the app (the CLI calls this without arguments on the command line).
    Every exit path — q, ctrl+c, SIGTERM, the terminal closing (SIGHUP) — stops the
    load and every backend before returning."""
    app = WsgiCompareApp(options)

    def on_signal(signum: int, frame: Any) -> None:
        set_from_signal_handler(app._cancel_load)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        loop.call_soon_threadsafe(lambda: app.exit(128 + signum))

    previous = {}
    for sig in (signal.SIGHUP, signal.SIGTERM):
        previous[sig] = signal.signal(sig, on_signal)
    try:
        code = app.run()
    finally:
        app.stop_everything()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return int(code or 0)
