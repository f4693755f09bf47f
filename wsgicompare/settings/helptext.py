"""``--help``: which group each option is listed under, the examples after them, and the
formatter (rich-argparse: colours on a terminal, plain text otherwise)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wsgicompare.settings.option_row import Option

#: (title, one line on what the group is for), in --help order; each option names its
#: group in its row of the option table (option_table.OPTIONS)
GROUPS: tuple[tuple[str, str], ...] = (
    ("load", "what each run sends, and for how long"),
    ("capacity", "the highest rate each deployment serves within an SLO"),
    ("recommend", "the answer: which deployment, configured how, for this app on this budget"),
    ("scenarios", "what each deployment does when something goes wrong, mid-run"),
    ("backends", "what is measured: the catalog's backends, your own app, or a server already running"),
    ("reports", "what is written, and what makes a CI job fail (exit 3)"),
    ("app", "the terminal app (no --backend, --run-all or --url)"),
    ("cluster", "beyond one machine: the loaders, and the servers, on the nodes of a Ray cluster"),
    ("advanced", "pinning, pacing between runs, scenario files"),
)

EPILOG = """\
examples:
  wsgicompare                                     the terminal app
  wsgicompare --run-all -c 64 -d 5 --export md    every backend: markdown on stdout
  wsgicompare --backends gunicorn,uwsgi-nginx --workloads hello,cpu -o report.html
  wsgicompare --backend gunicorn --app myproject.wsgi:application --path /api/items
  wsgicompare --url http://127.0.0.1:8000/items -m POST \\
              -H 'Content-Type: application/json' --body-file item.json
  wsgicompare --run-all --find-capacity --slo p99=50ms,errors=0.1% -o out/capacity.md
  wsgicompare --backend gunicorn -o out/ci.json --fail-if 'p99>50ms' --fail-if 'errors>0.1%'
  wsgicompare --backend gunicorn -o out/new.md --baseline out/old.json \\
              --fail-if 'rps_2xx_change<-10%'
  wsgicompare --serve --serve-port 8000            the app in a browser (loopback)
  wsgicompare --backends gunicorn,flask-dev --scenario all -d 6 --rate 500 --export md
  wsgicompare --backends gunicorn,gunicorn-nginx,flask-dev --recommend -o out/answer.md
              which to deploy, tuned, and why (--sweep, --memory-budget, --require)
  wsgicompare --cluster head:6379 --server-node 10.0.0.5 --allow-remote --loader-procs 16 \
              --run-all -o out/cluster.md    loaders on a Ray cluster, the servers on one node

exit codes: 0 done, 1 nothing measured, 2 bad input, 3 a --fail-if threshold broken,
130/143 interrupted (finished runs are written)."""


def formatter(prog: str) -> argparse.HelpFormatter:
    """rich-argparse's formatter, imported only when help is printed (parsing does not
    need it). Keeps the epilog's line breaks, and reads no rich markup in help texts: a
    metavar such as [OPTIONS] or a value in brackets must print as written."""
    from rich_argparse import RawDescriptionRichHelpFormatter

    class Formatter(RawDescriptionRichHelpFormatter):
        help_markup = False
        text_markup = False

    return Formatter(prog)


def add_grouped(parser: argparse.ArgumentParser, rows: Sequence[Option]) -> None:
    """Each option of ``rows`` under its group; a group not in GROUPS is a bug here."""
    unknown = [row.name for row in rows if row.group not in {title for title, _ in GROUPS}]
    if unknown:
        raise AssertionError(f"options without a --help group: {', '.join(unknown)}")
    groups = {title: parser.add_argument_group(title, description) for title, description in GROUPS}
    for row in rows:
        groups[row.group].add_argument(*row.flags, dest=row.name.replace("-", "_"), default=None, **row.arg)
