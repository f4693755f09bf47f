#!/usr/bin/env bash
# One entry point for a fresh Debian machine with only Python 3.11+ and pip:
#   ./bootstrap.sh run  [wsgicompare options]   set up, then open wsgicompare
#   ./bootstrap.sh test [pytest options]        set up, then ruff, mypy, the docs site (strict) and the test suite
#   ./bootstrap.sh setup                        set up only
#   ./bootstrap.sh lock                         refresh constraints.txt from pyproject.toml's ranges
# Set-up = a virtualenv in .venv with wsgicompare and every backend installed
# (uWSGI compiles from source: needs a C compiler and the Python headers), plus
# nginx, php-fpm and postgresql from apt-get when running as root (otherwise a one-line hint).
# Apache's apache2-bin and apache2-dev too: then pip builds mod_wsgi (the `apache` extra).
# Python packages install at the versions pinned in constraints.txt (the ones the suite
# passed with), so a new release of Textual or Ray changes nothing until `lock` is run.
set -euo pipefail
cd "$(dirname "$0")"

VENV="${WSGICOMPARE_VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
LOCK="constraints.txt"

is_root() { [ "$(id -u)" = 0 ]; }
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }

APT_UPDATED=
apt_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "bootstrap: please install: $* (no apt-get here)" >&2
        return 1
    fi
    if [ -z "$APT_UPDATED" ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq || return 1
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

system_packages() {
    local want=()
    have nginx || want+=(nginx)
    # --database postgres: initdb and postgres (Debian keeps them in /usr/lib/postgresql/N/bin), libpq for psycopg
    { have initdb || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; } || want+=(postgresql)
    compgen -G "/usr/sbin/php-fpm*" >/dev/null || have php-fpm || want+=(php-fpm)
    # Apache + mod_wsgi: pip compiles mod_wsgi against Apache's apxs (apache2-dev)
    { have apache2 && have apxs; } || want+=(apache2-bin apache2-dev)
    # uWSGI is built by pip from its sdist: it needs cc and Python.h.
    have cc || want+=(gcc libc6-dev)
    "$PYTHON" - <<'PY' || want+=(python3-dev)
import os, sys, sysconfig
sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")) else 1)
PY
    [ ${#want[@]} -eq 0 ] && return 0
    if is_root; then
        echo "bootstrap: apt-get install ${want[*]}" >&2
        # offline or a broken mirror: say so and go on; what is missing shows later
        # as an unavailable backend (nginx, php-fpm) or a failed uWSGI build
        apt_install "${want[@]}" || echo "bootstrap: apt-get install ${want[*]} failed; going on without" >&2
    else
        echo "bootstrap: missing system packages: ${want[*]} — run 'sudo apt-get install ${want[*]}' (or this script as root)." >&2
        echo "bootstrap: without nginx/php-fpm/apache2 those backends show as unavailable (without postgresql, --database postgres); without gcc/libc6-dev/python3-dev uWSGI (a required dependency) cannot be built and set-up stops" >&2
    fi
}

test_packages() {
    # the browser mode's test drives Debian's Chromium (tests/test_serve.py)
    [ -x /usr/bin/chromium ] && return 0
    if is_root; then
        echo "bootstrap: apt-get install chromium (for the browser test)" >&2
        apt_install chromium || echo "bootstrap: apt-get install chromium failed; the browser test will say so" >&2
    else
        echo "bootstrap: no /usr/bin/chromium: the browser test skips ('sudo apt-get install chromium' to run it)" >&2
    fi
}

python_env() {
    # a venv left half-made by a failed first try (no pip in it) is made again
    if [ -x "$VENV/bin/python" ] && ! "$VENV/bin/python" -c 'import pip' 2>/dev/null; then
        echo "bootstrap: $VENV has no pip (a failed earlier set-up?): making it again" >&2
        rm -rf "$VENV"
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        # Debian's own python3 makes venvs only with python3-venv installed (its
        # ensurepip imports, but refuses to run): try, then install it and retry.
        if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
            rm -rf "$VENV"
            if is_root; then
                apt_install python3-venv
                "$PYTHON" -m venv "$VENV"
            else
                echo "bootstrap: '$PYTHON -m venv' failed: run 'sudo apt-get install python3-venv' and try again" >&2
                exit 1
            fi
        fi
    fi
    local stamp="$VENV/.wsgicompare-installed"
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ "$LOCK" -nt "$stamp" ]; then
        "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
        # the cluster extra (Ray, for --cluster) too: its tests run with the suite;
        # the docs extra (MkDocs, Material): the test command builds the site
        "$VENV/bin/python" -m pip install -q -c "$LOCK" -e '.[test,cluster,docs]' \
            || { echo "bootstrap: installing wsgicompare into $VENV failed" >&2; exit 1; }
        touch "$stamp"
    fi
    # the project's own modules, byte-compiled (a no-op when up to date): installed editable,
    # they are imported from this tree, and where PYTHONDONTWRITEBYTECODE is set (as in many
    # containers) every process — each loader process, each run of the CLI — compiled them
    # again: ~0.2 s of CPU each, hundreds of times in the test suite
    "$VENV/bin/python" -m compileall -q wsgicompare backends loader tui >/dev/null
    # mod_wsgi (apache-mod-wsgi) only builds once apt-get brought apxs; a failed build leaves that backend unavailable
    if have apxs && ! "$VENV/bin/python" -c 'import mod_wsgi' 2>/dev/null; then
        "$VENV/bin/python" -m pip install -q -c "$LOCK" -e '.[apache]' \
            || echo "bootstrap: building mod_wsgi against apxs failed; apache-mod-wsgi shows as unavailable" >&2
    fi
}

lock() {
    # a throwaway venv installed from pyproject.toml's ranges alone (no constraints), frozen
    local tmp
    tmp="$(mktemp -d)"
    # expanded now: the trap runs at exit, after this function's local $tmp is gone (set -u)
    trap "rm -rf '$tmp'" EXIT
    "$PYTHON" -m venv "$tmp/venv"
    "$tmp/venv/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
    "$tmp/venv/bin/python" -m pip install -q '.[test,cluster,docs]'
    if have apxs; then "$tmp/venv/bin/python" -m pip install -q '.[apache]'; fi
    {
        sed -n '1,/^[^#]/p' "$LOCK" | grep '^#'
        "$tmp/venv/bin/python" -m pip freeze --exclude-editable | grep -iv '^wsgicompare\b'
    } >"$tmp/lock"
    mv "$tmp/lock" "$LOCK"
    echo "bootstrap: $LOCK refreshed ($(grep -vc '^#' "$LOCK") packages); run ./bootstrap.sh test before committing it" >&2
}

cmd="${1:-run}"
shift || true
case "$cmd" in
    lock)
        lock
        ;;
    setup)
        system_packages
        python_env
        ;;
    run)
        system_packages
        python_env
        exec "$VENV/bin/wsgicompare" "$@"
        ;;
    test)
        system_packages
        test_packages
        python_env
        # lint, format and types first: CI enforces them with the suite
        "$VENV/bin/python" -m ruff check .
        "$VENV/bin/python" -m ruff format --check .
        "$VENV/bin/python" -m mypy
        # the documentation site (mkdocs.yml, docs/ and README.md as its front page), strict:
        # a broken link or anchor, or a page left out of the nav, fails the test command.
        # Not --quiet: it hides the warnings that --strict counts. Built into a temp dir.
        site="$(mktemp -d)"
        NO_MKDOCS_2_WARNING=1 "$VENV/bin/python" -m mkdocs build --strict --site-dir "$site" \
            || { rm -rf "$site"; echo "bootstrap: the documentation site does not build (mkdocs build --strict)" >&2; exit 1; }
        rm -rf "$site"
        set +e
        # pytest caches its assertion-rewritten test modules as bytecode, and the servers and
        # loaders the tests start cache what they import, unless PYTHONDONTWRITEBYTECODE is
        # set: then each of the three workers rewrote every test module again (collection
        # 4.5 s of CPU instead of 2 s, per worker), and each server compiled the test apps
        env -u PYTHONDONTWRITEBYTECODE "$VENV/bin/python" -m pytest "$@"
        rc=$?
        set -e
        if [ $rc -eq 5 ]; then
            echo "bootstrap: pytest collected no tests — that is a failure here" >&2
            exit 1
        fi
        exit $rc
        ;;
    *)
        echo "usage: ./bootstrap.sh run|test|setup|lock [options]" >&2
        exit 2
        ;;
esac
