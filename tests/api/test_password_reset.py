"""Password reset by e-mail, through a real SMTP server (aiosmtpd on a free port)."""

import re
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.core.security import new_opaque_token, opaque_token_hash
from app.db.base import utcnow
from app.models import PasswordResetToken
from app.testing.factories import DEFAULT_PASSWORD, PasswordResetTokenFactory, UserFactory
from tests.live import free_port
from tests.mail import smtp_server

RESET = "/api/v1/auth/password-reset"
CONFIRM = "/api/v1/auth/password-reset/confirm"
TOKEN = "/api/v1/auth/token"
REFRESH = "/api/v1/auth/refresh"
ME = "/api/v1/users/me"
NEW_PASSWORD = "a brand new password"
INVALID = {"detail": "Invalid or expired reset token"}
RESET_PAGE = "https://app.heroes.example.com/reset?lang=en"


@pytest.fixture
def inbox():
    with smtp_server() as inbox:
        yield inbox


@pytest.fixture
def mailing(client_with, inbox):
    """A client of an app that mails through `inbox`'s server."""
    return client_with(**inbox.settings(), password_reset_url=RESET_PAGE)


def log_in(client, password, username="bob"):
    return client.post(TOKEN, data={"username": username, "password": password})


def token_in(message):
    found = re.findall(r"token=([A-Za-z0-9_-]{43})", message.get_content())
    assert len(found) == 1, message.get_content()
    return found[0]


def test_the_mail_arrives_and_its_token_works_once(mailing, inbox):
    UserFactory(username="bob", email="bob@example.com")
    before = log_in(mailing, DEFAULT_PASSWORD).json()

    requested = mailing.post(RESET, json={"email": "Bob@Example.com"})

    assert (requested.status_code, requested.content) == (202, b"")
    [message] = inbox.wait_for(1)
    assert message["To"] == "bob@example.com"
    assert message["From"] == "no-reply@heroes.example.com"
    assert message.get_content_type() == "text/plain"
    assert message["Date"] and message["Message-ID"].endswith("@heroes.example.com>")
    token = token_in(message)
    assert token in message.as_string()  # as sent, not cut by quoted-printable
    assert f"{RESET_PAGE}&token={token}" in message.get_content()
    assert "30 minutes" in message.get_content()

    confirmed = mailing.post(CONFIRM, json={"token": token, "new_password": NEW_PASSWORD})
    assert (confirmed.status_code, confirmed.content) == (204, b"")
    again = mailing.post(CONFIRM, json={"token": token, "new_password": "yet another one"})
    assert (again.status_code, again.json()) == (400, INVALID)

    assert log_in(mailing, NEW_PASSWORD).status_code == 200
    assert log_in(mailing, DEFAULT_PASSWORD).status_code == 401
    # Every session of the user ended: the access token and the refresh token of before.
    old_access = {"Authorization": f"Bearer {before['access_token']}"}
    assert mailing.get(ME, headers=old_access).status_code == 401
    old_refresh = mailing.post(REFRESH, json={"refresh_token": before["refresh_token"]})
    assert old_refresh.status_code == 401


def test_without_a_reset_page_the_mail_gives_the_token_and_the_api_call(client_with, inbox):
    UserFactory(username="bob", email="bob@example.com")
    client = client_with(**inbox.settings())

    client.post(RESET, json={"email": "bob@example.com"}, headers={"Host": "evil.example"})

    body = inbox.wait_for(1)[0].get_content()
    assert "POST /api/v1/auth/password-reset/confirm" in body
    [token] = re.findall(r"^([A-Za-z0-9_-]{43})\r?$", body, re.MULTILINE)
    assert "evil.example" not in body and "http" not in body
    confirmed = client.post(CONFIRM, json={"token": token, "new_password": NEW_PASSWORD})
    assert confirmed.status_code == 204


