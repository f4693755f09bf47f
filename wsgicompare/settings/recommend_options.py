"""``--recommend``'s own options: their rows of the option table (option_table.py splices
them in, as serve_options.py's), and their checks before anything starts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wsgicompare.backends import CATALOG
from wsgicompare.parsing import OptionError
from wsgicompare.reporting.recommend.rule import DEFAULT_REQUIRED
from wsgicompare.reporting.recommend.sweep import (
    CLASSED,
    FIXED_CLASS,
    REFERENCES,
    SCENARIO_S,
    Sweep,
    grid,
    min_processes,
    parse_sweep,
)
from wsgicompare.settings.option_row import Option, flag

if TYPE_CHECKING:
    from wsgicompare.reporting.recommend.run import Settings
    from wsgicompare.settings.options import Options

#: the scenarios --require may name
REQUIRABLE = ("slow-clients", "slow-readers", "slow-uploads", "worker-kill", "reload")
#: no Python server process takes less (PSS, MB): a budget under processes × this fits no config
MIN_PROCESS_MB = 10.0
MAX_MEMORY_MB = 16 * 1024 * 1024


@dataclass
class RecommendFields:
    """The Options fields of --recommend (options.Options inherits them)."""

    #: tune, confirm and judge each backend, and say which to deploy
    recommend: bool = False
    #: the tuning grid (None: sweep.default_values)
    sweep: Sweep | None = None
    #: the memory budget in MB (PSS of the whole server); None: none
    memory_budget: float | None = None
    #: scenarios a backend must pass (None: rule.DEFAULT_REQUIRED)
    require: tuple[str, ...] | None = None


def parse_size(name: str, value: Any) -> float:
    """``512MB``, ``2GB``, ``1.5G``, ``800`` (MB) → MB; OptionError otherwise."""
    text = str(value).strip() if isinstance(value, (str, int, float)) and not isinstance(value, bool) else ""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(k|kb|kib|m|mb|mib|g|gb|gib)?", text, re.IGNORECASE)
    if not m:
        raise OptionError(f"--{name} must be a size such as 512MB or 2GB, got {value!r}")
    unit = (m.group(2) or "mb").lower()[0]
    mb = float(m.group(1)) * {"k": 1 / 1024, "m": 1.0, "g": 1024.0}[unit]
    if not 0 < mb <= MAX_MEMORY_MB:
        raise OptionError(f"--{name} must be above 0 and at most 16TB, got {value!r}")
    return mb


def parse_require(name: str, value: Any) -> tuple[str, ...]:
    text = ",".join(value) if isinstance(value, list) and all(isinstance(v, str) for v in value) else value
    if not isinstance(text, str) or not text.strip():
        raise OptionError(f"--{name} takes scenario names such as slow-clients,reload, or none, got {value!r}")
    items = [i.strip() for i in text.split(",") if i.strip()]
    if items == ["none"]:
        return ()
    for item in items:
        if item not in REQUIRABLE:
            raise OptionError(f"--{name} must name {', '.join(REQUIRABLE)} or none, got {item!r}")
    return tuple(dict.fromkeys(items))


def _sweep(name: str, value: Any) -> Sweep:
    return parse_sweep(value)


def _sweep_text(sweep: Sweep) -> str:
    return " ".join(f"{k}={','.join(str(v) for v in vs)}" for k, vs in sweep.items())


#: rows of the option table (option_table.OPTIONS splices them in)
RECOMMEND_ROWS: list[Option] = [
    Option(
        ("--recommend",),
        "recommend",
        flag,
        "recommend",
        {
            "action": "store_const",
            "const": True,
            "help": "tune each backend, confirm its capacity, run the scenarios, and say which to deploy",
        },
    ),
    Option(
        ("--sweep",),
        "sweep",
        _sweep,
        "recommend",
        {
            "metavar": "KNOB=A,B",
            "nargs": "+",
            "help": "--recommend's grid, e.g. workers=1,2,4 threads=1,8 worker_class=sync,gthread (default: workers "
            "1, cpus, 2 x cpus + 1 x threads 1, 4; gunicorn: its classes x workers cpus, 2 x cpus + 1)",
        },
        save=_sweep_text,
    ),
    Option(
        ("--memory-budget",),
        "memory-budget",
        parse_size,
        "recommend",
        {"metavar": "SIZE", "help": "--recommend: no config whose PSS is over it is chosen, e.g. 512MB, 2GB"},
        save=lambda mb: f"{mb:g}MB",
    ),
    Option(
        ("--require",),
        "require",
        parse_require,
        "recommend",
        {
            "metavar": "A,B",
            "help": "--recommend: scenarios a backend must pass (default slow-clients,worker-kill,reload; none)",
        },
        save=lambda names: ",".join(names) or "none",
    ),
]


def candidates(o: Options) -> list[str]:
    """The backends --recommend measures: --backends, else every available one that serves
    the user's app (the references nginx-static and php-fpm-nginx, and native handlers, never;
    gunicorn-gthread and gunicorn-gevent are worker classes of gunicorn's sweep)."""
    if o.backends:
        return list(o.backends)
    found = [b.id for b in CATALOG.values() if b.id not in REFERENCES and b.serves_user_app and b.availability()[0]]
    # a row of one gunicorn worker class is a config of gunicorn's sweep, not a candidate beside it
    return [b for b in found if b not in FIXED_CLASS or FIXED_CLASS[b][0] not in found]


