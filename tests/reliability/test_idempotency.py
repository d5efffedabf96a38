"""Idempotency keys under real concurrency, across a restart and across instances."""

from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import func, select

from app.models import Item, User
from app.testing.databases import fresh_database
from tests.live import LiveServer, live_server, register_and_login
from tests.reliability.test_races import call, count_rows, released_together

DUPLICATES = 20


@pytest.fixture(scope="module")
def database_url(tmp_path_factory) -> Iterator[str]:
    with fresh_database(tmp_path_factory.mktemp("idempotency"), "idempotency") as url:
        yield url


@pytest.fixture(scope="module")
def two_servers(database_url, tmp_path_factory) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two instances of the service sharing one database."""
    tmp = tmp_path_factory.mktemp("servers")
    with live_server(database_url, tmp / "a.log") as a, live_server(database_url, tmp / "b.log",
                                                                     AUTO_MIGRATE="false") as b:
        yield a, b


def test_concurrent_duplicates_create_exactly_one_row(two_servers, database_url):
    a, b = two_servers
    headers = {**register_and_login(a.url, "duplicator"), "Idempotency-Key": "one-order"}
    # Half through each instance: the key is honoured wherever the retry lands.
    sends = [call("POST", f"{server.url}/api/v1/items", headers=headers,
                  json={"title": "Ordered once"}) for server in (a, b) * (DUPLICATES // 2)]

    statuses = Counter(released_together(sends))

    print(f"{DUPLICATES} duplicates through two instances: {dict(statuses)}")
    assert set(statuses) <= {201, 409} and statuses[201] >= 1, statuses
    once = select(func.count()).select_from(Item).where(Item.title == "Ordered once")
    assert count_rows(database_url, once) == 1
    replay = httpx.post(f"{b.url}/api/v1/items", headers=headers, json={"title": "Ordered once"})
    assert (replay.status_code, replay.headers["Idempotent-Replayed"]) == (201, "true")


def test_concurrent_anonymous_registrations_with_one_key(two_servers, database_url):
    a, b = two_servers
    body = {"username": "once", "email": "once@example.com", "password": "a long password"}
    sends = [call("POST", f"{server.url}/api/v1/users", json=body,
                  headers={"Idempotency-Key": "register-once"})
             for server in (a, b) * (DUPLICATES // 2)]

    statuses = Counter(released_together(sends))

    print(f"{DUPLICATES} registrations: {dict(statuses)}")
    assert set(statuses) <= {201, 409} and statuses[201] >= 1, statuses
    users = select(func.count()).select_from(User).where(User.username == "once")
    assert count_rows(database_url, users) == 1


def test_a_replay_survives_a_restart(database_url, tmp_path):
    with live_server(database_url, tmp_path / "first.log", AUTO_MIGRATE="true") as first:
        headers = {**register_and_login(first.url, "restarter"), "Idempotency-Key": "restart"}
        created = httpx.post(f"{first.url}/api/v1/items", headers=headers,
                             json={"title": "Before restart"})
    with live_server(database_url, tmp_path / "second.log") as second:
        replay = httpx.post(f"{second.url}/api/v1/items", headers=headers,
                            json={"title": "Before restart"})

    assert created.status_code == 201
    assert (replay.status_code, replay.content) == (201, created.content)
    assert replay.headers["Idempotent-Replayed"] == "true"
