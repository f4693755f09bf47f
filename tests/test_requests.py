"""Requests other than a bare GET (-m/--method, -H/--header, --body, --body-file), for
--url and --app: the request is built once with its Content-Length; a server that
records what it received sees the method, every header and the body on every request,
on keep-alive connections and with --no-keepalive; HEAD responses (headers only) end at
their headers; bad input is one line and exit 2 before anything starts."""

from __future__ import annotations

import json
import os

import pytest
from backend_support import require_backend
from recording_server import BODY, HEAD_LINES, RecordingServer

from wsgicompare.backends import get_backend
from wsgicompare.cli import main
from wsgicompare.engine.request import parse_header, request_fields
from wsgicompare.loader import LoadProfile, build_request, run_load
from wsgicompare.loader.profile import MAX_BODY_BYTES, LoadProfileError
from wsgicompare.settings.config_file import dump_toml, to_config
from wsgicompare.settings.options import OptionError, parse_options

#: the ``cli`` fixture: main(argv) in-process behind the tripwire (tests/cli_support.py)
pytest_plugins = ["cli_support"]

URL = "http://127.0.0.1:8000/api/items?page=2"

# -- the request bytes ---------------------------------------------------------------------------


def test_the_default_request_is_unchanged():
    assert build_request(LoadProfile(url=URL)) == (
        b"GET /api/items?page=2 HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nUser-Agent: wsgicompare-loader\r\n"
        b"Accept: */*\r\n\r\n"
    )


def test_method_headers_and_body_are_encoded_once_with_a_content_length():
    profile = LoadProfile(
        url=URL,
        method="POST",
        headers=(("Content-Type", "application/json"), ("X-Token", "a b;c")),
        body=b'{"n": 1}',
        keepalive=False,
    )
    assert build_request(profile) == (
        b"POST /api/items?page=2 HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nUser-Agent: wsgicompare-loader\r\n"
        b"Accept: */*\r\nConnection: close\r\nContent-Type: application/json\r\nX-Token: a b;c\r\n"
        b'Content-Length: 8\r\n\r\n{"n": 1}'
    )


def test_given_host_user_agent_and_accept_replace_the_loaders_own():
    headers = (("host", "example.test"), ("User-Agent", "ci/1"), ("ACCEPT", "text/html"))
    request = build_request(LoadProfile(url=URL, headers=headers)).decode()
    assert request.count("ost:") == 1 and "host: example.test\r\n" in request
    assert "wsgicompare-loader" not in request and "*/*" not in request


@pytest.mark.parametrize(
    "method, body, length",
    [("GET", b"", None), ("DELETE", b"", None), ("POST", b"", "0"), ("PUT", b"", "0"), ("PATCH", b"x", "1")],
)
def test_content_length_for_bodies_and_the_methods_that_mean_one(method, body, length):
    request = build_request(LoadProfile(url=URL, method=method, body=body))
    lengths = [line for line in request.split(b"\r\n") if line.startswith(b"Content-Length:")]
    assert lengths == ([] if length is None else [f"Content-Length: {length}".encode()])


@pytest.mark.parametrize(
    "fields, needle",
    [
        ({"method": "GE T"}, "--method must be an HTTP method"),
        ({"method": ""}, "--method must be an HTTP method"),
        ({"method": "CONNECT"}, "opens a tunnel"),
        ({"body": b"x" * (MAX_BODY_BYTES + 1)}, "--body must be at most 1048576 bytes"),
        ({"method": "HEAD", "body": b"x"}, "HEAD sends no body"),
        ({"headers": (("X-A", "b\r\nEvil: 1"),)}, "not a valid header name"),
        ({"headers": (("X A", "b"),)}, "not a valid header name"),
        ({"headers": (("X-A", "€"),)}, "Latin-1"),
        ({"headers": (("X-A", "v" * 9000),)}, "at most 8192"),
        ({"headers": (("Content-Length", "5"),)}, "sets Content-Length"),
        ({"headers": (("transfer-encoding", "chunked"),)}, "sets Content-Length"),
        ({"headers": (("Connection", "close"),)}, "--no-keepalive"),
        ({"headers": (("Expect", "100-continue"),)}, "Expect would break that"),
        ({"headers": tuple((f"X-{i}", "v") for i in range(101))}, "at most 100"),
    ],
)
def test_a_request_the_loader_cannot_send_is_refused(fields, needle):
    with pytest.raises(LoadProfileError) as info:
        LoadProfile(url=URL, **fields).validate()
    assert needle in str(info.value) and "\n" not in str(info.value)


