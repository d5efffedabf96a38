"""What a refusal says: a 422 lists at most 20 errors and counts them all, stays a few
KiB whatever was sent, says a length in words, and no answer (refusal or not) shows a
traceback, SQL or a password hash."""

import json

import pytest
from pydantic import ValidationError

from app.schemas.common import Name, RequestModel
from app.testing.factories import DEFAULT_PASSWORD, ItemFactory

MIB = 1024 * 1024
USERS = "/api/v1/users"
TEAMS = "/api/v1/teams"
HEROES = "/api/v1/heroes"
TOKEN = "/api/v1/auth/token"
JSON = {"Content-Type": "application/json"}
LEAK_MARKERS = ("Traceback", "sqlalchemy", "SELECT", "$2b$")
# "No error body is larger than a few KiB, whatever was sent" (the contract).
FEW_KIB = 8 * 1024


def unknown_keys_body(limit=MIB - 1024):
    """A JSON object of as many short unknown keys as fit in `limit` bytes, and their count."""
    parts, size = [], 2
    while size + len(part := f'"k{len(parts)}":1') + 1 <= limit:
        parts.append(part)
        size += len(part) + 1
    return ("{" + ",".join(parts) + "}").encode(), len(parts)


def test_a_mebibyte_of_unknown_keys_gets_a_small_422_that_counts_them(client):
    body, keys = unknown_keys_body()

    response = client.post(USERS, content=body, headers=JSON)

    assert response.status_code == 422
    assert len(response.content) <= FEW_KIB
    payload = response.json()
    # username, email and password are missing, and every key is unknown.
    assert payload["error_count"] == keys + 3
    assert len(payload["detail"]) == 20
    assert [e["type"] for e in payload["detail"][:3]] == ["missing"] * 3
    assert [e["loc"] for e in payload["detail"][3:]] == [["body", f"k{i}"] for i in range(17)]


def test_a_body_with_keys_left_out_is_never_echoed_as_if_it_were_sent(client):
    body = {chr(ord("a") + i): 1 for i in range(21)}

    response = client.post(USERS, json=body)

    missing = [e for e in response.json()["detail"] if e["type"] == "missing"]
    assert response.json()["error_count"] == 24
    # A missing field (the password too) is reported with the body, which was pruned.
    assert [e["input"] for e in missing] == ["[truncated]"] * 3


def test_unknown_keys_in_an_authenticated_body_are_counted_too(client, user_headers):
    body = {f"k{i}": i for i in range(1000)} | {"name": "Thor", "secret_name": "Blake"}

    response = client.post(HEROES, json=body, headers=user_headers)

    assert response.status_code == 422
    assert response.json()["error_count"] == 1000
    assert len(response.json()["detail"]) == 20


def test_a_few_errors_are_all_listed_with_their_count(client):
    response = client.post(USERS, json={"username": "x", "email": "nope", "password": "short"})

    payload = response.json()
    assert response.status_code == 422
    assert payload["error_count"] == len(payload["detail"]) == 3


LARGE_ECHOES = {
    "long-key": {"k" * (MIB - 100): 1},
    "long-non-ascii-keys": {"\U0001f600" * 50_000 + str(i): 1 for i in range(4)},
    "long-value": {"username": "u" * (MIB - 100)},
    "long-non-ascii-value": {"username": "\U0001f600" * 200_000},
    "deep-value": {"username": [[["x" * 1000] * 100] * 10]},
    "many-values": {"username": ["x"] * 200_000},
    "long-integer": {"username": int("9" * 4000)},
    "many-long-keys": {("k" * 4000) + str(i): "v" * 4000 for i in range(100)},
    "many-long-non-ascii-keys": {"\U0001f600" * 2000 + str(i): 1 for i in range(100)},
}


@pytest.mark.parametrize("body", LARGE_ECHOES.values(), ids=LARGE_ECHOES.keys())
def test_no_422_is_more_than_a_few_kib_whatever_was_sent(client, body):
    content = json.dumps(body, ensure_ascii=False).encode()
    assert len(content) <= MIB

    response = client.post(USERS, content=content, headers=JSON)

    assert response.status_code == 422
    assert len(response.content) <= FEW_KIB
    assert 1 <= len(response.json()["detail"]) <= response.json()["error_count"]


def test_the_openapi_document_describes_the_bounded_422(client):
    schema = client.get("/openapi.json").json()["components"]["schemas"]["HTTPValidationError"]

    assert schema["properties"]["detail"]["maxItems"] == 20
    assert schema["properties"]["error_count"]["type"] == "integer"
    assert set(schema["required"]) == {"detail", "error_count"}


