"""What happened, as messages: the session's threads post these to the app
(``post_message`` is thread-safe), and the load form posts ``SettingsChanged``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message

from wsgicompare.results import RunResult
from wsgicompare.session import LoadSettings, Stage, Step


@dataclass
class BackendStateChanged(Message):
    """A backend started or stopped by hand moved to another state."""

    backend: str
    #: "ready", "stopping", "stopped" or "failed"
    state: str
    #: "URL in N s" when ready, why when failed, else ""
    detail: str = ""


@dataclass
class RunFinished(Message):
    """One run ended (ok, failed or unavailable); its result is final."""

    result: RunResult


@dataclass
class LoadEnded(Message):
    """A load is over: a single run or a whole run-all."""

    #: "" or the one-line error that ended it
    error: str = ""


@dataclass
class SettingsChanged(Message):
    """The load form was edited."""

    #: the settings as now typed, or None while a field is invalid
    settings: LoadSettings | None


@dataclass
class CapacityStep(Message):
    """One step of a capacity search (or ladder) ended: the live step ladder grows by one."""

    backend: str
    step: Step


@dataclass
class RecommendStage(Message):
    """A stage of a recommend run began or ended (the session's ``Stage``)."""

    stage: Stage


@dataclass
class RecommendAnswer(Message):
    """The answer of a recommend run: so far (after each backend) or at its end."""

    #: the JSON ``recommendation`` object (reporting/recommend/report.py)
    answer: dict[str, Any]
    #: the run is over (``answer`` is final, partial if it was stopped)
    final: bool = False
    #: "" or the one-line error that ended it
    error: str = ""
