"""Idempotency-Key on creates (contract: "Idempotent creates")."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from app.db.base import utcnow
from app.models import Hero, IdempotencyKey, Item, Team, User
from app.services import items
from app.services.idempotency import RUNNING
from app.testing.factories import DEFAULT_PASSWORD

CREATES = {
    "users": lambda n: {"username": f"idem{n}", "email": f"idem{n}@example.com",
                        "password": DEFAULT_PASSWORD},
    "teams": lambda n: {"name": f"Idem {n}", "headquarters": "HQ"},
    "heroes": lambda n: {"name": f"Idem {n}", "secret_name": "s"},
    "items": lambda n: {"title": f"Idem {n}"},
}
NAMED_BY = {"users": (User, "username"), "teams": (Team, "name"), "heroes": (Hero, "name"),
            "items": (Item, "title")}


def count(db, model, **equal) -> int:
    stmt = select(func.count()).select_from(model)
    for field, value in equal.items():
        stmt = stmt.where(getattr(model, field) == value)
    return db.scalar(stmt)


@pytest.mark.parametrize("resource", CREATES)
def test_a_retry_replays_the_first_response_and_creates_nothing(client, user_headers, db,
                                                                resource):
    url, body = f"/api/v1/{resource}", CREATES[resource](1)
    headers = {**user_headers, "Idempotency-Key": f"create-{resource}-1"}

    first = client.post(url, json=body, headers=headers)
    retry = client.post(url, json=body, headers=headers)

    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    assert (retry.status_code, retry.content) == (201, first.content)
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.headers["Location"] == first.headers["Location"]
    assert retry.headers["ETag"] == first.headers["ETag"]
    model, field = NAMED_BY[resource]
    assert count(db, model, **{field: body[field]}) == 1


def test_a_different_body_with_the_same_key_is_422(client, user_headers, db):
    headers = {**user_headers, "Idempotency-Key": "k-body"}
    client.post("/api/v1/items", json={"title": "First"}, headers=headers)

    other = client.post("/api/v1/items", json={"title": "Second"}, headers=headers)

    assert (other.status_code, other.json()) == (
        422, {"detail": "This Idempotency-Key was used with another request body"})
    assert count(db, Item, title="Second") == 0


def test_a_key_reused_on_another_path_is_422(client, user_headers, db):
    headers = {**user_headers, "Idempotency-Key": "k-path"}
    client.post("/api/v1/items", json={"title": "First"}, headers=headers)

    other = client.post("/api/v1/teams", json={"name": "T", "headquarters": "H"},
                        headers=headers)

    assert (other.status_code, other.json()) == (
        422, {"detail": "This Idempotency-Key was used on another path"})
    assert count(db, Team) == 0


def test_keys_belong_to_their_caller(client, user_headers, superuser_headers):
    body = {"title": "Mine"}
    mine = client.post("/api/v1/items", json=body,
                       headers={**user_headers, "Idempotency-Key": "shared"})
    theirs = client.post("/api/v1/items", json=body,
                         headers={**superuser_headers, "Idempotency-Key": "shared"})

    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert "Idempotent-Replayed" not in theirs.headers
    assert theirs.json()["id"] != mine.json()["id"]


def test_a_4xx_is_kept_and_replayed(client, user_headers):
    client.post("/api/v1/teams", json={"name": "Taken", "headquarters": "H"},
                headers=user_headers)
    headers = {**user_headers, "Idempotency-Key": "k-409"}
    body = {"name": "Taken", "headquarters": "Elsewhere"}

    first = client.post("/api/v1/teams", json=body, headers=headers)
    retry = client.post("/api/v1/teams", json=body, headers=headers)

    assert (first.status_code, first.json()) == (409, {"detail": "Team name already exists"})
    assert (retry.status_code, retry.content) == (409, first.content)
    assert retry.headers["Idempotent-Replayed"] == "true"


def test_a_5xx_is_not_kept_so_a_retry_runs_again(client, user_headers, db, monkeypatch):
    real = items.create_item
    failures = []

    def failing_once(*args, **kwargs):
        if not failures:
            failures.append(1)  # the database away, this once: 503
            raise OperationalError(None, {}, ConnectionRefusedError("down"))
        return real(*args, **kwargs)

    monkeypatch.setattr(items, "create_item", failing_once)
    headers = {**user_headers, "Idempotency-Key": "k-503"}

    first = client.post("/api/v1/items", json={"title": "Retried"}, headers=headers)
    retry = client.post("/api/v1/items", json={"title": "Retried"}, headers=headers)

    assert first.status_code == 503
    assert retry.status_code == 201 and "Idempotent-Replayed" not in retry.headers
    assert count(db, Item, title="Retried") == 1


def test_a_retry_while_the_first_runs_is_409(client, user, user_headers, db):
    # What a concurrent first request leaves while it runs: a claim with no response yet.
    path_hash = client.post("/api/v1/items", json={"title": "Probe"},
                            headers={**user_headers, "Idempotency-Key": "probe"})
    probe = db.scalars(select(IdempotencyKey).where(IdempotencyKey.key == "probe")).one()
    db.add(IdempotencyKey(scope=probe.scope, key="running", path="/api/v1/items",
                          body_hash=probe.body_hash, expires_at=utcnow() + timedelta(hours=1)))
    db.commit()

    response = client.post("/api/v1/items", json={"title": "Probe"},
                           headers={**user_headers, "Idempotency-Key": "running"})

    assert path_hash.status_code == 201
    assert (response.status_code, response.json()) == (409, {"detail": RUNNING})


@pytest.mark.parametrize("key", ["", "x" * 256, "x" * 300, "has space", "tab\there", "é"])
def test_a_malformed_key_is_422_and_creates_nothing(client, user_headers, db, key):
    response = client.post("/api/v1/items", json={"title": "Never"},
                           headers={**user_headers, "Idempotency-Key": key.encode("utf-8")})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]
    assert count(db, Item, title="Never") == 0


def test_expired_keys_are_purged_as_new_ones_are_written(client_with, user_headers, db):
    quick = client_with(idempotency_key_hours=0.0000001)
    quick.post("/api/v1/items", json={"title": "Old"},
               headers={**user_headers, "Idempotency-Key": "old"})

    again = quick.post("/api/v1/items", json={"title": "Old"},
                       headers={**user_headers, "Idempotency-Key": "old"})

    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
    assert db.scalar(select(func.count()).select_from(IdempotencyKey)) == 1


def test_a_replay_survives_a_new_app_on_the_same_database(client, client_with, user_headers):
    headers = {**user_headers, "Idempotency-Key": "restart"}
    first = client.post("/api/v1/items", json={"title": "Kept"}, headers=headers)

    restarted = client_with()  # a new app: nothing of the first one's memory
    retry = restarted.post("/api/v1/items", json={"title": "Kept"}, headers=headers)

    assert restarted.app is not client.app
    assert (retry.status_code, retry.content) == (201, first.content)
    assert retry.headers["Idempotent-Replayed"] == "true"


def test_openapi_declares_the_key_and_the_replay_header(client):
    paths = client.get("/openapi.json").json()["paths"]
    for resource in CREATES:
        post = paths[f"/api/v1/{resource}"]["post"]
        key = next(p for p in post["parameters"] if p["name"] == "Idempotency-Key")
        assert key["schema"]["pattern"] == r"^[\x21-\x7e]{1,255}$"
        assert "Idempotent-Replayed" in post["responses"]["201"]["headers"]
        assert {"409", "422"} <= set(post["responses"])
