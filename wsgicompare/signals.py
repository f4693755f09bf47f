"""Setting a threading.Event from a signal handler, safely."""

from __future__ import annotations

import threading


def set_from_signal_handler(event: threading.Event) -> None:
    """``event.set()`` on a helper thread. A signal handler runs in the main thread
    between two bytecodes, possibly while that thread is inside ``event.wait()``
    holding the event's (non-reentrant) condition lock: setting it right there would
    wait for that lock forever. Seen for real: SIGTERM during a backend's start,
    which polls the cancel event with ``wait(0.05)``, hung the CLI."""
    threading.Thread(target=event.set, name="signal-set", daemon=True).start()
