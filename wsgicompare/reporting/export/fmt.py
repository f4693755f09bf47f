"""Number formatting shared by the md and html reports and the ranking (whose headline
the headless progress prints), so each prints the same figure the same way."""

from __future__ import annotations

from typing import Any


def num(value: Any, digits: int = 1, none: str = "—") -> str:
    """A figure with thousands separators; ``none`` when there is no figure."""
    if value is None:
        return none
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def pct(value: float | None, none: str = "—") -> str:
    if value is None:
        return none
    digits = 2
    # never show 100.00 % for a run that lost requests
    while digits < 6 and value < 100.0 and round(value, digits) >= 100.0:
        digits += 1
    return f"{value:.{digits}f} %"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds >= 1 and float(seconds).is_integer():
        return f"{int(seconds)} s"
    return f"{seconds:g} s"


def arrivals(load: dict[str, Any]) -> str:
    """``poisson arrivals (seed 42)`` or ``uniform arrivals``."""
    seed = f" (seed {load['seed']})" if load.get("seed") is not None else ""
    return f"{load['arrivals']} arrivals{seed}"


def describe_capacity(load: dict[str, Any]) -> str:
    """One line for a capacity search or ladder: SLO, steps, connections."""
    cap = load["capacity"]
    slo = cap.get("slo") or {}
    pct = next((k.removesuffix("_ms") for k in slo if k.endswith("_ms")), "p99")
    within = f"{pct} ≤ {slo.get(pct + '_ms', 0):g} ms, errors ≤ {slo.get('error_pct', 0):g} %"
    if cap.get("mode") == "ladder":
        head = f"open-loop ladder {', '.join(num(r, 0) for r in cap.get('rates') or [])} req/s at {within}"
    else:
        head = f"capacity search at {within} (at most {cap.get('max_steps')} steps)"
    conns = f"c={cap['concurrency']}" if cap.get("concurrency") else "connections sized per step"
    step = f"{duration(cap.get('step_s') or 0)} per step (+{duration(cap.get('step_warmup_s') or 0)} warm-up)"
    if "confirm_s" in cap:  # a search (reports before it had no confirmation)
        step += (
            f", confirmed over {duration(cap['confirm_s'])}" if cap["confirm_s"] else ", not confirmed (--confirm 0)"
        )
    parts = [head, step, conns, "keep-alive" if load.get("keepalive", True) else "Connection: close"]
    if load.get("arrivals"):
        parts.insert(1, arrivals(load))
    if load.get("workers") is not None:
        parts.append(f"workers {load['workers']} × threads {load.get('threads')}")
    return " · ".join(parts)


def describe_load(load: dict[str, Any]) -> str:
    """One line: c=64 · 10 s (+1 s warm-up) · keep-alive · timeout 10 s …"""
    if not load:
        return "—"
    if load.get("capacity"):
        return describe_capacity(load)
    parts = [f"c={load.get('concurrency')}"]
    if load.get("rate"):
        parts.append(
            f"open loop {num(load['rate'], 0)} req/s" + (f", {arrivals(load)}" if load.get("arrivals") else "")
        )
    stop = []
    if load.get("duration_s") is not None:
        stop.append(duration(load["duration_s"]))
    if load.get("requests") is not None:
        stop.append(f"{num(load['requests'])} requests")
    if load.get("reps") is not None:
        stop.append(f"{num(load['reps'])} reps per client")
    text = " or ".join(stop) or "—"
    if load.get("warmup_s"):
        text += f" (+{duration(load['warmup_s'])} warm-up)"
    parts.append(text)
    parts.append("keep-alive" if load.get("keepalive", True) else "Connection: close")
    if load.get("delay_s"):
        parts.append(f"think time 0–{duration(load['delay_s'])}")
    if load.get("timeout_s") is not None:
        parts.append(f"timeout {duration(load['timeout_s'])}")
    if load.get("workers") is not None:
        parts.append(f"workers {load['workers']} × threads {load.get('threads')}")
    if load.get("loader_procs", 1) != 1:
        parts.append(f"{load['loader_procs']} loader procs")
    if load.get("scenarios"):
        sc = load["scenarios"]
        parts.append(f"scenarios {', '.join(sc.get('names') or [])} (event at {duration(sc.get('event_at_s') or 0)})")
    if load.get("repeat", 1) > 1:
        parts.append(f"repeat {load['repeat']} (median)")
    request = load.get("request")
    if request:
        headers = len(request.get("headers") or [])
        sent = [str(request.get("method"))]
        if headers:
            sent.append(f"{headers} header{'s' if headers != 1 else ''}")
        if request.get("body_bytes"):
            sent.append(f"{num(request['body_bytes'])}-byte body")
        parts.append(" + ".join(sent))
    return " · ".join(parts)


def describe_cpus(cpus: list[int] | tuple[int, ...] | None) -> str:
    if not cpus:
        return "any"
    return ("CPU " if len(cpus) == 1 else "CPUs ") + ",".join(str(c) for c in cpus)


def describe_machine(machine: dict[str, Any]) -> str:
    if not machine:
        return "—"
    files = machine.get("open_files") or {}
    text = (
        f"{machine.get('cpu_model')} · {machine.get('cores')} cores · {machine.get('kernel')} · "
        f"{machine.get('python')} · somaxconn {machine.get('somaxconn')} · "
        f"open files {files.get('soft')}/{files.get('hard')}"
    )
    nodes = machine.get("nodes")
    if nodes:  # --cluster: the loaders (and maybe the servers) ran on these
        each = "; ".join(f"{n.get('host')} ({str(n.get('node_id'))[:8]}): {n.get('cores')} cores" for n in nodes)
        text += f" · Ray cluster of {len(nodes)} nodes: {each}"
    return text
