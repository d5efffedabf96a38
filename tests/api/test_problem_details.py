"""RFC 9457 problem documents for clients that ask (contract: "Problem details"), and the
v1 bodies, byte for byte, for everyone else."""

import pytest

from app.api.problems import EXPLAINED
from app.db.session import Databases
from app.testing.asyncmode import run_async
from app.testing.databases import dead_database_url
from app.testing.factories import DEFAULT_PASSWORD, ItemFactory

PROBLEM = {"Accept": "application/problem+json"}
FIELDS = {"type", "title", "status", "detail", "instance", "request_id"}


def assert_problem(response, status: int, detail: str, instance: str) -> dict:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert FIELDS <= set(body)
    assert (body["status"], body["detail"], body["instance"]) == (status, detail, instance)
    assert body["type"] == f"/docs/errors#{EXPLAINED[status].slug}"
    assert body["request_id"] == response.headers["X-Request-ID"]
    return body


def test_401_as_a_problem_keeps_www_authenticate(client):
    response = client.get("/api/v1/items", headers=PROBLEM)

    assert_problem(response, 401, "Not authenticated", "/api/v1/items")
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_404_of_a_row_and_of_an_unknown_path(client, user_headers):
    row = client.get("/api/v1/items/12345", headers={**user_headers, **PROBLEM})
    path = client.get("/api/v1/nowhere", headers=PROBLEM)

    assert_problem(row, 404, "Item not found", "/api/v1/items/12345")
    assert_problem(path, 404, "Not Found", "/api/v1/nowhere")


def test_405_keeps_allow(client):
    response = client.put("/api/v1/items", headers=PROBLEM)

    assert_problem(response, 405, "Method Not Allowed", "/api/v1/items")
    assert response.headers["Allow"] == "GET, HEAD, POST"


def test_413_from_content_length_and_from_a_stream(client, user_headers):
    big = b"{" + b" " * (1024 * 1024 + 1) + b"}"
    declared = client.post("/api/v1/items", content=big,
                           headers={**user_headers, **PROBLEM, "Content-Type": "application/json"})
    streamed = client.post("/api/v1/items", content=iter([big]),
                           headers={**user_headers, **PROBLEM, "Content-Type": "application/json"})

    assert_problem(declared, 413, "Content Too Large", "/api/v1/items")
    assert_problem(streamed, 413, "Content Too Large", "/api/v1/items")


def test_422_lists_the_validation_errors(client, user_headers):
    response = client.post("/api/v1/items", json={"title": "", "extra": 1},
                           headers={**user_headers, **PROBLEM})

    body = assert_problem(response, 422, "The request is invalid (2 error(s); see `errors`)",
                          "/api/v1/items")
    assert [error["loc"] for error in body["errors"]] == [["body", "title"], ["body", "extra"]]


def test_422_for_a_missing_reference(client, user_headers):
    response = client.post("/api/v1/heroes", json={"name": "H", "secret_name": "s",
                                                   "team_id": 999},
                           headers={**user_headers, **PROBLEM})

    assert_problem(response, 422, "Team 999 does not exist", "/api/v1/heroes")


def test_412_says_the_resource_changed(client, user, user_headers):
    item = ItemFactory(owner=user)
    response = client.patch(f"/api/v1/items/{item.id}", json={"title": "x"},
                            headers={**user_headers, **PROBLEM, "If-Match": '"999"'})

    assert_problem(response, 412, "The resource has changed", f"/api/v1/items/{item.id}")


def test_429_keeps_retry_after(client_with, user):
    throttled = client_with(login_rate_limit_enabled=True,
                            login_rate_limit_per_account="2/minute")
    form = {"username": user.username, "password": "wrong password"}
    for _ in range(2):
        throttled.post("/api/v1/auth/token", data=form)

    response = throttled.post("/api/v1/auth/token", data=form, headers=PROBLEM)

    assert_problem(response, 429, "Too many failed login attempts; try again later",
                   "/api/v1/auth/token")
    assert int(response.headers["Retry-After"]) >= 1


@pytest.fixture
def unreachable_client(client_with, settings):
    dead = Databases.open(settings.model_copy(update={"database_url": dead_database_url()}))
    yield client_with(databases=dead, raise_server_exceptions=False)
    run_async(dead.dispose())


def test_503_from_a_route_and_from_readiness(unreachable_client):
    body = {"username": "ada", "email": "ada@example.com", "password": DEFAULT_PASSWORD}
    route = unreachable_client.post("/api/v1/users", json=body, headers=PROBLEM)
    ready = unreachable_client.get("/health/ready", headers=PROBLEM)

    assert_problem(route, 503, "Database unavailable", "/api/v1/users")
    assert_problem(ready, 503, "Database unavailable", "/health/ready")


def test_without_the_accept_header_the_v1_bodies_are_unchanged(client, user_headers):
    assert client.get("/api/v1/items/12345", headers=user_headers).content == (
        b'{"detail":"Item not found"}')
    assert client.get("/api/v1/items").content == b'{"detail":"Not authenticated"}'
    plain = client.get("/api/v1/items", headers={"Accept": "application/json"})
    assert plain.headers["content-type"] == "application/json"
    refused = client.get("/api/v1/items", headers={"Accept": "application/problem+json;q=0"})
    assert refused.content == b'{"detail":"Not authenticated"}'


def test_success_is_untouched_by_the_accept_header(client, user_headers):
    response = client.get("/api/v1/items", headers={**user_headers, **PROBLEM})
    assert (response.status_code, response.json()) == (200, [])


def test_every_type_is_a_section_of_the_served_errors_page(client):
    page = client.get("/docs/errors")

    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for explained in EXPLAINED.values():
        assert f'id="{explained.slug}"' in page.text