# -- options -------------------------------------------------------------------------------------


def test_header_text_and_method_spelling():
    assert parse_header("X-Token:  abc def ") == ("X-Token", "abc def")
    assert parse_header("Cookie: a=b: c") == ("Cookie", "a=b: c")
    assert parse_header("X-Empty:") == ("X-Empty", "")
    for bad in ("no colon", ": value", " X-A: b", "X-A : b"):
        with pytest.raises(OptionError):
            parse_header(bad)
    o = parse_options(["--url", URL, "-m", "post", "-H", "X-A: 1", "-H", "X-B: 2"])
    assert o.method == "POST" and o.headers == [("X-A", "1"), ("X-B", "2")]
    assert parse_options(["--url", URL, "-m", "PURGE"]).method == "PURGE"  # not a standard one: as given


def test_a_body_makes_a_post_unless_a_method_is_given(tmp_path):
    assert request_fields(parse_options(["--url", URL, "--body", "é"])) == {
        "method": "POST",
        "headers": (),
        "body": "é".encode(),
    }
    assert request_fields(parse_options(["--url", URL, "--body", "x", "-m", "PUT"]))["method"] == "PUT"
    assert request_fields(parse_options(["--url", URL]))["method"] == "GET"
    data = bytes(range(256)) * 4
    (tmp_path / "body.bin").write_bytes(data)
    fields = request_fields(parse_options(["--url", URL, "--body-file", str(tmp_path / "body.bin")]))
    assert (fields["method"], fields["body"]) == ("POST", data)


def test_request_options_round_trip_through_a_scenario_file(tmp_path):
    argv = ["--url", URL, "-m", "PATCH", "-H", "X-A: 1", "-H", "Content-Type: text/plain", "--body", 'a "quoted"\n']
    original = parse_options(argv)
    path = tmp_path / "s.toml"
    path.write_text(dump_toml(to_config(original)))
    again = parse_options(["--config", str(path)])
    assert (again.method, again.headers, again.body) == (original.method, original.headers, original.body)
    path.write_text(f'url = "{URL}"\nheader = "X-One: 1"\nbody-file = "b.json"\n')
    again = parse_options(["--config", str(path)])
    assert again.headers == [("X-One", "1")] and again.body_file == "b.json"


@pytest.fixture()
def files(tmp_path):
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * (MAX_BODY_BYTES + 1))
    (tmp_path / "ok.txt").write_text("ok")
    os.mkfifo(tmp_path / "fifo")
    return tmp_path


@pytest.mark.parametrize(
    "args, needle",
    [
        (["-H", "Bad Header: x"], "--header 'Bad Header': not a valid header name"),
        (["-H", "no colon here"], "--header must look like 'Name: value'"),
        (["-H", "X-A: a\rb"], "not a valid header name and one-line value"),
        (["-H", "Content-Length: 3"], "sets Content-Length"),
        (["-H", "Connection: close"], "--no-keepalive"),
        (["-m", "GE T"], "--method must be an HTTP method"),
        (["-m", "HEAD", "--body", "x"], "HEAD sends no body"),
        (["--body", "x", "--body-file", "{dir}/ok.txt"], "give --body or --body-file, not both"),
        (["--body-file", "{dir}/big.bin"], "larger than 1048576 bytes"),
        (["--body-file", "{dir}/fifo"], "not a regular file"),
        (["--body-file", "/dev/zero"], "not a regular file"),
        (["--body-file", "{dir}/missing.bin"], "cannot read it"),
    ],
)
def test_bad_requests_through_the_entry_point_start_nothing(files, args, needle, cli):
    args = [a.replace("{dir}", str(files)) for a in args]
    cli.refused(["--url", "http://127.0.0.1:9/", *args], needle)


def test_request_options_need_app_or_url(cli):
    cli.refused(["--backend", "gunicorn", "-m", "POST"], "--method applies to --app")
    cli.refused(["--backend", "gunicorn", "-H", "X-A: 1"], "--header applies to --app")
    with pytest.raises(OptionError, match="--body applies to headless runs"):  # the app would send a GET
        parse_options(["--app", "myapp:app", "--body", "x"])


# -- against servers that see what was sent ------------------------------------------------------


