"""The Backends table (one row per catalog entry: state marker, id, state, req/s: live
under load, else the last run's)
and the hint under it (the selected backend's title, and what is missing or failed)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Self

from rich.text import Text
from textual.coordinate import Coordinate
from textual.geometry import Region
from textual.reactive import reactive
from textual.widgets import DataTable, Static

from ..model import BackendRow, human_count

#: state -> marker in the table's first column
STATE_MARKERS = {
    "stopped": "○",
    "starting": "◌",
    "ready": "●",
    "under load": "▶",
    "stopping": "◌",
    "failed": "✗",
}


class BackendTable(DataTable[Any]):
    """The rows go in whole (``show``) or one changed row at a time (``put``): a row is
    rewritten only when a backend's state changes or a run finishes; under load, the
    live req/s cell alone, at most once per frame (``show_live``)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)
        #: the rows shown, by backend id, in catalog order (DataTable.rows is its own)
        self.backends: dict[str, BackendRow] = {}
        #: narrow layout (< 120 columns): no state column
        self._narrow = False
        #: 2xx req/s of the latest tick, by backend: shown while its row is "under load"
        self._live_rps: dict[str, float] = {}
        #: the one cell to repaint while show_live rewrites it (see refresh)
        self._repaint_only: Coordinate | None = None
        #: the backends marked (space) for a recommend run, drawn underlined
        self.marked: set[str] = set()

    def toggle_mark(self, backend: str) -> None:
        """Mark ``backend`` for the recommend run (r), or unmark it."""
        self.marked ^= {backend}
        self.update_cell(backend, "id", self._cells(self.backends[backend])[self._columns().index("id")])

    def show(self, rows: Iterable[BackendRow]) -> None:
        self.backends = {row.id: row for row in rows}
        self._build()

    def put(self, row: BackendRow) -> None:
        """Show a changed row (same id as one shown): only its cells are rewritten."""
        if row.id not in self.backends or self.backends[row.id] == row:
            return
        self.backends[row.id] = row
        for key, value in zip(self._columns(), self._cells(row)):
            self.update_cell(row.id, key, value)

    def show_live(self, backend: str, rps_2xx: float) -> None:
        """The latest tick's 2xx rate of the backend under load (at most once per frame:
        only its req/s cell is rewritten, and only when the shown figure changes)."""
        before = self._live_rps.get(backend)
        self._live_rps[backend] = rps_2xx
        row = self.backends.get(backend)
        if row is None or row.state != "under load" or before == rps_2xx:
            return
        column = self._columns().index("rps")
        cell = self._cells(row)[column]
        if before is None or cell.plain != human_count(before):
            # DataTable.update_cell repaints the whole table, every cell of every row
            # through Rich: at 4 frames a second that was most of the UI's CPU under load
            # (twice the four live panels). Only the changed cell is repainted.
            self._repaint_only = Coordinate(self.get_row_index(backend), column)
            try:
                self.update_cell(backend, "rps", cell)
            finally:
                self._repaint_only = None

    def refresh(self, *regions: Region, repaint: bool = True, layout: bool = False, recompose: bool = False) -> Self:
        """A whole-table repaint asked for while show_live rewrites one cell becomes that
        cell's (its caches are keyed by DataTable's update count, so no line drawn later is stale)."""
        only = getattr(self, "_repaint_only", None)  # DataTable.__init__ refreshes before ours runs
        if only is not None and not regions and repaint and not layout and not recompose:
            return self.refresh_coordinate(only)
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

    def set_narrow(self, narrow: bool) -> None:
        if narrow != self._narrow:
            self._narrow = narrow
            if self.backends:
                self._build()

    @property
    def selected(self) -> BackendRow | None:
        """The row under the cursor."""
        if not self.row_count:
            return None
        try:
            key = self.coordinate_to_cell_key(Coordinate(self.cursor_row, 0)).row_key
        except Exception:
            return None
        return None if key.value is None else self.backends.get(str(key.value))

    def _columns(self) -> tuple[str, ...]:
        # narrow terminals drop the state column: the marker still tells it, the hint spells it
        return ("marker", "id", "rps") if self._narrow else ("marker", "id", "state", "rps")

    def _build(self) -> None:
        cursor = self.cursor_row
        self.clear(columns=True)
        # fixed widths: a width change would re-layout the table on every state change
        id_width = max([7, *(len(r.id) for r in self.backends.values())])
        headers: dict[str, tuple[str | Text, int]] = {
            "marker": ("", 1),
            "id": ("backend", id_width),
            "state": ("state", 10),
            "rps": (Text("req/s", justify="right"), 5),
        }
        for key in self._columns():
            label, width = headers[key]
            self.add_column(label, key=key, width=width)
        for row in self.backends.values():
            self.add_row(*self._cells(row), key=row.id)
        if self.backends:
            self.move_cursor(row=min(cursor, len(self.backends) - 1))

    def _cells(self, row: BackendRow) -> tuple[Text, ...]:
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
                "id": Text(row.id, style="bold underline" if row.id in self.marked else ""),
                "state": Text(row.state, style=state_style),
                "rps": Text(human_count(self._rps(row)), justify="right"),
            }
        return tuple(cells[key] for key in self._columns())

    def _rps(self, row: BackendRow) -> float | None:
        """Under load the live figure (once a tick came), else the last finished run's."""
        if row.state == "under load" and row.id in self._live_rps:
            return self._live_rps[row.id]
        return row.last_rps


class BackendHint(Static):
    """The selected backend: title and family, then its state, why it failed, or what
    is missing and how to install it."""

    #: the row to describe; None: nothing selected
    row: reactive[BackendRow | None] = reactive(None)

    def watch_row(self, row: BackendRow | None) -> None:
        self.update(hint_text(row))


def hint_text(row: BackendRow | None) -> Text | str:
    if row is None:
        return ""
    text = Text.assemble((row.title, "bold"), f" · {row.family}")
    if not row.available:
        missing = ", ".join(row.missing) or "something"
        text.append(f"\nmissing {missing}", "red")
        text.append(f"\n{row.hint}")
    elif row.state == "failed" and row.reason:
        text.append(f"\nfailed: {row.reason}", "red")
    else:
        text.append(f"\n{row.state}")
    return text
