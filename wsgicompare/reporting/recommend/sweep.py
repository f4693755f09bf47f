"""The tuning grid of ``--recommend``: which of a backend's own knobs are swept (workers,
threads, gunicorn's worker class), the default grid derived from the server CPUs,
``--sweep`` parsing, and the docs' rules of thumb the tuned config is compared with. Pure:
nothing here starts a server."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from wsgicompare.backends import CATALOG, MAX_THREADS, MAX_WORKERS, WORKER_CLASSES
from wsgicompare.parsing import OptionError

#: seconds of each scenario run unless -d is given
SCENARIO_S = 6.0
#: measured seconds of a probe and of a capacity step unless --step-duration is given
STEP_S = 2.0
#: knobs that --sweep takes
KNOBS = ("workers", "threads", "worker_class")
#: threads of the gthread class in the default grid (1 thread is the sync class's shape)
DEFAULT_GTHREADS = (4,)
#: the default grid stays this small (configs per backend)
MAX_DEFAULT_CONFIGS = 6
#: most configs a --sweep may ask for per backend
MAX_SWEEP_CONFIGS = 24
#: default threads values where the server has a threads knob
DEFAULT_THREADS = (1, 4)

#: each backend's own knobs, read from how its spec maps the budget (catalog `budget`):
#: "workers" = ServerConfig.workers is the server's process count, "threads" = its threads
#: per process (for waitress and cheroot, one process: their pool is workers × threads, so
#: only threads is swept, with workers 1), "worker_class" = ServerConfig.worker_class (its
#: gthread configs take the threads knob)
BACKEND_KNOBS: dict[str, tuple[str, ...]] = {
    "flask-dev": (),
    "flask-threaded": (),
    "flask-processes": ("workers",),
    "gunicorn": ("workers", "worker_class"),
    "gevent": ("workers",),
    "twisted": (),
    "uwsgi": ("workers", "threads"),
    "uwsgi-nginx": ("workers", "threads"),
    "uwsgi-nginx-unix": ("workers", "threads"),
    "tornado": ("workers",),
    "gunicorn-nginx": ("workers", "worker_class"),
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
#: the backends whose worker class is a knob
CLASSED = tuple(b for b, knobs in BACKEND_KNOBS.items() if "worker_class" in knobs)

#: the catalog's rows of one gunicorn worker class (for the compare view), and the backend
#: whose worker_class knob sweeps that class: not a default candidate of their own beside it
FIXED_CLASS = {"gunicorn-gthread": ("gunicorn", "gthread"), "gunicorn-gevent": ("gunicorn", "gevent")}
#: how the answer names a backend whose worker class is swept (its catalog title names the
#: default class)
CLASS_TITLES = {"gunicorn": "gunicorn", "gunicorn-nginx": "gunicorn behind nginx proxy_pass (upstream keep-alive)"}

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
        if "threads" in knobs or not knobs or self.worker_class == "gthread":
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
        if knobs == ("workers", "threads") or self.worker_class == "gthread":
            return f"{w} × {t}"
        if knobs in (("workers",), ("workers", "worker_class")):
            return w
        if knobs == ("threads",):
            return t
        return "its fixed config (no workers or threads knob)"


#: a parsed --sweep: knob → values (only the knobs given): ints, worker_class's names
Sweep = dict[str, tuple[int | str, ...]]


def fixed_class(backend: str) -> str | None:
    """The worker class of a catalog row of one class (gunicorn-gevent: gevent), else None."""
    return FIXED_CLASS[backend][1] if backend in FIXED_CLASS else None


def _class_missing(worker_class: str) -> list[str]:
    """What this Python lacks to run ``worker_class``: what its catalog row lacks (the row's
    modules say what the class needs beside gunicorn)."""
    row = next((b for b in FIXED_CLASS if fixed_class(b) == worker_class), None)
    return [] if row is None else CATALOG[row].availability()[1]


@cache
def classes_here() -> tuple[str, ...]:
    """The worker classes this Python can run (gevent's needs the gevent module)."""
    return tuple(c for c in WORKER_CLASSES if not _class_missing(c))


def _classes(values: str) -> tuple[str, ...]:
    names = [v.strip() for v in values.split(",")]
    for name in names:
        if name not in WORKER_CLASSES:
            raise OptionError(f"--sweep worker_class values must be {', '.join(WORKER_CLASSES)}, got {name!r}")
        if name not in classes_here():
            raise OptionError(f"--sweep worker_class {name} needs {', '.join(_class_missing(name))}: not installed")
    return tuple(dict.fromkeys(names))


def _numbers(knob: str, values: str) -> tuple[int, ...]:
    high = MAX_WORKERS if knob == "workers" else MAX_THREADS
    parsed = []
    for v in values.split(","):
        if not re.fullmatch(r"\d{1,6}", v.strip()) or not 1 <= int(v) <= high:
            raise OptionError(f"--sweep {knob} values must be whole numbers from 1 to {high}, got {v!r}")
        parsed.append(int(v))
    return tuple(dict.fromkeys(parsed))


def parse_sweep(value: Any) -> Sweep:
    """``workers=1,2,4 threads=1,8 worker_class=sync,gthread`` (a string, or a list of such
    words) → {knob: values}. OptionError (one line) for anything else."""
    words = value if isinstance(value, (list, tuple)) else [value]
    example = "workers=1,2,4 threads=1,8 worker_class=sync,gthread"
    if not all(isinstance(w, str) for w in words):
        raise OptionError(f"--sweep takes KNOB=A,B words such as {example}, got {value!r}")
    items = [item for w in words for item in re.split(r"[\s;]+", w.strip()) if item]
    if not items:
        raise OptionError(f"--sweep needs KNOB=A,B words such as {example}")
    out: Sweep = {}
    for item in items:
        knob, eq, values = item.partition("=")
        if not eq or knob not in KNOBS:
            raise OptionError(f"--sweep takes workers=A,B, threads=A,B and worker_class=A,B, got {item!r}")
        if knob in out:
            raise OptionError(f"--sweep gives {knob} twice")
        out[knob] = _classes(values) if knob == "worker_class" else _numbers(knob, values)
    size = _size(out)
    if size > MAX_SWEEP_CONFIGS:
        raise OptionError(f"--sweep asks for {size} configs per backend; at most {MAX_SWEEP_CONFIGS}")
    return out


def default_values(cpus: int) -> Sweep:
    """workers ∈ {1, cpus, 2·cpus + 1} × threads ∈ {1, 4} (≤ 6 configs)."""
    cpus = max(1, cpus)
    return {"workers": tuple(sorted({1, cpus, 2 * cpus + 1})), "threads": DEFAULT_THREADS}


def grid(backend: str, cpus: int, sweep: Sweep | None = None) -> list[Config]:
    """The configs to probe for ``backend`` on ``cpus`` server CPUs: the sweep's values for
    the knobs the backend has (else ``default_values``), 1 for the others. Where the worker
    class is a knob: each class this Python runs × workers ∈ {cpus, 2·cpus + 1}, gthread's
    with 4 threads (≤ 6 configs), or the sweep's."""
    cpus = max(1, cpus)
    given = sweep or {}
    knobs = knobs_of(backend)

    def values(knob: str, default: tuple[int | str, ...]) -> tuple[int, ...]:
        return tuple(int(v) for v in given.get(knob, default)) if knob in knobs else (1,)

    if "worker_class" in knobs:
        workers = values("workers", tuple(sorted({cpus, 2 * cpus + 1})))
        gthreads = tuple(int(v) for v in given.get("threads", DEFAULT_GTHREADS))
        classes = [str(c) for c in given.get("worker_class", classes_here())]
        return [Config(w, t, c) for c in classes for w in workers for t in (gthreads if c == "gthread" else (1,))]
    defaults = default_values(cpus)
    wc = fixed_class(backend)
    configs = [
        Config(w, t, wc) for w in values("workers", defaults["workers"]) for t in values("threads", defaults["threads"])
    ]
    return configs if sweep is not None else configs[:MAX_DEFAULT_CONFIGS]


def _size(sweep: Sweep) -> int:
    """The most configs ``sweep`` makes for one backend, counting only the knobs it gives."""
    w, t = len(sweep.get("workers", (1,))), len(sweep.get("threads", (1,)))
    return max(w * t, w * sum(t if c == "gthread" else 1 for c in sweep.get("worker_class", WORKER_CLASSES)))


def rule_of_thumb(backend: str, cpus: int, worker_class: str | None = None) -> tuple[Config | None, str]:
    """(the docs' starting config, the rule as said) for ``backend`` on ``cpus`` CPUs (of
    ``worker_class`` where the class is swept)."""
    cpus = max(1, cpus)
    wc = fixed_class(backend) or worker_class
    if backend.startswith("gunicorn"):
        n = 2 * cpus + 1
        return Config(
            n, 4 if wc == "gthread" else 1, wc
        ), f"gunicorn's docs: 2 × cores + 1 = {n} workers on {cpus} CPU{'s' if cpus != 1 else ''}"
    if backend.startswith("uwsgi"):
        return None, 'uWSGI\'s docs give no number ("there is no magic rule, experiment"): processes × threads'
    return None, ""


def min_processes(backend: str, configs: list[Config]) -> int:
    """The fewest processes any of ``configs`` runs (a lower bound: masters not counted)."""
    knobs = knobs_of(backend)
    return min((c.workers if "workers" in knobs else 1) for c in configs) if configs else 1
