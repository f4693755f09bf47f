"""Writing a scenario file (``--save-config``): Options → a flat TOML table that
``--config`` reads back to the same options (tomllib reads TOML; it does not write)."""

from __future__ import annotations

import json
from typing import Any

from wsgicompare.settings.options import Options
from wsgicompare.settings.recommend_options import recommend_config


def to_config(o: Options) -> dict[str, Any]:
    """Options → the TOML table that reads back to the same options."""
    out: dict[str, Any] = {}
    scalar = {
        "concurrency": o.concurrency,
        "duration": o.duration,
        "reps": o.reps,
        "requests": o.requests,
        "rate": o.rate,
        "arrivals": o.arrivals,
        "seed": o.seed,
        "warmup": o.warmup,
        "timeout": o.timeout,
        "delay": o.delay,
        "repeat": o.repeat,
        "workers": o.workers,
        "threads": o.threads,
        "loader-procs": o.loader_procs,
        "app": o.app,
        "path": o.path,
        "url": o.url,
        "output": o.output,
        "port": o.port,
        "settle-max": o.settle_max,
        "refresh-hz": o.refresh_hz,
        "theme": o.theme,
        "baseline": o.baseline,
        "method": o.method,
        "body": o.body,
        "body-file": o.body_file,
        "cluster": o.cluster,
        "server-node": o.server_node,
        "stream-size": o.stream_size,
        "database": o.database,
    }
    for name, value in scalar.items():
        if value is not None and not (name == "repeat" and value == 1):
            out[name] = value
    for name, flag in (("no-keepalive", o.no_keepalive), ("run-all", o.run_all), ("allow-remote", o.allow_remote)):
        if flag:
            out[name] = True
    if o.workloads:
        out["workloads"] = list(o.workloads)
    if o.backends:
        out["backends"] = list(o.backends)
    if o.server_cpus:
        out["server-cpus"] = list(o.server_cpus)
    if o.loader_cpus:
        out["loader-cpus"] = list(o.loader_cpus)
    if o.exports:
        out["export"] = list(o.exports)
    if o.find_capacity:
        out["find-capacity"] = True
    if o.slo is not None:
        out["slo"] = o.slo.spec()
    if o.rates:
        out["rates"] = list(o.rates)
    if o.scenarios:
        out["scenario"] = list(o.scenarios)
    for name, value in (
        ("step-duration", o.step_duration),
        ("max-steps", o.max_steps),
        ("confirm", o.confirm),
        ("event-at", o.event_at),
        ("slow-clients", o.slow_clients),
    ):
        if value is not None:
            out[name] = value
    if o.headers:
        out["header"] = [f"{name}: {value}" for name, value in o.headers]
    if o.fail_if:
        out["fail-if"] = [t.expr for t in o.fail_if]
    out.update(recommend_config(o))  # --recommend, --sweep, --memory-budget, --require
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
