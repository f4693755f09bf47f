"""The seed post's trap: thousands of clients against a server with a small listen
backlog (uWSGI's default is 100). Short and bounded, so they run in CI with the rest:
every request ends in one known class, the loader survives, and the report names the
limit that was hit."""

from __future__ import annotations

import pytest

from reliability_support import classified, read_json_export, run_cli
from test_reliability_faults import require


@pytest.mark.timeout(90)
@pytest.mark.parametrize("concurrency", [1000, 5000])
def test_thousands_of_clients_against_a_small_backlog_are_all_classified(tmp_path, concurrency: int) -> None:
    require("uwsgi")
    out = tmp_path / "overload.json"
    # a 1 s timeout turns the SYNs the full backlog dropped (retried after 1 s, 3 s …) into
    # connect timeouts, so there are failures to classify and not only slow answers
    done = run_cli(["--backend", "uwsgi", "-c", str(concurrency), "-d", "2", "--warmup", "0", "--timeout", "1",
                    "--workers", "1", "--threads", "1", "-o", str(out)], timeout_s=80)  # fmt: skip
    assert "Traceback" not in done.stderr, done.stderr
    run = read_json_export(str(out))["runs"][0]
    # the loader stayed alive: the run ended on its own, not with a dead or hung loader process
    assert run["status"] == "ok", (run["status"], run["reason"])
    assert done.returncode == 0, done.stderr
    assert not any("loader process" in note for note in run["loader"].get("notes", [])), run["loader"]
    classified(run)
    assert run["responses"]["2xx"] > 0
    # the limit that was hit is named: the kernel's backlog counter, or the connection errors it caused
    said = " ".join(run["verdicts"])
    assert "listen backlog" in said, run["verdicts"]
    if run["failures"]:
        assert "connection errors" in said or "2xx only" in said, run["verdicts"]
    # the loader held every connection it was asked for (its open-file limit was raised)
    assert not any("open-file" in note and "lower" in note for note in run["loader"].get("notes", [])), run["loader"]
