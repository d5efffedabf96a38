"""Real concurrent requests through a running server: one winner, clean 409s for the rest."""

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from app.db.drivers import sync_url
from app.models import Hero, Item, Team, User
from app.testing.databases import fresh_database
from tests.live import LiveServer, live_server, register_and_login

CONTENDERS = 30
ROUNDS = 5  # a race lost once in a while is still lost: each case runs several times
ROOT = {"FIRST_SUPERUSER_USERNAME": "root", "FIRST_SUPERUSER_EMAIL": "root@example.com",
        "FIRST_SUPERUSER_PASSWORD": "a long password"}


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("races")
    with fresh_database(tmp, "races") as url, live_server(url, tmp / "server.log", **ROOT) as srv:
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

        def patch(n: int, client: httpx.Client, team=team, changes=changes) -> httpx.Response:
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

        # This round's url, statuses and barrier, bound now (not looked up when called).
        def patch(url=url, statuses=statuses, barrier=barrier) -> None:
            with httpx.Client(timeout=60) as client:
                barrier.wait()
                statuses["patch"] = client.patch(url, headers=headers,
                                                 json={"headquarters": "There"}).status_code

        def delete(url=url, statuses=statuses, barrier=barrier) -> None:
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


def login(base_url: str, username: str, password: str = "a long password") -> dict[str, str]:
    token = httpx.post(f"{base_url}/api/v1/auth/token",
                       data={"username": username, "password": password}, timeout=30)
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def test_same_email_in_case_folded_spellings_registered_concurrently(server):
    spellings = ["straße", "STRASSE", "Strasse", "STRAßE", "strasse", "StraSSe"]

    def register(n: int, client: httpx.Client) -> httpx.Response:
        return client.post(f"{server.url}/api/v1/users", json={
            "username": f"folder{n}", "email": f"{spellings[n % len(spellings)]}@example.com",
            "password": "a long password",
        })

    statuses = all_at_once(CONTENDERS, register)

    print(f"registrations {dict(statuses)}")
    assert statuses == {201: 1, 409: CONTENDERS - 1}, statuses


def call(method: str, url: str, **kwargs: Any) -> Callable[[httpx.Client], httpx.Response]:
    """One request, to be sent later on whichever client is given."""
    return lambda client: client.request(method, url, **kwargs)


def released_together(calls: list[Callable[[httpx.Client], httpx.Response]]) -> list[int]:
    """Send every call at once (threads released by a barrier); their status codes, in order."""
    barrier = threading.Barrier(len(calls))

    def one(send: Callable[[httpx.Client], httpx.Response]) -> int:
        with httpx.Client(timeout=60) as client:
            barrier.wait()
            return send(client).status_code

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(one, calls))


def test_items_created_while_their_owner_is_deleted_are_201_or_401(server):
    """The owner deletes their account while creating items: each item is created
    (then removed with them) or refused with 401, never a 500, and none outlives them."""
    creations: Counter[int] = Counter()
    deletions: Counter[int] = Counter()
    for round_ in range(ROUNDS):
        headers = register_and_login(server.url, f"leaver{round_}")
        me = httpx.get(f"{server.url}/api/v1/users/me", headers=headers).json()
        leave = call("DELETE", f"{server.url}/api/v1/users/{me['id']}", headers=headers)
        create = [call("POST", f"{server.url}/api/v1/items", headers=headers,
                       json={"title": f"Item {n}"}) for n in range(CONTENDERS)]

        left, *created = released_together([leave, *create])

        deletions[left] += 1
        creations.update(created)
        orphans = select(func.count()).select_from(Item).where(Item.owner_id == me["id"])
        assert count_rows(server.database_url, orphans) == 0

    print(f"item creations {dict(creations)}, owner deletions {dict(deletions)}")  # -rP shows it
    assert deletions == {204: ROUNDS}, deletions
    assert set(creations) <= {201, 401}, creations


