"""Safety by default, checked on real processes: every backend listens on loopback only,
its private dir and files are not reachable by other users, --url refuses other hosts
before any connect, nothing passes through a shell, and a path that would break or
inject into a server config is refused before anything is launched."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tempfile

import psutil
import pytest
from backend_support import require_backend
from reliability_support import ROOT, cli_env, one_error_line

from wsgicompare.backends import BackendStartError, ServerConfig, get_backend

SERVER_CPU = max(os.sched_getaffinity(0))
#: the package's source folders (the card folders, installed as wsgicompare.*)
SOURCE_DIRS = ("backends", "loader", "wsgicompare", "tui")


def _available(backend_id: str) -> None:
    """Skip an unavailable backend; in CI, fail one the set-up should have installed (seed or not)."""
    require_backend(get_backend(backend_id))


# -- every backend: loopback only, private files ------------------------------------------------
# checked on the one start of each catalog backend in tests/test_backends.py
# (backend_support.assert_loopback_only_and_private), so no backend starts twice for it


def test_a_non_loopback_bind_is_refused_before_launching() -> None:
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    for host in ("0.0.0.0", "::", "192.0.2.1", "example.com"):
        with pytest.raises(Exception, match="not a loopback address"):
            get_backend("gunicorn").start(ServerConfig(workers=1, threads=1, host=host))
    new = {p.pid for p in psutil.Process().children(recursive=True)} - before
    assert not [p for p in new if "reaper" not in " ".join(psutil.Process(p).cmdline())]


# -- --url to another host: refused before any connect ------------------------------------------

#: runs the CLI in-process under an audit hook that records every connect and process
#: start, and aborts any connect that is not to loopback (so even a bug cannot send traffic)
AUDITED_CLI = r"""
import ipaddress, os, runpy, socket, sys
events = []
def hook(event, args):
    if event == "socket.connect":
        address = args[1]
        host = address[0] if isinstance(address, tuple) else None
        events.append(f"connect {address!r}")
        if host is not None:
            try:
                loop = ipaddress.ip_address(host).is_loopback
            except ValueError:
                loop = False
            if not loop:
                os.write(2, f"AUDIT: refused connect to {address!r}\n".encode())
                os._exit(99)
    elif event in ("subprocess.Popen", "os.posix_spawn", "os.fork", "os.exec", "os.system"):
        events.append(f"{event} {str(args)[:80]}")
    elif event == "socket.getaddrinfo":
        events.append(f"resolve {args[0]!r}")
sys.addaudithook(hook)
sys.argv = ["wsgicompare", *sys.argv[1:]]
try:
    runpy.run_module("wsgicompare", run_name="__main__")
finally:
    with open(os.environ["AUDIT_LOG"], "w") as f:
        f.write("\n".join(events))
