"""The analytics summary under concurrent writes: every answer is one consistent state."""

import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from app.testing.databases import fresh_database
from tests.live import LiveServer, live_server, register_and_login

SUMMARIES = 300
READERS = 3
WRITERS = 3


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("snapshot")
    root = {"FIRST_SUPERUSER_USERNAME": "root", "FIRST_SUPERUSER_EMAIL": "root@example.com",
            "FIRST_SUPERUSER_PASSWORD": "a long password"}
    with fresh_database(tmp, "snapshot") as url:
        with live_server(url, tmp / "server.log", **root) as srv:
            yield srv


def _inconsistency(summary: dict) -> str | None:
    per_team = summary["heroes_per_team"]
    if summary["teams"] != len(per_team):
        return f"teams {summary['teams']} != {len(per_team)} rows per team"
    in_teams = sum(team["heroes"] for team in per_team)
    if summary["heroes"] != summary["heroes_without_team"] + in_teams:
        return (f"heroes {summary['heroes']} != {summary['heroes_without_team']} without a team"
                f" + {in_teams} in teams")
    return None


def _churn(base_url: str, headers: dict[str, str], writer: int, stop: threading.Event,
           statuses: Counter[int]) -> None:
    """Teams come and go with heroes in them; teamless heroes come and go."""
    with httpx.Client(base_url=base_url, headers=headers, timeout=60) as client:
        round_ = 0
        while not stop.is_set():
            round_ += 1
            team = client.post("/api/v1/teams", json={"name": f"Churn {writer}-{round_}",
                                                       "headquarters": "Here"})
            statuses[team.status_code] += 1
            team_id = team.json()["id"]
            for n in range(3):
                hero = client.post("/api/v1/heroes", json={
                    "name": f"Member {writer}-{round_}-{n}", "secret_name": "s",
                    "team_id": team_id})
                statuses[hero.status_code] += 1
            loner = client.post("/api/v1/heroes", json={"name": f"Loner {writer}-{round_}",
                                                        "secret_name": "s"})
            statuses[loner.status_code] += 1
            statuses[client.delete(f"/api/v1/heroes/{loner.json()['id']}").status_code] += 1
            # Deleting the team leaves its heroes teamless: both counts move at once.
            statuses[client.delete(f"/api/v1/teams/{team_id}").status_code] += 1


def test_every_summary_is_consistent_while_teams_and_heroes_change(server):
    writer_headers = register_and_login(server.url, "churner")
    token = httpx.post(f"{server.url}/api/v1/auth/token",
                       data={"username": "root", "password": "a long password"}).json()
    root = {"Authorization": f"Bearer {token['access_token']}"}
    stop = threading.Event()
    write_statuses: Counter[int] = Counter()
    writers = [threading.Thread(target=_churn,
                                args=(server.url, writer_headers, n, stop, write_statuses))
               for n in range(WRITERS)]
    for thread in writers:
        thread.start()

    def read(count: int) -> list[tuple[int, str | None]]:
        with httpx.Client(base_url=server.url, headers=root, timeout=60) as client:
            results = []
            for _ in range(count):
                response = client.get("/api/v1/analytics/summary")
                ok = response.status_code == 200
                problem = _inconsistency(response.json()) if ok else None
                results.append((response.status_code, problem))
            return results

    try:
        with ThreadPoolExecutor(max_workers=READERS) as pool:
            batches = pool.map(read, [SUMMARIES // READERS] * READERS)
            results = [result for batch in batches for result in batch]
    finally:
        stop.set()
        for thread in writers:
            thread.join()

    statuses = Counter(status for status, _ in results)
    inconsistent = [problem for _, problem in results if problem]
    print(f"summaries {dict(statuses)}, inconsistent {len(inconsistent)}, "
          f"writes {dict(write_statuses)}")  # -rP shows it
    assert statuses == {200: SUMMARIES}, statuses
    assert set(write_statuses) <= {200, 201, 204}, write_statuses
    assert sum(write_statuses.values()) > 0
    assert inconsistent == [], f"{len(inconsistent)} of {SUMMARIES}: {inconsistent[:3]}"
