from datetime import UTC, datetime, timedelta

import jwt
import pytest

from app.core.security import password_fingerprint
from app.testing.factories import DEFAULT_PASSWORD, UserFactory

TOKEN = "/api/v1/auth/token"
ME = "/api/v1/users/me"
USERS = "/api/v1/users"
WRONG_CREDENTIALS = {"detail": "Incorrect username or password"}

# Two 100-character passwords, identical in their first 72 bytes.
LONG_PASSWORD = "x" * 72 + "a" * 28
LONG_PASSWORD_TWIN = "x" * 72 + "b" * 28


def login(client, username, password):
    return client.post(TOKEN, data={"username": username, "password": password})


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def assert_token_for(client, response, username):
    """A login that worked: its token signs in as that user."""
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    assert client.get(ME, headers=bearer(token)).json()["username"] == username


def craft_token(user, settings, *, key=None, expires_in=timedelta(minutes=5), **claims):
    now = datetime.now(UTC)
    payload = {
        "sub": str(user.id),
        "iat": now,
        "exp": now + expires_in,
        "pwd": password_fingerprint(user.hashed_password, settings.secret_key),
        **claims,
    }
    return jwt.encode(payload, key or settings.secret_key, algorithm="HS256")


def register(client, username, password):
    response = client.post(
        USERS, json={"username": username, "email": f"{username}@example.com", "password": password}
    )
    assert response.status_code == 201
    return response.json()


# --- POST /auth/token --------------------------------------------------------------------


@pytest.mark.parametrize(
    "login_name", ["Bob", "bob", "BOB", "bob@example.com", "Bob@Example.COM", "BOB@EXAMPLE.COM"]
)
def test_login_with_username_or_email_in_any_case(client, login_name):
    UserFactory(username="Bob", email="bob@example.com")

    response = login(client, login_name, DEFAULT_PASSWORD)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "access_token", "token_type", "expires_in", "refresh_token", "refresh_expires_in"
    }
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert body["refresh_expires_in"] == 14 * 24 * 3600
    assert body["access_token"] and len(body["refresh_token"]) == 43
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("registered, login_name", [
    ("straße@example.com", "STRASSE@EXAMPLE.COM"),
    ("strasse@example.com", "Straße@example.com"),
    ("ς@example.com", "Σ@example.com"),
    ("ﬀ@example.com", "ff@example.com"),
])
def test_login_with_email_under_unicode_case_folding(client, registered, login_name):
    UserFactory(username="folded", email=registered)

    assert_token_for(client, login(client, login_name, DEFAULT_PASSWORD), "folded")


def test_login_token_names_the_user_and_lasts_an_hour(client, settings):
    bob = UserFactory(username="bob")

    response = login(client, "bob", DEFAULT_PASSWORD)

    claims = jwt.decode(response.json()["access_token"], settings.secret_key, algorithms=["HS256"])
    assert claims["sub"] == str(bob.id)
    lifetime = claims["exp"] - datetime.now(UTC).timestamp()
    assert 3590 < lifetime <= 3600


def test_fresh_login_token_works_on_me(client):
    bob = UserFactory(username="bob")
    token = login(client, "bob", DEFAULT_PASSWORD).json()["access_token"]

    response = client.get(ME, headers=bearer(token))

    assert response.status_code == 200
    assert response.json()["id"] == bob.id


def test_login_with_wrong_password_is_401(client):
    UserFactory(username="bob")

    response = login(client, "bob", "wrong password")

    assert response.status_code == 401
    assert response.json() == WRONG_CREDENTIALS
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_login_with_unknown_user_is_401(client):
    UserFactory(username="bob")

    response = login(client, "alice", DEFAULT_PASSWORD)

    assert response.status_code == 401
    assert response.json() == WRONG_CREDENTIALS
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_unknown_user_and_wrong_password_get_identical_answers(client):
    UserFactory(username="bob")
    wrong_password = login(client, "bob", "wrong password")

    unknown_user = login(client, "alice", "wrong password")

    assert unknown_user.status_code == wrong_password.status_code
    assert unknown_user.content == wrong_password.content
    assert unknown_user.headers["WWW-Authenticate"] == wrong_password.headers["WWW-Authenticate"]


def test_login_password_is_case_sensitive(client):
    UserFactory(username="bob")

    response = login(client, "bob", DEFAULT_PASSWORD.upper())

    assert (response.status_code, response.json()) == (401, WRONG_CREDENTIALS)


def test_inactive_user_with_right_password_is_403(client):
    UserFactory(username="bob", is_active=False)

    response = login(client, "bob", DEFAULT_PASSWORD)

    assert response.status_code == 403
    assert "access_token" not in response.text


@pytest.mark.parametrize("missing", ["username", "password"])
def test_login_missing_a_field_is_422(client, missing):
    UserFactory(username="bob")
    form = {"username": "bob", "password": DEFAULT_PASSWORD}
    del form[missing]

    response = client.post(TOKEN, data=form)

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert (error["type"], error["loc"]) == ("missing", ["body", missing])


# --- Long and multi-byte passwords -------------------------------------------------------


def test_long_passwords_differing_after_byte_72_are_different(client):
    register(client, "longpw", LONG_PASSWORD)

    response = login(client, "longpw", LONG_PASSWORD_TWIN)

    assert response.status_code == 401
    assert response.json() == WRONG_CREDENTIALS


def test_long_password_logs_in(client):
    register(client, "longpw", LONG_PASSWORD)

    response = login(client, "longpw", LONG_PASSWORD)

    assert_token_for(client, response, "longpw")


