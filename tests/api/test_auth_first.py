"""Authentication comes before validation: without a valid token, every protected
operation answers 401 whatever its body, path or query hold."""

import re

import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from app.api.deps import get_current_user
from app.db.session import get_analytics_db, get_db
from app.main import app as default_app
from app.main import create_app
from app.testing.clients import app_client, databases_from, one_database

JSON = {"Content-Type": "application/json"}
BAD_BODIES = {
    "truncated-json": (b'{"name":', JSON),
    "not-utf8": (b'{"name": "\xff"}', JSON),
    "too-deep": (b"[" * 100_000, JSON),
    "long-integer": (b'{"name": ' + b"9" * 5000 + b"}", JSON),
    "unknown-keys": (b"{" + b",".join(b'"k%d":1' % i for i in range(5000)) + b"}", JSON),
    "wrong-type": (b'{"name": 5, "title": [], "username": {}}', JSON),
    "not-json": (b"name=x", {"Content-Type": "text/plain"}),
}
NO_TOKEN = {}
BAD_TOKEN = {"Authorization": "Bearer not-a-token"}


def _needs_user(dependant):
    return dependant.call is get_current_user or any(
        _needs_user(d) for d in dependant.dependencies
    )


PROTECTED = [
    (method, context.path_format, context.original_route.body_field is not None)
    for context in iter_route_contexts(default_app.routes)
    if isinstance(context.original_route, APIRoute)
    and _needs_user(context.original_route.dependant)
    for method in sorted(context.methods)
]
WITH_BODY = [(method, template) for method, template, has_body in PROTECTED if has_body]


def test_every_protected_operation_is_checked():
    assert len(PROTECTED) == 21  # every /api/v1 operation but registration and login
    assert len(WITH_BODY) == 7  # three creations, four changes


def _concrete(template, path_id):
    return re.sub(r"\{[^}]+\}", path_id, template)


@pytest.mark.parametrize("headers", [NO_TOKEN, BAD_TOKEN], ids=["no-token", "bad-token"])
@pytest.mark.parametrize("bad", BAD_BODIES.keys())
@pytest.mark.parametrize(("method", "template"), WITH_BODY)
def test_a_bad_body_without_a_valid_token_is_401(client, method, template, bad, headers):
    content, content_type = BAD_BODIES[bad]

    response = client.request(
        method, _concrete(template, "1"), content=content, headers={**headers, **content_type}
    )

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("headers", [NO_TOKEN, BAD_TOKEN], ids=["no-token", "bad-token"])
@pytest.mark.parametrize(("method", "template", "has_body"), PROTECTED)
def test_a_bad_path_or_query_without_a_valid_token_is_401(
    client, method, template, has_body, headers
):
    path = _concrete(template, "not-an-id") + "?limit=0&skip=-1&after_id=x&owner_id=x&team_id=x"

    response = client.request(method, path, headers=headers)

    assert response.status_code == 401


@pytest.mark.parametrize(("method", "template"), WITH_BODY)
def test_with_a_valid_token_a_bad_body_is_still_422(client, superuser_headers, method, template):
    content, content_type = BAD_BODIES["truncated-json"]

    response = client.request(
        method,
        _concrete(template, "1"),
        content=content,
        headers={**superuser_headers, **content_type},
    )

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["type"] == "json_invalid"


@pytest.fixture
def closed_registration_client(database, settings, analytics_sessions):
    application = create_app(settings.model_copy(update={"open_registration": False}))
    application.dependency_overrides[get_db] = one_database(database)
    application.dependency_overrides[get_analytics_db] = databases_from(analytics_sessions)
    with app_client(application) as client:
        yield client


@pytest.mark.parametrize("bad", BAD_BODIES.keys())
def test_closed_registration_asks_for_a_token_before_reading_the_body(
    closed_registration_client, bad
):
    content, content_type = BAD_BODIES[bad]

    response = closed_registration_client.post(
        "/api/v1/users", content=content, headers=content_type
    )

    assert response.status_code == 401


def test_a_bad_body_over_the_size_limit_is_still_413(client):
    response = client.post("/api/v1/teams", content=b"[" * (1024 * 1024 + 1), headers=JSON)

    assert response.status_code == 413
