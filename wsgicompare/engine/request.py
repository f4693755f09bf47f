"""The request the loader sends with ``--app`` or ``--url``: ``-m/--method``,
``-H/--header 'Name: value'`` (repeatable), ``--body STRING`` or ``--body-file F``.

Values are checked when the options are parsed (one line, exit 2); the body file is read
while planning, before anything starts. The loader builds the request bytes once from
the LoadProfile fields these fill (``loader/profile.py`` ``build_request``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wsgicompare.loader import MAX_BODY_BYTES, LoadProfileError, check_header, check_method
from wsgicompare.parsing import OptionError, read_regular_file

if TYPE_CHECKING:
    from wsgicompare.settings.options import Options

#: methods written in capitals whatever the case given (methods are case-sensitive, and
#: ``-m post`` meaning anything but POST is a typo); other tokens are sent as given
STANDARD_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")


def parse_method(name: str, value: Any) -> str:
    """-m/--method: an RFC 9110 token; the standard methods in capitals."""
    if not isinstance(value, str):
        raise OptionError(f"--method must be an HTTP method such as GET or POST, got {value!r}")
    method = value.strip()
    if method.upper() in STANDARD_METHODS:
        method = method.upper()
    try:
        check_method(method)
    except LoadProfileError as exc:
        raise OptionError(str(exc)) from None
    return method


def parse_headers(name: str, value: Any) -> list[tuple[str, str]]:
    """-H/--header, given once or more (a TOML list): (name, value) pairs in order."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
        raise OptionError(f"--header takes 'Name: value' or a list of them, got {value!r}")
    try:
        return [parse_header(item) for item in items]
    except LoadProfileError as exc:
        raise OptionError(str(exc)) from None


def parse_body(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise OptionError(f"--body takes text, got {value!r}")
    if len(value.encode("utf-8", "surrogateescape")) > MAX_BODY_BYTES:
        raise OptionError(f"--body must be at most {MAX_BODY_BYTES} bytes (use --body-file for data)")
    return value


def parse_body_file(name: str, value: Any) -> str:
    """--body-file's name (the file is read once, while planning: ``request_fields``)."""
    if not isinstance(value, str) or not value.strip() or "\0" in value:
        raise OptionError(f"--body-file needs a file name, got {value!r}")
    return value


def parse_header(text: str) -> tuple[str, str]:
    """``'Name: value'`` → (name, value); the value loses its surrounding blanks."""
    name, colon, value = text.partition(":")
    if not colon or not name.strip():
        raise OptionError(f"--header must look like 'Name: value', got {text!r}")
    if name != name.strip():
        raise OptionError(f"--header {text!r}: no blank before the colon or at the start of the name")
    value = value.strip(" \t")
    check_header(name, value)
    return name, value


def check_request_options(o: Options) -> None:
    """The request options that are fine alone but not together (or not here)."""
    given = [
        flag
        for flag, value in (
            ("--method", o.method),
            ("--header", o.headers),
            ("--body", o.body),
            ("--body-file", o.body_file),
        )
        if value
    ]
    if given and not (o.app or o.url):
        raise OptionError(f"{given[0]} applies to --app (your app) or --url; the bundled workloads answer a GET")
    if given and not o.headless and not o.save_config:
        # the app builds its runs from its own form, which has no request fields yet:
        # refused rather than silently sending a GET
        raise OptionError(f"{given[0]} applies to headless runs (--backend ID with --app, or --url), not the app")
    if o.body is not None and o.body_file:
        raise OptionError("give --body or --body-file, not both")
    if o.method == "HEAD" and (o.body is not None or o.body_file):
        raise OptionError("--method HEAD sends no body: leave out --body/--body-file")


def read_body_file(path: str) -> bytes:
    """The bytes of ``--body-file``: a regular file of at most MAX_BODY_BYTES."""
    flag = f"--body-file {path}"
    data = read_regular_file(flag, path, MAX_BODY_BYTES)
    if len(data) > MAX_BODY_BYTES:
        raise OptionError(
            f"{flag}: larger than {MAX_BODY_BYTES} bytes ({MAX_BODY_BYTES // 1024} KiB), the most a body may be"
        )
    return data


def request_fields(o: Options) -> dict[str, Any]:
    """The LoadProfile fields of the request (method, headers, body). Without
    ``--method``, a request with a body is a POST (as curl's ``-d``), else a GET."""
    if o.body_file:
        body = read_body_file(o.body_file)
    else:
        body = (o.body or "").encode("utf-8", "surrogateescape")
    method = o.method or ("POST" if (o.body is not None or o.body_file) else "GET")
    return {"method": method, "headers": tuple(o.headers), "body": body}
