"""Bodies and paths built to make the service work hard or answer outside the contract:
bounded 422s, integers and ids of any length, forms that cannot be parsed."""

import asyncio
import json
import re

import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from app.api import json_body
from app.testing.factories import DEFAULT_PASSWORD
from app.testing.settings import service_app

MIB = 1024 * 1024
USERS = "/api/v1/users"
HEROES = "/api/v1/heroes"
TOKEN = "/api/v1/auth/token"
JSON = {"Content-Type": "application/json"}
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

    client.post(USERS, content=unknown_keys_body(size)[0], headers=JSON)

    assert seen == (["worker"] if size > json_body.OFF_LOOP_BYTES else ["loop"])


@pytest.mark.parametrize("digits", [4301, 5000, 200_000])
def test_integer_of_any_length_in_a_body_is_422(client, user_headers, digits):
    body = f'{{"name": "Thor", "secret_name": "Blake", "age": {"9" * digits}}}'

    response = client.post(HEROES, content=body, headers={**user_headers, **JSON})

    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"
    assert len(response.content) <= FEW_KIB


def test_integer_of_any_length_in_a_registration_is_422(client):
    body = f'{{"username": {"1" * 5000}, "email": "a@example.com", "password": "long password"}}'

    response = client.post(USERS, content=body, headers=JSON)

    assert response.status_code == 422


def test_longest_parsable_integer_is_still_an_ordinary_range_error(client, user_headers):
    body = f'{{"name": "Thor", "secret_name": "Blake", "age": {"9" * 4300}}}'

    response = client.post(HEROES, content=body, headers={**user_headers, **JSON})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "age"]


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

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body"]
    assert error["type"] == "form_invalid"


def test_a_token_form_that_parses_still_logs_in(client, user):
    response = client.post(TOKEN, data={"username": user.username, "password": DEFAULT_PASSWORD})

    assert response.status_code == 200


ITEM_PATHS = [
    (method, context.path_format)
    for context in iter_route_contexts(service_app().routes)
    if isinstance(context.original_route, APIRoute) and "_id}" in context.path_format
    for method in sorted(context.methods)
]


def test_every_item_path_is_checked():
    assert len(ITEM_PATHS) == 12


@pytest.mark.parametrize("digits", [20, 4301, 5000])
@pytest.mark.parametrize(("method", "template"), ITEM_PATHS)
def test_path_id_of_any_length_is_404(client, superuser_headers, method, template, digits):
    path = re.sub(r"\{[^}]+\}", "9" * digits, template)
    body = {"json": {}} if method == "PATCH" else {}

    response = client.request(method, path, headers=superuser_headers, **body)

    assert response.status_code == 404, response.text[:200]
    assert response.json()["detail"].endswith("not found")


@pytest.mark.parametrize("bad_id", ["9" * 5000 + "x", "1" + "0" * 4300 + ".5"])
def test_long_path_id_that_is_no_integer_is_still_422(client, superuser_headers, bad_id):
    response = client.get(f"{HEROES}/{bad_id}", headers=superuser_headers)

    assert response.status_code == 422
    assert len(response.content) <= FEW_KIB
