"""Users brought from a legacy application log in with their old passwords; the first
login replaces the legacy hash with the project's own."""

import logging

import pytest
from werkzeug.security import generate_password_hash

from app.models import User
from app.testing.factories import UserFactory

TOKEN = "/api/v1/auth/token"
ME = "/api/v1/users/me"
OLD_PASSWORD = "flask era password"
WRONG_CREDENTIALS = {"detail": "Incorrect username or password"}


def login(client, username, password):
    return client.post(TOKEN, data={"username": username, "password": password})


def stored_hash(db, user_id):
    db.expire_all()
    return db.get(User, user_id).hashed_password


@pytest.mark.parametrize("method", ["pbkdf2", "scrypt"])
def test_werkzeug_user_logs_in_and_is_moved_to_bcrypt(client, db, method, caplog):
    legacy = generate_password_hash(OLD_PASSWORD, method)
    user = UserFactory(username="miguel", hashed_password=legacy)

    with caplog.at_level(logging.INFO, logger="app.services.auth"):
        response = login(client, "miguel", OLD_PASSWORD)

    assert response.status_code == 200
    stored = stored_hash(db, user.id)
    assert stored.startswith("$2b$") and stored != legacy
    assert f"user {user.id}: werkzeug-{method} password hash replaced by bcrypt" in caplog.text
    # The token was issued for the new hash, and the new hash takes the same password.
    me = client.get(ME, headers={"Authorization": f"Bearer {response.json()['access_token']}"})
    assert me.status_code == 200 and me.json()["username"] == "miguel"
    assert login(client, "miguel", OLD_PASSWORD).status_code == 200
    assert stored_hash(db, user.id) == stored


def test_wrong_password_on_a_werkzeug_hash_is_401_and_keeps_the_hash(client, db):
    legacy = generate_password_hash(OLD_PASSWORD, "pbkdf2:sha256:1000")
    user = UserFactory(username="miguel", hashed_password=legacy)

    response = login(client, "miguel", "not the password")

    assert response.status_code == 401 and response.json() == WRONG_CREDENTIALS
    assert stored_hash(db, user.id) == legacy


@pytest.mark.parametrize("hashed", ["$2b$12$truncated", "md5$salt$abc", "plain$$secret"])
def test_a_hash_in_no_known_format_is_401_with_one_log_line(client, db, hashed, caplog):
    user = UserFactory(username="broken", hashed_password=hashed)

    with caplog.at_level(logging.WARNING, logger="app.services.auth"):
        response = login(client, "broken", "secret")

    assert response.status_code == 401 and response.json() == WRONG_CREDENTIALS
    lines = [r.getMessage() for r in caplog.records if r.name == "app.services.auth"]
    assert len(lines) == 1
    assert lines[0].startswith(f"user {user.id} cannot log in: their stored password hash")
    assert hashed not in lines[0]
    assert stored_hash(db, user.id) == hashed
