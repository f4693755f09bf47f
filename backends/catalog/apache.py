"""Apache httpd + mod_wsgi in daemon mode, started through pip's mod_wsgi-express: one backend spec.

mod_wsgi-express renders a whole httpd.conf (event MPM, a mod_wsgi daemon process group, keep-alive
on, no access log) into a server root inside the private dir and execs Apache in the foreground,
so the launched process is the Apache master itself: pinned, in its own process group, stopped
with SIGTERM (Apache's "stop": the master ends its children and the mod_wsgi daemons, then exits;
SIGHUP and SIGUSR1 would restart it, SIGWINCH is the graceful stop that waits for every request).

pip can build mod_wsgi only against an Apache with its development files (apxs): on Debian
apache2-bin and apache2-dev, which ./bootstrap.sh installs with apt-get as root, and then the
`apache` extra (pip install -e '.[apache]').

As root: Apache will not serve as root and mod_wsgi will not run its daemons as root, while an
unprivileged user may be unable to read this Python (here it lives under /root, mode 0700). So
as root the server runs in a user namespace of its own (`unshare --user`), as `nobody` inside
it: no capability outside the namespace, and the file access of the user who started it, as
nginx's workers run as root here (`user root root;`).
"""

from __future__ import annotations

import grp
import os
import pwd
import signal
import subprocess

from wsgicompare.backends.spec import WORKERS_BEHIND_ROUTER, Backend, BackendStartError, Launch, Setup

#: seconds mod_wsgi-express may take to render the config (build time, not counted in startup_s)
_SETUP_TIMEOUT_S = 30.0
#: the user a root-started server is inside its user namespace
_NAMESPACE_USER = "nobody"


def _namespace(setup: Setup) -> tuple[list[str], list[str]]:
    """(argv prefix, mod_wsgi-express options) that run the server as an unprivileged user when we are root."""
    if os.geteuid() != 0:
        return [], []  # Apache started by a normal user serves as that user; nothing to switch
    try:
        user = pwd.getpwnam(_NAMESPACE_USER)
        group = grp.getgrgid(user.pw_gid).gr_name
    except KeyError:
        raise BackendStartError(f"no user {_NAMESPACE_USER!r} to run Apache as (it refuses to serve as root)") from None
    prefix = [setup.exe("unshare"), "--user", f"--map-user={user.pw_uid}", f"--map-group={user.pw_gid}"]
    return prefix, ["--user", user.pw_name, "--group", group]


def _build_apache_mod_wsgi(setup: Setup) -> list[Launch]:
    config = setup.config
    if ":" in setup.host:
        # --host ::1 is read as a port, --host [::1] makes an invalid ServerName (mod_wsgi 6.1)
        raise BackendStartError("apache-mod-wsgi: mod_wsgi-express cannot listen on an IPv6 address; use 127.0.0.1")
    module, _, attr = setup.app.partition(":")
    server_root = setup.path("apache")
    prefix, user_options = _namespace(setup)
    options = ["--server-root", server_root, "--host", setup.host, "--port", str(setup.port)]
    options += ["--application-type", "module", "--entry-point", module, "--callable-object", attr]
    # the budget: one daemon process group of `workers` processes × `threads` threads (the WSGI side);
    # Apache's event MPM in front gets mod_wsgi-express's default, 10 + max(10, 1.5 × that) request slots
    options += ["--processes", str(config.workers), "--threads", str(config.threads), "--server-mpm", "event"]
    # no --access-log: mod_wsgi-express writes no request log unless asked; errors go to our log file
    options += ["--log-to-terminal", "--log-level", "warn", "--locale", "C.UTF-8", *user_options]
    express = setup.exe("mod_wsgi-express")
    _render_config(setup, [*prefix, express, "setup-server", *options])
    argv = [*prefix, express, "start-server", *options]
    # the workers (what worker-kill kills) are the processes that run the app: the mod_wsgi
    # daemons, children of the Apache master that hold no listener. The master's other
    # children, the event MPM's, hold the public port and only pass requests to the daemons.
    launch = Launch("apache", argv, stop_signal=signal.SIGTERM, stop_grace_s=5.0, workers=WORKERS_BEHIND_ROUTER)
    return [launch]


def _render_config(setup: Setup, argv: list[str]) -> None:
    """Run `mod_wsgi-express setup-server` with the same options, to record the httpd.conf it renders.

    start-server renders the same files again before it execs Apache; a bad option fails here, in one line.
    """
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=_SETUP_TIMEOUT_S, cwd=setup.private_dir, umask=0o077
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackendStartError(f"mod_wsgi-express setup-server failed: {exc}") from None
    if done.returncode != 0:
        last = next((line for line in reversed((done.stderr + done.stdout).splitlines()) if line.strip()), "")
        raise BackendStartError(f"mod_wsgi-express setup-server exited with code {done.returncode}: {last[:300]}")
    try:
        with open(os.path.join(setup.path("apache"), "httpd.conf"), errors="replace") as conf:
            setup.files["apache/httpd.conf"] = conf.read()
    except OSError:
        pass  # start-server renders it again and fails with its own message


APACHE_MOD_WSGI = Backend(
    id="apache-mod-wsgi",
    title="Apache httpd + mod_wsgi daemon mode (mod_wsgi-express)",
    family="apache",
    seed=False,
    build=_build_apache_mod_wsgi,
    budget="mod_wsgi daemon: `workers` processes × `threads` threads; Apache event MPM in front: 10 + max(10, 1.5 × that) slots",
    hint="apt-get install apache2-bin apache2-dev, then pip install -e '.[apache]' (./bootstrap.sh setup does both as root)",
    modules=("mod_wsgi", "flask"),
    executables=("mod_wsgi-express",),
    versions=("apache2", "mod_wsgi", "flask"),
)
