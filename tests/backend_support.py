"""Which backends a test may skip. Outside CI a backend whose server or module is not
installed is skipped. In CI (the CI environment variable set) everything the set-up is
meant to install must be there, so a missing one FAILS instead of hiding as a skip:
./bootstrap.sh setup pip-installs every Python backend (their modules, and the uwsgi
and twistd executables) and, only when it runs as root, apt-installs nginx, php-fpm and
Apache (then pip builds mod_wsgi against it)."""

from __future__ import annotations

import os

import pytest

from wsgicompare.backends import Backend

#: executables ./bootstrap.sh gets from apt-get, which it can do only as root
APT_EXECUTABLES = ("nginx", "php-fpm")
#: what pip can build only against Apache's apxs (apache2-dev from apt-get): the `apache` extra, root only too
APT_BUILT = ("python module mod_wsgi", "executable mod_wsgi-express")


def installed_by_setup(missing: str, as_root: bool) -> bool:
    """Whether ./bootstrap.sh setup installs a thing `Backend.availability()` lists as missing
    ("python module X", "executable X"); anything not recognised counts as installed by it."""
    if missing in APT_BUILT:
        return as_root
    kind, _, name = missing.partition(" ")
    if kind == "executable" and name in APT_EXECUTABLES:
        return as_root
    return True


def require_backend(backend: Backend) -> None:
    """Return if ``backend`` can run here; otherwise skip, or fail in CI when the set-up
    should have installed what is missing."""
    available, missing = backend.availability()
    if available:
        return
    message = f"{backend.id} unavailable: missing {', '.join(missing)} ({backend.hint})"
    if os.environ.get("CI"):
        expected = [m for m in missing if installed_by_setup(m, as_root=os.geteuid() == 0)]
        if expected:
            pytest.fail(
                f"{message}; in CI ./bootstrap.sh setup must have installed {', '.join(expected)}", pytrace=False
            )
        message += " (./bootstrap.sh installs it only when run as root)"
    pytest.skip(message)
