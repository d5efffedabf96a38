"""Refresh tokens: rotation, reuse detection, logout, and what a password change ends."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.core.security import new_opaque_token, opaque_token_hash
from app.db.base import utcnow
from app.models import RefreshToken
from app.services import refresh_tokens
from app.testing.factories import DEFAULT_PASSWORD, RefreshTokenFactory, UserFactory

TOKEN = "/api/v1/auth/token"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/users/me"
INVALID = {"detail": "Invalid refresh token"}


def log_in(client, username="bob", password=DEFAULT_PASSWORD):
    response = client.post(TOKEN, data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return response.json()


def refresh(client, token):
    return client.post(REFRESH, json={"refresh_token": token})


def bearer(tokens):
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def stored(db, token):
    db.expire_all()
    return db.scalars(
        select(RefreshToken).where(RefreshToken.token_hash == opaque_token_hash(token))
    ).one_or_none()


def test_login_stores_only_the_hash_of_its_refresh_token(client, db):
    UserFactory(username="bob")

    tokens = log_in(client)

    row = stored(db, tokens["refresh_token"])
    assert row is not None and row.spent_at is None and row.revoked_at is None
    assert tokens["refresh_token"] not in {row.token_hash, row.family}
    assert row.expires_at - utcnow() == pytest.approx(timedelta(days=14), abs=timedelta(minutes=1))


def test_refresh_rotates_the_pair_and_spends_the_token_sent(client, db):
    bob = UserFactory(username="bob")
    first = log_in(client)

    response = refresh(client, first["refresh_token"])

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["expires_in"] == 3600 and second["refresh_expires_in"] == 14 * 86400
    assert client.get(ME, headers=bearer(second)).json()["id"] == bob.id
    old, new = stored(db, first["refresh_token"]), stored(db, second["refresh_token"])
    assert old.spent_at is not None and new.spent_at is None
    assert old.family == new.family


def test_replaying_a_spent_token_is_401_and_ends_the_whole_login(client, db):
    UserFactory(username="bob")
    first = log_in(client)
    second = refresh(client, first["refresh_token"]).json()

    replay = refresh(client, first["refresh_token"])

    assert replay.status_code == 401
    assert replay.json() == INVALID
    assert replay.headers["WWW-Authenticate"] == "Bearer"
    # The newest token, held by the owner (or the thief), is revoked with it.
    after = refresh(client, second["refresh_token"])
    assert after.status_code == 401 and after.json() == INVALID
    assert stored(db, second["refresh_token"]).revoked_at is not None


def test_reuse_ends_only_that_login(client):
    UserFactory(username="bob")
    phone, laptop = log_in(client), log_in(client)
    refresh(client, phone["refresh_token"])

    assert refresh(client, phone["refresh_token"]).status_code == 401

    assert refresh(client, laptop["refresh_token"]).status_code == 200


def test_logout_revokes_that_login_and_nothing_else(client, db):
    UserFactory(username="bob")
    phone, laptop = log_in(client), log_in(client)
    rotated = refresh(client, phone["refresh_token"]).json()

    response = client.post(LOGOUT, json={"refresh_token": rotated["refresh_token"]})

    assert response.status_code == 204 and response.content == b""
    assert refresh(client, rotated["refresh_token"]).json() == INVALID
    assert stored(db, phone["refresh_token"]).revoked_at is not None
    assert refresh(client, laptop["refresh_token"]).status_code == 200


def test_logout_twice_or_with_an_unknown_token_is_204_and_changes_nothing(client, db):
    UserFactory(username="bob")
    tokens = log_in(client)
    client.post(LOGOUT, json={"refresh_token": tokens["refresh_token"]})

    again = client.post(LOGOUT, json={"refresh_token": tokens["refresh_token"]})
    unknown = client.post(LOGOUT, json={"refresh_token": new_opaque_token()})

    assert (again.status_code, unknown.status_code) == (204, 204)
    assert db.scalar(select(func.count()).select_from(RefreshToken)) == 1


def test_a_password_change_revokes_every_login_of_the_user(client, db):
    bob = UserFactory(username="bob")
    other = UserFactory(username="carol")
    phone, laptop = log_in(client), log_in(client)
    carols = log_in(client, "carol")

    changed = client.patch(f"/api/v1/users/{bob.id}", headers=bearer(phone),
                           json={"password": "a brand new password"})

    assert changed.status_code == 200
    for tokens in (phone, laptop):
        assert refresh(client, tokens["refresh_token"]).json() == INVALID
    assert refresh(client, carols["refresh_token"]).status_code == 200
    assert other.id != bob.id


def test_a_patch_without_a_password_keeps_the_logins(client):
    bob = UserFactory(username="bob")
    tokens = log_in(client)

    client.patch(f"/api/v1/users/{bob.id}", headers=bearer(tokens), json={"full_name": "Bob B"})

    assert refresh(client, tokens["refresh_token"]).status_code == 200


def test_an_expired_refresh_token_is_401(client):
    token = new_opaque_token()
    RefreshTokenFactory(token=token, expires_at=utcnow() - timedelta(seconds=1))

    response = refresh(client, token)

    assert response.status_code == 401 and response.json() == INVALID


def test_an_inactive_user_cannot_refresh_and_keeps_the_token(client, db):
    token = new_opaque_token()
    RefreshTokenFactory(token=token, user=UserFactory(is_active=False))

    response = refresh(client, token)

    assert response.status_code == 403 and response.json() == {"detail": "Inactive user"}
    assert stored(db, token).spent_at is None


def test_a_deleted_users_tokens_go_with_them(client, db):
    UserFactory(username="bob")
    tokens = log_in(client)
    me = client.get(ME, headers=bearer(tokens)).json()

    assert client.delete(f"/api/v1/users/{me['id']}", headers=bearer(tokens)).status_code == 204

    assert refresh(client, tokens["refresh_token"]).json() == INVALID
    assert db.scalar(select(func.count()).select_from(RefreshToken)) == 0


@pytest.mark.parametrize("body", [
    {"refresh_token": "short"},
    {"refresh_token": "x" * 42 + "!"},
    {"refresh_token": "x" * 44},
    {"refresh_token": ""},
    {"refresh_token": 12345},
    {},
])
@pytest.mark.parametrize("path", [REFRESH, LOGOUT])
def test_a_malformed_refresh_token_is_422_and_names_the_field(client, path, body):
    response = client.post(path, json=body)

    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [["body", "refresh_token"]]


def test_an_unknown_well_formed_refresh_token_is_401_like_a_spent_one(client):
    response = refresh(client, new_opaque_token())

    assert response.status_code == 401 and response.json() == INVALID


def test_expired_rows_are_purged_by_later_logins_a_batch_at_a_time(client, db):
    UserFactory(username="bob")
    long_ago = utcnow() - timedelta(days=1)
    for _ in range(refresh_tokens.PURGE_BATCH + 5):
        RefreshTokenFactory(expires_at=long_ago)
    live = RefreshTokenFactory()

    log_in(client)

    expired = select(func.count()).where(RefreshToken.expires_at < utcnow())
    assert db.scalar(expired) == 5
    log_in(client)
    assert db.scalar(expired) == 0
    assert stored(db, "unused") is None and db.get(RefreshToken, live.id) is not None


def test_the_database_decides_who_spends_a_token_not_the_read_before(client, db, monkeypatch):
    """A refresh that read the token unspent, but lost the UPDATE to a concurrent one
    (simulated: the read returns a stale copy), is reuse: 401 and the login ends."""
    token, bob = new_opaque_token(), UserFactory()
    row = RefreshTokenFactory(user=bob, token=token, spent_at=utcnow())
    stale = RefreshToken(id=row.id, user_id=bob.id, family=row.family,
                         token_hash=row.token_hash, expires_at=row.expires_at)
    sibling = RefreshTokenFactory(user=bob, family=row.family)
    monkeypatch.setattr(refresh_tokens, "_find", lambda db, token: stale)

    response = refresh(client, token)

    assert response.status_code == 401 and response.json() == INVALID
    db.expire_all()
    assert db.get(RefreshToken, sibling.id).revoked_at is not None
