"""Every form of an e-mail address or username that registration accepts, login, the
password reset request and PATCH accept too, as the same account."""

import pytest

from app.core.identifiers import normalise_identifier
from tests.mail import smtp_server

USERS = "/api/v1/users"
TOKEN = "/api/v1/auth/token"
PASSWORD = "a long password"

# What the validator accepts, and the one form it is stored in.
EMAIL_FORMS = [
    ("ada@example.com", "ada@example.com"),
    ("Ada@Example.COM", "ada@example.com"),
    ("  ada@example.com  ", "ada@example.com"),
    ("Ada Lovelace <Ada@Example.com>", "ada@example.com"),
    ("ada@BÜCHER.de", "ada@bücher.de"),
    ("ada@xn--bcher-kva.de", "ada@bücher.de"),
    ("ＡＤＡ@example.com", "ａｄａ@example.com"),
    ("Straße@Example.com", "straße@example.com"),
    ("ada+tag@example.com", "ada+tag@example.com"),
]
USERNAME_FORMS = ["ada", "Ada.L", "ada_l-1"]


@pytest.mark.parametrize("form, stored", EMAIL_FORMS)
def test_normalise_identifier_gives_the_stored_form(form, stored):
    assert normalise_identifier(form) == stored
    assert normalise_identifier(stored) == stored  # and keeps it


def log_in(client, login):
    return client.post(TOKEN, data={"username": login, "password": PASSWORD})


@pytest.fixture(scope="module")
def inbox():
    with smtp_server() as inbox:
        yield inbox


@pytest.fixture
def client(client_with, inbox):
    """A client of an app that mails password resets to `inbox`."""
    inbox.messages.clear()
    return client_with(**inbox.settings())


@pytest.mark.parametrize("form, stored", EMAIL_FORMS)
def test_an_email_form_registers_logs_in_resets_and_patches_as_one_account(
    client, inbox, form, stored
):
    created = client.post(USERS, json={"username": "ada", "email": form, "password": PASSWORD})
    assert created.status_code == 201, created.text
    assert created.json()["email"] == stored

    login = log_in(client, form)
    assert login.status_code == 200
    assert log_in(client, stored).status_code == 200
    # The same address in another accepted form is taken: one account, not two.
    again = client.post(USERS, json={"username": "ada2", "email": form, "password": PASSWORD})
    assert (again.status_code, again.json()) == (409, {"detail": "Email already registered"})

    reset = client.post("/api/v1/auth/password-reset", json={"email": form})
    assert reset.status_code == 202
    assert inbox.wait_for(1)[0]["To"] == stored

    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    user_id = created.json()["id"]
    moved = client.patch(f"{USERS}/{user_id}", headers=headers, json={"email": "x@example.com"})
    assert moved.status_code == 200
    back = client.patch(f"{USERS}/{user_id}", headers=headers, json={"email": form})
    assert (back.status_code, back.json()["email"]) == (200, stored)
    assert log_in(client, form).status_code == 200


@pytest.mark.parametrize("username", USERNAME_FORMS)
def test_a_username_registers_logs_in_in_any_case_and_patches(client, username):
    created = client.post(USERS, json={"username": username, "email": "u@example.com",
                                       "password": PASSWORD})
    assert (created.status_code, created.json()["username"]) == (201, username)

    for login in (username, username.upper(), f" {username.lower()} "):
        assert log_in(client, login).status_code == 200, login

    token = log_in(client, username).json()["access_token"]
    renamed = client.patch(f"{USERS}/{created.json()['id']}", json={"username": username},
                           headers={"Authorization": f"Bearer {token}"})
    assert (renamed.status_code, renamed.json()["username"]) == (200, username)
