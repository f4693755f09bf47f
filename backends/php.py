"""PHP-FPM, the non-Python reference behind nginx (php-fpm-nginx): its pool config and launch."""

from __future__ import annotations

import os
import signal

from wsgicompare.backends.spec import WORKERS_CHILDREN, Launch, Setup

#: the PHP script every PHP-FPM child runs (the same paths and bodies as the Flask test app)
PHP_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "apps", "testapp.php")


def php_fpm(setup: Setup, socket_path: str) -> Launch:
    """PHP-FPM in the foreground on a unix socket; pm=static with workers × threads children.

    PHP workers are single-threaded, so workers × threads children give the same concurrency as a
    threaded Python backend. As root the pool runs as nobody/nogroup when the script is readable by
    everyone, else as root (-R); the socket is 0660, owned by the user nginx's workers run as.
    """
    config = setup.config
    pool_user = ""
    as_root_flag: list[str] = []
    if os.geteuid() == 0:
        if _world_readable(PHP_SCRIPT):
            pool_user = "user = nobody\ngroup = nogroup\n"
        else:
            pool_user = "user = root\ngroup = root\n"
            as_root_flag = ["-R"]
        pool_user += "listen.owner = root\nlisten.group = root\n"
    conf = (
        "[global]\n"
        f"pid = {setup.path('php-fpm.pid')}\n"
        f"error_log = {setup.path('php-fpm-error.log')}\n"
        "daemonize = no\n"
        "[bench]\n"
        f"{pool_user}"
        f"listen = {socket_path}\n"
        "listen.mode = 0660\n"
        "pm = static\n"
        f"pm.max_children = {config.workers * config.threads}\n"
        "catch_workers_output = yes\n"
    )  # no access.log: PHP-FPM writes no request log unless one is set
    conf_path = setup.write("php-fpm.conf", conf)
    argv = [setup.exe("php-fpm"), "-F", *as_root_flag, "-y", conf_path, "-p", setup.private_dir]
    declared = dict(workers=WORKERS_CHILDREN, reload_signal=signal.SIGUSR2)  # USR2: PHP-FPM's graceful reload
    logs = (setup.path("php-fpm-error.log"),)
    return Launch("php-fpm", argv, stop_signal=signal.SIGQUIT, stop_grace_s=5.0, extra_logs=logs, **declared)


def _world_readable(path: str) -> bool:
    """True when `nobody` can read `path`: o+r on the file and o+x on every directory above it."""
    try:
        if not os.stat(path).st_mode & 0o004:
            return False
        parent = os.path.dirname(path)
        while True:
            if not os.stat(parent).st_mode & 0o001:
                return False
            if parent == os.path.dirname(parent):
                return True
            parent = os.path.dirname(parent)
    except OSError:
        return False
