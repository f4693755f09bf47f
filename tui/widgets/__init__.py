"""The app's widgets, one module per panel; drawing helpers in ``draw``."""

from .banner import Banner
from .failures import FailuresPanel
from .latency import LatencyPanel
from .run_bars import RunBars
from .run_column import RunColumn
from .server import ServerPanel
from .throughput import ThroughputPanel

__all__ = [
    "Banner",
    "FailuresPanel",
    "LatencyPanel",
    "RunBars",
    "RunColumn",
    "ServerPanel",
    "ThroughputPanel",
]