def test_heroes_joining_a_team_while_it_is_deleted_are_201_or_422(server):
    """Creations and moves into a team racing its deletion: done (the hero is then
    teamless) or 422 for the team that no longer exists, never a 500."""
    headers = register_and_login(server.url, "recruiter")
    heroes = f"{server.url}/api/v1/heroes"
    outcomes: Counter[tuple[str, int]] = Counter()
    for round_ in range(ROUNDS):
        team = httpx.post(f"{server.url}/api/v1/teams", headers=headers,
                          json={"name": f"Vanishing {round_}", "headquarters": "Here"}).json()
        movers = [httpx.post(heroes, headers=headers,
                             json={"name": f"Mover {n}", "secret_name": "s"}).json()
                  for n in range(CONTENDERS // 2)]
        disband = call("DELETE", f"{server.url}/api/v1/teams/{team['id']}", headers=headers)
        moves = [call("PATCH", f"{heroes}/{hero['id']}", headers=headers,
                      json={"team_id": team["id"]}) for hero in movers]
        creates = [call("POST", heroes, headers=headers,
                        json={"name": f"Recruit {n}", "secret_name": "s", "team_id": team["id"]})
                   for n in range(CONTENDERS - len(movers))]

        disbanded, *joined = released_together([disband, *moves, *creates])

        outcomes[("delete", disbanded)] += 1
        outcomes.update(("move", status) for status in joined[: len(moves)])
        outcomes.update(("create", status) for status in joined[len(moves):])
        stranded = select(func.count()).select_from(Hero).where(Hero.team_id == team["id"])
        assert count_rows(server.database_url, stranded) == 0

    print(f"team deletions, hero moves and creations {dict(outcomes)}")
    assert set(outcomes) <= {("delete", 204), ("move", 200), ("move", 422),
                             ("create", 201), ("create", 422)}, outcomes


@pytest.mark.parametrize("resource", ["users", "teams", "heroes", "items"])
def test_concurrent_deletes_of_one_row_one_204_the_rest_404(server, resource):
    root = login(server.url, "root")
    owner = register_and_login(server.url, f"owner_of_{resource}")
    bodies = {
        "teams": lambda n: {"name": f"Deleted {n}", "headquarters": "Here"},
        "heroes": lambda n: {"name": f"Deleted {n}", "secret_name": "s"},
        "items": lambda n: {"title": f"Deleted {n}"},
    }
    outcomes: Counter[int] = Counter()
    for round_ in range(ROUNDS):
        if resource == "users":
            row = httpx.post(f"{server.url}/api/v1/users", json={
                "username": f"doomed{round_}", "email": f"doomed{round_}@example.com",
                "password": "a long password"}).json()
            headers = root  # a superuser: the deleted user's own token would turn 401
        else:
            row = httpx.post(f"{server.url}/api/v1/{resource}", headers=owner,
                             json=bodies[resource](round_)).json()
            headers = owner
        delete = call("DELETE", f"{server.url}/api/v1/{resource}/{row['id']}", headers=headers)

        outcomes.update(released_together([delete] * CONTENDERS))

    print(f"DELETE {resource}: {dict(outcomes)}")
    assert outcomes == {204: ROUNDS, 404: ROUNDS * (CONTENDERS - 1)}, outcomes


@pytest.mark.parametrize("resource", ["users", "teams", "heroes", "items"])
def test_concurrent_patches_with_one_if_match_one_200_the_rest_412(server, resource):
    """No lost update: of CONTENDERS writes that all read the same version, the database
    lets exactly one through; the others are told the resource changed."""
    owner = register_and_login(server.url, f"editor_of_{resource}")
    bodies = {
        "teams": lambda n: {"name": f"Raced {n}", "headquarters": "Here"},
        "heroes": lambda n: {"name": "Raced", "secret_name": "s"},
        "items": lambda n: {"title": "Raced"},
    }
    # Unique across rounds: a write that changes nothing would be a second, honest 200.
    changes = {
        "users": lambda n: {"full_name": f"Writer {n}"},
        "teams": lambda n: {"headquarters": f"HQ {n}"},
        "heroes": lambda n: {"age": n},
        "items": lambda n: {"title": f"Title {n}"},
    }
    outcomes: Counter[int] = Counter()
    for round_ in range(ROUNDS):
        if resource == "users":
            me = httpx.get(f"{server.url}/api/v1/users/me", headers=owner).json()
            url = f"{server.url}/api/v1/users/{me['id']}"
        else:
            row = httpx.post(f"{server.url}/api/v1/{resource}", headers=owner,
                             json=bodies[resource](round_)).json()
            url = f"{server.url}/api/v1/{resource}/{row['id']}"
        read = httpx.get(url, headers=owner)
        headers = {**owner, "If-Match": read.headers["ETag"]}
        writers = range(round_ * CONTENDERS, (round_ + 1) * CONTENDERS)
        patches = [call("PATCH", url, headers=headers, json=changes[resource](n))
                   for n in writers]

        statuses = released_together(patches)

        outcomes.update(statuses)
        winner = statuses.index(200) if 200 in statuses else None
        final = httpx.get(url, headers=owner).json()
        assert winner is not None
        assert final.items() >= changes[resource](writers[winner]).items()

    print(f"PATCH {resource} with one If-Match: {dict(outcomes)}")  # -rP shows it
    assert outcomes == {200: ROUNDS, 412: ROUNDS * (CONTENDERS - 1)}, outcomes


def test_concurrent_deletes_with_one_if_match_one_204_the_rest_404(server):
    owner = register_and_login(server.url, "if_match_deleter")
    outcomes: Counter[int] = Counter()
    for round_ in range(ROUNDS):
        row = httpx.post(f"{server.url}/api/v1/items", headers=owner,
                         json={"title": f"Doomed {round_}"})
        headers = {**owner, "If-Match": row.headers["ETag"]}
        url = f"{server.url}/api/v1/items/{row.json()['id']}"

        outcomes.update(released_together([call("DELETE", url, headers=headers)] * CONTENDERS))

    print(f"DELETE with one If-Match: {dict(outcomes)}")
    assert outcomes == {204: ROUNDS, 404: ROUNDS * (CONTENDERS - 1)}, outcomes
