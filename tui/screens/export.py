"""The export dialog: pick a format (the app writes the file and shows its path)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label


class ExportScreen(ModalScreen[str | None]):
    """Dismissed with the chosen format ("md", "json", "html") or None."""

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
