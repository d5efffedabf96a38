"""HTTP details every path keeps: Allow on 405, X-Request-ID on every response, a 400
for a host not allowed, and Location and Link that never name a host the client chose.
(The 413 for a body over the limit: test_request_bodies.py.)"""

import re

import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from app.testing.factories import BaseFactory
from app.testing.settings import service_app

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


def test_unknown_host_is_400_with_request_id_when_allowed_hosts_is_set(client_with):
    client = client_with(allowed_hosts=["api.example.com", "*.example.org"])

    refused = client.get("/health/live", headers=HOSTILE)
    allowed = [
        client.get("/health/live", headers={"Host": host})
        for host in ("api.example.com", "api.example.com:8443", "eu.example.org")
    ]

    assert (refused.status_code, refused.text) == (400, "Invalid host header")
    assert GENERATED_ID.fullmatch(refused.headers["X-Request-ID"])
    assert [r.status_code for r in allowed] == [200, 200, 200]


def test_allowed_hosts_is_read_comma_separated(settings):
    parsed = settings.model_validate({"allowed_hosts": " api.example.com, localhost ,"})

    assert parsed.allowed_hosts == ["api.example.com", "localhost"]
    assert settings.allowed_hosts == ["*"]


CREATING = sorted(c.path_format for c in api_routes(lambda c: c.original_route.status_code == 201))
LISTING = sorted(
    c.path_format
    for c in api_routes(
        lambda c: "GET" in c.methods and any(p.name == "after_id" for p in _query_params(c))
    )
)


def factory_for(path):
    """The factory of the rows listed at `path` (README "Adding a resource", step 6)."""
    table = path.removeprefix("/api/v1/")
    [factory] = [f for f in BaseFactory.__subclasses__() if f._meta.model.__tablename__ == table]
    return factory


def created_by_example(path):
    """The first example the docs offer for creating at `path` (one that works on an
    empty database, README "Adding a resource")."""
    operation = service_app().openapi()["paths"][path]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    name = schema.rsplit("/", 1)[1]
    return service_app().openapi()["components"]["schemas"][name]["examples"][0]


def test_every_resource_is_created_and_listed_here():
    # A resource that can be created can be listed, and the other way round.
    assert CREATING == LISTING
    assert {"/api/v1/users", "/api/v1/heroes"} <= set(CREATING)


@pytest.mark.parametrize("headers", [HOSTILE, FORWARDED], ids=["host", "forwarded"])
@pytest.mark.parametrize("path", CREATING)
def test_location_is_relative_whatever_the_host(client, superuser_headers, path, headers):
    body = created_by_example(path)

    response = client.post(path, json=body, headers={**superuser_headers, **headers})

    assert response.status_code == 201, response.text
    location = response.headers["Location"]
    assert location == f"{path}/{response.json()['id']}"
    assert client.get(location, headers=superuser_headers).json()["id"] == response.json()["id"]


@pytest.mark.parametrize("headers", [HOSTILE, FORWARDED], ids=["host", "forwarded"])
@pytest.mark.parametrize("mode", ["skip", "after_id"])
@pytest.mark.parametrize("path", LISTING)
def test_link_is_relative_whatever_the_host(client, superuser_headers, path, mode, headers):
    factory_for(path).create_batch(3)
    params = {"limit": 1, **({"after_id": 0} if mode == "after_id" else {})}

    first = client.get(path, params=params, headers={**superuser_headers, **headers})

    target = NEXT_LINK.fullmatch(first.headers["Link"]).group(1)
    assert target.startswith(f"{path}?") and not target.startswith("//")
    assert "evil" not in first.headers["Link"]
    second = client.get(target, headers=superuser_headers)
    assert second.status_code == 200
    assert [row["id"] for row in second.json()] > [row["id"] for row in first.json()]
