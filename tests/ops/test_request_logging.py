"""One log line per request, request ids in and out, and no secret in any line."""

import json
import re

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from app.testing.databases import fresh_database
from app.testing.factories import DEFAULT_PASSWORD
from tests.live import live_server
from tests.ops.service import service

GENERATED_ID = re.compile(r"[0-9a-f]{32}")


def access_lines(lines: list[str]) -> list[str]:
    return [line for line in lines if " app.access " in line or '"app.access"' in line]


def test_a_request_id_is_generated_and_echoed(make_client):
    client = make_client()

    first = client.get("/health/live").headers["X-Request-ID"]
    second = client.get("/health/live").headers["X-Request-ID"]

    assert GENERATED_ID.fullmatch(first) and GENERATED_ID.fullmatch(second)
    assert first != second


def test_a_sane_client_request_id_is_echoed_and_logged(make_client, log_lines):
    client = make_client(log_format="text")

    response = client.get("/health/live", headers={"X-Request-ID": "checkout-42.retry_1"})

    assert response.headers["X-Request-ID"] == "checkout-42.retry_1"
    assert access_lines(log_lines)[-1].endswith(" request_id=checkout-42.retry_1")


@pytest.mark.parametrize(
    "sent",
    [b"", b"has space", b"x" * 129, b"semi;colon", b"quote\"d", b"\xc3\xbcber", b"a/b"],
    ids=["empty", "space", "too-long", "semicolon", "quote", "non-ascii", "slash"],
)
def test_an_odd_client_request_id_is_replaced(make_client, log_lines, sent):
    client = make_client(log_format="text")

    response = client.get("/health/live", headers=[(b"X-Request-ID", sent)])

    generated = response.headers["X-Request-ID"]
    assert GENERATED_ID.fullmatch(generated)
    assert access_lines(log_lines)[-1].endswith(f" request_id={generated}")


def test_json_access_line_has_method_route_status_duration_and_id(
    make_client, log_lines, user_headers
):
    client = make_client(log_format="json")

    response = client.get("/api/v1/heroes/987654", headers=user_headers)

    lines = access_lines(log_lines)
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert response.status_code == 404
    assert entry["logger"] == "app.access"
    assert entry["method"] == "GET"
    assert entry["route"] == "/api/v1/heroes/{hero_id}"
    assert entry["status"] == 404
    assert isinstance(entry["duration_ms"], float) and entry["duration_ms"] >= 0
    assert entry["request_id"] == response.headers["X-Request-ID"]
    assert "987654" not in lines[0]


def test_text_access_line_reads_as_one_sentence(make_client, log_lines, user_headers):
    client = make_client(log_format="text")

    response = client.get("/api/v1/heroes", headers=user_headers, params={"name": "spi"})

    [line] = access_lines(log_lines)
    request_id = response.headers["X-Request-ID"]
    assert re.search(
        rf" INFO app\.access GET /api/v1/heroes 200 \d+\.\d+ms request_id={request_id}$", line
    ), line
    assert "spi" not in line


def test_unmatched_paths_share_one_label(make_client, log_lines):
    client = make_client(log_format="json")

    response = client.get("/no/such/page/31337")

    entry = json.loads(access_lines(log_lines)[0])
    assert response.status_code == 404
    assert entry["route"] == "<unmatched>"
    assert "31337" not in access_lines(log_lines)[0]


def _add_failing_and_streaming_routes(app: FastAPI) -> None:
    @app.get("/test/boom")
    def boom() -> None:
        raise RuntimeError(f"password={DEFAULT_PASSWORD} was in the way")

    @app.get("/test/stream")
    def stream() -> StreamingResponse:
        return StreamingResponse(iter([b"one,", b"two,", b"three"]), media_type="text/plain")


def test_an_unhandled_error_is_a_500_carrying_the_request_id(make_client, log_lines):
    client = make_client(prepare=_add_failing_and_streaming_routes, log_format="json")

    response = client.get("/test/boom", headers={"X-Request-ID": "incident-7"})

    assert response.status_code == 500
    assert response.json() == {"detail": "Internal Server Error"}
    assert response.headers["X-Request-ID"] == "incident-7"
    entries = [json.loads(line) for line in log_lines]
    error = next(e for e in entries if e["level"] == "ERROR")
    assert error["request_id"] == "incident-7"
    assert "RuntimeError" in error["exception"]
    access = next(e for e in entries if e["logger"] == "app.access")
    assert (access["route"], access["status"], access["request_id"]) == (
        "/test/boom", 500, "incident-7"
    )
    assert DEFAULT_PASSWORD not in "\n".join(log_lines)


