"""What load to send: one immutable description shared by the CLI, the TUI and the loader
processes, and what follows from it alone (the request's bytes, each process's share, the
tick grid), for the loader processes and the engine alike."""

from __future__ import annotations

import ipaddress
import math
import os
import re
import resource
from dataclasses import dataclass, field
from urllib.parse import urlsplit

#: characters a URL may hold as given: printable ASCII, no space (the rest is percent-encoded)
_URL_CHARS = re.compile(r"[\x21-\x7e]+")
#: an HTTP header name or a method (RFC 9110 token)
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
#: a header value: visible characters, spaces and tabs (RFC 9110 field-value), one line
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
#: headers the loader writes itself: the body's length, the connection's fate (--no-keepalive);
#: an interim 100 response (Expect) or a protocol switch (Upgrade) would end the load
RESERVED_HEADERS = ("content-length", "transfer-encoding", "connection", "expect", "upgrade")
#: the largest request body: a request is built once and kept in every loader process
MAX_BODY_BYTES = 1024 * 1024
#: at most this many extra headers, each at most this long (name: value)
MAX_HEADERS = 100
MAX_HEADER_CHARS = 8192
#: seconds a time-bound run may overrun warm-up + duration + timeout before the wall cap
WALL_SLACK_S = 60.0
#: file descriptors a loader process needs beyond its connections (pipe, loop, stdio)
FD_MARGIN = 64
# The limits of a load, in one place: the CLI's converters, the app's form and this
# validation all read these (a nonsense value is refused, not run).
MAX_CONCURRENCY = 100_000
MAX_PROCS = 64
MAX_DURATION_S = 24 * 3600.0
MAX_REQUESTS = 10**9
MAX_REPS = 10**7
MAX_RATE = 10_000_000.0
#: most seconds of warm-up, think time or per-request timeout
MAX_SHORT_S = 3600.0
#: most slow clients (loader/slow.py) one run may hold
MAX_SLOW_CLIENTS = 1024
#: open-loop req/s one loader process can be asked for at most. A closed loop measured
#: ~80,000 req/s per process against nginx-static, so this is far beyond any real
#: sender: a plan above it is refused (the loader itself would run it, counting
#: nearly every request as unsent, which measures nothing).
MAX_RATE_PER_PROC = 200_000
#: what slow clients do (LoadProfile.slow_kind; loader/slow.py)
SLOW_KINDS = ("headers", "readers", "uploads")
#: wall cap in seconds of a run ended by --requests/--reps when max_wall_s is not given
UNTIMED_WALL_CAP_S = 24 * 3600.0
#: how an open loop spaces its requests: a constant rate (wrk2, k6) or independent
#: arrivals, exponential gaps (a Poisson process, seeded)
ARRIVALS = ("uniform", "poisson")
#: the largest --seed (a seed chosen for the user is below 2**32, short enough to retype)
MAX_SEED = 2**63 - 1


class LoadProfileError(ValueError):
    """A load option that cannot work; the message is one line meant for the user."""


