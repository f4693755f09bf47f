"""wsgicompare.backends: the catalog of WSGI deployment backends and their shared lifecycle.

Imports neither Textual nor wsgicompare.loader (tests/test_import_hygiene.py).
"""

from wsgicompare.backends.catalog import CATALOG, catalog_rows, get_backend
from wsgicompare.backends.lifecycle import Server, check_user_app
from wsgicompare.backends.spec import Backend, BackendError, BackendStartCancelled, BackendStartError, ServerConfig
from wsgicompare.backends.workloads import WORKLOADS, Workload, check_answer

__all__ = [
    "CATALOG",
    "WORKLOADS",
    "Backend",
    "BackendError",
    "BackendStartCancelled",
    "BackendStartError",
    "Server",
    "ServerConfig",
    "Workload",
    "check_answer",
    "catalog_rows",
    "check_user_app",
    "get_backend",
]
