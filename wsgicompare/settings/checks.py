"""Option combinations of the newer features, each fine alone but not together
with some others (the rest is options.check_combinations, which calls these)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from wsgicompare.engine.capacity import DEFAULT_STEP_S
from wsgicompare.engine.runspec import DEFAULT_DURATION_S, arrivals_of
from wsgicompare.parsing import OptionError
from wsgicompare.reporting.recommend.sweep import STEP_S as RECOMMEND_STEP_S

if TYPE_CHECKING:
    from wsgicompare.settings.options import Options


def check_cluster(o: Options) -> None:
    """--cluster and --server-node: headless runs; the server node starts the backends."""
    if o.server_node and not o.cluster:
        raise OptionError("--server-node goes with --cluster")
    if o.cluster and (o.serve or o.open_files):
        raise OptionError("--cluster loads from the app in this terminal, not with --serve or --open")
    if o.server_node and o.url:
        raise OptionError("--url starts no server: --server-node does not apply")
    if o.server_node and (o.scenarios or o.app):
        raise OptionError("--server-node runs catalog backends without --scenario or --app (not across machines yet)")


def check_scenario(o: Options) -> None:
    """--scenario and --event-at: a timed event needs a server of ours and a timed load."""
    if o.event_at is not None and not (o.scenarios or o.recommend):
        raise OptionError("--event-at goes with --scenario")
    slow = ("slow-clients", "slow-readers", "slow-uploads")
    if o.slow_clients is not None and not set(slow) & set(o.scenarios) and not o.recommend:
        raise OptionError("--slow-clients goes with --scenario slow-clients, slow-readers or slow-uploads")
    if not o.scenarios:
        return
    if o.url:
        raise OptionError("--scenario needs a server wsgicompare starts (none to kill or reload with --url)")
    if o.find_capacity or o.rates:
        raise OptionError("--scenario is one timed run: it cannot be combined with --find-capacity or --rates")
    if o.requests or o.reps:
        raise OptionError("--scenario phases are timed (-d): --requests and --reps do not apply")
    duration = o.duration if o.duration is not None else DEFAULT_DURATION_S
    if o.event_at is not None and o.event_at >= duration:
        raise OptionError(f"--event-at {o.event_at:g} s is outside the run (-d {duration:g} s): give less than -d")


def arrivals_drawn(o: Options) -> set[str]:
    """The arrivals the open loops of the runs ``o`` asks for may draw ("uniform",
    "poisson"; empty: every run is a closed loop). Headless, the open loops are --rate,
    the capacity steps (--find-capacity, --rates) and the overload scenario; any other
    scenario, and a run without --rate, is a closed loop. The app may run all of them
    later (its form's rate, its capacity search, an overload), so its runs may draw
    either, or what --arrivals says."""
    if not o.headless:
        return {o.arrivals} if o.arrivals else {"uniform", "poisson"}
    open_loop = o.rate is not None or o.find_capacity or bool(o.rates) or "overload" in o.scenarios
    return {arrivals_of(o)} if open_loop else set()


def check_arrivals(o: Options) -> None:
    """--arrivals and --seed: how an open loop spaces its requests (--rate, the capacity
    steps, the overload scenario); a seed draws Poisson arrivals only. One rule for the
    CLI and the app: refused where no run of theirs can apply it (arrivals_drawn)."""
    given = [flag for flag, value in (("--arrivals", o.arrivals), ("--seed", o.seed)) if value is not None]
    drawn = arrivals_drawn(o)
    if given and not drawn:
        raise OptionError(f"{given[0]} goes with an open loop: --rate, --find-capacity, --rates or --scenario overload")
    if o.seed is not None and "poisson" not in drawn:
        why = "--arrivals uniform" if o.arrivals else "a uniform open loop (add --arrivals poisson)"
        raise OptionError(f"--seed draws Poisson arrivals: it does not go with {why}")


def check_capacity(o: Options) -> None:
    """--find-capacity, --rates and the options of a capacity run."""
    if (o.find_capacity or o.rates) and o.rate is not None:
        raise OptionError("--find-capacity and --rates choose the open-loop rates themselves: leave out --rate")
    if o.find_capacity and o.rates:
        raise OptionError("give --find-capacity (search) or --rates (a fixed ladder), not both")
    if (o.find_capacity or o.rates) and (o.requests or o.reps or o.repeat > 1):
        raise OptionError("capacity steps are timed (--step-duration): --requests, --reps and --repeat do not apply")
    capacity_only = (
        ("--slo", o.slo),
        ("--step-duration", o.step_duration),
        ("--max-steps", o.max_steps),
        ("--confirm", o.confirm),
    )
    for flag, value in capacity_only:
        # the app takes them for its own searches (f, the capacity box)
        if value is not None and not (o.find_capacity or o.rates or o.recommend) and o.headless:
            raise OptionError(f"{flag} goes with --find-capacity or --rates")
    if o.max_steps is not None and o.rates:
        raise OptionError("--max-steps bounds a search (--find-capacity); --rates runs every rate it lists")
    step_s = o.step_duration or (RECOMMEND_STEP_S if o.recommend else DEFAULT_STEP_S)
    if o.confirm and o.confirm < step_s:
        raise OptionError(f"--confirm {o.confirm:g}s is shorter than a step ({step_s:g}s): it would confirm nothing")
    if o.confirm is not None and o.rates:
        raise OptionError("--confirm confirms a search's capacity (--find-capacity); --rates measures each rate once")


def check_thresholds(o: Options) -> None:
    """--fail-if and --baseline: checks of headless runs, each figure with what makes it."""
    if o.fail_if and not o.headless and not o.save_config:
        raise OptionError("--fail-if checks headless runs: give --backend ID, --run-all or --url")
    if o.baseline and not o.headless and not o.save_config:
        raise OptionError("--baseline compares headless runs: give --backend ID, --run-all or --url")
    for t in o.fail_if:
        if t.figure.startswith("capacity") and not (o.find_capacity or o.rates):
            raise OptionError(f"--fail-if {t.expr!r}: a capacity needs --find-capacity or --rates")
        if t.is_change and not o.baseline:
            raise OptionError(f"--fail-if {t.expr!r}: a change needs --baseline OLD.json to compare with")
