"""wsgicompare.loader — the embedded async HTTP load generator and its statistics.

Imports neither Textual nor ``wsgicompare.backends``: it measures any HTTP server."""

from .histogram import LatencyHistogram
from .profile import LoadProfile, LoadProfileError
from .run import LoadRun, run_load
from .stats import ERROR_KINDS, STATUS_CLASSES, LoadSummary, LoadTick

__all__ = [
    "ERROR_KINDS",
    "STATUS_CLASSES",
    "LatencyHistogram",
    "LoadProfile",
    "LoadProfileError",
    "LoadRun",
    "LoadSummary",
    "LoadTick",
    "run_load",
]
