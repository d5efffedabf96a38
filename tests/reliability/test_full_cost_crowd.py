"""A crowd of logins and registrations at the real bcrypt cost, through a live server.

On SQLite every session used to begin `BEGIN IMMEDIATE` and hold the write lock
while bcrypt ran (a quarter of a second at cost 12): thirty at once queued for
the lock longer than SQLite's 5 s busy timeout and a third of them got 503.
Reads now begin a plain BEGIN, and passwords are hashed and checked outside any
transaction, so every request of the crowd succeeds.
"""

from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from app.testing.databases import fresh_database
from tests.live import LiveServer, live_server
from tests.reliability.test_races import all_at_once

CROWD = 30
DEFAULT_BCRYPT_ROUNDS = "12"  # the service's default; the other live tests use 4


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("crowd")
    with fresh_database(tmp, "crowd") as url, live_server(
        url, tmp / "server.log", BCRYPT_ROUNDS=DEFAULT_BCRYPT_ROUNDS
    ) as srv:
        yield srv


def test_thirty_concurrent_logins_all_succeed(server: LiveServer) -> None:
    account = {"username": "crowded", "email": "crowded@example.com", "password": "a long password"}
    assert httpx.post(f"{server.url}/api/v1/users", json=account, timeout=60).status_code == 201

    def login(n: int, client: httpx.Client) -> httpx.Response:
        form = {"username": account["username"], "password": account["password"]}
        return client.post(f"{server.url}/api/v1/auth/token", data=form, timeout=120)

    statuses = all_at_once(CROWD, login)

    assert statuses == Counter({200: CROWD}), statuses
    assert "Traceback" not in server.log()


def test_thirty_concurrent_registrations_all_succeed(server: LiveServer) -> None:
    def register(n: int, client: httpx.Client) -> httpx.Response:
        body = {"username": f"joiner{n}", "email": f"joiner{n}@example.com",
                "password": "a long password"}
        return client.post(f"{server.url}/api/v1/users", json=body, timeout=120)

    statuses = all_at_once(CROWD, register)

    assert statuses == Counter({201: CROWD}), statuses
    assert "Traceback" not in server.log()
