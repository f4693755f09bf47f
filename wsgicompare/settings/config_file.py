"""Writing a scenario file (``--save-config``): Options → a flat TOML table that
``--config`` reads back to the same options (tomllib reads TOML; it does not write)."""

from __future__ import annotations

import json
from typing import Any

from wsgicompare.settings.option_table import OPTIONS
from wsgicompare.settings.options import Options


def to_config(o: Options) -> dict[str, Any]:
    """Options → the TOML table that reads back to the same options: each option the
    table saves (``Option.save``) whose field is not at its default, in the table's order."""
    defaults = Options()
    out: dict[str, Any] = {}
    for row in OPTIONS:
        value = getattr(o, row.attr)
        if row.save is not None and value != getattr(defaults, row.attr):
            out[row.name] = row.save(value)
    return out


def dump_toml(table: dict[str, Any]) -> str:
    """A flat table of scalars and lists of scalars as TOML (tomllib reads, it does not write)."""
    lines = ["# wsgicompare scenario: run it with  wsgicompare --config THIS_FILE"]
    for key, value in table.items():
        lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        # TOML basic strings share JSON's escapes for everything we can meet here
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")
