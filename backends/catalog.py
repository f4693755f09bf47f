"""The catalog: every deployment backend as one short spec over the shared lifecycle.

Order matters: seed rows first (the table the seed blog post measured), then the others.
Each spec's `budget` says how ServerConfig.workers / .threads map onto the server's own options.
"""

from __future__ import annotations

import os
import resource
import signal
import sys
from collections.abc import Callable
from dataclasses import replace
from importlib.util import find_spec
from typing import Any

from wsgicompare.backends.apache import APACHE_MOD_WSGI
from wsgicompare.backends.appdata import STATIC_NAME
from wsgicompare.backends.php import PHP_SCRIPT, php_fpm
from wsgicompare.backends.spec import (
    WORKERS_BEHIND_ROUTER,
    WORKERS_CHILDREN,
    WORKERS_SELF,
    Backend,
    BackendError,
    Launch,
    Setup,
)
from wsgicompare.backends.workloads import ALL_WORKLOADS, DB_WORKLOADS, FRONT_WORKLOADS, STATIC_BODIES, WORKLOADS

#: the launcher module for servers without a fitting command line of their own
_SERVE = "wsgicompare.backends.apps.serve"
_PIP_HINT = "pip install -e . (installs every Python backend)"


# -- building blocks -------------------------------------------------------------------------
def _serve(setup: Setup, kind: str, *options: str, forks: bool = False) -> Launch:
    """One of our launchers; they pre-fork themselves, so the stop signal goes to the whole group.
    ``forks``: its children serve too (they are workers, not respawned); else it is one process."""
    argv = [setup.python, "-m", _SERVE, kind, "--host", setup.host, "--port", str(setup.port), "--app", setup.app]
    workers = WORKERS_CHILDREN if forks else WORKERS_SELF
    return Launch(kind, argv + list(options), signal_group=True, stop_grace_s=3.0, workers=workers)


def _gunicorn(setup: Setup, bind: str, worker_class: str, *options: str) -> Launch:
    argv = [setup.python, "-m", "gunicorn", "--bind", bind, "--workers", str(setup.config.workers)]
    argv += ["--worker-class", worker_class, *options, "--pid", setup.path("gunicorn.pid")]
    # no --access-logfile: gunicorn's access log is off unless given
    argv += ["--graceful-timeout", "3", "--log-level", "warning"]
    if find_spec("gunicorn.ctl") is not None:
        argv.append("--no-control-socket")  # gunicorn 24+: else every instance shares ~/.gunicorn/gunicorn.ctl
    # HUP: new workers (the app imported again), the old ones finish their requests
    return Launch(
        "gunicorn", argv + [setup.app], stop_grace_s=5.0, workers=WORKERS_CHILDREN, reload_signal=signal.SIGHUP
    )


def _uwsgi(setup: Setup, *listen: str) -> Launch:
    config = setup.config
    argv = [setup.exe("uwsgi"), *listen, "--master", "--processes", str(config.workers)]
    if config.threads > 1:
        argv += ["--threads", str(config.threads)]
    argv += ["--module", setup.app, "--home", sys.prefix, "--need-app", "--pidfile", setup.path("uwsgi.pid")]
    # --disable-logging: no request log; --die-on-term: SIGTERM exits instead of reloading. We stop it
    # with SIGINT anyway. The listen backlog stays uWSGI's default (100): part of what is measured.
    argv += ["--disable-logging", "--die-on-term"]
    # HUP: uWSGI's graceful reload of the master and its workers (the uWSGI docs, "Managing the uWSGI server")
    declared = dict(workers=WORKERS_CHILDREN, reload_signal=signal.SIGHUP)
    return Launch("uwsgi", argv, stop_signal=signal.SIGINT, stop_grace_s=5.0, **declared)


