"""What docs/standards.md says the service meets, and had to be fixed for."""

import base64
import hashlib
import re

import pytest

from app.testing.factories import DEFAULT_PASSWORD


@pytest.mark.parametrize("spelling", ["+1", "01", "1e3", "%201", "1%20", "1.0", "1_0", "0x1",
                                      "%EF%BC%91"])
def test_an_id_spelled_other_than_in_digits_is_422(client, user, user_headers, spelling):
    response = client.get(f"/api/v1/users/{spelling}", headers=user_headers)

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "user_id"]


def test_ids_in_digits_of_any_length_are_found_or_not_found(client, user, user_headers):
    assert client.get(f"/api/v1/users/{user.id}", headers=user_headers).status_code == 200
    huge = client.get("/api/v1/users/" + "9" * 5000, headers=user_headers)
    assert (huge.status_code, huge.json()) == (404, {"detail": "User not found"})
    assert client.get("/api/v1/users/-1", headers=user_headers).status_code == 404


@pytest.mark.parametrize("spelling", ["+1", "01", "1e3", " 1", "1 ", "1.0", "1_0", "9" * 5000])
@pytest.mark.parametrize("parameter", ["skip", "limit", "after_id"])
def test_a_query_integer_spelled_other_than_in_digits_is_422(client, user_headers, spelling,
                                                             parameter):
    response = client.get("/api/v1/heroes", params={parameter: spelling}, headers=user_headers)

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", parameter]


def test_heroes_filters_take_canonical_integers_only(client, user_headers):
    for name in ("team_id", "min_age", "max_age"):
        assert client.get("/api/v1/heroes", params={name: "07"},
                          headers=user_headers).status_code == 422
        assert client.get("/api/v1/heroes", params={name: "7"},
                          headers=user_headers).status_code == 200


def test_token_responses_are_never_stored(client, user):
    response = client.post("/api/v1/auth/token",
                           data={"username": user.username, "password": DEFAULT_PASSWORD})

    assert response.status_code == 200 and "access_token" in response.json()
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"


def test_api_responses_carry_the_owasp_headers(client, user_headers):
    for response in (client.get("/api/v1/users/me", headers=user_headers),
                     client.get("/api/v1/users/me"), client.get("/openapi.json")):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["Content-Security-Policy"] == (
            "default-src 'none'; frame-ancestors 'none'")


@pytest.mark.parametrize("page", ["/docs", "/docs/errors", "/docs/oauth2-redirect"])
def test_pages_allow_only_their_own_scripts(client, page):
    response = client.get(page)

    policy = response.headers["Content-Security-Policy"]
    assert response.status_code == 200 and "frame-ancestors 'none'" in policy
    assert "'unsafe-inline'" not in policy.split("script-src", 1)[1].split(";", 1)[0]
    for script in re.findall(r"<script>(.*?)</script>", response.text, re.DOTALL):
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_every_get_path_answers_head_as_its_get_without_a_body(client, user, user_headers):
    # RFC 9110, 9.1 and 9.3.2: HEAD is supported wherever GET is, with GET's headers.
    paths = client.get("/openapi.json").json()["paths"]
    for path, methods in paths.items():
        if "get" not in methods:
            continue
        url = re.sub(r"\{[^}]+\}", str(user.id), path)
        got, head = client.get(url, headers=user_headers), client.head(url, headers=user_headers)
        assert (head.status_code, head.content) == (got.status_code, b""), path
        assert head.headers.get("ETag") == got.headers.get("ETag"), path
        assert head.headers.get("Content-Type") == got.headers.get("Content-Type"), path