@dataclass(frozen=True)
class LoadProfile:
    #: full target URL, e.g. ``http://127.0.0.1:8000/hello`` (http only)
    url: str
    #: connections held open at once; in closed loop, the number of clients
    concurrency: int = 64
    #: measured seconds of load after the warm-up; None when ``requests``/``reps`` end the run
    duration_s: float | None = 10.0
    #: stop after this many measured requests in total (all processes)
    requests: int | None = None
    #: stop after every client made this many measured requests (siege ``-r``)
    reps: int | None = None
    #: open loop: target requests per second over all processes (None = closed loop)
    rate: float | None = None
    #: closed loop think time: each client waits a random 0..delay_s seconds between requests (siege ``-d``)
    delay_s: float = 0.0
    #: seconds of load at the start that count in no figure
    warmup_s: float = 0.0
    #: seconds a request may take, connect included, before it counts as a timeout
    timeout_s: float = 10.0
    #: reuse connections (HTTP/1.1 keep-alive); False sends ``Connection: close``
    keepalive: bool = True
    #: loader processes; connections and rate are split between them
    procs: int = 1
    #: CPUs the loader processes are pinned to (empty: not pinned)
    cpus: tuple[int, ...] = ()
    #: seconds between two snapshots a loader process sends
    tick_s: float = 0.25
    #: extra request headers; a Host, User-Agent or Accept here replaces the loader's own
    headers: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    #: request method (an RFC 9110 token, e.g. GET, POST, HEAD)
    method: str = "GET"
    #: request body, sent with a Content-Length on every request (at most MAX_BODY_BYTES)
    body: bytes = b""
    #: hard cap in seconds on the whole run's wall time, whatever the stop rule (safety
    #: bound); None: warm-up + duration + timeout + 60 s when time-bound, else 24 h (see wall_cap_s)
    max_wall_s: float | None = None
    #: allow a target that is not on loopback
    allow_remote: bool = False
    #: open loop: (seconds after the run start, req/s from then on over all processes),
    #: ascending and after the warm-up: a rate that changes mid-run (an overload phase)
    rate_changes: tuple[tuple[float, float], ...] = ()
    #: extra connections (loader process 0) that trickle header lines and never finish
    #: a request nor read (slow clients; see loader/slow.py); 0: none
    slow_clients: int = 0
    #: seconds after the run start when the slow clients connect
    slow_from_s: float = 0.0
    #: seconds after the run start when they close; None: when the load ends
    slow_until_s: float | None = None
    #: what the slow connections do (loader/slow.py): "headers" trickle header lines,
    #: "readers" read a GET's answer at ~1 KiB/s, "uploads" send slow_body at ~1 KiB/s
    slow_kind: str = "headers"
    #: the path (and query) the slow connections ask for; "": the load's own
    slow_path: str = ""
    #: slow uploads: the body they POST (with its Content-Length)
    slow_body: bytes = b""
    #: open loop: "uniform" (request i due at i / rate) or "poisson" (exponential gaps)
    arrivals: str = "uniform"
    #: the Poisson arrivals' seed (each loader process draws its own stream from it);
    #: None: LoadRun chooses one and the summary says which
    seed: int | None = None

    def wall_cap_s(self) -> float:
        """Seconds the whole run may take at most: ``max_wall_s`` when set; else, for a
        time-bound run, its warm-up + duration + one timeout + 60 s of slack (so a 24 h
        --duration is not cut at an arbitrary hour), and 24 h for --requests/--reps."""
        if self.max_wall_s is not None:
            return self.max_wall_s
        if self.duration_s is not None:
            return self.warmup_s + self.duration_s + self.timeout_s + WALL_SLACK_S
        return UNTIMED_WALL_CAP_S

    def validate(self) -> None:
        """Raise LoadProfileError (one line) when the profile cannot run."""
        if not isinstance(self.url, str):
            raise LoadProfileError(f"--url must be an http:// URL with a host, got {self.url!r}")
        try:
            parts = urlsplit(self.url)
            port = parts.port  # raises on a port that is not a number from 0 to 65535
        except ValueError as exc:
            raise LoadProfileError(f"--url {self.url!r} is not a valid URL ({exc})") from None
        if parts.scheme != "http" or not parts.hostname:
            raise LoadProfileError(f"--url must be an http:// URL with a host, got {self.url!r}")
        if port is not None and not (1 <= port <= 65535):
            raise LoadProfileError(f"--url port must be from 1 to 65535, got {port} in {self.url!r}")
        if parts.username is not None or parts.password is not None or "@" in parts.netloc:
            # it would go verbatim into the Host header; the loader sends no credentials
            raise LoadProfileError(f"--url must not hold user info (user@host), got {self.url!r}")
        if not _URL_CHARS.fullmatch(self.url):
            # it goes verbatim into the request line: a space or a non-ASCII character would
            # make every request malformed (or kill the loader when it encodes it)
            raise LoadProfileError(
                f"--url must be printable ASCII without spaces (percent-encode the rest), got {self.url!r}"
            )
        if not self.allow_remote and not is_loopback(parts.hostname):
            raise LoadProfileError(
                f"refusing to load {parts.hostname!r}: not a loopback address (use --allow-remote to load another host)"
            )
        _positive_int("concurrency", self.concurrency, MAX_CONCURRENCY)
        _positive_int("loader procs", self.procs, MAX_PROCS)
        if self.procs > self.concurrency:
            raise LoadProfileError(f"--loader-procs {self.procs} is more than --concurrency {self.concurrency}")
        if self.duration_s is None and self.requests is None and self.reps is None:
            raise LoadProfileError("give one stop rule: --duration, --requests or --reps")
        if self.duration_s is not None:
            _positive_float("duration", self.duration_s, MAX_DURATION_S)
        if self.requests is not None:
            _positive_int("requests", self.requests, MAX_REQUESTS)
        if self.reps is not None:
            _positive_int("reps", self.reps, MAX_REPS)
        if self.rate is not None:
            _positive_float("rate", self.rate, MAX_RATE)
        for name, value in (("delay", self.delay_s), ("warmup", self.warmup_s)):
            if not (0 <= value <= MAX_SHORT_S):
                raise LoadProfileError(f"--{name} must be between 0 and {MAX_SHORT_S:g} seconds, got {value}")
        _positive_float("timeout", self.timeout_s, MAX_SHORT_S)
        if not (0.05 <= self.tick_s <= 10):
            raise LoadProfileError(f"tick must be between 0.05 and 10 seconds, got {self.tick_s}")
        if self.reps is not None and self.rate is not None:
            raise LoadProfileError("--reps counts requests per client of a closed loop; it cannot go with --rate")
        if self.max_wall_s is not None:
            _positive_float("max wall time", self.max_wall_s, 7 * 24 * 3600)
        if self.rate_changes:
            if self.rate is None:
                raise LoadProfileError("rate changes need an open loop (--rate)")
            times = [at for at, _ in self.rate_changes]
            if times != sorted(set(times)) or times[0] <= self.warmup_s:
                raise LoadProfileError("rate changes must come after the warm-up, in ascending order")
            for _, rate in self.rate_changes:
                _positive_float("rate", rate, MAX_RATE)
        if self.arrivals not in ARRIVALS:
            raise LoadProfileError(f"--arrivals must be {' or '.join(ARRIVALS)}, got {self.arrivals!r}")
        if self.seed is not None and (
            isinstance(self.seed, bool) or not isinstance(self.seed, int) or not (0 <= self.seed <= MAX_SEED)
        ):
            raise LoadProfileError(f"--seed must be a whole number from 0 to {MAX_SEED}, got {self.seed!r}")
        if self.slow_clients:
            _positive_int("slow-clients", self.slow_clients, MAX_SLOW_CLIENTS)
            if not (0 <= self.slow_from_s <= self.wall_cap_s()):
                raise LoadProfileError(f"slow clients must start inside the run, got {self.slow_from_s} s")
            if self.slow_until_s is not None and not (self.slow_from_s < self.slow_until_s):
                raise LoadProfileError("slow clients must end after they start")
            if self.slow_kind not in SLOW_KINDS:
                raise LoadProfileError(f"slow clients are one of {', '.join(SLOW_KINDS)}, got {self.slow_kind!r}")
            if self.slow_path and not self.slow_path.startswith("/"):
                raise LoadProfileError(f"the slow clients' path must start with '/', got {self.slow_path!r}")
            if self.slow_kind == "uploads" and not 0 < len(self.slow_body) <= MAX_BODY_BYTES:
                raise LoadProfileError(f"slow uploads need a body of 1 to {MAX_BODY_BYTES} bytes")
        n_cpus = os.cpu_count() or 1
        for cpu in self.cpus:
            if isinstance(cpu, bool) or not isinstance(cpu, int) or not (0 <= cpu < n_cpus):
                raise LoadProfileError(f"--loader-cpus: no CPU {cpu!r} on this machine (CPUs 0-{n_cpus - 1})")
        self._validate_request()

    def check_limits(self) -> None:
        """Refuse (LoadProfileError, one line) what this machine's loader processes cannot
        send, known before anything starts: more connections per process than the open-file
        limit holds (``connection_room``), or a rate beyond ``MAX_RATE_PER_PROC`` each."""
        per_proc = max(split_evenly(self.concurrency, self.procs))
        room = connection_room()
        if room is not None and per_proc > room:
            hard = room + FD_MARGIN
            procs = math.ceil(self.concurrency / room) if room > 0 else 0
            spread = f", spread it with --loader-procs {procs}" if 0 < procs <= MAX_PROCS else ""
            raise LoadProfileError(
                f"-c {self.concurrency} puts {per_proc} connections in one loader process, but the open-file limit "
                f"is {hard} (hard limit, ulimit -Hn; {FD_MARGIN} of them the process's own): lower -c to "
                f"{max(1, room) * self.procs}{spread}, or raise the hard limit (ulimit -Hn as root, or limits.conf)"
            )
        if self.rate is not None and self.rate > MAX_RATE_PER_PROC * self.procs:
            needed = math.ceil(self.rate / MAX_RATE_PER_PROC)
            more = f", or give it --loader-procs {needed} and the CPUs to run them" if needed <= MAX_PROCS else ""
            raise LoadProfileError(
                f"--rate {self.rate:,.0f} req/s is beyond what {self.procs} loader process"
                f"{'es' if self.procs != 1 else ''} can send (at most {MAX_RATE_PER_PROC:,} req/s each; "
                f"a closed loop reaches ~80,000): lower --rate{more}"
            )

    def _validate_request(self) -> None:
        """Method, headers and body: what goes verbatim into every request."""
        check_method(self.method)
        if not isinstance(self.body, bytes) or len(self.body) > MAX_BODY_BYTES:
            size = len(self.body) if isinstance(self.body, bytes) else self.body
            raise LoadProfileError(
                f"--body must be at most {MAX_BODY_BYTES} bytes ({MAX_BODY_BYTES // 1024} KiB), got {size}"
            )
        if self.body and self.method == "HEAD":
            raise LoadProfileError("--method HEAD sends no body: leave out --body/--body-file")
        if len(self.headers) > MAX_HEADERS:
            raise LoadProfileError(f"--header given {len(self.headers)} times (at most {MAX_HEADERS})")
        for name, header_value in self.headers:
            check_header(name, header_value)


