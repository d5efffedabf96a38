"""A typed client generated from the OpenAPI document drives a whole flow; no hand-written HTTP."""

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.mail import smtp_server
from tests.ops.service import service

PACKAGE = "heroes_api_client"
GENERATOR = Path(sys.executable).with_name("openapi-python-client")


@pytest.fixture
def inbox():
    with smtp_server() as inbox:
        yield inbox


@pytest.fixture
def live(tmp_path, inbox):
    mail = {"SMTP_HOST": inbox.host, "SMTP_PORT": str(inbox.port), "SMTP_STARTTLS": "false",
            "EMAIL_FROM": "no-reply@heroes.example.com"}
    with service(tmp_path, **mail) as server:
        yield server


@pytest.fixture
def client_package(tmp_path, live, monkeypatch):
    """The client generated from the running service's own document, importable."""
    spec = tmp_path / "openapi.json"
    spec.write_text(httpx.get(f"{live.url}/openapi.json", timeout=30).text)
    # No post-generation hooks: formatting the code with ruff is not what is tested.
    config = tmp_path / "generator.json"
    config.write_text(json.dumps({"post_hooks": []}))
    generated = tmp_path / "generated"
    generated.mkdir()
    result = subprocess.run(
        [str(GENERATOR), "generate", "--path", str(spec), "--output-path",
         str(generated / PACKAGE), "--meta", "none", "--config", str(config),
         "--fail-on-warning"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    monkeypatch.syspath_prepend(str(generated))
    yield generated / PACKAGE
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
        del sys.modules[name]


def test_a_generated_client_registers_logs_in_and_manages_heroes(client_package, live):
    # Imported here: the package exists only once the fixture has generated it.
    from heroes_api_client import AuthenticatedClient, Client, models
    from heroes_api_client.api.auth import login_for_access_token
    from heroes_api_client.api.heroes import create_hero, delete_hero, get_hero, list_heroes
    from heroes_api_client.api.teams import create_team, delete_team
    from heroes_api_client.api.users import create_user, read_current_user

    anonymous = Client(base_url=live.url, raise_on_unexpected_status=True)

    # Register and log in.
    me = create_user.sync(client=anonymous, body=models.UserCreate(
        username="ada", email="Ada@Example.com", password="correct horse battery"))
    assert isinstance(me, models.UserRead) and me.email == "ada@example.com"
    token = login_for_access_token.sync(client=anonymous, body=models.BodyLoginForAccessToken(
        username="ada", password="correct horse battery"))
    assert isinstance(token, models.Token)
    client = AuthenticatedClient(
        base_url=live.url, token=token.access_token, raise_on_unexpected_status=True)
    assert read_current_user.sync(client=client).id == me.id

    # A team and its heroes.
    team = create_team.sync(
        client=client, body=models.TeamCreate(name="Avengers", headquarters="Stark Tower"))
    assert isinstance(team, models.TeamRead)
    created = [
        create_hero.sync(client=client, body=models.HeroCreate(
            name=f"Hero {n}", secret_name=f"Secret {n}", age=20 + n, team_id=team.id))
        for n in range(5)
    ]
    assert all(isinstance(hero, models.HeroRead) for hero in created)
    assert created[0].team.name == "Avengers"

    # Page through them two at a time, by keyset, as the Link header says.
    seen, after_id, pages = [], None, 0
    while True:
        page = list_heroes.sync_detailed(
            client=client, team_id=team.id, limit=2, **({"after_id": after_id} if after_id else {}))
        assert page.status_code == 200
        seen += page.parsed
        pages += 1
        if "link" not in page.headers:
            break
        after_id = page.parsed[-1].id
    assert [hero.id for hero in seen] == [hero.id for hero in created]
    assert pages == 3
    counted = list_heroes.sync_detailed(client=client, team_id=team.id, limit=2)
    assert counted.headers["X-Total-Count"] == "5"

    # Errors arrive as the documented types, not as exceptions.
    duplicate = create_team.sync(
        client=client, body=models.TeamCreate(name="Avengers", headquarters="Elsewhere"))
    assert isinstance(duplicate, models.ErrorMessage)
    assert duplicate.detail == "Team name already exists"

    # Delete.
    deleted = delete_hero.sync_detailed(created[0].id, client=client)
    assert deleted.status_code == 204
    gone = get_hero.sync(created[0].id, client=client)
    assert isinstance(gone, models.ErrorMessage) and gone.detail.endswith("not found")
    assert delete_team.sync_detailed(team.id, client=client).status_code == 204
    orphan = get_hero.sync(created[1].id, client=client)
    assert isinstance(orphan, models.HeroRead) and orphan.team is None


def test_a_generated_client_refreshes_logs_out_and_resets_a_password(client_package, live, inbox):
    import re

    from heroes_api_client import Client, models
    from heroes_api_client.api.auth import (
        confirm_password_reset,
        log_out,
        login_for_access_token,
        refresh_access_token,
        request_password_reset,
    )
    from heroes_api_client.api.users import create_user

    anonymous = Client(base_url=live.url, raise_on_unexpected_status=True)
    create_user.sync(client=anonymous, body=models.UserCreate(
        username="ada", email="ada@example.com", password="correct horse battery"))
    login = login_for_access_token.sync(client=anonymous, body=models.BodyLoginForAccessToken(
        username="ada", password="correct horse battery"))

    # Refresh: a new pair; the token spent cannot be used again.
    pair = refresh_access_token.sync(
        client=anonymous, body=models.RefreshTokenIn(refresh_token=login.refresh_token))
    assert isinstance(pair, models.Token) and pair.refresh_token != login.refresh_token
    replay = refresh_access_token.sync(
        client=anonymous, body=models.RefreshTokenIn(refresh_token=login.refresh_token))
    assert isinstance(replay, models.ErrorMessage) and replay.detail == "Invalid refresh token"

    # Log out (a fresh login: the replay above ended the first one).
    login = login_for_access_token.sync(client=anonymous, body=models.BodyLoginForAccessToken(
        username="ada", password="correct horse battery"))
    out = log_out.sync_detailed(
        client=anonymous, body=models.RefreshTokenIn(refresh_token=login.refresh_token))
    assert out.status_code == 204

    # Reset the password by e-mail.
    asked = request_password_reset.sync_detailed(
        client=anonymous, body=models.PasswordResetRequest(email="ada@example.com"))
    assert asked.status_code == 202
    [token] = re.findall(r"^([A-Za-z0-9_-]{43})\r?$", inbox.wait_for(1)[0].get_content(),
                         re.MULTILINE)
    done = confirm_password_reset.sync_detailed(client=anonymous, body=models.PasswordResetConfirm(
        token=token, new_password="a brand new password"))
    assert done.status_code == 204
    again = confirm_password_reset.sync(client=anonymous, body=models.PasswordResetConfirm(
        token=token, new_password="another new password"))
    assert isinstance(again, models.ErrorMessage)
    assert again.detail == "Invalid or expired reset token"
    relogin = login_for_access_token.sync(client=anonymous, body=models.BodyLoginForAccessToken(
        username="ada", password="a brand new password"))
    assert isinstance(relogin, models.Token)


def test_a_generated_client_edits_with_etags_and_retries_creates_safely(client_package, live):
    from heroes_api_client import AuthenticatedClient, Client, models
    from heroes_api_client.api.auth import login_for_access_token
    from heroes_api_client.api.items import create_item, get_item, list_items, update_item
    from heroes_api_client.api.users import create_user

    anonymous = Client(base_url=live.url, raise_on_unexpected_status=True)
    create_user.sync(client=anonymous, body=models.UserCreate(
        username="grace", email="grace@example.com", password="correct horse battery"))
    token = login_for_access_token.sync(client=anonymous, body=models.BodyLoginForAccessToken(
        username="grace", password="correct horse battery"))
    client = AuthenticatedClient(
        base_url=live.url, token=token.access_token, raise_on_unexpected_status=True)

    # A create retried with its Idempotency-Key (say, after a timeout): one item.
    draft = models.ItemCreate(title="Draft")
    first = create_item.sync_detailed(client=client, body=draft, idempotency_key="draft-1")
    retry = create_item.sync_detailed(client=client, body=draft, idempotency_key="draft-1")
    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.parsed.id == first.parsed.id
    assert [item.title for item in list_items.sync(client=client)] == ["Draft"]

    # An ETag round trip: a cached copy revalidated, one edit through, a stale one refused.
    item_id, etag = first.parsed.id, first.headers["ETag"]
    cached = get_item.sync_detailed(item_id, client=client, if_none_match=etag)
    assert (cached.status_code, cached.content) == (304, b"")
    mine = update_item.sync_detailed(
        item_id, client=client, body=models.ItemUpdate(title="Mine"), if_match=etag)
    assert mine.status_code == 200 and mine.headers["ETag"] != etag
    theirs = update_item.sync_detailed(
        item_id, client=client, body=models.ItemUpdate(title="Theirs"), if_match=etag)
    assert theirs.status_code == 412
    assert isinstance(theirs.parsed, models.ErrorMessage)
    assert theirs.parsed.detail == "The resource has changed"
    assert get_item.sync(item_id, client=client).title == "Mine"
