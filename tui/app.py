"""The interactive comparator: pick a backend, start it, fire the load, watch it live.

``WsgiCompareApp`` only wires: the keys go to the main screen (``screens/main.py``),
which draws from the session (``wsgicompare.session``, the app's one face to the
backends and the loader); the session's threads post messages (``messages.py``),
handed on here; the compare view and the export dialog are screens of their own."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from multiprocessing import resource_tracker
from typing import Any

from textual import events, on
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from wsgicompare.results import RunResult, Tick
from wsgicompare.session import DEFAULT_REFRESH_HZ, DEFAULT_THEME, Conductor, Options, Session, saved_line

from .messages import BackendStateChanged, CapacityStep, LoadEnded, RecommendAnswer, RecommendStage, RunFinished
from .model import LiveFrame, TickHistory
from .screens import CompareScreen, ExportScreen, MainScreen, RecommendScreen
from .widgets import BackendTable


@dataclass(frozen=True)
class AppOptions:
    """What the screen itself takes from the command line (the rest goes to the session)."""

    #: panel refreshes per second
    refresh_hz: float = DEFAULT_REFRESH_HZ
    #: "dark" or "light"
    theme: str = DEFAULT_THEME
    #: directory for exports and screenshots
    output_dir: str = "."


def options_from(options: Options | None) -> AppOptions:
    """The screen's part of the command line's options (None: every default)."""
    if options is None:
        return AppOptions()
    return AppOptions(
        refresh_hz=options.refresh_hz or AppOptions.refresh_hz,
        theme=options.theme or AppOptions.theme,
        output_dir=options.output_dir,
    )


#: terminals narrower than this leave the command palette's key out of the footer
NARROW_FOOTER_COLUMNS = 100

#: the command palette's entries for the app's keys: (action, title, help)
PALETTE_COMMANDS = (
    ("toggle_backend", "Start / stop backend", "Start the selected backend by hand, or stop it (s)"),
    ("load", "Load", "Fire the load at the selected backend with the form's settings (l)"),
    ("find_capacity", "Find capacity", "Search the selected backend's capacity at the form's SLO (f)"),
    ("stop_load", "Stop load", "Stop the running load (x)"),
    ("run_all", "Run all", "Load every available backend in turn (a)"),
    (
        "recommend",
        "Recommend",
        "Tune, measure and rank the marked backends (else every candidate) at the form's SLO: which to deploy (r)",
    ),
    ("mark", "Mark for recommend", "Mark the selected backend for the recommend run, or unmark it (space)"),
    ("compare", "Compare", "Every finished run side by side, or back to the main screen (c)"),
    ("export", "Export", "Write the runs as md, json or html (e)"),
    ("screenshot", "SVG screenshot", "Save the screen as SVG in the output directory (ctrl+s)"),
    ("toggle_theme", "Light / dark", "Switch between the light and the dark theme (ctrl+t)"),
)


#: the main screen's actions, left out of the recommend screen's footer (and not run there)
MAIN_ONLY = ("toggle_backend", "load", "find_capacity", "stop_load", "run_all", "compare", "export", "mark")


class WsgiCompareApp(App[int]):
    """wsgicompare's interactive comparator."""

    CSS_PATH = "app.tcss"
    TITLE = "wsgicompare"
    # ctrl+p: every key's action by name, the theme picker and the keys panel
    ENABLE_COMMAND_PALETTE = True

    BINDINGS = [
        # short descriptions: the whole footer must fit in 80 columns
        Binding("s", "toggle_backend", "start"),
        Binding("l", "load", "load"),
        Binding("f", "find_capacity", "capacity"),
        Binding("x", "stop_load", "stop"),
        Binding("a", "run_all", "all"),
        Binding("c", "compare", "compare"),
        Binding("e", "export", "export"),
        # the footer is full at 80 columns: ctrl+s is in the palette (ctrl+p) and the keys panel
        Binding("r", "recommend", "pick"),
        Binding("ctrl+s", "screenshot", "svg", show=False),
        Binding("q", "quit", "quit"),
        # quits, or stops a recommend run (its partial answer stays on the screen)
        Binding("ctrl+c", "interrupt", "quit", show=False, priority=True),
        Binding("ctrl+t", "toggle_theme", "light/dark", show=False),
        Binding("escape", "focus_backends", "backends", show=False),
        Binding("space", "mark", "mark for r", show=False),
    ]

    def __init__(
        self,
        options: Options | None = None,
        *,
        catalog: list[dict[str, Any]] | None = None,
        conductor: Conductor | None = None,
        results: Iterable[RunResult] = (),
        ticks: Iterable[Tick] = (),
        states: dict[str, str] | None = None,
        clock: bool = True,
    ) -> None:
        """``options``: the command line's. ``catalog``, ``results``, ``ticks`` and
        ``states`` hand in fixed data (snapshot tests, screenshots); ``conductor``
        replaces the real one; ``clock=False`` freezes the refresh clock."""
        super().__init__()
        _start_resource_tracker()
        self.options = options_from(options)
        #: --open: the saved reports' runs, shown in the compare view from the start
        self.opened = tuple(options.open_reports) if options is not None else ()
        self.session = Session(
            options,
            catalog=catalog,
            conductor=conductor,
            results=[*self.opened, *results],
            # called on the session's threads: post_message is thread-safe
            on_state=lambda backend, state, detail: self.post_message(BackendStateChanged(backend, state, detail)),
        )
        history = TickHistory()
        for tick in ticks:
            history.add(tick)
        #: the recommend screen while its run goes
        self.recommending: RecommendScreen | None = None
        self.main = MainScreen(
            self.session,
            history,
            states=states,
            refresh_hz=self.options.refresh_hz if clock else None,
            output_dir=self.options.output_dir,
        )

    async def on_mount(self) -> None:
        if self.options.theme == "light":
            self.theme = "textual-light"
        # pushed, not the default screen: the app composes into its default screen
        # itself, and racing that with the screen's own compose lost widgets
        await self.push_screen(self.main)
        self._fit_footer(self.size.width)
        # the backend table's req/s follows the frames the screen's clock builds
        self.watch(self.main, "live", self._live_frame)
        if self.opened:
            self.action_compare()

    def on_resize(self, event: events.Resize) -> None:
        # the event's size: this handler runs before App's own, so self.size is still the old one
        self.main.fit_width(event.size.width)
        self._fit_footer(event.size.width)

    def _fit_footer(self, columns: int) -> None:
        # the keys fill an 80-column footer: the palette's "^p" (docked right) would cover
        # the last ones, so it is shown only where there is room (ctrl+p works everywhere)
        self.set_class(columns < NARROW_FOOTER_COLUMNS, "-narrow-footer")

    def get_system_commands(self, screen: Screen[Any]) -> Iterator[SystemCommand]:
        """The command palette (ctrl+p): the actions of the keys that can run now, then
        Textual's own (theme picker, keys panel, quit), our screenshot instead of its."""
        for action, title, help_text in PALETTE_COMMANDS:
            if self.check_action(action, ()) is True:
                yield SystemCommand(title, help_text, getattr(self, f"action_{action}"))
        for command in super().get_system_commands(screen):
            if command.title != "Screenshot":
                yield command

    def _live_frame(self, frame: LiveFrame | None) -> None:
        if frame is not None:
            self.main.query_one(BackendTable).show_live(frame.tick.backend, frame.tick.rps_2xx)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Grey out in the footer what cannot run now (None = shown but disabled)."""
        if action == "recommend" and self.screen is not self.main:
            return False  # from the main screen only (the compare view's footer is full)
        if isinstance(self.screen, RecommendScreen) and action in MAIN_ONLY:
            return False  # the recommend screen's footer: its own keys, quit and the palette

        if action in ("load", "run_all", "find_capacity", "recommend"):
            return None if (self.main.settings is None or self.main.load_running) else True
        if action == "stop_load":
            return True if self.main.load_running else None
        return True

    # -- the keys -------------------------------------------------------------------

    def action_toggle_backend(self) -> None:
        self.main.toggle_backend()

    def action_load(self) -> None:
        self.main.load()

    def action_find_capacity(self) -> None:
        self.main.find_capacity()

    def action_run_all(self) -> None:
        self.main.run_all()

    def action_stop_load(self) -> None:
        self.main.stop_load()

    def action_recommend(self) -> None:
        """Which backend to deploy, configured how: the recommend screen over the backends
        marked with space (else every candidate that serves the app) at the form's SLO."""
        settings = self.main.settings
        if settings is None or self.main.load_running or self.session.running:
            self.notify("a run is going, or the load settings are not valid", severity="error")
            return

        def later(message: RecommendStage | RecommendAnswer) -> None:
            self.post_message(message)  # called on the session's thread

        try:
            table = self.main.query_one(BackendTable)
            backends, said = self.session.recommend(
                settings,
                [b for b in self.main.rows if b in table.marked],
                on_stage=lambda stage: later(RecommendStage(stage)),
                on_backend=lambda answer: later(RecommendAnswer(answer)),
                on_end=lambda answer, error: later(RecommendAnswer(answer, final=True, error=error)),
            )
        except Exception as exc:
            self.notify(f"cannot recommend: {exc}", severity="error")
            return
        screen = RecommendScreen(
            backends,
            f"{len(backends)} backend{'s' if len(backends) != 1 else ''} · {settings.workload} · {said}",
            self.session.cancel_run,
        )
        self.recommending = screen
        self.main.load_running = True
        self.refresh_bindings()
        self.push_screen(screen)

    def action_mark(self) -> None:
        """Mark the selected backend for the recommend run (r), or unmark it."""
        if self.screen is not self.main:
            return
        backend = self.main.selected_backend()
        if backend is not None and self.main.rows[backend].available:
            table = self.main.query_one(BackendTable)
            table.toggle_mark(backend)
            marked = [b for b in self.main.rows if b in table.marked]
            said = f"r recommends among {', '.join(marked)}" if marked else "r recommends among every candidate"
            self.main.set_banner("app", [("info", said)])

    async def action_interrupt(self) -> None:
        """Ctrl-C: stops a recommend run that is going (its partial answer stays), else quits."""
        screen = self.recommending
        if screen is not None and screen.stop():
            return
        await self.action_quit()

    def action_toggle_theme(self) -> None:
        """Light for a bright room or a projector, dark otherwise."""
        self.theme = "textual-dark" if self.theme == "textual-light" else "textual-light"

    def action_focus_backends(self) -> None:
        """Leave the form (where letters are typed, not keys) for the backend table."""
        if self.screen is self.main:
            self.main.query_one(BackendTable).focus()

    def action_compare(self) -> None:
        if isinstance(self.screen, CompareScreen):
            self.pop_screen()
            return
        # installed once and kept: composing it anew on every `c` cost a few hundred ms under load
        if not self.is_screen_installed("compare"):
            self.install_screen(CompareScreen(), name="compare")
        self._show_results()
        self.push_screen("compare")

    def _show_results(self) -> None:
        if self.is_screen_installed("compare"):
            compare = self.get_screen("compare")
            assert isinstance(compare, CompareScreen)
            results = self.session.results
            # only saved reports (--open): say which, not the form's load settings
            load = saved_line(results) or self.main.header_text(short=True)
            compare.show_results(results, load)

    def action_export(self) -> None:
        if not self.session.results:
            self.notify("nothing to export yet: no finished run", severity="warning")
            return

        def write(fmt: str | None) -> None:
            if fmt:
                self.main.export_results(fmt)

        self.push_screen(ExportScreen(), write)

    def action_screenshot(self, filename: str | None = None, path: str | None = None) -> None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        try:
            path = self.save_screenshot(filename=f"wsgicompare-{stamp}.svg", path=self.options.output_dir)
        except OSError as exc:
            self.notify(f"screenshot failed: {exc}", severity="error")
            return
        self.main.set_banner("app", [("info", f"screenshot → {os.path.abspath(path)}")])

    async def action_quit(self) -> None:
        """Stop the load and every backend (off the event loop), then exit."""
        if self.session.closing:
            return
        self.main.set_banner("app", [("info", "stopping the load and every backend …")])
        await asyncio.to_thread(self.session.stop_everything)
        self.exit(0)

    def on_unmount(self) -> None:
        # last line of defence when the app ends without action_quit (e.g. an exception)
        self.session.stop_everything()

    # -- what the session said ------------------------------------------------------

    @on(BackendStateChanged)
    def _backend_state_changed(self, message: BackendStateChanged) -> None:
        self.main.backend_state_changed(message.backend, message.state, message.detail)

    @on(RunFinished)
    def _run_finished(self, message: RunFinished) -> None:
        self.main.run_finished(message.result)
        self._show_results()

    @on(CapacityStep)
    def _capacity_step(self, message: CapacityStep) -> None:
        self.main.capacity_step(message.backend, message.step)

    @on(RecommendStage)
    def _recommend_stage(self, message: RecommendStage) -> None:
        if self.recommending is not None:
            self.recommending.stage(message.stage)

    @on(RecommendAnswer)
    def _recommend_answer(self, message: RecommendAnswer) -> None:
        screen = self.recommending
        if screen is None:
            return
        screen.show_answer(message.answer, message.final, message.error)
        if message.final:
            self.recommending = None
            self.main.load_running = False
            self.refresh_bindings()

    @on(LoadEnded)
    def _load_ended(self, message: LoadEnded) -> None:
        self.main.load_ended(message.error)