def check_method(method: str) -> None:
    """LoadProfileError (one line) unless ``method`` can start a request line."""
    if not isinstance(method, str) or not _TOKEN.fullmatch(method) or len(method) > 32:
        raise LoadProfileError(f"--method must be an HTTP method such as GET or POST, got {method!r}")
    if method == "CONNECT":
        raise LoadProfileError("--method CONNECT opens a tunnel: it is not a request a server answers under load")


def check_header(name: str, value: str) -> None:
    """LoadProfileError (one line) unless ``name: value`` is a header the loader can send."""
    if (
        not isinstance(name, str)
        or not isinstance(value, str)
        or not _TOKEN.fullmatch(name)
        or not _HEADER_VALUE.fullmatch(value)
        or len(name) + len(value) > MAX_HEADER_CHARS
    ):
        raise LoadProfileError(
            f"--header {name!r}: not a valid header name and one-line value (at most {MAX_HEADER_CHARS} "
            f"characters, no control characters, Latin-1)"
        )
    if name.lower() in RESERVED_HEADERS:
        raise LoadProfileError(_reserved(name))


def _reserved(name: str) -> str:
    lower = name.lower()
    if lower in ("content-length", "transfer-encoding"):
        return f"--header {name}: the loader sets Content-Length from --body/--body-file itself"
    if lower == "connection":
        return "--header Connection: the loader keeps connections alive or closes them (--no-keepalive) itself"
    return (
        f"--header {name}: the loader sends the whole request at once and reads one response; {name} would break that"
    )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# -- what follows from a profile: the same in every loader process and in the engine --------