def server_cpu_count(o: Options) -> int:
    """The server CPUs of the plan (the grid is derived from them)."""
    # imported at use: spec.py imports the capacity search, which options need not pay for
    from wsgicompare.backends import available_cpus
    from wsgicompare.engine.runspec import cpu_split

    cpus = cpu_split(o.loader_cpus, o.server_cpus, o.loader_procs or 1)[1]
    return len(cpus) or len(available_cpus())


def check_recommend(o: Options) -> None:
    """The combinations of --recommend, and a memory budget no config can fit; fills
    ``o.backends`` with the default candidates when none is given."""
    given = [
        f"--{n}"
        for n, v in (("sweep", o.sweep), ("memory-budget", o.memory_budget), ("require", o.require))
        if v is not None
    ]
    if not o.recommend:
        if given and o.headless:  # the app takes them for its recommend run (r)
            raise OptionError(f"{given[0]} goes with --recommend (or the app's r)")
        return
    if o.url:
        raise OptionError("--recommend starts and tunes the backends itself: it cannot take --url")
    if o.find_capacity or o.rates or o.scenarios:
        raise OptionError(
            "--recommend runs its own capacity searches and scenarios: leave out --find-capacity, --rates and --scenario"
        )
    if o.workers is not None or o.threads is not None:
        raise OptionError("--recommend sweeps workers and threads itself: use --sweep workers=A,B threads=A,B")
    if len(o.workloads) > 1:
        raise OptionError("--recommend answers for one app: give one --workload (or --app with --path)")
    if o.requests or o.reps or o.repeat > 1:
        raise OptionError("--recommend's runs are timed: --requests, --reps and --repeat do not apply")
    if o.event_at is not None and o.event_at >= (o.duration or SCENARIO_S):
        raise OptionError(
            f"--event-at {o.event_at:g} s is outside the scenario runs (-d {o.duration or SCENARIO_S:g} s)"
        )
    if o.sweep and "worker_class" in o.sweep and o.backends:
        if not set(CLASSED) & set(o.backends):
            raise OptionError(f"--sweep worker_class is a knob of {' and '.join(CLASSED)}: none of --backends has it")
    if o.memory_budget is not None:
        backends, cpus = candidates(o), server_cpu_count(o)
        fits = [b for b in backends if min_processes(b, grid(b, cpus, o.sweep)) * MIN_PROCESS_MB <= o.memory_budget]
        if backends and not fits:
            raise OptionError(
                f"--memory-budget {o.memory_budget:g}MB: no config fits (each runs a Python process, "
                f"at least {MIN_PROCESS_MB:g} MB of PSS)"
            )


def fill_candidates(o: Options) -> None:
    """Without --backends, --recommend measures the default candidates (``candidates``)."""
    o.backends = candidates(o)
    if not o.backends:
        raise OptionError("--recommend: no backend is available that serves the app (see --list-backends)")


def required(o: Options) -> tuple[str, ...]:
    return DEFAULT_REQUIRED if o.require is None else o.require


def settings_of(o: Options) -> Settings:
    """What the options ask of --recommend's runs (its own defaults where none is given);
    the CLI's and the app's (the session's) runs alike."""
    # imported at use: the recommender loads the capacity search and the scenarios, which
    # the options need not pay for at every start
    from wsgicompare.engine.capacity import DEFAULT_SLO, parse_slo
    from wsgicompare.engine.runspec import step_warmup_of
    from wsgicompare.reporting.recommend.run import CONFIRM_S, MAX_STEPS, PROBE_WARMUP_S, Settings
    from wsgicompare.reporting.recommend.sweep import STEP_S

    return Settings(
        slo=o.slo or parse_slo(DEFAULT_SLO),
        cpus=server_cpu_count(o),
        step_s=o.step_duration or STEP_S,
        max_steps=o.max_steps or MAX_STEPS,
        confirm_s=CONFIRM_S if o.confirm is None else o.confirm,
        probe_warmup_s=PROBE_WARMUP_S if o.warmup is None else o.warmup,
        step_warmup_s=step_warmup_of(o),
        scenario_s=o.duration or SCENARIO_S,
        event_at_s=o.event_at,
        scenario_rate=o.rate,
        slow_clients=o.slow_clients,
        concurrency=o.concurrency,
        required=required(o),
        memory_budget=o.memory_budget,
        sweep=o.sweep,
    )
