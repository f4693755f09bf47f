"""The slow-transfer scenarios (issue #23): K extra connections the loader holds from the
event to the end of *during* (loader/slow.py), while the normal load goes on, counted in
no figure of it. ``slow-clients`` trickle a request's header lines; ``slow-readers`` GET
the bundled app's ``stream`` answer (16 MiB unless --stream-size) and read it at ~1 KiB/s
through a 4 KiB receive buffer; ``slow-uploads`` POST the ``upload`` body (100 KiB, with
its Content-Length) at ~1 KiB/s. A sync worker that takes one waits on it for the whole
transfer; a buffering proxy in front takes the transfer off it.

The slow readers and uploads ask the bundled app's own paths (``/stream``, ``/upload``):
the app that serves the normal load serves them too (one Flask app serves every
workload's path), so the server is the one measured. A user's app (--app) is not ours to
extend: there the scenario is unsupported, with the reason. The engine's scenario module
calls these; this one imports none of it (no circle)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from wsgicompare.backends import DEFAULT_STREAM_SIZE, WORKLOADS, Server, check_answer
from wsgicompare.loader import LoadProfile

#: the slow-transfer scenarios, in scorecard order
SLOW_SCENARIOS = ("slow-clients", "slow-readers", "slow-uploads")
#: what each one's connections are called in a verdict, and the loader's slow_kind
NOUN = {"slow-clients": "slow clients", "slow-readers": "slow readers", "slow-uploads": "slow uploads"}
_KIND = {"slow-clients": "headers", "slow-readers": "readers", "slow-uploads": "uploads"}
#: the bundled workload whose path and body the slow readers and uploads use
_WORKLOAD = {"slow-readers": "stream", "slow-uploads": "upload"}
#: during's 2xx rate under this share of before's: starved
STARVED_SHARE = 0.1


def default_slow_clients(server: Server | None) -> int:
    """max(4, 2 × workers): more slow connections than a sync server has workers."""
    return max(4, 2 * (server.config.workers if server is not None else 1))


def slow_path(name: str, stream_size: int | None) -> str:
    """The path the slow connections of ``name`` ask ("" for slow-clients: the load's own)."""
    if name == "slow-readers":
        return f"{WORKLOADS['stream'].path}?size={stream_size or DEFAULT_STREAM_SIZE}"
    return WORKLOADS["upload"].path if name == "slow-uploads" else ""


def unsupported(name: str, server: Server | None) -> str | None:
    """Why ``server`` cannot have the slow readers or uploads of ``name`` (None: it can)."""
    if name not in _WORKLOAD or server is None:
        return None
    if server.config.app is not None:
        return f"{name} needs the bundled app's {WORKLOADS[_WORKLOAD[name]].path}; --app serves your own app"
    return server.backend.unavailable_for(_WORKLOAD[name], server.config)


def wrong_answer(name: str, server: Server | None, stream_size: int | None) -> str | None:
    """The slow connections' path asked once and its answer checked (None: right), so a
    server that does not serve it is not measured as one the slow clients cannot hurt."""
    if name not in _WORKLOAD or server is None:
        return None
    return check_answer(server.url, _WORKLOAD[name], slow_path(name, stream_size))


def slow_load(
    name: str, k: int, load: LoadProfile, from_s: float, until_s: float, stream_size: int | None
) -> tuple[LoadProfile, dict[str, Any]]:
    """``load`` with K slow connections of ``name`` from ``from_s`` to ``until_s`` (run
    seconds, warm-up included), and the event's target as the JSON says it."""
    path = slow_path(name, stream_size)
    body = WORKLOADS["upload"].body if name == "slow-uploads" else b""
    load = replace(
        load,
        slow_clients=k,
        slow_from_s=from_s,
        slow_until_s=until_s,
        slow_kind=_KIND[name],
        slow_path=path,
        slow_body=body,
    )
    return load, {"slow_clients": k, **({"path": path} if path else {})}


def judge_slow(
    name: str, k: int, held: int | None, phases: list[dict[str, Any]], out: dict[str, Any], recovered_share: float
) -> None:
    """The verdict of a slow-transfer run into ``out``: the share of before's 2xx rate kept
    during, back after (at ``recovered_share`` of before), the slow connections still held."""
    before, during, after = (phases + [{}, {}, {}])[:3]
    base = before.get("rps_2xx") or 0.0
    kept = (during.get("rps_2xx") or 0.0) / base if base else 0.0
    back = (after.get("rps_2xx") or 0.0) / base if base else 0.0
    out["kept_share"] = round(kept, 3)
    out["recovered"] = back >= recovered_share
    out["recovery_s"] = None
    # whether the slow connections were there at all: a figure kept because they never
    # connected, or because the server closed them (a timeout), says so
    held = k if held is None else held
    out["slow_clients_held"] = held
    noun = NOUN[name]
    if kept < STARVED_SHARE:
        out["verdict"] = (
            f"starved: {during.get('rps_2xx', 0):,.0f} 2xx req/s while {k} {noun} held connections "
            f"({100 * kept:.0f} % of before); {'back' if out['recovered'] else 'not back'} once they left"
        )
    else:
        p99 = during.get("p99_ms")
        out["verdict"] = f"kept {100 * kept:.0f} % of its 2xx rate with {k} {noun} (p99 {_fig(p99)} ms)"
    if held < k:
        out["verdict"] += f"; only {held} of the {k} slow connections stayed open through the phase"


def _fig(value: float | None) -> str:
    """As scenarios.fig: one decimal, thousands separated, "—" when unknown."""
    return "—" if value is None else f"{value:,.1f}"
