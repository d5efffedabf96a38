import json

import pytest

from app.testing.factories import DEFAULT_PASSWORD, HeroFactory, ItemFactory, TeamFactory

MIB = 1024 * 1024
TEAMS = "/api/v1/teams"
HEROES = "/api/v1/heroes"
USERS = "/api/v1/users"
JSON = {"Content-Type": "application/json"}
LEAK_MARKERS = ("Traceback", "sqlalchemy", "SELECT", "$2b$")


def team_body_of_size(size):
    """A syntactically valid team body of exactly `size` bytes (the name is far too long)."""
    prefix, suffix = b'{"name": "', b'", "headquarters": "Stark Tower"}'
    body = prefix + b"a" * (size - len(prefix) - len(suffix)) + suffix
    assert len(body) == size
    json.loads(body)
    return body


def chunks(body, size=64 * 1024):
    for start in range(0, len(body), size):
        yield body[start : start + size]


def assert_no_leak(response):
    for marker in LEAK_MARKERS:
        assert marker not in response.text, f"{marker!r} in {response.status_code} body"


def test_body_over_1_mib_with_content_length_is_413(client, user_headers):
    body = team_body_of_size(MIB + 1)

    response = client.post(TEAMS, content=body, headers={**user_headers, **JSON})

    assert response.request.headers["Content-Length"] == str(MIB + 1)
    assert response.status_code == 413


def test_streamed_body_over_1_mib_without_content_length_is_413(client, user_headers):
    body = team_body_of_size(MIB + 1)

    response = client.post(TEAMS, content=chunks(body), headers={**user_headers, **JSON})

    assert "Content-Length" not in response.request.headers
    assert response.request.headers["Transfer-Encoding"] == "chunked"
    assert response.status_code == 413


def test_oversized_streamed_registration_is_413(client):
    body = team_body_of_size(2 * MIB)

    response = client.post(USERS, content=chunks(body), headers=JSON)

    assert response.status_code == 413


@pytest.mark.parametrize("size", [MIB - 1, MIB], ids=["just-under-1MiB", "exactly-1MiB"])
def test_body_up_to_1_mib_is_read_and_validated(client, user_headers, size):
    body = team_body_of_size(size)

    response = client.post(TEAMS, content=body, headers={**user_headers, **JSON})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "name"]


def test_streamed_body_of_1_mib_is_read_and_validated(client, user_headers):
    body = team_body_of_size(MIB)

    response = client.post(TEAMS, content=chunks(body), headers={**user_headers, **JSON})

    assert response.status_code == 422


@pytest.mark.parametrize(
    "body",
    [
        b'{"name": "Avengers",',
        b"{'name': 'Avengers'}",
        b"",
        b"not json",
    ],
    ids=["truncated", "single-quotes", "empty", "text"],
)
def test_invalid_json_is_422(client, user_headers, body):
    response = client.post(TEAMS, content=body, headers={**user_headers, **JSON})

    assert response.status_code == 422


@pytest.mark.parametrize(
    "body",
    [
        b'{"name": "\xff", "headquarters": "x"}',
        b'{"name": "caf\xe9", "headquarters": "x"}',
        '{"name": "Avengers", "headquarters": "x"}'.encode("utf-16"),
    ],
    ids=["invalid-byte", "latin-1", "utf-16"],
)
def test_body_that_is_not_utf8_is_422(client, user_headers, body):
    response = client.post(TEAMS, content=body, headers={**user_headers, **JSON})

    assert response.status_code == 422
    assert_no_leak(response)


@pytest.mark.parametrize(
    "body",
    [
        "[" * 100_000,
        "[" * 100_000 + "]" * 100_000,
        '{"a": ' * 100_000 + "1" + "}" * 100_000,
    ],
    ids=["unclosed-arrays", "closed-arrays", "objects"],
)
def test_deeply_nested_json_is_422(client, user_headers, body):
    response = client.post(TEAMS, content=body, headers={**user_headers, **JSON})

    assert response.status_code == 422
    assert_no_leak(response)


