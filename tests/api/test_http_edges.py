"""HTTP details every path keeps: Allow on 405, X-Request-ID on every response (413
included), and Location and Link that never name a host the client chose."""

import re

import pytest
from fastapi import params
from fastapi.routing import APIRoute, iter_route_contexts

from app.testing.factories import HeroFactory, ItemFactory, TeamFactory, UserFactory
from app.testing.settings import service_app

MIB = 1024 * 1024
PROBED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
HOSTILE = {"Host": "evil.example"}
FORWARDED = {
    **HOSTILE,
    "X-Forwarded-Host": "evil.example",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Prefix": "/evil",
    "Forwarded": "host=evil.example;proto=https",
}
GENERATED_ID = re.compile(r"[0-9a-f]{32}")
NEXT_LINK = re.compile(r'^<([^>]*)>; rel="next"$')


def concrete_paths():
    """One concrete path per path template the app serves (ids are 1)."""
    paths = {"/api/v1/users/me", "/static/swagger-ui/swagger-ui.css"}
    for context in iter_route_contexts(service_app().routes):
        if context.path_format and "{path}" not in context.path_format:
            paths.add(re.sub(r"\{[^}]+\}", "1", context.path_format))
    return sorted(paths)


def api_routes(predicate):
    return [
        context
        for context in iter_route_contexts(service_app().routes)
        if isinstance(context.original_route, APIRoute) and predicate(context)
    ]


def _query_params(context):
    def walk(dependant):
        yield from dependant.query_params
        for sub in dependant.dependencies:
            yield from walk(sub)

    return list(walk(context.original_route.dependant))


def test_every_path_is_probed():
    assert {"/api/v1/heroes", "/api/v1/heroes/1", "/health/live", "/openapi.json"} <= set(
        concrete_paths()
    )


@pytest.mark.parametrize("path", concrete_paths())
def test_405_allows_every_method_the_path_serves(client, path):
    # Without a token nothing is changed: each method answers 401, 404, 422, 200... or 405.
    answers = {method: client.request(method, path) for method in PROBED_METHODS}
    served = {method for method, response in answers.items() if response.status_code != 405}
    refused = [response for response in answers.values() if response.status_code == 405]

    assert served and refused, answers
    for response in refused:
        assert set(response.headers["Allow"].split(", ")) == served


def test_put_on_heroes_allows_get_head_and_post(client):
    response = client.put("/api/v1/heroes")

    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, HEAD, POST"
    assert GENERATED_ID.fullmatch(response.headers["X-Request-ID"])


def _media_type(context):
    is_form = isinstance(context.original_route.body_field.field_info, params.Form)
    return "application/x-www-form-urlencoded" if is_form else "application/json"


def chunks(body, size=64 * 1024):
    for start in range(0, len(body), size):
        yield body[start : start + size]


BODY_OPERATIONS = [
    (method, re.sub(r"\{[^}]+\}", "1", context.path_format), _media_type(context))
    for context in api_routes(lambda c: c.original_route.body_field is not None)
    for method in sorted(context.methods)
]


@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize(("method", "path", "media_type"), BODY_OPERATIONS)
def test_413_carries_request_id_and_the_documented_type(
    client, method, path, media_type, streamed
):
    body = b"x" * (MIB + 1)
    documented = client.get("/openapi.json").json()
    template = next(
        p for p in documented["paths"] if re.fullmatch(re.sub(r"\{[^}]+\}", "1", p), path)
    )
    media_types = documented["paths"][template][method.lower()]["responses"]["413"]["content"]

    response = client.request(
        method,
        path,
        content=chunks(body) if streamed else body,
        headers={"Content-Type": media_type, "X-Request-ID": "big-1"},
    )

    assert response.status_code == 413
    assert response.headers["X-Request-ID"] == "big-1"
    assert response.headers["Content-Type"].split(";")[0] in media_types
    assert response.text == media_types["text/plain"]["example"]


def test_413_for_a_declared_length_runs_nothing(client, user_headers):
    team = TeamFactory()

    response = client.request(
        "DELETE", f"/api/v1/teams/{team.id}", content=b"x" * (MIB + 1), headers=user_headers
    )

    assert response.status_code == 413
    assert client.get(f"/api/v1/teams/{team.id}", headers=user_headers).status_code == 200


@pytest.fixture
def make_app_client(client_with):
    return client_with


def test_unknown_host_is_400_with_request_id_when_allowed_hosts_is_set(make_app_client):
    client = make_app_client(allowed_hosts=["api.example.com", "*.example.org"])

    refused = client.get("/health/live", headers=HOSTILE)
    allowed = [
        client.get("/health/live", headers={"Host": host})
        for host in ("api.example.com", "api.example.com:8443", "eu.example.org")
    ]

    assert refused.status_code == 400
    assert GENERATED_ID.fullmatch(refused.headers["X-Request-ID"])
    assert [r.status_code for r in allowed] == [200, 200, 200]


def test_allowed_hosts_is_read_comma_separated(settings):
    parsed = settings.model_validate({"allowed_hosts": " api.example.com, localhost ,"})

    assert parsed.allowed_hosts == ["api.example.com", "localhost"]
    assert settings.allowed_hosts == ["*"]


CREATE_BODIES = {
    "/api/v1/users": {"username": "ada", "email": "ada@example.com", "password": "long password"},
    "/api/v1/teams": {"name": "Avengers", "headquarters": "Stark Tower"},
    "/api/v1/heroes": {"name": "Thor", "secret_name": "Donald Blake"},
    "/api/v1/items": {"title": "Hammer"},
}
CREATING = sorted(c.path_format for c in api_routes(lambda c: c.original_route.status_code == 201))
LISTING = sorted(
    c.path_format
    for c in api_routes(
        lambda c: "GET" in c.methods and any(p.name == "after_id" for p in _query_params(c))
    )
)


def test_every_creating_and_listing_operation_is_checked():
    assert CREATING == sorted(CREATE_BODIES)
    assert LISTING == sorted(CREATE_BODIES)


@pytest.mark.parametrize("headers", [HOSTILE, FORWARDED], ids=["host", "forwarded"])
@pytest.mark.parametrize("path", CREATING)
def test_location_is_relative_whatever_the_host(client, superuser_headers, path, headers):
    response = client.post(path, json=CREATE_BODIES[path], headers={**superuser_headers, **headers})

    assert response.status_code == 201, response.text
    location = response.headers["Location"]
    assert location == f"{path}/{response.json()['id']}"
    assert client.get(location, headers=superuser_headers).json()["id"] == response.json()["id"]


@pytest.mark.parametrize("headers", [HOSTILE, FORWARDED], ids=["host", "forwarded"])
@pytest.mark.parametrize("mode", ["skip", "after_id"])
@pytest.mark.parametrize("path", LISTING)
def test_link_is_relative_whatever_the_host(
    client, superuser, superuser_headers, path, mode, headers
):
    owner = UserFactory()
    for _ in range(3):
        TeamFactory(), HeroFactory(), ItemFactory(owner=superuser), ItemFactory(owner=owner)
    params = {"limit": 1, **({"after_id": 0} if mode == "after_id" else {})}

    first = client.get(path, params=params, headers={**superuser_headers, **headers})

    target = NEXT_LINK.fullmatch(first.headers["Link"]).group(1)
    assert target.startswith(f"{path}?") and not target.startswith("//")
    assert "evil" not in first.headers["Link"]
    second = client.get(target, headers=superuser_headers)
    assert second.status_code == 200
    assert [row["id"] for row in second.json()] > [row["id"] for row in first.json()]
