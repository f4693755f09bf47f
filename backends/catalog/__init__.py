"""The catalog: every deployment backend as one short spec over the shared lifecycle, one module per family.

    werkzeug      flask-dev, flask-threaded, flask-processes (the Flask dev server)
    gunicorn      gunicorn, gunicorn-gthread, gunicorn-gevent
    uwsgi         uwsgi (its own HTTP router)
    nginx         nginx's config and launch; the app servers behind it: uwsgi-nginx, uwsgi-nginx-unix, gunicorn-nginx
    event_loop    the async frameworks: gevent, twisted, tornado, tornado-wsgi
    thread_pool   the plain WSGI servers with a thread pool: waitress, granian, cheroot
    references    the yardsticks that are not Python: php-fpm-nginx, nginx-static
    apache        apache-mod-wsgi (mod_wsgi-express)
    common        what they share: our launcher, a `python -m MODULE` server, the pip hint

Order matters (--list-backends, the app's table): seed rows first (the table the seed blog post
measured), then the others. Each spec's `budget` says how ServerConfig.workers / .threads map onto
the server's own options.
"""

from __future__ import annotations

from wsgicompare.backends.catalog.apache import APACHE_MOD_WSGI
from wsgicompare.backends.catalog.event_loop import GEVENT, TORNADO, TORNADO_WSGI, TWISTED
from wsgicompare.backends.catalog.gunicorn import GUNICORN, GUNICORN_GEVENT, GUNICORN_GTHREAD
from wsgicompare.backends.catalog.nginx import GUNICORN_NGINX, UWSGI_NGINX, UWSGI_NGINX_UNIX
from wsgicompare.backends.catalog.references import NGINX_STATIC, PHP_FPM_NGINX
from wsgicompare.backends.catalog.thread_pool import CHEROOT, GRANIAN, WAITRESS
from wsgicompare.backends.catalog.uwsgi import UWSGI
from wsgicompare.backends.catalog.werkzeug import FLASK_DEV, FLASK_PROCESSES, FLASK_THREADED
from wsgicompare.backends.spec import Backend, BackendError
from wsgicompare.backends.workloads import WORKLOADS

CATALOG: dict[str, Backend] = {
    b.id: b
    for b in (
        # seed rows
        FLASK_DEV,
        FLASK_THREADED,
        FLASK_PROCESSES,
        GUNICORN,
        GEVENT,
        TWISTED,
        UWSGI,
        UWSGI_NGINX,
        UWSGI_NGINX_UNIX,
        TORNADO,
        GUNICORN_NGINX,
        PHP_FPM_NGINX,
        # beyond the seed
        GUNICORN_GTHREAD,
        GUNICORN_GEVENT,
        WAITRESS,
        GRANIAN,
        TORNADO_WSGI,
        NGINX_STATIC,
        CHEROOT,
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
