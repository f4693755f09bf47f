"""--help: every option under one of the groups (load, capacity, backends, reports,
app, cluster, advanced), help texts with a % that print (argparse formats them with %), and an
epilog whose every example is a command line the parser accepts."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys

from wsgicompare.settings.helptext import EPILOG, GROUPS
from wsgicompare.settings.option_table import OPTIONS
from wsgicompare.settings.options import parse_options

#: the ``cli`` fixture: main(argv) in-process behind the tripwire (tests/cli_support.py)
pytest_plugins = ["cli_support"]

TITLES = ["Load", "Capacity", "Recommend", "Scenarios", "Backends", "Reports", "App", "Cluster", "Advanced"]


def test_every_option_is_in_exactly_one_group():
    titles = [title for title, _ in GROUPS]
    assert all(row.group in titles for row in OPTIONS)
    assert len({row.name for row in OPTIONS}) == len(OPTIONS)  # each option declared once
    assert [title.title() for title in titles] == TITLES


def test_help_lists_the_groups_in_order_and_the_examples(cli):
    done = cli.run(["--help"])
    assert done.code == 0 and done.err == ""
    out = done.out
    positions = [out.index(f"\n{title}:\n") for title in TITLES]
    assert positions == sorted(positions)
    for row in OPTIONS:
        assert f"--{row.name}" in out, row.name
    # percent signs in help texts print as one (escaped as %% for argparse)
    assert "errors>0.1%," in out and "%%" not in out
    assert out.rstrip().endswith("130/143 interrupted (finished runs are written).")
    assert "examples:\n  wsgicompare " in out


def test_every_example_parses():
    lines = re.sub(r"\\\n\s*", "", EPILOG).splitlines()
    # a command ends where its description, after two or more blanks, begins
    commands = [re.split(r"\s{2,}", line.strip())[0] for line in lines if line.strip().startswith("wsgicompare")]
    assert len(commands) >= 8
    for command in commands:
        # split as a shell would: an unquoted > or < is a redirection, not part of --fail-if
        lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        argv = list(lexer)[1:]
        assert not {">", "<", "|", ";", "&"} & set(argv), command
        parse_options(argv)


def test_help_through_python_m_on_a_narrow_terminal():
    """The one --help through the real entry point: exit 0, nothing on stderr."""
    env = dict(os.environ, COLUMNS="60")
    proc = subprocess.run(
        [sys.executable, "-m", "wsgicompare", "--help"], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 0 and proc.stderr == ""
    assert "Reports:" in proc.stdout and "--fail-if" in proc.stdout


def test_the_scenario_help_names_every_scenario():
    from wsgicompare.engine.scenarios import SCENARIOS

    text = next(row.arg["help"] for row in OPTIONS if row.name == "scenario")
    assert all(name in text for name in SCENARIOS), text
