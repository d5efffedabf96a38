"""What a request body may be: at most 1 MiB (413 past it, declared or streamed, before
anything runs), JSON in UTF-8 that is not nested too deep, an object of the fields the
operation knows with their own types, no NUL in its strings; a login form that parses.
Anything else is one 422 that says what was wrong, and nothing is stored."""

import asyncio
import json
import re

import pytest
from fastapi import params

from app.api import json_body
from app.testing.factories import DEFAULT_PASSWORD, HeroFactory, TeamFactory
from tests.api.operations import api_operations

MIB = 1024 * 1024
TEAMS = "/api/v1/teams"
HEROES = "/api/v1/heroes"
USERS = "/api/v1/users"
TOKEN = "/api/v1/auth/token"
JSON = {"Content-Type": "application/json"}
LEAK_MARKERS = ("Traceback", "sqlalchemy", "SELECT", "$2b$")
NUL_REFUSED = "Value error, must not contain NUL characters"


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


def only_error(response):
    assert response.status_code == 422, response.text[:300]
    [error] = response.json()["detail"]
    return error


# --- Size: 1 MiB -------------------------------------------------------------------------

FRAMINGS = {"content-length": False, "chunked": True}


def _media_type(operation):
    form = isinstance(operation.route.body_field.field_info, params.Form)
    return "application/x-www-form-urlencoded" if form else "application/json"


BODY_OPERATIONS = [(op.method, op.path(), _media_type(op)) for op in api_operations()
                   if op.has_body]


@pytest.mark.parametrize("streamed", FRAMINGS.values(), ids=FRAMINGS.keys())
@pytest.mark.parametrize(("method", "path", "media_type"), BODY_OPERATIONS)
def test_a_body_over_1_mib_is_413_with_request_id_and_the_documented_type(
    client, method, path, media_type, streamed
):
    """Without a token too: the size is checked before anything else."""
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
    assert response.text == media_types["text/plain"]["example"] == "Content Too Large"


@pytest.mark.parametrize("streamed", FRAMINGS.values(), ids=FRAMINGS.keys())
def test_a_valid_body_over_1_mib_with_a_token_is_413_and_stores_nothing(
    client, user_headers, streamed
):
    body = team_body_of_size(MIB + 1)

    response = client.post(
        TEAMS, content=chunks(body) if streamed else body, headers={**user_headers, **JSON}
    )

    if streamed:
        assert "Content-Length" not in response.request.headers
        assert response.request.headers["Transfer-Encoding"] == "chunked"
    else:
        assert response.request.headers["Content-Length"] == str(MIB + 1)
    assert (response.status_code, response.text) == (413, "Content Too Large")
    assert client.get(TEAMS, headers=user_headers).json() == []


def test_a_declared_length_over_1_mib_runs_nothing(client, user_headers):
    team = TeamFactory()

    response = client.request(
        "DELETE", f"{TEAMS}/{team.id}", content=b"x" * (MIB + 1), headers=user_headers
    )

    assert (response.status_code, response.text) == (413, "Content Too Large")
    assert client.get(f"{TEAMS}/{team.id}", headers=user_headers).status_code == 200


@pytest.mark.parametrize("streamed", FRAMINGS.values(), ids=FRAMINGS.keys())
@pytest.mark.parametrize("size", [MIB - 1, MIB], ids=["just-under-1MiB", "exactly-1MiB"])
def test_a_body_up_to_1_mib_is_read_and_validated(client, user_headers, size, streamed):
    body = team_body_of_size(size)

    response = client.post(
        TEAMS, content=chunks(body) if streamed else body, headers={**user_headers, **JSON}
    )

    error = only_error(response)
    assert (error["loc"], error["msg"]) == (
        ["body", "name"], "String should have at most 100 characters"
    )


# --- JSON: syntax, encoding, depth -------------------------------------------------------