def open_file_room(limit: int) -> int:
    """Connections a process whose open-file limit is ``limit`` can hold: the limit less
    the FD_MARGIN descriptors the process needs for itself. The one open-file rule: the
    plan's check (``LoadProfile.check_limits``), the capacity search's connection cap and
    each loader process's own check (loader/process.py) all read it."""
    return limit - FD_MARGIN


def connection_room() -> int | None:
    """Connections one loader process can hold on this machine: ``open_file_room`` of the
    hard open-file limit, which each process raises its soft limit to (past it every
    connect fails with EMFILE); None when the hard limit is unlimited."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return None if hard == resource.RLIM_INFINITY else open_file_room(hard)


def split_evenly(total: int, parts: int) -> list[int]:
    """``total`` split into ``parts`` whole shares, the first ones one larger (deterministic)."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


#: methods whose request means something with a body: they always carry a Content-Length
#: (0 without a body), as RFC 9110 asks of a user agent; some servers answer 411 otherwise
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def build_request(profile: LoadProfile) -> bytes:
    """The one request every client sends (method, headers, body), encoded once."""
    parts = urlsplit(profile.url)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    given = {name.lower() for name, _ in profile.headers}
    defaults = (("Host", parts.netloc), ("User-Agent", "wsgicompare-loader"), ("Accept", "*/*"))
    lines = [f"{profile.method} {target} HTTP/1.1"]
    lines.extend(f"{name}: {value}" for name, value in defaults if name.lower() not in given)
    if not profile.keepalive:
        lines.append("Connection: close")
    lines.extend(f"{name}: {value}" for name, value in profile.headers)
    if profile.body or profile.method in BODY_METHODS:
        lines.append(f"Content-Length: {len(profile.body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + profile.body


def tick_boundary_s(k: int, warmup_s: float, tick_s: float) -> float:
    """End of tick ``k`` in seconds after the run start. Warm-up ticks end on the
    warm-up's end, so no tick mixes warm-up and measured time; every process uses
    the same boundaries, so tick ``k`` means the same interval in all of them."""
    n_warm = warmup_ticks(warmup_s, tick_s)
    if k < n_warm:
        return min((k + 1) * tick_s, warmup_s)
    return warmup_s + (k - n_warm + 1) * tick_s


def warmup_ticks(warmup_s: float, tick_s: float) -> int:
    return 0 if warmup_s <= 0 else max(1, int(-(-warmup_s // tick_s)))


def _positive_int(name: str, value: int, upper: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not (1 <= value <= upper):
        raise LoadProfileError(f"--{name} must be a whole number from 1 to {upper}, got {value!r}")


def _positive_float(name: str, value: float, upper: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 < value <= upper):
        raise LoadProfileError(f"--{name} must be a number above 0 and at most {upper:g}, got {value!r}")