def test_deeply_nested_registration_is_422(client):
    response = client.post(USERS, content="[" * 100_000, headers=JSON)

    assert response.status_code == 422


def test_nul_in_body_string_is_422(client, user_headers):
    response = client.post(
        TEAMS, json={"name": "a\x00b", "headquarters": "Stark Tower"}, headers=user_headers
    )

    assert response.status_code == 422
    assert client.get(TEAMS, headers=user_headers).json() == []


def test_nul_in_body_string_says_why(client, user_headers):
    response = client.post(
        TEAMS, json={"name": "a\x00b", "headquarters": "Stark Tower"}, headers=user_headers
    )

    [error] = response.json()["detail"]
    assert error["msg"] == "Value error, must not contain NUL characters"
    assert error["ctx"] == {"error": "must not contain NUL characters"}


def test_nul_in_patch_body_is_422(client, user_headers):
    hero = HeroFactory()

    response = client.patch(
        f"{HEROES}/{hero.id}", json={"secret_name": "\x00"}, headers=user_headers
    )

    assert response.status_code == 422


@pytest.mark.parametrize(
    "url",
    [f"{TEAMS}?name=a%00b", f"{HEROES}?name=a%00b"],
    ids=["team-name", "hero-name"],
)
def test_nul_in_query_filter_is_422(client, user_headers, url):
    response = client.get(url, headers=user_headers)

    assert response.status_code == 422


def test_nul_in_login_form_is_422(client):
    response = client.post(
        "/api/v1/auth/token", data={"username": "a\x00b", "password": DEFAULT_PASSWORD}
    )

    assert response.status_code == 422


@pytest.mark.parametrize(
    "extra",
    [{"team_id": 2**64}, {"team_id": 2**63}, {"age": 2**63}, {"age": -(2**63) - 1}],
    ids=["team_id-2^64", "team_id-2^63", "age-2^63", "age-below-int64"],
)
def test_integer_beyond_64_bits_in_body_is_422(client, user_headers, extra):
    body = {"name": "Thor", "secret_name": "Donald Blake", **extra}

    response = client.post(HEROES, json=body, headers=user_headers)

    assert response.status_code == 422
    assert client.get(HEROES, headers=user_headers).json() == []


def test_largest_64_bit_age_is_stored(client, user_headers):
    body = {"name": "Highlander", "secret_name": "Connor", "age": 2**63 - 1}

    response = client.post(HEROES, json=body, headers=user_headers)

    assert response.status_code == 201
    assert response.json()["age"] == 2**63 - 1


def test_largest_64_bit_team_id_that_does_not_exist_is_422(client, user_headers):
    body = {"name": "Thor", "secret_name": "Donald Blake", "team_id": 2**63 - 1}

    response = client.post(HEROES, json=body, headers=user_headers)

    assert response.status_code == 422
    assert isinstance(response.json()["detail"], str)


@pytest.mark.parametrize(
    "url",
    [
        f"{HEROES}?team_id={2**64}",
        f"{HEROES}?team_id={2**63}",
        f"{HEROES}?min_age={2**63}",
        f"{HEROES}?max_age={2**70}",
        f"/api/v1/items?owner_id={2**64}",
    ],
    ids=["team_id-2^64", "team_id-2^63", "min_age-2^63", "max_age-2^70", "owner_id-2^64"],
)
def test_integer_beyond_64_bits_in_query_is_422(client, superuser_headers, url):
    response = client.get(url, headers=superuser_headers)

    assert response.status_code == 422


def test_largest_64_bit_query_filter_matches_nothing(client, user_headers):
    HeroFactory(team=TeamFactory())

    response = client.get(HEROES, params={"team_id": 2**63 - 1}, headers=user_headers)

    assert response.status_code == 200
    assert response.json() == []


@pytest.mark.parametrize("resource", ["teams", "heroes", "items", "users"])
@pytest.mark.parametrize("bad_id", [2**63, 2**70, 0, -1], ids=["2^63", "2^70", "0", "-1"])
def test_path_id_outside_64_bit_positive_range_is_404(client, superuser_headers, resource, bad_id):
    response = client.get(f"/api/v1/{resource}/{bad_id}", headers=superuser_headers)

    assert response.status_code == 404
    assert response.json()["detail"].endswith("not found")


