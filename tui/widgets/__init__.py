"""The app's widgets, one module per panel, table and form; drawing helpers in ``draw``."""

from .backend_table import BackendHint, BackendTable
from .banner import Banner
from .failures import FailuresPanel
from .knee_chart import KneeChart
from .latency import LatencyPanel
from .load_form import LoadForm
from .run_bars import RunBars
from .run_column import RunColumn
from .server import ServerPanel
from .step_ladder import StepLadder
from .throughput import ThroughputPanel

__all__ = [
    "BackendHint",
    "BackendTable",
    "Banner",
    "FailuresPanel",
    "KneeChart",
    "LatencyPanel",
    "LoadForm",
    "RunBars",
    "RunColumn",
    "ServerPanel",
    "StepLadder",
    "ThroughputPanel",
]
