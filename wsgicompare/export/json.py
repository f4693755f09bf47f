"""JSON export, schema ``wsgicompare/1`` (documented in the README, "JSON schema")."""

from __future__ import annotations

import json
from typing import Any

from wsgicompare.results import RunResult, document


def render(results: list[RunResult], meta: dict[str, Any]) -> str:
    return json.dumps(document(results, meta), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
