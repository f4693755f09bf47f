"""wsgicompare.backends: the catalog of WSGI deployment backends and their shared lifecycle.

Imports neither Textual nor wsgicompare.loader (tests/test_import_hygiene.py).
"""

from wsgicompare.backends.catalog import CATALOG, catalog_rows, get_backend
from wsgicompare.backends.launch import WORKERS_SELF, port_in_use
from wsgicompare.backends.lifecycle import Server, check_user_app
from wsgicompare.backends.procutil import available_cpus
from wsgicompare.backends.spec import (
    DATABASES,
    MAX_THREADS,
    MAX_WORKERS,
    WORKER_CLASSES,
    Backend,
    BackendError,
    BackendStartCancelled,
    BackendStartError,
    ServerConfig,
)
from wsgicompare.backends.workloads import (
    DB_WORKLOADS,
    DEFAULT_STREAM_SIZE,
    MAX_STREAM_SIZE,
    WORKLOADS,
    Workload,
    check_answer,
    stream_workload,
)

# the package's face: what the engine (wsgicompare/) may use; it imports no submodule
# of this package (tests/test_layers.py)
__all__ = [
    "CATALOG",
    "MAX_THREADS",
    "MAX_WORKERS",
    "WORKER_CLASSES",
    "WORKERS_SELF",
    "WORKLOADS",
    "Backend",
    "BackendError",
    "BackendStartCancelled",
    "BackendStartError",
    "Server",
    "ServerConfig",
    "Workload",
    "available_cpus",
    "check_answer",
    "DATABASES",
    "DB_WORKLOADS",
    "DEFAULT_STREAM_SIZE",
    "MAX_STREAM_SIZE",
    "stream_workload",
    "catalog_rows",
    "check_user_app",
    "get_backend",
    "port_in_use",
]
