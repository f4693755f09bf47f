"""The Failures panel: availability, responses by status class, errors by kind."""

from __future__ import annotations

from wsgicompare.results import ERROR_KINDS, STATUS_CLASSES

from ..model import LiveFrame, human_count
from .draw import Lines, flow, spark_rows
from .live_panel import LivePanel

#: short labels for error kinds in a narrow panel
ERROR_LABELS = {
    "refused": "refused",
    "connect_timeout": "conn t/o",
    "reset": "reset",
    "read_timeout": "read t/o",
    "closed_early": "closed",
    "protocol": "protocol",
    "other": "other",
}


class FailuresPanel(LivePanel):
    """Availability, responses by status class, errors by kind."""

    def draw(self, frame: LiveFrame, width: int, height: int) -> Lines:
        tick = frame.tick
        label, muted = self.style_for("label"), self.style_for("muted")
        text = Lines()
        text.append("availability ", label)
        avail = tick.availability_pct
        if avail is None:
            text.append("—", muted)
        else:
            grade = "good" if avail >= 99.9 else "warn" if avail >= 99.0 else "bad"
            text.append(f"{avail:.2f} %", self.style_for("big") + self.style_for(grade))
        text.append("\n")
        statuses = []
        for cls in STATUS_CLASSES:
            count = tick.responses.get(cls, 0)
            style = muted if count == 0 else self.style_for("good" if cls == "2xx" else "bad")
            statuses.append((cls, human_count(count) if count >= 10_000 else str(count), style))
        flow(text, statuses, width, label)
        text.append("\n")
        errors = [
            (
                ERROR_LABELS[kind],
                str(tick.errors.get(kind, 0)),
                muted if not tick.errors.get(kind) else self.style_for("bad"),
            )
            for kind in ERROR_KINDS
            if tick.errors.get(kind) or kind in ("refused", "reset", "read_timeout")
        ]
        flow(text, errors, width, label)
        text.append(
            f"\ninterval: {tick.interval_errors} errors",
            muted if not tick.interval_errors else self.style_for("bad"),
        )
        rows = height - (text.line_count - 1) - 2
        if rows >= 1 and not any(frame.failures):
            text.append("\n\nno failures so far", self.style_for("good"))
        elif rows >= 1:
            bad = self.style_for("bad")
            for line in spark_rows(frame.failures, width, min(rows - 1, 4) or 1, max(1, max(frame.failures))):
                text.append("\n" + line, bad)
            text.append("\nfailures per interval", muted)
        return text
