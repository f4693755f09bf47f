"""The versions of a backend's server software, as every result reports them."""

from __future__ import annotations

import functools
import importlib.metadata
import platform
import re
import subprocess
from typing import TYPE_CHECKING

from wsgicompare.backends.launch import find_executable

if TYPE_CHECKING:
    from wsgicompare.backends.spec import Backend

#: executables whose version is asked on their command line: (flag, regex on stdout+stderr)
VERSION_PROBES: dict[str, tuple[str, str]] = {
    "nginx": ("-v", r"nginx/(\S+)"),
    "php-fpm": ("-v", r"PHP (\S+)"),
    "apache2": ("-v", r"Apache/(\S+)"),
}


def probe_versions(backend: Backend) -> dict[str, str]:
    versions = {name.lower(): version for name in backend.versions if (version := _version(name))}
    versions["python"] = platform.python_version()
    return versions


@functools.cache
def _version(name: str) -> str | None:
    if name in VERSION_PROBES:
        flag, pattern = VERSION_PROBES[name]
        exe = find_executable(name)
        if exe is None:
            return None
        try:
            out = subprocess.run([exe, flag], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        match = re.search(pattern, out.stdout + out.stderr)
        return match.group(1) if match else None
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None
