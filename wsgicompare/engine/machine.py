"""What the report says about the machine, so a reader can judge (and reproduce) the figures."""

from __future__ import annotations

import os
import platform
import resource
from datetime import UTC, datetime
from typing import Any


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def cpu_model() -> str:
    text = _read("/proc/cpuinfo") or ""
    for line in text.splitlines():
        # x86 says "model name", some ARM kernels only "Hardware" or "Processor"
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Hardware", "Processor") and value.strip():
            return value.strip()
    return platform.processor() or platform.machine() or "unknown"


def somaxconn() -> int | None:
    """The kernel's cap on every listen backlog: a server asking for more silently gets this."""
    text = _read("/proc/sys/net/core/somaxconn")
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def machine_info(loader_cpus: tuple[int, ...] = (), server_cpus: tuple[int, ...] = ()) -> dict[str, Any]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return {
        "cpu_model": cpu_model(),
        "cores": os.cpu_count() or 1,
        "pinning": {"loader_cpus": list(loader_cpus), "server_cpus": list(server_cpus)},
        "kernel": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "somaxconn": somaxconn(),
        "open_files": {"soft": soft, "hard": hard},
    }


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()
