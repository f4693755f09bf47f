"""The banner under the panels: verdicts, warnings and messages, one line each."""

from __future__ import annotations

from rich.console import RenderableType
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget


class Banner(Widget):
    """Verdicts and warnings, one line each, coloured by severity; hidden when empty."""

    COMPONENT_CLASSES = {"banner--warn", "banner--info", "banner--error"}

    #: (severity, text) pairs; severity is "warn", "info" or "error"
    lines: reactive[tuple[tuple[str, str], ...]] = reactive((), layout=True)

    def watch_lines(self, lines: tuple[tuple[str, str], ...]) -> None:
        self.display = bool(lines)

    def render(self) -> RenderableType:
        text = Text(overflow="ellipsis")
        icons = {"warn": "⚠ ", "error": "✗ ", "info": "ℹ "}
        for i, (severity, line) in enumerate(self.lines):
            if i:
                text.append("\n")
            text.append(icons.get(severity, "") + line, self.get_component_rich_style(f"banner--{severity}"))
        return text