@pytest.mark.parametrize("password", ["é" * 128, "🔑" * 128, "密码" * 64])
def test_multibyte_password_of_128_characters_logs_in(client, password):
    register(client, "unicode", password)

    response = login(client, "unicode", password)

    assert_token_for(client, response, "unicode")


def test_multibyte_password_differing_only_at_the_end_is_refused(client):
    register(client, "unicode", "é" * 128)

    response = login(client, "unicode", "é" * 127 + "e")

    assert (response.status_code, response.json()) == (401, WRONG_CREDENTIALS)


# --- Bearer tokens -----------------------------------------------------------------------


def assert_unauthenticated(response):
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert isinstance(response.json()["detail"], str)


def test_no_token_is_401(client, user):
    response = client.get(ME)

    assert_unauthenticated(response)


@pytest.mark.parametrize(
    "authorization",
    ["Bearer garbage", "Bearer ", "Bearer a.b.c", "Basic dXNlcjpwYXNz", "garbage"],
)
def test_garbage_authorization_is_401(client, user, authorization):
    response = client.get(ME, headers={"Authorization": authorization})

    assert_unauthenticated(response)


def test_token_signed_with_another_key_is_401(client, user, settings):
    token = craft_token(user, settings, key="another-secret-key-that-is-long-enough-too")

    response = client.get(ME, headers=bearer(token))

    assert_unauthenticated(response)


def test_expired_token_is_401(client, user, settings):
    token = craft_token(user, settings, expires_in=timedelta(minutes=-1))

    response = client.get(ME, headers=bearer(token))

    assert_unauthenticated(response)


def test_unsigned_token_is_401(client, user, settings):
    payload = {"sub": str(user.id), "exp": datetime.now(UTC) + timedelta(minutes=5)}
    token = jwt.encode(payload, None, algorithm="none")

    response = client.get(ME, headers=bearer(token))

    assert_unauthenticated(response)


def test_token_without_expiry_is_401(client, user, settings):
    payload = {
        "sub": str(user.id),
        "pwd": password_fingerprint(user.hashed_password, settings.secret_key),
    }
    token = jwt.encode(payload, settings.secret_key, algorithm="HS256")

    response = client.get(ME, headers=bearer(token))

    assert_unauthenticated(response)


@pytest.mark.parametrize("sub", ["0", "-1", str(2**63), "abc", ""])
def test_token_for_an_impossible_user_id_is_401(client, user, settings, sub):
    token = craft_token(user, settings, sub=sub)

    response = client.get(ME, headers=bearer(token))

    assert_unauthenticated(response)


def test_valid_crafted_token_is_accepted(client, user, settings):
    token = craft_token(user, settings)

    response = client.get(ME, headers=bearer(token))

    assert response.status_code == 200
    assert response.json()["id"] == user.id


def test_token_of_a_deleted_user_is_401(client, db, user, user_headers):
    db.delete(user)
    db.flush()

    response = client.get(ME, headers=user_headers)

    assert_unauthenticated(response)


def test_token_of_a_user_who_deleted_themself_is_401(client, user, user_headers):
    assert client.delete(f"{USERS}/{user.id}", headers=user_headers).status_code == 204

    response = client.get(ME, headers=user_headers)

    assert_unauthenticated(response)


def test_token_of_a_deactivated_user_is_401(client, user, user_headers, superuser_headers):
    deactivated = client.patch(
        f"{USERS}/{user.id}", json={"is_active": False}, headers=superuser_headers
    )
    assert deactivated.status_code == 200

    response = client.get(ME, headers=user_headers)

    assert_unauthenticated(response)


def test_old_token_stops_working_after_password_change(client, user, user_headers):
    changed = client.patch(
        f"{USERS}/{user.id}", json={"password": "a brand new password"}, headers=user_headers
    )
    assert changed.status_code == 200

    response = client.get(ME, headers=user_headers)

    assert_unauthenticated(response)


def test_password_changed_by_a_superuser_ends_old_tokens(
    client, user, user_headers, superuser_headers
):
    changed = client.patch(
        f"{USERS}/{user.id}", json={"password": "a brand new password"}, headers=superuser_headers
    )
    assert changed.status_code == 200

    response = client.get(ME, headers=user_headers)

    assert_unauthenticated(response)


def test_old_password_is_refused_after_password_change(client, user, user_headers):
    changed = client.patch(
        f"{USERS}/{user.id}", json={"password": "a brand new password"}, headers=user_headers
    )
    assert changed.status_code == 200

    response = login(client, user.username, DEFAULT_PASSWORD)

    assert response.status_code == 401
    assert response.json() == WRONG_CREDENTIALS


def test_new_password_logs_in_after_password_change(client, user, user_headers):
    changed = client.patch(
        f"{USERS}/{user.id}", json={"password": "a brand new password"}, headers=user_headers
    )
    assert changed.status_code == 200

    response = login(client, user.username, "a brand new password")

    assert response.status_code == 200
    assert response.json()["token_type"] == "bearer"


def test_token_from_login_after_password_change_works(client, user, user_headers):
    client.patch(
        f"{USERS}/{user.id}", json={"password": "a brand new password"}, headers=user_headers
    )
    token = login(client, user.username, "a brand new password").json()["access_token"]

    response = client.get(ME, headers=bearer(token))

    assert response.status_code == 200
    assert response.json()["id"] == user.id


def test_demoted_superuser_token_still_authenticates(client, db, superuser, superuser_headers):
    superuser.is_superuser = False
    db.flush()

    response = client.get(ME, headers=superuser_headers)

    assert response.status_code == 200
    assert response.json()["is_superuser"] is False
