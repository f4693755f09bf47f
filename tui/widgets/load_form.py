"""The Load form: the load settings, each field parsed as typed, and the load button."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Checkbox, Input, Label, Select

from wsgicompare.session import (
    FORM_OPTIONS,
    SCENARIOS,
    CapacityError,
    FieldError,
    LoadSettings,
    parse_scenarios,
    parse_slo,
)

from ..messages import SettingsChanged
from ..model import parse_field, settings_fields, settings_from_fields

#: the numeric fields in the form's column, in its order; each one's label, placeholder and
#: range are its option's (the option table's form place, read through the session)
FORM_ORDER = ("concurrency", "duration_s", "requests", "reps", "rate", "warmup_s", "workers", "threads")

#: the scenario Select's value for a steady load (Select needs a non-blank value)
NO_SCENARIO = "none"


def scenario_choices(initial: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """(label, value) of the scenario Select: none, each scenario, all, and the command
    line's own combination when it is none of these (--scenario a,b of three)."""
    choices = [(NO_SCENARIO, NO_SCENARIO), *((name, name) for name in SCENARIOS), ("all", "all")]
    value = scenario_value(initial)
    if value not in {v for _, v in choices}:
        choices.append((value, value))
    return choices


def scenario_value(scenarios: tuple[str, ...]) -> str:
    """The Select's value for ``scenarios`` (inverse of parse_scenarios)."""
    if not scenarios:
        return NO_SCENARIO
    if len(scenarios) > 1 and set(scenarios) == set(SCENARIOS):
        return "all"
    return ",".join(scenarios)


class LoadForm(VerticalScroll):
    """A bad field shows its message beside it, and the form then holds no settings
    (``settings`` is None) and disables the load button. Posts ``SettingsChanged``
    after every edit."""

    def __init__(
        self,
        workloads: Sequence[str],
        check: Callable[[LoadSettings], None],
        scenarios: tuple[str, ...] = (),
        **kwargs: Any,
    ) -> None:
        """``check`` has the last word on settings that parsed (raises SettingsError or ValueError);
        ``scenarios``: the command line's, so the Select can offer their combination."""
        super().__init__(**kwargs)
        self._workloads = list(workloads)
        self._scenario_choices = scenario_choices(scenarios)
        self._check = check
        #: the settings as typed; None while any field is invalid
        self.settings: LoadSettings | None = None
        self.refusal = ""
        #: a load is running: the button stops it
        self._load_running = False

    def compose(self) -> ComposeResult:
        for name in FORM_ORDER:
            yield from self._field(name)
        with Horizontal(classes="field"):
            yield Label("workload", classes="field-label")
            yield Select(
                [(w, w) for w in self._workloads],
                id="f-workload",
                allow_blank=False,
                compact=True,
                classes="field-input",
            )
        with Horizontal(classes="field"):
            yield Label("keep-alive", classes="field-label")
            yield Checkbox("", value=True, id="f-keepalive", compact=True)
        with Horizontal(classes="field"):
            yield Label("SLO", classes="field-label")
            yield Input(id="f-slo", placeholder="p99=100ms,errors=0.1%", compact=True, classes="field-input-wide")
        # under the field, not beside it: the SLO's messages are longer than the column is wide
        yield Label("", id="e-slo", classes="field-error")
        with Horizontal(classes="field"):
            yield Label("capacity", classes="field-label")
            yield Checkbox("search", value=False, id="f-find-capacity", compact=True)
        with Horizontal(classes="field"):
            yield Label("scenario", classes="field-label")
            yield Select(
                self._scenario_choices,
                id="f-scenario",
                value=NO_SCENARIO,
                allow_blank=False,
                compact=True,
                classes="field-input-wide",
            )
        # shown only with a scenario: when its event fires
        yield from self._field("event_at_s", row_id="event-row")
        yield Label("", id="form-error", classes="field-error")
        yield Button("▶ load", id="load-button", variant="success", compact=True)

    def _field(self, name: str, row_id: str | None = None) -> ComposeResult:
        form = FORM_OPTIONS[name].form
        assert form is not None
        with Horizontal(classes="field", id=row_id):
            yield Label(form.label, classes="field-label")
            yield Input(id=f"f-{name}", placeholder=form.placeholder, compact=True, classes="field-input")
            yield Label("", id=f"e-{name}", classes="field-error")

    def fill(self, settings: LoadSettings) -> None:
        for name, text in settings_fields(settings).items():
            self.query_one(f"#f-{name}", Input).value = text
        select = self.query_one("#f-workload", Select)
        select.value = settings.workload if settings.workload in self._workloads else self._workloads[0]
        self.query_one("#f-keepalive", Checkbox).value = settings.keepalive
        self.query_one("#f-slo", Input).value = settings.slo.spec()
        self.query_one("#f-find-capacity", Checkbox).value = settings.find_capacity
        self.query_one("#f-scenario", Select).value = scenario_value(settings.scenarios)
        self._validate()

    def show_load_running(self, running: bool) -> None:
        self._load_running = running
        self._show_button()

    @on(Input.Changed)
    @on(Select.Changed)
    @on(Checkbox.Changed)
    def _edited(self) -> None:
        self._validate()

    def _validate(self) -> None:
        values: dict[str, Any] = {}
        errors: dict[str, str] = {}
        #: each refused field's refusal, the command line's words (the label's tooltip)
        refusals: dict[str, str] = {}
        scenario = str(self.query_one("#f-scenario", Select).value)
        scenarios = () if scenario == NO_SCENARIO else parse_scenarios("scenario", scenario)
        self.query_one("#event-row").display = bool(scenarios)
        for name in FORM_OPTIONS:
            if name == "event_at_s" and not scenarios:
                values[name] = None  # hidden without a scenario: what it holds does not apply
                continue
            try:
                values[name] = parse_field(name, self.query_one(f"#f-{name}", Input).value)
            except FieldError as exc:
                errors[name], refusals[name] = exc.short, str(exc)
        try:
            values["slo"] = parse_slo(self.query_one("#f-slo", Input).value or "p99=100ms")
        except CapacityError as exc:
            errors["slo"] = str(exc).removeprefix("--slo: ").removeprefix("--")
        for name in (*FORM_OPTIONS, "slo"):
            label = self.query_one(f"#e-{name}", Label)
            label.update(errors.get(name, ""))
            label.tooltip = refusals.get(name)
            self.query_one(f"#f-{name}", Input).set_class(name in errors, "-invalid")
        self.query_one("#e-slo", Label).display = "slo" in errors
        form_error = ""
        settings = None
        if not errors:
            workload = self.query_one("#f-workload", Select).value
            values["workload"] = str(workload) if workload != Select.BLANK else "hello"
            values["keepalive"] = self.query_one("#f-keepalive", Checkbox).value
            values["find_capacity"] = self.query_one("#f-find-capacity", Checkbox).value
            values["scenarios"] = scenarios
            try:
                settings = settings_from_fields(values)
                self._check(settings)
            except ValueError as exc:  # SettingsError is one
                form_error = str(exc)
                settings = None
        self.query_one("#form-error", Label).update(form_error)
        #: what the form refuses now, in the command line's words ("" while it holds settings)
        self.refusal = next(iter(refusals.values()), form_error)
        self.settings = settings
        self._show_button()
        self.post_message(SettingsChanged(settings))

    def _show_button(self) -> None:
        button = self.query_one("#load-button", Button)
        # while loading, the button stops the load, whatever the form holds now
        button.disabled = self.settings is None and not self._load_running
        button.label = "■ stop load" if self._load_running else "▶ load"