#: request variables nginx hands to uwsgi and FastCGI backends (as Debian's uwsgi_params/fastcgi_params)
_GATEWAY_PARAMS = (
    ("QUERY_STRING", "$query_string"),
    ("REQUEST_METHOD", "$request_method"),
    ("CONTENT_TYPE", "$content_type"),
    ("CONTENT_LENGTH", "$content_length"),
    ("REQUEST_URI", "$request_uri"),
    ("PATH_INFO", "$document_uri"),
    ("DOCUMENT_ROOT", "$document_root"),
    ("SERVER_PROTOCOL", "$server_protocol"),
    ("REMOTE_ADDR", "$remote_addr"),
    ("REMOTE_PORT", "$remote_port"),
    ("SERVER_ADDR", "$server_addr"),
    ("SERVER_PORT", "$server_port"),
    ("SERVER_NAME", "$server_name"),
)


def _params(directive: str, *extra: tuple[str, str]) -> str:
    return "\n".join(f"            {directive} {name} {value};" for name, value in (*_GATEWAY_PARAMS, *extra))


_NGINX_CONF = """\
{user}worker_processes {workers};
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
worker_rlimit_nofile {nofile};
events {{
    worker_connections {connections};
}}
http {{
    access_log off;
    client_body_temp_path {dir}/nginx-tmp/client_body;
    proxy_temp_path {dir}/nginx-tmp/proxy;
    fastcgi_temp_path {dir}/nginx-tmp/fastcgi;
    uwsgi_temp_path {dir}/nginx-tmp/uwsgi;
    scgi_temp_path {dir}/nginx-tmp/scgi;
    # nginx's default (1000) would close every loader connection each 1000 requests
    keepalive_requests 1000000;
{upstream}    server {{
        listen {bind};
        server_name localhost;
        # static-nginx: the static file from nginx itself (what the app serves as /static)
        location = /static-nginx {{ alias {dir}/{static}; default_type application/octet-stream; }}
{locations}
    }}
}}
"""