def _start_resource_tracker() -> None:
    """Start multiprocessing's resource tracker now, while sys.stderr is the real one.
    The loader's processes are spawned, and the first spawn starts the tracker, passing
    it sys.stderr.fileno(); while the app runs, Textual's stderr capture answers -1 and
    that spawn fails with "bad value(s) in fds_to_keep"."""
    try:
        resource_tracker.ensure_running()
    except Exception:  # no tracker only matters if a spawn happens; it will say so then
        pass


def run_app(options: Options | None = None, *, conductor: Conductor | None = None) -> int:
    """Open the app (the CLI calls this without arguments on the command line;
    ``conductor``: one of --cluster's). Every exit path — q, ctrl+c, SIGINT, SIGTERM, the
    terminal closing (SIGHUP) — stops the load and every backend before returning.
    (In the terminal ctrl+c is a key; a SIGINT comes from kill. Left to Python's default
    handler it raised KeyboardInterrupt wherever the main thread was, and a handler on
    that path could swallow it: the app then ran on, its load and backend with it.)"""
    app = WsgiCompareApp(options, conductor=conductor)

    def on_signal(signum: int, frame: Any) -> None:
        app.session.cancel_run()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        loop.call_soon_threadsafe(lambda: app.exit(128 + signum))

    previous = {}
    for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, on_signal)
    try:
        code = app.run()
    finally:
        app.session.stop_everything()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return int(code or 0)