"""


@pytest.mark.parametrize(
    "url",
    [
        "http://192.0.2.1/",  # TEST-NET-1: never routed anyway
        "http://10.0.0.1:8080/hello",
        "http://[2001:db8::1]:80/",
        "http://[::ffff:10.0.0.1]/",  # an IPv4-mapped address that is not loopback
        "http://127.0.0.1@10.0.0.1/",  # userinfo trick: the host is 10.0.0.1
        "http://localhost.example/",
        "http://0.0.0.0:80/",
    ],
)
def test_url_to_another_host_is_refused_before_any_connect_or_process(tmp_path, url) -> None:
    log = tmp_path / "audit.log"
    done = subprocess.run(
        [sys.executable, "-c", AUDITED_CLI, "--url", url, "-d", "1", "--warmup", "0", "-c", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=cli_env(AUDIT_LOG=str(log)),
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2, done.stderr
    line = one_error_line(done.stderr)
    # the userinfo trick is refused as user info before its host is even looked at
    assert "not a loopback address (use --allow-remote to load another host)" in line or (
        "@" in url and "must not hold user info" in line
    ), line
    events = log.read_text().splitlines()
    assert not [e for e in events if e.startswith(("connect", "resolve", "subprocess", "os."))], events


def test_allow_remote_only_goes_with_url() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "wsgicompare", "--backend", "gunicorn", "--allow-remote"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=cli_env(),
    )
    assert done.returncode == 2
    assert "--allow-remote only applies to --url" in one_error_line(done.stderr)


# -- no shell anywhere ---------------------------------------------------------------------------


def _source_files() -> list[str]:
    files = []
    for folder in SOURCE_DIRS:
        for dirpath, _, names in os.walk(os.path.join(ROOT, folder)):
            files += [os.path.join(dirpath, n) for n in names if n.endswith(".py")]
    assert len(files) > 20
    return files


_SHELL_CALLS = {
    ("os", "system"),
    ("os", "popen"),
    ("subprocess", "getoutput"),
    ("subprocess", "getstatusoutput"),
    ("asyncio", "create_subprocess_shell"),
    ("os", "execlp"),
    ("os", "spawnlp"),
}
_SPAWN_CALLS = {"Popen", "run", "call", "check_call", "check_output"}


def test_nothing_is_passed_through_a_shell() -> None:
    """Every process is started from an argv list: no shell=True, no os.system/popen, no
    command given as one string (which would need a shell to split it)."""
    found = []
    for path in _source_files():
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            where = f"{os.path.relpath(path, ROOT)}:{node.lineno}"
            for kw in node.keywords:
                if kw.arg == "shell" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                    found.append(f"{where} shell={ast.unparse(kw.value)}")
            func = node.func
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
                if (func.value.id, func.attr) in _SHELL_CALLS:
                    found.append(f"{where} {func.value.id}.{func.attr}()")
                if func.value.id == "subprocess" and func.attr in _SPAWN_CALLS and node.args:
                    first = node.args[0]
                    if isinstance(first, (ast.Constant, ast.JoinedStr, ast.BinOp)):
                        found.append(f"{where} subprocess.{func.attr}({ast.unparse(first)[:40]}) is one string")
    assert found == []


def test_config_values_never_reach_a_shell_even_when_they_look_like_commands(tmp_path) -> None:
    """A --save-config scenario with shell metacharacters in every free-text field reads back
    as the same text, and running it starts nothing that a shell would have expanded."""
    marker = tmp_path / "pwned"  # what a shell would create, run in tmp_path
    out = tmp_path / "r$(touch pwned);`touch pwned`|touch pwned&.md"
    scenario = tmp_path / "s.toml"
    scenario.write_text(f'backend = "gunicorn"\nduration = "1s"\nwarmup = 0\nconcurrency = 2\noutput = "{out}"\n')
    done = subprocess.run(
        [sys.executable, "-m", "wsgicompare", "--config", str(scenario)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(tmp_path),
        env=cli_env(),
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    assert out.exists()  # the odd name is just a file name
    assert not marker.exists()


# -- paths that would inject into server configs ----------------------------------------------------


@pytest.mark.parametrize("evil", ["evil dir", "x;y", "brace}", "new\nline", "quote'd", "hash#x"])
@pytest.mark.parametrize("backend_id", ["nginx-static", "uwsgi-nginx-unix"])
def test_temp_dir_that_would_inject_into_a_config_is_refused_before_launch(
    tmp_path, monkeypatch, evil, backend_id
) -> None:
    _available(backend_id)
    base = tmp_path / evil
    base.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(base))
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    with pytest.raises(BackendStartError, match="cannot go into a server config") as info:
        get_backend(backend_id).start(ServerConfig(workers=1, threads=1))
    assert "\n" not in str(info.value)
    assert list(base.iterdir()) == []  # no private dir, no config written
    new = {p.pid for p in psutil.Process().children(recursive=True)} - before
    assert not [p for p in new if "reaper" not in " ".join(psutil.Process(p).cmdline())]