def _nginx(setup: Setup, locations: str, upstream: str = "") -> Launch:
    """nginx in the foreground, everything under the private dir; `workers` worker processes.

    As root, workers run as root too (`user root root;`): the private dir is 0700, and the workers
    must reach the unix sockets, temp paths and static files inside it.
    """
    setup.mkdir("nginx-tmp")
    # as many descriptors as the hard limit allows; a proxied connection needs two
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nofile = hard if 0 < hard < 65536 else 65536  # RLIM_INFINITY is -1
    conf = _NGINX_CONF.format(
        nofile=nofile,
        connections=max(1024, nofile // 2 - 64),
        user="user root root;\n" if os.geteuid() == 0 else "",
        workers=setup.config.workers,
        dir=setup.private_dir,
        upstream=upstream,
        bind=setup.bind,
        locations=locations,
        static=STATIC_NAME,
    )
    conf_path = setup.write("nginx.conf", conf)
    error_log = setup.path("nginx-error.log")
    argv = [setup.exe("nginx"), "-p", setup.private_dir, "-c", conf_path, "-e", error_log]
    # SIGQUIT: graceful shutdown (SIGTERM is nginx's fast one)
    # HUP: new workers with the config read again, the old ones finish their connections
    declared = dict(workers=WORKERS_CHILDREN, reload_signal=signal.SIGHUP)
    return Launch("nginx", argv, stop_signal=signal.SIGQUIT, stop_grace_s=5.0, extra_logs=(error_log,), **declared)


def _behind_nginx(
    setup: Setup, make_app_server: Callable[[Setup], Launch], locations: str, upstream: str = ""
) -> list[Launch]:
    """An app server on an internal address, then nginx on the public port in front of it."""
    return [make_app_server(setup), _nginx(setup, locations, upstream)]


def _python_module_server(setup: Setup, module: str, *options: str, **declared: Any) -> Launch:
    """A server with its own `python -m MODULE … APP` command line (``declared``: workers, reload_signal)."""
    return Launch(module, [setup.python, "-m", module, *options, setup.app], stop_grace_s=5.0, **declared)


# -- build functions -----------------------------------------------------------------------------
def _build_flask_dev(setup: Setup) -> list[Launch]:
    return [_serve(setup, "werkzeug")]


def _build_flask_threaded(setup: Setup) -> list[Launch]:
    return [_serve(setup, "werkzeug", "--threaded")]


def _build_flask_processes(setup: Setup) -> list[Launch]:
    # Werkzeug forks only when processes > 1 (1 would be flask-dev again); like PHP-FPM's pool, the
    # budget is workers × threads concurrent children
    processes = max(2, setup.config.workers * setup.config.threads)
    return [_serve(setup, "werkzeug", "--processes", str(processes))]


def _build_gunicorn(setup: Setup) -> list[Launch]:
    return [_gunicorn(setup, setup.bind, "sync")]


def _build_gunicorn_gthread(setup: Setup) -> list[Launch]:
    return [_gunicorn(setup, setup.bind, "gthread", "--threads", str(setup.config.threads))]


def _build_gunicorn_gevent(setup: Setup) -> list[Launch]:
    return [_gunicorn(setup, setup.bind, "gevent", "--worker-connections", "1000")]


def _build_gevent(setup: Setup) -> list[Launch]:
    return [_serve(setup, "gevent", "--workers", str(setup.config.workers), forks=setup.config.workers > 1)]


def _build_twisted(setup: Setup) -> list[Launch]:
    argv = [setup.exe("twistd"), "-n", "--pidfile", setup.path("twistd.pid")]  # fresh pidfile each run
    argv += ["--logger", f"{_SERVE}.twisted_errors_only"]  # drops the per-request access log
    argv += ["web", "--wsgi", setup.app.replace(":", "."), "--listen", f"tcp:{setup.port}:interface={setup.host}"]
    # twistd can hang on SIGTERM right after a load: a short grace, then the group is killed
    return [Launch("twistd", argv, stop_grace_s=3.0)]


def _build_uwsgi(setup: Setup) -> list[Launch]:
    # --http: uWSGI's own HTTP router process in front of the workers, the way uWSGI is used when
    # clients talk to it directly (--http-socket would make each worker parse HTTP itself, the
    # mode uWSGI recommends only behind a proxy)
    return [replace(_uwsgi(setup, "--http", setup.bind, "--http-keepalive"), workers=WORKERS_BEHIND_ROUTER)]


def _build_uwsgi_nginx(setup: Setup) -> list[Launch]:
    inner = f"127.0.0.1:{setup.free_port()}"
    location = f"        location / {{\n{_params('uwsgi_param')}\n            uwsgi_pass {inner};\n        }}"
    return _behind_nginx(setup, lambda s: _uwsgi(s, "--socket", inner), location)


def _build_uwsgi_nginx_unix(setup: Setup) -> list[Launch]:
    sock = setup.path("uwsgi.sock")
    location = f"        location / {{\n{_params('uwsgi_param')}\n            uwsgi_pass unix:{sock};\n        }}"
    return _behind_nginx(setup, lambda s: _uwsgi(s, "--socket", sock, "--chmod-socket=660"), location)


def _build_gunicorn_nginx(setup: Setup) -> list[Launch]:
    inner = f"127.0.0.1:{setup.free_port()}"
    # upstream keep-alive (HTTP/1.1, no "Connection: close"); sync workers still close each upstream
    # connection after a response, so it pays off only with a worker class that keeps them
    upstream = f"    upstream app {{\n        server {inner};\n        keepalive 32;\n    }}\n"
    location = (
        "        location / {\n            proxy_pass http://app;\n            proxy_http_version 1.1;\n"
        '            proxy_set_header Connection "";\n            proxy_set_header Host $host;\n        }'
    )
    return _behind_nginx(setup, lambda s: _gunicorn(s, inner, "sync"), location, upstream)


def _build_php_fpm_nginx(setup: Setup) -> list[Launch]:
    sock = setup.path("php-fpm.sock")
    extra = (("SCRIPT_FILENAME", PHP_SCRIPT), ("GATEWAY_INTERFACE", "CGI/1.1"), ("SERVER_SOFTWARE", "nginx"))
    location = (
        f"        location / {{\n{_params('fastcgi_param', *extra)}\n            fastcgi_pass unix:{sock};\n        }}"
    )
    return _behind_nginx(setup, lambda s: php_fpm(s, sock), location)


def _build_nginx_static(setup: Setup) -> list[Launch]:
    root = setup.mkdir("static")
    blocks = [f"        root {root};"]
    for name, body in STATIC_BODIES.items():
        setup.write(f"static/{name}", body, record=False)
        blocks.append(f"        location = {WORKLOADS[name].path} {{ default_type {WORKLOADS[name].content_type}; }}")
    return [_nginx(setup, "\n".join(blocks))]


def _build_tornado(setup: Setup) -> list[Launch]:
    return [_serve(setup, "tornado", "--workers", str(setup.config.workers), forks=setup.config.workers > 1)]


def _build_tornado_wsgi(setup: Setup) -> list[Launch]:
    config = setup.config
    options = ("--workers", str(config.workers), "--threads", str(config.threads))
    return [_serve(setup, "tornado-wsgi", *options, forks=config.workers > 1)]


def _build_waitress(setup: Setup) -> list[Launch]:
    threads = setup.config.workers * setup.config.threads
    return [_python_module_server(setup, "waitress", f"--listen={setup.bind}", f"--threads={threads}")]


def _build_granian(setup: Setup) -> list[Launch]:
    config = setup.config
    options = ["--interface", "wsgi", "--host", setup.host, "--port", str(setup.port)]
    options += ["--workers", str(config.workers), "--blocking-threads", str(config.threads), "--log-level", "warning"]
    # access log is off unless --access-log; HUP: granian respawns its workers gracefully
    declared = dict(workers=WORKERS_CHILDREN, reload_signal=signal.SIGHUP)
    return [_python_module_server(setup, "granian", *options, **declared)]


def _build_cheroot(setup: Setup) -> list[Launch]:
    threads = str(setup.config.workers * setup.config.threads)
    return [
        _python_module_server(setup, "cheroot", "--bind", setup.bind, "--threads", threads, "--max-threads", threads)
    ]


# -- the catalog -----------------------------------------------------------------------------------
_NGINX_HINT = "apt-get install nginx"
_FLASK = ("flask", "werkzeug")
_DYNAMIC = tuple(w for w in ALL_WORKLOADS if w not in STATIC_BODIES)
#: the backends behind nginx: every workload of the app, and the front's own
_FRONTED = (*ALL_WORKLOADS, *FRONT_WORKLOADS)
#: what the PHP reference leaves out, and why
_PHP_UNSERVED = (
    *((w, "the PHP reference has no database workloads (no SQLite driver in the PHP set-up)") for w in DB_WORKLOADS),
    ("static", "the PHP reference has no static file (its pool may run as nobody: no access to the private dir)"),
)

CATALOG: dict[str, Backend] = {
    b.id: b
    for b in (
        # seed rows
        Backend(
            "flask-dev",
            "Flask dev server (Werkzeug), one thread",
            "werkzeug",
            True,
            _build_flask_dev,
            "1 process, 1 thread (workers and threads ignored)",
            _PIP_HINT,
            modules=_FLASK,
            versions=_FLASK,
        ),
        Backend(
            "flask-threaded",
            "Flask dev server, a thread per request",
            "werkzeug",
            True,
            _build_flask_threaded,
            "1 process; Werkzeug starts a thread per request (no pool: threads ignored)",
            _PIP_HINT,
            modules=_FLASK,
            versions=_FLASK,
        ),
        Backend(
            "flask-processes",
            "Flask dev server, a process per request",
            "werkzeug",
            True,
            _build_flask_processes,
            "Werkzeug forks a process per request, at most max(2, workers × threads) at once (as PHP-FPM's pool)",
            _PIP_HINT,
            modules=_FLASK,
            versions=_FLASK,
        ),
        Backend(
            "gunicorn",
            "gunicorn, sync workers",
            "gunicorn",
            True,
            _build_gunicorn,
            "`workers` sync worker processes, one request at a time each (threads ignored)",
            "pip install gunicorn",
            modules=("gunicorn", "flask"),
            versions=("gunicorn", "flask"),
        ),
        Backend(
            "gevent",
            "gevent.pywsgi WSGIServer, monkey-patched",
            "gevent",
            True,
            _build_gevent,
            "`workers` pre-forked processes, each one gevent loop (threads ignored)",
            "pip install gevent",
            modules=("gevent", "flask"),
            versions=("gevent", "flask"),
        ),
        Backend(
            "twisted",
            "Twisted web (twistd -n web --wsgi)",
            "twisted",
            True,
            _build_twisted,
            "1 process; WSGI calls run in the reactor's thread pool (Twisted's default size)",
            "pip install twisted",
            modules=("twisted", "flask"),
            executables=("twistd",),
            versions=("twisted", "flask"),
        ),
        Backend(
            "uwsgi",
            "uWSGI with its HTTP router (--http)",
            "uwsgi",
            True,
            _build_uwsgi,
            "`workers` processes (--processes), --threads `threads` each when threads > 1",
            "pip install uwsgi",
            modules=("flask",),
            executables=("uwsgi",),
            versions=("uWSGI", "flask"),
        ),
        Backend(
            "uwsgi-nginx",
            "uWSGI (--socket TCP) behind nginx uwsgi_pass",
            "uwsgi",
            True,
            _build_uwsgi_nginx,
            "uWSGI: `workers` processes (× `threads` threads when > 1); nginx: `workers` worker processes",
            f"pip install uwsgi; {_NGINX_HINT}",
            modules=("flask",),
            executables=("uwsgi", "nginx"),
            versions=("uWSGI", "nginx", "flask"),
            workloads=_FRONTED,
        ),
        Backend(
            "uwsgi-nginx-unix",
            "uWSGI (--socket unix) behind nginx uwsgi_pass",
            "uwsgi",
            True,
            _build_uwsgi_nginx_unix,
            "uWSGI: `workers` processes (× `threads` threads when > 1); nginx: `workers` worker processes",
            f"pip install uwsgi; {_NGINX_HINT}",
            modules=("flask",),
            executables=("uwsgi", "nginx"),
            versions=("uWSGI", "nginx", "flask"),
            workloads=_FRONTED,
        ),
        Backend(
            "tornado",
            "Tornado, native handlers (no WSGI)",
            "tornado",
            True,
            _build_tornado,
            "`workers` processes (fork_processes), one IOLoop each (threads ignored)",
            "pip install tornado",
            modules=("tornado",),
            versions=("tornado",),
            serves_user_app=False,
        ),
        Backend(
            "gunicorn-nginx",
            "gunicorn sync behind nginx proxy_pass (upstream keep-alive)",
            "gunicorn",
            True,
            _build_gunicorn_nginx,
            "gunicorn: `workers` sync workers; nginx: `workers` worker processes",
            f"pip install gunicorn; {_NGINX_HINT}",
            modules=("gunicorn", "flask"),
            executables=("nginx",),
            versions=("gunicorn", "nginx", "flask"),
            workloads=_FRONTED,
        ),
        Backend(
            "php-fpm-nginx",
            "PHP-FPM behind nginx (a non-Python reference)",
            "php",
            True,
            _build_php_fpm_nginx,
            "PHP-FPM: pm=static, workers × threads children; nginx: `workers` worker processes",
            "apt-get install nginx php-fpm",
            executables=("php-fpm", "nginx"),
            versions=("php-fpm", "nginx"),
            serves_user_app=False,
            workloads=("hello", "json", "cpu", "io", "bytes", "upload", "stream", *FRONT_WORKLOADS),
            unserved=_PHP_UNSERVED,
        ),
        # beyond the seed
        Backend(
            "gunicorn-gthread",
            "gunicorn, gthread workers",
            "gunicorn",
            False,
            _build_gunicorn_gthread,
            "`workers` processes × `threads` threads",
            "pip install gunicorn",
            modules=("gunicorn", "flask"),
            versions=("gunicorn", "flask"),
        ),
        Backend(
            "gunicorn-gevent",
            "gunicorn, gevent workers",
            "gunicorn",
            False,
            _build_gunicorn_gevent,
            "`workers` processes, each a gevent loop of up to 1000 connections (threads ignored)",
            "pip install gunicorn gevent",
            modules=("gunicorn", "gevent", "flask"),
            versions=("gunicorn", "gevent", "flask"),
        ),
        Backend(
            "waitress",
            "waitress",
            "waitress",
            False,
            _build_waitress,
            "1 process (waitress has no workers); a pool of workers × threads threads",
            "pip install waitress",
            modules=("waitress", "flask"),
            versions=("waitress", "flask"),
        ),
        Backend(
            "granian",
            "Granian, WSGI interface",
            "granian",
            False,
            _build_granian,
            "`workers` processes × `threads` blocking threads",
            "pip install granian",
            modules=("granian", "flask"),
            versions=("granian", "flask"),
        ),
        Backend(
            "tornado-wsgi",
            "Tornado WSGIContainer on a thread pool",
            "tornado",
            False,
            _build_tornado_wsgi,
            "`workers` processes, each a pool of `threads` threads",
            "pip install tornado",
            modules=("tornado", "flask"),
            versions=("tornado", "flask"),
        ),
        Backend(
            "nginx-static",
            "nginx serving fixed files (the ceiling)",
            "nginx",
            False,
            _build_nginx_static,
            "`workers` nginx worker processes",
            _NGINX_HINT,
            workloads=(*STATIC_BODIES, *FRONT_WORKLOADS),
            unserved=tuple(
                (w, f"it serves only fixed files ({', '.join(STATIC_BODIES)}): no app behind it") for w in _DYNAMIC
            ),
            executables=("nginx",),
            versions=("nginx",),
            serves_user_app=False,
        ),
        Backend(
            "cheroot",
            "Cheroot (CherryPy's server)",
            "cheroot",
            False,
            _build_cheroot,
            "1 process; a pool of workers × threads threads",
            "pip install cheroot",
            modules=("cheroot", "flask"),
            versions=("cheroot", "flask"),
        ),
        APACHE_MOD_WSGI,
    )
}


def get_backend(backend_id: str) -> Backend:
    """The backend with this id; BackendError (one line) when there is none."""
    try:
        return CATALOG[backend_id]
    except KeyError:
        raise BackendError(f"unknown backend {backend_id!r} (known: {', '.join(CATALOG)})") from None


def catalog_rows() -> list[dict]:
    """One JSON-safe row per backend, for --list-backends."""
    rows = []
    for backend in CATALOG.values():
        available, missing = backend.availability()
        rows.append(
            {
                "id": backend.id,
                "title": backend.title,
                "family": backend.family,
                "seed": backend.seed,
                "available": available,
                "missing": missing,
                "hint": backend.hint,
                "workloads": list(backend.workloads),
                # why each other workload is not served (--list-backends --json)
                "unserved": {w: backend.why_not(w) for w in WORKLOADS if w not in backend.workloads},
                "budget": backend.budget,
                "serves_user_app": backend.serves_user_app,
            }
        )
    return rows