def assert_no_leak(response):
    for marker in LEAK_MARKERS:
        assert marker not in response.text, f"{marker!r} in {response.status_code} body"


LEAK_PROBES = [
    ("POST", TEAMS, {"content": b'{"name":', "headers": JSON}),
    ("POST", TEAMS, {"content": b'{"name": "\xff"}', "headers": JSON}),
    ("POST", TEAMS, {"content": "[" * 100_000, "headers": JSON}),
    ("POST", TEAMS, {"json": {"name": "a\x00b", "headquarters": "x"}}),
    ("GET", f"{TEAMS}?name=a%00b", {}),
    ("POST", HEROES, {"json": {"name": "T", "secret_name": "S", "team_id": 2**64}}),
    ("POST", HEROES, {"json": {"name": "T", "secret_name": "S", "team_id": 2**63 - 1}}),
    ("GET", f"{HEROES}?team_id={2**64}", {}),
    ("GET", f"{HEROES}/{2**70}", {}),
    ("GET", f"{HEROES}/abc", {}),
    ("GET", f"{TEAMS}?limit=101", {}),
    ("GET", f"{TEAMS}?after_id=1&skip=1", {}),
    ("GET", "/api/v1/nowhere", {}),
    ("DELETE", TEAMS, {}),
]


@pytest.mark.parametrize(
    ("method", "url", "kwargs"),
    LEAK_PROBES,
    ids=[f"{i}-{method}" for i, (method, _, _) in enumerate(LEAK_PROBES)],
)
def test_rejected_requests_leak_no_internals(client, user_headers, method, url, kwargs):
    extra_headers = kwargs.get("headers", {})
    payload = {key: value for key, value in kwargs.items() if key != "headers"}

    response = client.request(method, url, headers={**user_headers, **extra_headers}, **payload)

    assert 400 <= response.status_code < 500
    assert response.json()["detail"]  # the error body, not a page
    assert_no_leak(response)


def test_user_reads_and_writes_never_return_a_password_hash(
    client, superuser_headers, user, user_headers
):
    ItemFactory(owner=user)
    registration = {
        "username": "ada",
        "email": "ada@example.com",
        "password": DEFAULT_PASSWORD,
    }

    responses = [
        client.post(USERS, json=registration),
        client.post(USERS, json=registration),
        client.post(USERS, json={**registration, "password": "short"}),
        client.get(USERS, headers=superuser_headers),
        client.get(f"{USERS}/me", headers=user_headers),
        client.get(f"{USERS}/{user.id}", headers=superuser_headers),
        client.patch(f"{USERS}/{user.id}", json={"full_name": "Ada"}, headers=user_headers),
        client.post(TOKEN, data={"username": user.username, "password": DEFAULT_PASSWORD}),
        client.post(TOKEN, data={"username": user.username, "password": "nope"}),
    ]

    assert [r.status_code for r in responses] == [201, 409, 422, 200, 200, 200, 200, 200, 401]
    for response in responses:
        assert_no_leak(response)
        assert "hashed_password" not in response.text


@pytest.mark.parametrize(
    "path, body, field, message",
    [
        (USERS, {"username": "ada", "email": "ada@example.com", "password": "short"},
         "password", "String should have at least 8 characters"),
        (TEAMS, {"name": "", "headquarters": "HQ"},
         "name", "String should have at least 1 character"),
        (HEROES, {"name": "x" * 101, "secret_name": "s"},
         "name", "String should have at most 100 characters"),
    ],
)
def test_a_length_error_says_which_length_in_words(client, user_headers, path, body, field,
                                                   message):
    response = client.post(path, json=body, headers=user_headers)

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert (error["loc"], error["msg"]) == (["body", field], message)


class VillainCreate(RequestModel):
    """A schema as README "Adding a resource" writes one."""

    name: Name


@pytest.mark.parametrize(
    ("name", "message"),
    [("", "String should have at least 1 character"),
     ("x" * 101, "String should have at most 100 characters")],
    ids=["empty", "too-long"],
)
def test_a_new_resource_written_as_the_readme_says_words_its_length_errors_alike(
    client, user_headers, name, message
):
    response = client.post(TEAMS, json={"name": name, "headquarters": "HQ"}, headers=user_headers)
    with pytest.raises(ValidationError) as raised:
        VillainCreate(name=name)

    [team_error] = response.json()["detail"]
    [villain_error] = raised.value.errors()
    assert team_error["msg"] == villain_error["msg"] == message
