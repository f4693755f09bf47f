"""The SLO of a capacity run (``--slo p99=50ms,errors=0.1%``) and the ``--rates`` ladder:
what they mean and how their text parses. Used by the capacity search, the scenarios,
the options and the app's form."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

#: the percentiles an SLO may name, and the latency_ms key each reads
PERCENTILES = {"p50": "p50", "p90": "p90", "p99": "p99", "p999": "p999"}
DEFAULT_SLO = "p99=100ms,errors=0.1%"


class CapacityError(ValueError):
    """A capacity option that cannot work; the message is one line meant for the user."""


@dataclass(frozen=True)
class Slo:
    """A latency percentile and an error budget."""

    percentile: str  #: "p50" | "p90" | "p99" | "p999"
    latency_ms: float  #: the percentile must be at most this
    error_pct: float  #: failed requests (errors + non-2xx) at most this share, in %

    def to_dict(self) -> dict[str, float]:
        return {f"{self.percentile}_ms": self.latency_ms, "error_pct": self.error_pct}

    @property
    def tail_share(self) -> float:
        """The share of answers beyond the percentile: 0.01 for p99, 0.001 for p999."""
        digits = self.percentile.removeprefix("p")
        return 1.0 - int(digits) / 10 ** len(digits)

    def spec(self) -> str:
        """The ``--slo`` text that parses back to this SLO."""
        return f"{self.percentile}={self.latency_ms:g}ms,errors={self.error_pct:g}%"

    def text(self) -> str:
        return f"{self.percentile} ≤ {self.latency_ms:g} ms, errors ≤ {self.error_pct:g} %"


def parse_slo(text: str) -> Slo:
    """``p99=50ms,errors=0.1%`` → Slo; a missing part keeps the default's."""
    percentile, latency_ms, error_pct = "p99", 100.0, 0.1
    seen_latency = False
    for part in str(text).split(","):
        key, sep, value = part.strip().partition("=")
        key, value = key.strip().lower(), value.strip().lower()
        if not sep or not value:
            raise CapacityError(f"--slo: expected e.g. p99=50ms,errors=0.1%, got {text!r}")
        if key in ("errors", "error"):
            error_pct = _number("--slo errors", value.removesuffix("%"), 0.0, 100.0)
        elif key in PERCENTILES:
            if seen_latency:
                raise CapacityError(f"--slo: one latency percentile only, got {text!r}")
            seen_latency = True
            percentile, latency_ms = key, _latency_ms(value)
        else:
            raise CapacityError(
                f"--slo: unknown part {key!r} (use {', '.join(PERCENTILES)} and errors, e.g. p99=50ms,errors=0.1%)"
            )
    return Slo(percentile, latency_ms, error_pct)


def parse_rates(text: str) -> tuple[float, ...]:
    """``100,200,400`` → ascending positive rates (req/s)."""
    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    if not parts:
        raise CapacityError("--rates: give one or more rates in req/s, e.g. --rates 100,200,400")
    rates = sorted({_number("--rates", p, 0.0, 10_000_000, low_open=True) for p in parts})
    return tuple(rates)


def _latency_ms(value: str) -> float:
    m = re.fullmatch(r"([0-9.]+)\s*(us|µs|ms|s)?", value)
    if not m:
        raise CapacityError(f"--slo: {value!r} is not a latency (e.g. 50ms, 0.2s)")
    scale = {"us": 0.001, "µs": 0.001, "ms": 1.0, "s": 1000.0, None: 1.0}[m.group(2)]
    return _number("--slo latency", m.group(1), 0.0, 3_600_000.0, low_open=True) * scale


def _number(name: str, value: str, low: float, high: float, low_open: bool = False) -> float:
    try:
        x = float(value)
    except ValueError:
        raise CapacityError(f"{name}: {value!r} is not a number") from None
    if not math.isfinite(x) or x < low or x > high or (low_open and x <= low):
        bound = f"above {low:g}" if low_open else f"from {low:g}"
        raise CapacityError(f"{name}: {value!r} must be {bound} to {high:g}")
    return x