@pytest.mark.parametrize("keepalive", [True, False], ids=["keep-alive", "no-keepalive"])
def test_a_recording_server_receives_method_headers_and_body(keepalive):
    body = b'{"item": "\xc3\xa9", "n": 1}' + bytes(range(256))
    with RecordingServer() as server:
        summary = run_load(
            LoadProfile(
                url=server.url + "api/items?x=1",
                method="PUT",
                headers=(("Content-Type", "application/json"), ("X-Trace", "t-1"), ("X-Trace", "t-2")),
                body=body,
                keepalive=keepalive,
                concurrency=4,
                requests=200,
                duration_s=None,
            )
        )
    assert summary.requests == 200 and summary.status["2xx"] == 200, (summary.status, summary.errors)
    assert server.bad == 0 and len(server.received) >= 200
    for got in server.received:
        assert (got.method, got.path, got.body) == ("PUT", "/api/items?x=1", body)
        assert got.header("Content-Length") == [str(len(body))]
        assert got.header("Content-Type") == ["application/json"] and got.header("X-Trace") == ["t-1", "t-2"]
        assert got.header("Connection") == ([] if keepalive else ["close"])
    assert (server.connections < 50) if keepalive else (server.connections >= 200)
    assert summary.bytes == summary.requests * len(HEAD_LINES + BODY)


@pytest.mark.parametrize("keepalive", [True, False], ids=["keep-alive", "no-keepalive"])
def test_head_responses_end_at_their_headers(keepalive):
    # the server announces the GET's Content-Length and sends no body, as RFC 9110 says
    with RecordingServer() as server:
        summary = run_load(
            LoadProfile(
                url=server.url,
                method="HEAD",
                keepalive=keepalive,
                concurrency=2,
                requests=100,
                duration_s=None,
                timeout_s=2.0,
            )
        )
    assert summary.status["2xx"] == 100 and not any(summary.errors.values()), (summary.status, summary.errors)
    assert {got.method for got in server.received} == {"HEAD"}
    assert summary.latency.max < 1_000_000  # µs: none waited for a body that never comes


def test_the_command_line_sends_the_request_to_a_url(tmp_path, capsys):
    (tmp_path / "body.json").write_bytes(b'{"a": [1, 2, 3]}')
    out = tmp_path / "r.json"
    with RecordingServer() as server:
        code = main(
            ["--url", server.url + "submit", "-c", "2", "-d", "0.5", "--warmup", "0", "-o", str(out)]
            + ["-H", "Content-Type: application/json", "-H", "Authorization: Bearer t0k", "--body-file"]
            + [str(tmp_path / "body.json")]
        )
    assert code == 0, capsys.readouterr().err
    doc = json.loads(out.read_text())
    assert doc["load"]["request"] == {
        "method": "POST",
        "headers": ["Content-Type: application/json", "Authorization: Bearer t0k"],
        "body_bytes": 16,
    }
    (run,) = doc["runs"]
    assert run["status"] == "ok" and run["responses"]["2xx"] == run["requests"] > 0
    assert server.received and all(
        (r.method, r.path, r.body, r.header("Authorization"))
        == ("POST", "/submit", b'{"a": [1, 2, 3]}', ["Bearer t0k"])
        for r in server.received
    )


ECHO_APP = """
def app(environ, start_response):
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    ok = environ["REQUEST_METHOD"] == "POST" and body == b"ping" and environ.get("HTTP_X_KEY") == "k1"
    start_response("200 OK" if ok else "400 Bad Request", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok" if ok else b"no"]
"""


def test_the_command_line_sends_the_request_to_an_app(tmp_path, monkeypatch, capsys):
    require_backend(get_backend("gunicorn"))
    (tmp_path / "echo_app_wsgicompare.py").write_text(ECHO_APP)
    monkeypatch.chdir(tmp_path)
    args = ["--backend", "gunicorn", "--app", "echo_app_wsgicompare:app", "-c", "2", "-d", "0.5", "--warmup", "0"]
    assert main([*args, "-o", "post.json", "-m", "POST", "-H", "X-Key: k1", "--body", "ping"]) == 0
    (run,) = json.loads((tmp_path / "post.json").read_text())["runs"]
    assert run["status"] == "ok" and run["responses"]["2xx"] == run["requests"] > 0, capsys.readouterr().err
    # the same app and a bare GET: every answer a 400, so the figures above were the request's doing
    assert main([*args, "-o", "get.json"]) == 0
    (run,) = json.loads((tmp_path / "get.json").read_text())["runs"]
    assert run["responses"]["2xx"] == 0 and run["responses"]["4xx"] == run["requests"] > 0
