"""The tuning grid of ``--recommend``: which of a backend's own knobs are swept (workers,
threads), the default grid derived from the server CPUs, ``--sweep`` parsing, and the
docs' rules of thumb the tuned config is compared with. Pure: nothing here starts a
server."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from wsgicompare.backends import CATALOG, MAX_THREADS, MAX_WORKERS
from wsgicompare.parsing import OptionError

#: seconds of each scenario run unless -d is given
SCENARIO_S = 6.0
#: measured seconds of a probe and of a capacity step unless --step-duration is given
STEP_S = 2.0
#: knobs that --sweep takes
KNOBS = ("workers", "threads")
#: the default grid stays this small (configs per backend)
MAX_DEFAULT_CONFIGS = 6
#: most configs a --sweep may ask for per backend
MAX_SWEEP_CONFIGS = 24
#: default threads values where the server has a threads knob
DEFAULT_THREADS = (1, 4)

#: each backend's own knobs, read from how its spec maps the budget (catalog `budget`):
#: "workers" = ServerConfig.workers is the server's process count, "threads" = its threads
#: per process (for waitress and cheroot, one process: their pool is workers × threads, so
#: only threads is swept, with workers 1)
BACKEND_KNOBS: dict[str, tuple[str, ...]] = {
    "flask-dev": (),
    "flask-threaded": (),
    "flask-processes": ("workers",),
    "gunicorn": ("workers",),
    "gevent": ("workers",),
    "twisted": (),
    "uwsgi": ("workers", "threads"),
    "uwsgi-nginx": ("workers", "threads"),
    "uwsgi-nginx-unix": ("workers", "threads"),
    "tornado": ("workers",),
    "gunicorn-nginx": ("workers",),
    "php-fpm-nginx": ("workers",),
    "gunicorn-gthread": ("workers", "threads"),
    "gunicorn-gevent": ("workers",),
    "waitress": ("threads",),
    "granian": ("workers", "threads"),
    "tornado-wsgi": ("workers", "threads"),
    "nginx-static": ("workers",),
    "cheroot": ("threads",),
    "apache-mod-wsgi": ("workers", "threads"),
}

#: gunicorn's worker class is a knob of the same server; the catalog has one backend per class
WORKER_CLASS = {
    "gunicorn": "sync",
    "gunicorn-nginx": "sync",
    "gunicorn-gthread": "gthread",
    "gunicorn-gevent": "gevent",
}

#: the references that serve no user app: never a default candidate
REFERENCES = ("nginx-static", "php-fpm-nginx")


def knobs_of(backend: str) -> tuple[str, ...]:
    """The knobs a backend has; an unknown id is read from its catalog budget text."""
    if backend in BACKEND_KNOBS:
        return BACKEND_KNOBS[backend]
    budget = CATALOG[backend].budget if backend in CATALOG else ""
    if "workers and threads ignored" in budget:
        return ()
    if "threads ignored" in budget:
        return ("workers",)
    return KNOBS


@dataclass(frozen=True, order=True)
class Config:
    """One point of the grid: what the backend is started with."""

    workers: int = 1
    threads: int = 1
    worker_class: str | None = None

    def to_dict(self, backend: str) -> dict[str, Any]:
        """``config{workers, threads, worker_class?}``: only the knobs the backend has."""
        knobs = knobs_of(backend)
        out: dict[str, Any] = {}
        if "workers" in knobs or not knobs:
            out["workers"] = self.workers
        if "threads" in knobs or not knobs:
            out["threads"] = self.threads
        if self.worker_class:
            out["worker_class"] = self.worker_class
        return out

    def text(self, backend: str) -> str:
        """``3 sync workers``, ``2 processes × 4 threads``, ``8 threads``, ``1 process, 1 thread``."""
        knobs = knobs_of(backend)
        kind = f"{self.worker_class} " if self.worker_class else ""
        w = f"{self.workers} {kind}worker{'s' if self.workers != 1 else ''}"
        t = f"{self.threads} thread{'s' if self.threads != 1 else ''}"
        if knobs == ("workers", "threads"):
            return f"{w} × {t}"
        if knobs == ("workers",):
            return w
        if knobs == ("threads",):
            return t
        return "its fixed config (no workers or threads knob)"


#: a parsed --sweep: knob → values (only the knobs given)
Sweep = dict[str, tuple[int, ...]]


def parse_sweep(value: Any) -> Sweep:
    """``workers=1,2,4 threads=1,8`` (a string, or a list of such words) → {knob: values}.
    OptionError (one line) for anything else."""
    words = value if isinstance(value, (list, tuple)) else [value]
    if not all(isinstance(w, str) for w in words):
        raise OptionError(f"--sweep takes KNOB=A,B words such as workers=1,2,4 threads=1,8, got {value!r}")
    items = [item for w in words for item in re.split(r"[\s;]+", w.strip()) if item]
    if not items:
        raise OptionError("--sweep needs KNOB=A,B words such as workers=1,2,4 threads=1,8")
    out: Sweep = {}
    for item in items:
        knob, eq, values = item.partition("=")
        if not eq or knob not in KNOBS:
            raise OptionError(f"--sweep takes workers=A,B and threads=A,B, got {item!r}")
        if knob in out:
            raise OptionError(f"--sweep gives {knob} twice")
        high = MAX_WORKERS if knob == "workers" else MAX_THREADS
        parsed = []
        for v in values.split(","):
            if not re.fullmatch(r"\d{1,6}", v.strip()) or not 1 <= int(v) <= high:
                raise OptionError(f"--sweep {knob} values must be whole numbers from 1 to {high}, got {v!r}")
            parsed.append(int(v))
        out[knob] = tuple(dict.fromkeys(parsed))
    size = 1
    for values in out.values():
        size *= len(values)
    if size > MAX_SWEEP_CONFIGS:
        raise OptionError(f"--sweep asks for {size} configs per backend; at most {MAX_SWEEP_CONFIGS}")
    return out


def default_values(cpus: int) -> Sweep:
    """workers ∈ {1, cpus, 2·cpus + 1} × threads ∈ {1, 4} (≤ 6 configs)."""
    cpus = max(1, cpus)
    return {"workers": tuple(sorted({1, cpus, 2 * cpus + 1})), "threads": DEFAULT_THREADS}


def grid(backend: str, cpus: int, sweep: Sweep | None = None) -> list[Config]:
    """The configs to probe for ``backend`` on ``cpus`` server CPUs: the sweep's values
    (default: ``default_values``) for the knobs the backend has, 1 for the others."""
    values = default_values(cpus)
    if sweep:
        values = {**values, **sweep}
    knobs = knobs_of(backend)
    workers = values["workers"] if "workers" in knobs else (1,)
    threads = values["threads"] if "threads" in knobs else (1,)
    wc = WORKER_CLASS.get(backend)
    configs = [Config(w, t, wc) for w in workers for t in threads]
    if sweep is None:
        configs = configs[:MAX_DEFAULT_CONFIGS]
    return configs


def rule_of_thumb(backend: str, cpus: int) -> tuple[Config | None, str]:
    """(the docs' starting config, the rule as said) for ``backend`` on ``cpus`` CPUs."""
    cpus = max(1, cpus)
    wc = WORKER_CLASS.get(backend)
    if backend.startswith("gunicorn"):
        n = 2 * cpus + 1
        threads = 1 if "threads" not in knobs_of(backend) else 4
        return Config(
            n, threads, wc
        ), f"gunicorn's docs: 2 × cores + 1 = {n} workers on {cpus} CPU{'s' if cpus != 1 else ''}"
    if backend.startswith("uwsgi"):
        return None, 'uWSGI\'s docs give no number ("there is no magic rule, experiment"): processes × threads'
    return None, ""


def min_processes(backend: str, configs: list[Config]) -> int:
    """The fewest processes any of ``configs`` runs (a lower bound: masters not counted)."""
    knobs = knobs_of(backend)
    return min((c.workers if "workers" in knobs else 1) for c in configs) if configs else 1