NOT_JSON = {
    "truncated": (b'{"name": "Avengers",', "Expecting property name enclosed in double quotes"),
    "single-quotes": (b"{'name': 'Avengers'}", "Expecting property name enclosed in double quotes"),
    "text": (b"not json", "Expecting value"),
    "invalid-byte": (b'{"name": "\xff", "headquarters": "x"}', "Body is not valid UTF-8"),
    "latin-1": (b'{"name": "caf\xe9", "headquarters": "x"}', "Body is not valid UTF-8"),
    "utf-16": ('{"name": "Avengers", "headquarters": "x"}'.encode("utf-16"),
               "Body is not valid UTF-8"),
    "unclosed-arrays": (b"[" * 100_000, "JSON is nested too deeply"),
    "closed-arrays": (b"[" * 100_000 + b"]" * 100_000, "JSON is nested too deeply"),
    "objects": (b'{"a": ' * 100_000 + b"1" + b"}" * 100_000, "JSON is nested too deeply"),
}


@pytest.mark.parametrize(("body", "why"), NOT_JSON.values(), ids=NOT_JSON.keys())
def test_a_body_that_is_not_json_in_utf8_is_422_saying_why(client, user_headers, body, why):
    response = client.post(TEAMS, content=body, headers={**user_headers, **JSON})

    error = only_error(response)
    assert (error["type"], error["ctx"]) == ("json_invalid", {"error": why})
    assert_no_leak(response)
    assert client.get(TEAMS, headers=user_headers).json() == []


def test_an_empty_body_is_422_body_required(client, user_headers):
    response = client.post(TEAMS, content=b"", headers={**user_headers, **JSON})

    error = only_error(response)
    assert (error["type"], error["loc"]) == ("missing", ["body"])


def test_a_deeply_nested_registration_is_422(client):
    response = client.post(USERS, content="[" * 100_000, headers=JSON)

    error = only_error(response)
    assert error["ctx"] == {"error": "JSON is nested too deeply"}


@pytest.mark.parametrize("size", [MIB - 1024, 1024], ids=["large", "small"])
def test_large_json_bodies_are_decoded_off_the_event_loop(client, monkeypatch, size):
    seen = []
    decode = json_body._loads

    def watched(*args):
        try:
            asyncio.get_running_loop()
            seen.append("loop")
        except RuntimeError:
            seen.append("worker")
        return decode(*args)

    monkeypatch.setattr(json_body, "_loads", watched)
    body = b'{"pad": "' + b"x" * (size - 11) + b'"}'

    response = client.post(USERS, content=body, headers=JSON)

    assert seen == (["worker"] if size > json_body.OFF_LOOP_BYTES else ["loop"])
    assert response.status_code == 422  # decoded either way, then validated
    assert response.json()["error_count"] == 4  # three fields missing, one unknown


# --- NUL ---------------------------------------------------------------------------------


def test_nul_in_a_body_string_is_422_saying_why_and_stores_nothing(client, user_headers):
    response = client.post(
        TEAMS, json={"name": "a\x00b", "headquarters": "Stark Tower"}, headers=user_headers
    )

    error = only_error(response)
    assert (error["loc"], error["msg"]) == (["body", "name"], NUL_REFUSED)
    assert error["ctx"] == {"error": "must not contain NUL characters"}
    assert client.get(TEAMS, headers=user_headers).json() == []


def test_nul_in_a_patch_body_is_422_and_changes_nothing(client, db, user_headers):
    hero = HeroFactory(secret_name="Bruce Banner")

    response = client.patch(
        f"{HEROES}/{hero.id}", json={"secret_name": "\x00"}, headers=user_headers
    )

    error = only_error(response)
    assert (error["loc"], error["msg"]) == (["body", "secret_name"], NUL_REFUSED)
    db.refresh(hero)  # the secret name is never served: read the row
    assert hero.secret_name == "Bruce Banner"


@pytest.mark.parametrize("path", [TEAMS, HEROES], ids=["team-name", "hero-name"])
def test_nul_in_a_query_filter_is_422(client, user_headers, path):
    response = client.get(f"{path}?name=a%00b", headers=user_headers)

    error = only_error(response)
    assert (error["loc"], error["msg"]) == (["query", "name"], NUL_REFUSED)


def test_nul_in_the_login_form_is_422(client):
    response = client.post(TOKEN, data={"username": "a\x00b", "password": DEFAULT_PASSWORD})

    error = only_error(response)
    assert (error["loc"], error["msg"]) == (["body", "username"], NUL_REFUSED)


