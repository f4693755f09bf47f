"""The yardsticks that are not Python: PHP-FPM behind nginx, and nginx serving fixed files (the ceiling)."""

from __future__ import annotations

from wsgicompare.backends.catalog.nginx import NGINX_HINT, behind_nginx, nginx, params
from wsgicompare.backends.php import PHP_SCRIPT, php_fpm
from wsgicompare.backends.spec import Backend, Launch, Setup
from wsgicompare.backends.workloads import ALL_WORKLOADS, DB_WORKLOADS, FRONT_WORKLOADS, STATIC_BODIES, WORKLOADS

_DYNAMIC = tuple(w for w in ALL_WORKLOADS if w not in STATIC_BODIES)
#: what the PHP reference leaves out, and why
_PHP_UNSERVED = (
    *((w, "the PHP reference has no database workloads (no SQLite driver in the PHP set-up)") for w in DB_WORKLOADS),
    ("static", "the PHP reference has no static file (its pool may run as nobody: no access to the private dir)"),
)


def _build_php_fpm_nginx(setup: Setup) -> list[Launch]:
    sock = setup.path("php-fpm.sock")
    extra = (("SCRIPT_FILENAME", PHP_SCRIPT), ("GATEWAY_INTERFACE", "CGI/1.1"), ("SERVER_SOFTWARE", "nginx"))
    location = (
        f"        location / {{\n{params('fastcgi_param', *extra)}\n            fastcgi_pass unix:{sock};\n        }}"
    )
    return behind_nginx(setup, lambda s: php_fpm(s, sock), location)


def _build_nginx_static(setup: Setup) -> list[Launch]:
    root = setup.mkdir("static")
    blocks = [f"        root {root};"]
    for name, body in STATIC_BODIES.items():
        setup.write(f"static/{name}", body, record=False)
        blocks.append(f"        location = {WORKLOADS[name].path} {{ default_type {WORKLOADS[name].content_type}; }}")
    return [nginx(setup, "\n".join(blocks))]


PHP_FPM_NGINX = Backend(
    id="php-fpm-nginx",
    title="PHP-FPM behind nginx (a non-Python reference)",
    family="php",
    seed=True,
    build=_build_php_fpm_nginx,
    budget="PHP-FPM: pm=static, workers × threads children; nginx: `workers` worker processes",
    hint="apt-get install nginx php-fpm",
    executables=("php-fpm", "nginx"),
    versions=("php-fpm", "nginx"),
    serves_user_app=False,
    workloads=("hello", "json", "cpu", "io", "bytes", "upload", "stream", *FRONT_WORKLOADS),
    unserved=_PHP_UNSERVED,
)
NGINX_STATIC = Backend(
    id="nginx-static",
    title="nginx serving fixed files (the ceiling)",
    family="nginx",
    seed=False,
    build=_build_nginx_static,
    budget="`workers` nginx worker processes",
    hint=NGINX_HINT,
    workloads=(*STATIC_BODIES, *FRONT_WORKLOADS),
    unserved=tuple((w, f"it serves only fixed files ({', '.join(STATIC_BODIES)}): no app behind it") for w in _DYNAMIC),
    executables=("nginx",),
    versions=("nginx",),
    serves_user_app=False,
)
