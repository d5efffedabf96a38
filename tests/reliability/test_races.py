"""Real concurrent requests through a running server: one winner, clean 409s for the rest."""

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from app.db.drivers import sync_url
from app.models import Team, User
from app.testing.databases import fresh_database
from tests.live import LiveServer, live_server, register_and_login

CONTENDERS = 30


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("races")
    with fresh_database(tmp, "races") as url, live_server(url, tmp / "server.log") as srv:
        srv.database_url = url  # type: ignore[attr-defined]
        yield srv


def all_at_once(count: int, request: Callable[[int, httpx.Client], httpx.Response]) -> Counter[int]:
    """Send `count` requests released together by a barrier; tally their status codes."""
    barrier = threading.Barrier(count)

    def one(n: int) -> int:
        with httpx.Client(timeout=60) as client:
            barrier.wait()
            return request(n, client).status_code

    with ThreadPoolExecutor(max_workers=count) as pool:
        return Counter(pool.map(one, range(count)))


def count_rows(database_url: str, stmt) -> int:
    engine = create_engine(sync_url(database_url))
    try:
        with Session(engine) as db:
            return db.scalar(stmt)
    finally:
        engine.dispose()


def _case_variant(text: str, n: int) -> str:
    return "".join(c.upper() if (n >> i) & 1 else c for i, c in enumerate(text))


def test_same_email_registered_concurrently_in_different_cases(server):
    def register(n: int, client: httpx.Client) -> httpx.Response:
        return client.post(f"{server.url}/api/v1/users", json={
            "username": f"racer{n}",
            "email": _case_variant("racer@example.com", n),
            "password": "a long password",
        })

    statuses = all_at_once(CONTENDERS, register)

    assert statuses == {201: 1, 409: CONTENDERS - 1}, statuses
    same_email = select(func.count()).select_from(User).where(User.email == "racer@example.com")
    assert count_rows(server.database_url, same_email) == 1


def test_same_team_name_created_concurrently(server):
    headers = register_and_login(server.url, "captain")

    def create(n: int, client: httpx.Client) -> httpx.Response:
        return client.post(f"{server.url}/api/v1/teams", headers=headers,
                           json={"name": "Contested", "headquarters": f"HQ {n}"})

    statuses = all_at_once(CONTENDERS, create)

    assert statuses == {201: 1, 409: CONTENDERS - 1}, statuses
    contested = select(func.count()).select_from(Team).where(Team.name == "Contested")
    assert count_rows(server.database_url, contested) == 1


def test_concurrent_patches_of_different_fields_both_survive(server):
    headers = register_and_login(server.url, "editor")
    lost = []
    for round_ in range(10):
        team = httpx.post(f"{server.url}/api/v1/teams", headers=headers,
                          json={"name": f"Edited {round_}", "headquarters": "Old HQ"}).json()
        changes = [{"name": f"Renamed {round_}"}, {"headquarters": f"New HQ {round_}"}]

        def patch(n: int, client: httpx.Client) -> httpx.Response:
            return client.patch(f"{server.url}/api/v1/teams/{team['id']}", headers=headers,
                                json=changes[n])

        assert all_at_once(2, patch) == {200: 2}
        final = httpx.get(f"{server.url}/api/v1/teams/{team['id']}", headers=headers).json()
        if (final["name"], final["headquarters"]) != (f"Renamed {round_}", f"New HQ {round_}"):
            lost.append(final)

    assert lost == []


def test_patch_racing_a_delete_is_200_or_404_never_a_5xx(server):
    headers = register_and_login(server.url, "demolisher")
    outcomes: Counter[tuple[int, int]] = Counter()
    for round_ in range(30):
        team = httpx.post(f"{server.url}/api/v1/teams", headers=headers,
                          json={"name": f"Doomed {round_}", "headquarters": "Here"}).json()
        url = f"{server.url}/api/v1/teams/{team['id']}"
        statuses: dict[str, int] = {}
        barrier = threading.Barrier(2)

        def patch() -> None:
            with httpx.Client(timeout=60) as client:
                barrier.wait()
                statuses["patch"] = client.patch(url, headers=headers,
                                                 json={"headquarters": "There"}).status_code

        def delete() -> None:
            with httpx.Client(timeout=60) as client:
                barrier.wait()
                statuses["delete"] = client.delete(url, headers=headers).status_code

        threads = [threading.Thread(target=patch), threading.Thread(target=delete)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        outcomes[(statuses["patch"], statuses["delete"])] += 1

    assert set(outcomes) <= {(200, 204), (404, 204)}, outcomes
    assert httpx.get(f"{server.url}/api/v1/teams?name=Doomed 0", headers=headers).json() == []
