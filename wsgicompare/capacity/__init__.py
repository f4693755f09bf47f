"""Capacity at an SLO: the highest rate a server sustains while a latency percentile and
an error share hold, found by open-loop steps (``--find-capacity``), or measured on a
fixed ladder of rates (``--rates``) for the latency-vs-offered-load curve.

The search is a pure function of a ``measure(rate) -> Step`` callable (``search``,
``ladder``); the conductor supplies one that runs a step against a running server
(``capacity_body``). A step meets the SLO only if the percentile and the error share
hold *and* the outstanding requests did not grow through its window: a short window
can hide a rate the server cannot sustain.
"""

from wsgicompare.capacity.run import CapacityPlan, run_capacity, step_seed
from wsgicompare.capacity.search import (
    BOUND_LIMITS,
    BRACKET_TOLERANCE,
    CONFIRM_MAX_S,
    CONFIRM_STEP_DOWN,
    CONFIRM_TAIL_ANSWERS,
    DEFAULT_CONFIRM_S,
    DEFAULT_MAX_STEPS,
    DEFAULT_SLO,
    DEFAULT_STEP_S,
    FAILED_LIMIT,
    MIN_CONFIRM_S,
    MIN_RATE,
    PERCENTILES,
    PROBE_S,
    STEP_WARMUP_S,
    CapacityError,
    Outcome,
    Slo,
    Step,
    bound_text,
    capacity_bound,
    capacity_figure,
    capacity_text,
    capacity_unconfirmed,
    confirm,
    confirm_seconds,
    connections_for,
    judge,
    ladder,
    parse_rates,
    parse_slo,
    search,
)

__all__ = [
    "BOUND_LIMITS",
    "BRACKET_TOLERANCE",
    "CONFIRM_MAX_S",
    "CONFIRM_STEP_DOWN",
    "CONFIRM_TAIL_ANSWERS",
    "DEFAULT_CONFIRM_S",
    "DEFAULT_MAX_STEPS",
    "DEFAULT_SLO",
    "DEFAULT_STEP_S",
    "FAILED_LIMIT",
    "MIN_CONFIRM_S",
    "MIN_RATE",
    "PERCENTILES",
    "PROBE_S",
    "STEP_WARMUP_S",
    "CapacityError",
    "CapacityPlan",
    "Outcome",
    "Slo",
    "Step",
    "bound_text",
    "capacity_bound",
    "capacity_figure",
    "capacity_text",
    "capacity_unconfirmed",
    "confirm",
    "confirm_seconds",
    "connections_for",
    "judge",
    "ladder",
    "parse_rates",
    "parse_slo",
    "run_capacity",
    "search",
    "step_seed",
]