@pytest.mark.parametrize("bad_id", [2**63, 2**70, 0, -1], ids=["2^63", "2^70", "0", "-1"])
def test_delete_with_out_of_range_path_id_is_404(client, user_headers, bad_id):
    response = client.delete(f"{TEAMS}/{bad_id}", headers=user_headers)

    assert response.status_code == 404


@pytest.mark.parametrize("resource", ["teams", "heroes", "items", "users"])
@pytest.mark.parametrize("bad_id", ["abc", "1.5", "1e3"])
def test_non_integer_path_id_is_422(client, superuser_headers, resource, bad_id):
    response = client.get(f"/api/v1/{resource}/{bad_id}", headers=superuser_headers)

    assert response.status_code == 422


def test_unknown_body_field_is_422(client, user_headers):
    body = {"name": "Avengers", "headquarters": "Stark Tower", "colour": "red"}

    response = client.post(TEAMS, json=body, headers=user_headers)

    assert response.status_code == 422
    assert client.get(TEAMS, headers=user_headers).json() == []


def test_unknown_field_in_patch_is_422(client, user_headers):
    team = TeamFactory(name="Avengers")

    response = client.patch(f"{TEAMS}/{team.id}", json={"motto": "Assemble"}, headers=user_headers)

    assert response.status_code == 422


def test_unknown_field_in_registration_is_422(client):
    body = {
        "username": "mallory",
        "email": "mallory@example.com",
        "password": DEFAULT_PASSWORD,
        "is_superuser": True,
    }

    response = client.post(USERS, json=body)

    assert response.status_code == 422


@pytest.mark.parametrize(
    "extra",
    [{"age": "old"}, {"age": "5"}, {"age": 5.5}, {"team_id": "1"}, {"name": 5}],
    ids=["age-word", "age-digit-string", "age-float", "team_id-string", "name-number"],
)
def test_wrong_body_type_is_422(client, user_headers, extra):
    body = {"name": "Thor", "secret_name": "Donald Blake", **extra}

    response = client.post(HEROES, json=body, headers=user_headers)

    assert response.status_code == 422


def test_body_that_is_not_an_object_is_422(client, user_headers):
    response = client.post(TEAMS, json=["Avengers", "Stark Tower"], headers=user_headers)

    assert response.status_code == 422


LEAK_PROBES = [
    ("POST", TEAMS, {"content": b'{"name":', "headers": JSON}),
    ("POST", TEAMS, {"content": b'{"name": "\xff"}', "headers": JSON}),
    ("POST", TEAMS, {"content": "[" * 100_000, "headers": JSON}),
    ("POST", TEAMS, {"content": team_body_of_size(MIB + 1), "headers": JSON}),
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
        client.post(
            "/api/v1/auth/token", data={"username": user.username, "password": DEFAULT_PASSWORD}
        ),
        client.post("/api/v1/auth/token", data={"username": user.username, "password": "nope"}),
    ]

    assert [r.status_code for r in responses] == [201, 409, 422, 200, 200, 200, 200, 200, 401]
    for response in responses:
        assert_no_leak(response)


@pytest.mark.parametrize(
    "path, body, field, message",
    [
        ("/api/v1/users", {"username": "ada", "email": "ada@example.com", "password": "short"},
         "password", "String should have at least 8 characters"),
        ("/api/v1/teams", {"name": "", "headquarters": "HQ"},
         "name", "String should have at least 1 character"),
        ("/api/v1/heroes", {"name": "x" * 101, "secret_name": "s"},
         "name", "String should have at most 100 characters"),
    ],
)
def test_a_length_error_says_which_length_in_words(client, user_headers, path, body, field,
                                                   message):
    response = client.post(path, json=body, headers=user_headers)

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert (error["loc"], error["msg"]) == (["body", field], message)
