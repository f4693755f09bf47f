"""JSON export, schema ``wsgicompare/1`` (documented in the README, "JSON schema")."""

from __future__ import annotations

import json
from typing import Any

from wsgicompare.reporting.thresholds import meta_checks
from wsgicompare.results import RunResult, document


def render(results: list[RunResult], meta: dict[str, Any]) -> str:
    doc = document(results, meta, meta_checks(meta, results))
    if meta.get("recommendation"):  # --recommend: the answer (reporting/recommend/report.py)
        doc["recommendation"] = meta["recommendation"]
    return json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