# --- Fields and types --------------------------------------------------------------------


def test_an_unknown_body_field_is_422_and_stores_nothing(client, user_headers):
    body = {"name": "Avengers", "headquarters": "Stark Tower", "colour": "red"}

    response = client.post(TEAMS, json=body, headers=user_headers)

    error = only_error(response)
    assert (error["type"], error["loc"]) == ("extra_forbidden", ["body", "colour"])
    assert client.get(TEAMS, headers=user_headers).json() == []


def test_an_unknown_field_in_a_patch_is_422_and_changes_nothing(client, user_headers):
    team = TeamFactory(name="Avengers")

    response = client.patch(f"{TEAMS}/{team.id}", json={"motto": "Assemble"}, headers=user_headers)

    error = only_error(response)
    assert (error["type"], error["loc"]) == ("extra_forbidden", ["body", "motto"])
    assert client.get(f"{TEAMS}/{team.id}", headers=user_headers).json()["name"] == "Avengers"


def test_an_unknown_field_in_a_registration_is_422_and_registers_nobody(client):
    body = {
        "username": "mallory",
        "email": "mallory@example.com",
        "password": DEFAULT_PASSWORD,
        "is_superuser": True,
    }

    response = client.post(USERS, json=body)

    error = only_error(response)
    assert (error["type"], error["loc"]) == ("extra_forbidden", ["body", "is_superuser"])
    login = client.post(TOKEN, data={"username": "mallory", "password": DEFAULT_PASSWORD})
    assert login.status_code == 401


WRONG_TYPES = {
    "age-word": ({"age": "old"}, "int_type"),
    "age-digit-string": ({"age": "5"}, "int_type"),
    "age-float": ({"age": 5.5}, "int_type"),
    "team_id-string": ({"team_id": "1"}, "int_type"),
    "name-number": ({"name": 5}, "string_type"),
}


@pytest.mark.parametrize(("extra", "error_type"), WRONG_TYPES.values(), ids=WRONG_TYPES.keys())
def test_a_body_field_of_the_wrong_type_is_422(client, user_headers, extra, error_type):
    body = {"name": "Thor", "secret_name": "Donald Blake", **extra}

    response = client.post(HEROES, json=body, headers=user_headers)

    error = only_error(response)
    [field] = extra
    assert (error["type"], error["loc"]) == (error_type, ["body", field])
    assert client.get(HEROES, headers=user_headers).json() == []


def test_a_body_that_is_not_an_object_is_422(client, user_headers):
    response = client.post(TEAMS, json=["Avengers", "Stark Tower"], headers=user_headers)

    error = only_error(response)
    assert (error["type"], error["loc"]) == ("model_attributes_type", ["body"])


# --- Forms -------------------------------------------------------------------------------

BROKEN_FORMS = {
    "multipart-without-boundary": (b"username=a&password=b", "multipart/form-data"),
    "multipart-over-1000-fields": (
        b"".join(
            b'--B\r\nContent-Disposition: form-data; name="f%d"\r\n\r\nx\r\n' % i
            for i in range(1001)
        )
        + b"--B--\r\n",
        "multipart/form-data; boundary=B",
    ),
    "multipart-garbage": (b"\x00\xff" * 100, "multipart/form-data; boundary=B"),
    "urlencoded-over-1000-fields": (
        "&".join(f"f{i}=x" for i in range(1001)).encode() + b"&username=a&password=b",
        "application/x-www-form-urlencoded",
    ),
}


@pytest.mark.parametrize(("body", "content_type"), BROKEN_FORMS.values(), ids=BROKEN_FORMS.keys())
def test_a_token_form_that_cannot_be_parsed_is_422(client, body, content_type):
    response = client.post(TOKEN, content=body, headers={"Content-Type": content_type})

    error = only_error(response)
    assert (error["loc"], error["type"]) == (["body"], "form_invalid")


def test_a_token_form_that_parses_still_logs_in(client, user):
    response = client.post(TOKEN, data={"username": user.username, "password": DEFAULT_PASSWORD})

    assert response.status_code == 200
    assert response.json()["token_type"] == "bearer"
    token = response.json()["access_token"]
    me = client.get(f"{USERS}/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["username"] == user.username