def test_streaming_responses_arrive_whole_with_their_id(make_client, log_lines):
    client = make_client(prepare=_add_failing_and_streaming_routes, log_format="json")

    response = client.get("/test/stream", headers={"X-Request-ID": "stream-1"})

    assert response.status_code == 200
    assert response.text == "one,two,three"
    assert response.headers["X-Request-ID"] == "stream-1"
    assert json.loads(access_lines(log_lines)[0])["status"] == 200


def test_the_body_limit_still_answers_413_and_is_logged_as_such(make_client, log_lines):
    client = make_client(log_format="json")

    def two_mebibytes():  # chunked: no Content-Length to refuse it early
        for _ in range(32):
            yield b"x" * 65536

    response = client.post(
        "/api/v1/teams", content=two_mebibytes(), headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 413
    assert GENERATED_ID.fullmatch(response.headers["X-Request-ID"])
    entry = json.loads(access_lines(log_lines)[0])
    assert (entry["route"], entry["status"]) == ("/api/v1/teams", 413)


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_passwords_and_tokens_never_reach_the_log(tmp_path, log_format):
    password, new_password, wrong = "first secret pass", "second secret pass", "wrong secret pass"
    with service(tmp_path, LOG_FORMAT=log_format) as server:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            body = {"username": "ada", "email": "ada@example.com", "password": password}
            user = http.post("/api/v1/users", json=body).json()
            token = http.post(
                "/api/v1/auth/token", data={"username": "ada", "password": password}
            ).json()["access_token"]
            auth = {"Authorization": f"Bearer {token}"}
            requests = [
                http.get("/api/v1/users/me", headers=auth),
                http.patch(f"/api/v1/users/{user['id']}", json={"password": new_password},
                           headers=auth),
                http.post("/api/v1/auth/token", data={"username": "ada", "password": wrong}),
                http.post("/api/v1/users", json={**body, "username": "bob", "password": "short"}),
                http.get("/api/v1/heroes", params={"name": password}, headers=auth),
                http.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}x"}),
            ]
    log = server.log()  # once stopped: a line is written just after its response is sent

    assert [r.status_code for r in requests] == [200, 200, 401, 422, 401, 401]
    for secret in (password, new_password, wrong, "short", token, *token.split(".")):
        assert secret not in log
    assert "bearer" not in log.lower() and "authorization" not in log.lower()
    assert len(access_lines(log.splitlines())) >= 2 + len(requests)


def test_with_json_format_every_line_the_server_writes_is_json(tmp_path):
    # `python -m app serve` configures uvicorn's logging before it writes a line.
    with service(tmp_path, serve_args=[], LOG_FORMAT="json") as server:
        request_id = httpx.get(f"{server.url}/api/v1/teams", timeout=30).headers["X-Request-ID"]
    log = server.log()  # once stopped, shutdown lines included

    entries = [json.loads(line) for line in log.splitlines() if line.strip()]
    assert any(e["logger"].startswith("uvicorn") for e in entries)  # uvicorn's lines too
    [team_request] = [e for e in entries if e.get("route") == "/api/v1/teams"]
    assert team_request["status"] == 401
    assert team_request["request_id"] == request_id
    # One line per request: uvicorn's own access line is not written as well.
    assert not any(e["logger"] == "uvicorn.access" for e in entries)


@pytest.mark.parametrize(
    ("server", "settings", "lines"),
    [
        ({"uvicorn_args": ()}, {}, 1),
        ({"uvicorn_args": ("--no-access-log",)}, {}, 0),
        ({"uvicorn_args": ("--log-level", "warning")}, {}, 0),
        ({"serve_args": []}, {"LOG_FORMAT": "json"}, 1),
        ({"serve_args": ["--no-access-log"]}, {}, 0),
    ],
    ids=["uvicorn", "uvicorn-no-access-log", "uvicorn-log-level-warning", "app-serve-json",
         "app-serve-no-access-log"],
)
def test_the_access_line_follows_the_servers_access_log_switch(tmp_path, server, settings, lines):
    """`app.access` stands in for uvicorn's access log, so it is written when uvicorn's
    would be: not with --no-access-log, nor with a log level above info."""
    with fresh_database(tmp_path, "access") as url, \
            live_server(url, tmp_path / "server.log", **server, **settings) as live:
        response = httpx.get(f"{live.url}/api/v1/teams", timeout=30)
        log = live.log  # read after the server has stopped, so the line is flushed

    assert response.status_code == 401
    teams = [line for line in access_lines(log().splitlines()) if "/api/v1/teams" in line]
    assert len(teams) == lines, log()
