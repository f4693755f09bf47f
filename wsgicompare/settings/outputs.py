"""Where the reports go (``-o``/``--export``): every path checked before anything starts,
so a run never ends with nowhere to write its results."""

from __future__ import annotations

import os
import stat
import tempfile
from typing import TYPE_CHECKING

from wsgicompare.parsing import OptionError
from wsgicompare.reporting.export import FORMATS, SUFFIX

if TYPE_CHECKING:
    from wsgicompare.settings.options import Options


def format_from_suffix(path: str) -> str:
    ext = os.path.splitext(path)[1].lower()
    for fmt in FORMATS:
        if SUFFIX[fmt] == ext:
            return fmt
    return "md"


def check_output(o: Options) -> dict[str, str | None]:
    """format -> path (None: stdout); raises unless every path can be written."""
    exports = o.exports or ["md"]
    if not o.output:
        return {exports[0]: None}
    targets: dict[str, str | None] = {}
    if os.path.isdir(o.output):
        for fmt in exports:
            targets[fmt] = os.path.join(o.output, f"wsgicompare{SUFFIX[fmt]}")
    elif len(exports) == 1:
        targets[exports[0]] = o.output
    else:
        stem = os.path.splitext(o.output)[0]
        for fmt in exports:
            targets[fmt] = stem + SUFFIX[fmt]
    for path in targets.values():
        assert path is not None
        directory = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(directory):
            raise OptionError(f"-o/--output: directory {directory} does not exist")
        if not os.access(directory, os.W_OK | os.X_OK):
            raise OptionError(f"-o/--output: cannot write in {directory}")
        check_replaceable("-o/--output", path)
        _probe_write(directory)
    return targets


def check_replaceable(flag: str, path: str) -> None:
    """An export replaces its target with an atomic rename: fine for a regular file,
    never for anything else. Renamed over, a device (as root: /dev/null), a FIFO or a
    symlink would be destroyed, not written to."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise OptionError(f"{flag}: cannot use {path}: {exc.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise OptionError(f"{flag}: {path} is a directory")
    if not stat.S_ISREG(st.st_mode):
        raise OptionError(
            f"{flag}: {path} exists and is not a regular file (a device, pipe or link is never "
            f"replaced); leave out -o to write to stdout"
        )
    if not os.access(path, os.W_OK):
        raise OptionError(f"{flag}: {path} is not writable")


def _probe_write(directory: str) -> None:
    """Create and remove a temp file where the export's atomic write will make its own:
    os.access() says yes to root everywhere (even in /proc or on a read-only mount), and
    finding out after the first run would lose it."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=".wsgicompare-probe-", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise OptionError(f"-o/--output: cannot write in {directory}: {exc.strerror or exc}") from None
    os.close(fd)
    try:
        os.unlink(tmp)
    except OSError:
        pass
