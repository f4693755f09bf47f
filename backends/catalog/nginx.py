"""nginx: its config and launch, and the Python app servers behind it (uwsgi_pass, proxy_pass).

The references that use nginx too (php-fpm-nginx, nginx-static) are in references.py.
"""

from __future__ import annotations

import os
import resource
import signal
from collections.abc import Callable

from wsgicompare.backends.appdata import STATIC_NAME
from wsgicompare.backends.catalog.gunicorn import gunicorn
from wsgicompare.backends.catalog.uwsgi import uwsgi
from wsgicompare.backends.spec import WORKERS_CHILDREN, Backend, Launch, Setup
from wsgicompare.backends.workloads import ALL_WORKLOADS, FRONT_WORKLOADS

NGINX_HINT = "apt-get install nginx"
#: the backends behind nginx: every workload of the app, and the front's own
_FRONTED = (*ALL_WORKLOADS, *FRONT_WORKLOADS)

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


def params(directive: str, *extra: tuple[str, str]) -> str:
    """The gateway's request variables as ``directive`` lines (uwsgi_param, fastcgi_param), then ``extra``."""
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


def nginx(setup: Setup, locations: str, upstream: str = "") -> Launch:
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


def behind_nginx(
    setup: Setup, make_app_server: Callable[[Setup], Launch], locations: str, upstream: str = ""
) -> list[Launch]:
    """An app server on an internal address, then nginx on the public port in front of it."""
    return [make_app_server(setup), nginx(setup, locations, upstream)]


def _build_uwsgi_nginx(setup: Setup) -> list[Launch]:
    inner = f"127.0.0.1:{setup.free_port()}"
    location = f"        location / {{\n{params('uwsgi_param')}\n            uwsgi_pass {inner};\n        }}"
    return behind_nginx(setup, lambda s: uwsgi(s, "--socket", inner), location)


def _build_uwsgi_nginx_unix(setup: Setup) -> list[Launch]:
    sock = setup.path("uwsgi.sock")
    location = f"        location / {{\n{params('uwsgi_param')}\n            uwsgi_pass unix:{sock};\n        }}"
    return behind_nginx(setup, lambda s: uwsgi(s, "--socket", sock, "--chmod-socket=660"), location)


def _build_gunicorn_nginx(setup: Setup) -> list[Launch]:
    inner = f"127.0.0.1:{setup.free_port()}"
    # upstream keep-alive (HTTP/1.1, no "Connection: close"); sync workers still close each upstream
    # connection after a response, so it pays off only with a worker class that keeps them
    upstream = f"    upstream app {{\n        server {inner};\n        keepalive 32;\n    }}\n"
    location = (
        "        location / {\n            proxy_pass http://app;\n            proxy_http_version 1.1;\n"
        '            proxy_set_header Connection "";\n            proxy_set_header Host $host;\n        }'
    )
    return behind_nginx(setup, lambda s: gunicorn(s, inner, s.config.worker_class or "sync"), location, upstream)


UWSGI_NGINX = Backend(
    id="uwsgi-nginx",
    title="uWSGI (--socket TCP) behind nginx uwsgi_pass",
    family="uwsgi",
    seed=True,
    build=_build_uwsgi_nginx,
    budget="uWSGI: `workers` processes (× `threads` threads when > 1); nginx: `workers` worker processes",
    hint=f"pip install uwsgi; {NGINX_HINT}",
    modules=("flask",),
    executables=("uwsgi", "nginx"),
    versions=("uWSGI", "nginx", "flask"),
    workloads=_FRONTED,
)
UWSGI_NGINX_UNIX = Backend(
    id="uwsgi-nginx-unix",
    title="uWSGI (--socket unix) behind nginx uwsgi_pass",
    family="uwsgi",
    seed=True,
    build=_build_uwsgi_nginx_unix,
    budget="uWSGI: `workers` processes (× `threads` threads when > 1); nginx: `workers` worker processes",
    hint=f"pip install uwsgi; {NGINX_HINT}",
    modules=("flask",),
    executables=("uwsgi", "nginx"),
    versions=("uWSGI", "nginx", "flask"),
    workloads=_FRONTED,
)
GUNICORN_NGINX = Backend(
    id="gunicorn-nginx",
    title="gunicorn sync behind nginx proxy_pass (upstream keep-alive)",
    family="gunicorn",
    seed=True,
    build=_build_gunicorn_nginx,
    budget="gunicorn: `workers` sync workers (--recommend also sweeps gthread and gevent); nginx: `workers` worker processes",
    hint=f"pip install gunicorn; {NGINX_HINT}",
    modules=("gunicorn", "flask"),
    executables=("nginx",),
    versions=("gunicorn", "nginx", "flask"),
    workloads=_FRONTED,
)