def test_the_link_never_uses_the_request_host(mailing, inbox):
    UserFactory(username="bob", email="bob@example.com")

    mailing.post(RESET, json={"email": "bob@example.com"},
                 headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"})

    body = inbox.wait_for(1)[0].get_content()
    assert "evil.example" not in body and RESET_PAGE in body


def test_only_the_hash_of_the_reset_token_is_stored(mailing, inbox, db):
    bob = UserFactory(username="bob", email="bob@example.com")

    mailing.post(RESET, json={"email": "bob@example.com"})

    token = token_in(inbox.wait_for(1)[0])
    db.expire_all()
    [row] = db.scalars(select(PasswordResetToken).where(PasswordResetToken.user_id == bob.id))
    assert row.token_hash == opaque_token_hash(token) != token
    lifetime = row.expires_at - utcnow()
    assert lifetime == pytest.approx(timedelta(minutes=30), abs=timedelta(minutes=1))


def test_an_expired_token_is_400_and_changes_nothing(mailing):
    token = new_opaque_token()
    PasswordResetTokenFactory(user=UserFactory(username="bob"), token=token,
                              expires_at=utcnow() - timedelta(seconds=1))

    response = mailing.post(CONFIRM, json={"token": token, "new_password": NEW_PASSWORD})

    assert (response.status_code, response.json()) == (400, INVALID)
    assert log_in(mailing, DEFAULT_PASSWORD).status_code == 200


def test_an_unknown_token_is_400_like_an_expired_one(mailing):
    response = mailing.post(CONFIRM, json={"token": new_opaque_token(),
                                           "new_password": NEW_PASSWORD})

    assert (response.status_code, response.json()) == (400, INVALID)


def test_confirming_spends_the_users_other_pending_resets(mailing):
    bob = UserFactory(username="bob")
    first, second = new_opaque_token(), new_opaque_token()
    PasswordResetTokenFactory(user=bob, token=first)
    PasswordResetTokenFactory(user=bob, token=second)

    confirmed = mailing.post(CONFIRM, json={"token": first, "new_password": NEW_PASSWORD})

    assert confirmed.status_code == 204

    later = mailing.post(CONFIRM, json={"token": second, "new_password": "someone else's"})
    assert (later.status_code, later.json()) == (400, INVALID)
    assert log_in(mailing, NEW_PASSWORD).status_code == 200


def test_an_unknown_or_inactive_address_sends_nothing(mailing, inbox):
    UserFactory(username="off", email="off@example.com", is_active=False)
    UserFactory(username="bob", email="bob@example.com")

    unknown = mailing.post(RESET, json={"email": "nobody@example.com"})
    inactive = mailing.post(RESET, json={"email": "off@example.com"})
    # A known address afterwards: its mail is the first and only one to arrive.
    mailing.post(RESET, json={"email": "bob@example.com"})

    assert (unknown.status_code, unknown.content) == (202, b"")
    assert (inactive.status_code, inactive.content) == (202, b"")
    [message] = inbox.wait_for(1)
    assert message["To"] == "bob@example.com"
    assert len(inbox.messages) == 1


def test_without_smtp_host_the_request_is_503(client):
    UserFactory(username="bob", email="bob@example.com")

    response = client.post(RESET, json={"email": "bob@example.com"})

    assert (response.status_code, response.json()) == (503, {"detail": "E-mail is not configured"})


def test_email_from_is_required_with_smtp_host(client_with):
    from app.core.config import BadSetting

    with pytest.raises(BadSetting, match="^EMAIL_FROM is not an e-mail address"):
        client_with(smtp_host="127.0.0.1")


def test_reset_requests_are_throttled_alike_for_known_and_unknown_addresses(client_with, inbox):
    UserFactory(username="bob", email="bob@example.com")
    client = client_with(**inbox.settings(), login_rate_limit_enabled=True,
                         login_rate_limit_per_account="2/minute",
                         login_rate_limit_per_address="100/minute")

    for email in ("bob@example.com", "nobody@example.com"):
        statuses = [client.post(RESET, json={"email": email}).status_code for _ in range(2)]
        refused = client.post(RESET, json={"email": email.upper()})
        assert statuses == [202, 202]
        assert refused.status_code == 429
        assert refused.json() == {"detail": "Too many password reset attempts; try again later"}
        assert int(refused.headers["Retry-After"]) >= 1
    assert len(inbox.wait_for(2)) == 2
    # Logins are counted apart: bob can still log in.
    assert log_in(client, DEFAULT_PASSWORD).status_code == 200


def test_refused_reset_tokens_are_throttled_per_client(client_with, inbox):
    client = client_with(**inbox.settings(), login_rate_limit_enabled=True,
                         login_rate_limit_per_address="3/minute")
    body = {"new_password": NEW_PASSWORD}

    statuses = [client.post(CONFIRM, json={**body, "token": new_opaque_token()}).status_code
                for _ in range(4)]

    assert statuses == [400, 400, 400, 429]


@pytest.mark.parametrize("body, field", [
    ({"token": "x" * 42, "new_password": NEW_PASSWORD}, "token"),
    ({"token": "x" * 44, "new_password": NEW_PASSWORD}, "token"),
    ({"token": "x" * 42 + "=", "new_password": NEW_PASSWORD}, "token"),
    ({"token": "x" * 43, "new_password": "seven.."}, "new_password"),
    ({"token": "x" * 43, "new_password": "y" * 129}, "new_password"),
    ({"token": "x" * 43}, "new_password"),
])
def test_bad_confirmations_are_one_422_naming_the_field(mailing, body, field):
    response = mailing.post(CONFIRM, json=body)

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", field]
    if field == "new_password" and "new_password" in body:
        assert error["input"] == "[redacted]"  # a rejected password is never echoed


@pytest.mark.parametrize("email", ["not an address", "bob@", "", "bob@localhost.invalid"])
def test_a_malformed_address_is_422_before_anything_is_looked_up(mailing, inbox, email):
    response = mailing.post(RESET, json={"email": email})

    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [["body", "email"]]
    assert inbox.messages == []


def test_a_mail_server_that_cannot_be_reached_is_one_log_line(client_with, caplog):
    UserFactory(username="bob", email="bob@example.com")
    client = client_with(smtp_host="127.0.0.1", smtp_port=free_port(), smtp_starttls=False,
                         email_from="no-reply@heroes.example.com", smtp_timeout=2)

    response = client.post(RESET, json={"email": "bob@example.com"})

    assert (response.status_code, response.content) == (202, b"")
    lines = wait_for_warnings(caplog, "e-mail not sent")
    assert len(lines) == 1 and "ConnectionRefusedError" in lines[0], lines


def test_starttls_refused_by_the_server_sends_nothing_and_says_so(client_with, inbox, caplog):
    UserFactory(username="bob", email="bob@example.com")
    client = client_with(**{**inbox.settings(), "smtp_starttls": True})

    assert client.post(RESET, json={"email": "bob@example.com"}).status_code == 202

    lines = wait_for_warnings(caplog, "e-mail not sent")
    assert len(lines) == 1 and "STARTTLS" in lines[0], lines
    assert inbox.messages == []


def wait_for_warnings(caplog, text, timeout=10.0):
    """The warnings containing `text`, once at least one was logged (by the mail thread)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [r.getMessage() for r in caplog.records
                 if r.levelname == "WARNING" and text in r.getMessage()]
        if found:
            time.sleep(0.2)  # a second one, if any, has had its chance
            return [r.getMessage() for r in caplog.records
                    if r.levelname == "WARNING" and text in r.getMessage()]
        time.sleep(0.05)
    raise AssertionError(f"no warning with {text!r} in {timeout}s")
