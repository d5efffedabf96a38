"""Authentication comes before validation: without a valid token, every protected
operation answers 401 whatever its body, path or query hold. (Only the body size comes
first: a body over the limit is 413, token or not; see test_request_bodies.py.)"""

import re

import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from app.api.deps import get_caller
from app.testing.factories import UserFactory
from app.testing.settings import service_app

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
REFUSALS = {"no-token": "Not authenticated", "bad-token": "Could not validate credentials"}


def assert_refused(response, headers):
    """The contract's 401: a Bearer challenge and what was wrong with the credentials."""
    assert response.status_code == 401, response.text[:200]
    assert response.headers["WWW-Authenticate"] == "Bearer"
    expected = REFUSALS["bad-token" if headers else "no-token"]
    assert response.json() == {"detail": expected}


def _needs_a_token(dependant):
    return dependant.call is get_caller or any(
        _needs_a_token(d) for d in dependant.dependencies
    )


API = [
    (method, context.path_format, context.original_route)
    for context in iter_route_contexts(service_app().routes)
    if isinstance(context.original_route, APIRoute)
    and context.path_format.startswith("/api/v1/")
    for method in sorted(context.methods)
]
# The operations anyone may call: registration (while it is open), and those whose
# credential is in the body (a password, a refresh or reset token) or cannot be had
# (someone who forgot their password).
PUBLIC = {("POST", "/api/v1/users"), ("POST", "/api/v1/auth/token"),
          ("POST", "/api/v1/auth/refresh"), ("POST", "/api/v1/auth/logout"),
          ("POST", "/api/v1/auth/password-reset"),
          ("POST", "/api/v1/auth/password-reset/confirm")}
PROTECTED = [
    (method, template, route.body_field is not None)
    for method, template, route in API
    if _needs_a_token(route.dependant)
]
WITH_BODY = [(method, template) for method, template, has_body in PROTECTED if has_body]


def test_every_api_operation_but_registration_and_login_asks_for_a_token_first():
    every = {(method, template) for method, template, _ in API}
    assert {(method, template) for method, template, _ in PROTECTED} == every - PUBLIC
    assert WITH_BODY  # the body cases below are not vacuous


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

    assert_refused(response, headers)


@pytest.mark.parametrize("headers", [NO_TOKEN, BAD_TOKEN], ids=["no-token", "bad-token"])
@pytest.mark.parametrize(("method", "template", "has_body"), PROTECTED)
def test_a_bad_path_or_query_without_a_valid_token_is_401(
    client, method, template, has_body, headers
):
    path = _concrete(template, "not-an-id") + "?limit=0&skip=-1&after_id=x&owner_id=x&team_id=x"

    response = client.request(method, path, headers=headers)

    assert_refused(response, headers)


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


@pytest.mark.parametrize("bad", BAD_BODIES.keys())
def test_closed_registration_asks_for_a_token_before_reading_the_body(client_with, bad):
    content, content_type = BAD_BODIES[bad]

    response = client_with(open_registration=False).post(
        "/api/v1/users", content=content, headers=content_type
    )

    assert_refused(response, NO_TOKEN)


@pytest.mark.parametrize(("method", "template"), WITH_BODY)
def test_a_bad_body_with_the_token_of_a_user_deleted_since_is_401(
    client, db, auth_headers, method, template
):
    """The token is well signed and unexpired, but its user is gone: still no 422 for them."""
    gone = UserFactory()
    headers = auth_headers(gone)
    db.delete(gone)
    db.commit()
    content, content_type = BAD_BODIES["wrong-type"]

    response = client.request(
        method, _concrete(template, "1"), content=content, headers={**headers, **content_type}
    )

    assert response.status_code == 401
    assert response.json() == {"detail": "Could not validate credentials"}
