"""What the catalog's families share: our own launcher, a `python -m MODULE` server, the pip hint."""

from __future__ import annotations

from typing import Any

from wsgicompare.backends.spec import WORKERS_CHILDREN, WORKERS_SELF, Launch, Setup

#: the launcher module for servers without a fitting command line of their own
SERVE = "wsgicompare.backends.apps.serve"
PIP_HINT = "pip install -e . (installs every Python backend)"


def serve(setup: Setup, kind: str, *options: str, forks: bool = False) -> Launch:
    """One of our launchers; they pre-fork themselves, so the stop signal goes to the whole group.
    ``forks``: its children serve too (they are workers, not respawned); else it is one process."""
    argv = [setup.python, "-m", SERVE, kind, "--host", setup.host, "--port", str(setup.port), "--app", setup.app]
    workers = WORKERS_CHILDREN if forks else WORKERS_SELF
    return Launch(kind, argv + list(options), signal_group=True, stop_grace_s=3.0, workers=workers)


def python_module_server(setup: Setup, module: str, *options: str, **declared: Any) -> Launch:
    """A server with its own `python -m MODULE … APP` command line (``declared``: workers, reload_signal)."""
    return Launch(module, [setup.python, "-m", module, *options, setup.app], stop_grace_s=5.0, **declared)
