"""The analytics summary reads a separate, read-only database."""

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event, func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from app.db import migrate
from app.db.drivers import sync_url
from app.db.engines import build_engine, sync_view
from app.db.session import session_factory
from app.models import Hero, Item, Team, User
from app.testing.databases import dead_database_url, dispose, fresh_database

URL = "/api/v1/analytics/summary"


def _add_rows(session: Session, teams: int, offset: int = 0) -> None:
    """Teams with one hero each, plus fixed extras: a teamless hero and an empty team."""
    owner = User(username=f"owner{offset}", email=f"owner{offset}@example.com",
                 hashed_password="x", is_active=True)
    idle = User(username=f"idle{offset}", email=f"idle{offset}@example.com",
                hashed_password="x", is_active=False)
    session.add_all([owner, idle])
    session.flush()
    for n in range(teams):
        team = Team(name=f"Replica team {offset + n}", headquarters="Somewhere")
        session.add_all([team, Hero(name=f"Hero {offset + n}", secret_name="s", team=team)])
    session.add_all([
        Team(name=f"Empty team {offset}", headquarters="Nowhere"),
        Hero(name=f"Loner {offset}", secret_name="s"),
        Item(title="Only in the replica", owner_id=owner.id),
    ])
    session.commit()


@pytest.fixture
def replica_url(tmp_path) -> Iterator[str]:
    """A second, migrated database whose rows exist nowhere else."""
    with fresh_database(tmp_path, "replica") as url:
        migrate.upgrade(url)
        yield url


@pytest.fixture
def replica_writer(replica_url) -> Iterator[Engine]:
    engine = create_engine(sync_url(replica_url))
    yield engine
    engine.dispose()


@pytest.fixture
def replica_reader(replica_url, settings) -> Iterator[Any]:
    """The replica as the app reads it: read-only, on the mode's driver."""
    engine = build_engine(replica_url, settings, read_only=True)
    yield engine
    dispose(engine)


def _sync_session(factory: Any) -> Session:
    """A session of `factory` that sync code can use (an AsyncSession's own, in async mode)."""
    opened = factory()
    return opened.sync_session if isinstance(opened, AsyncSession) else opened


@pytest.fixture
def client_reading(client_with, databases) -> Callable[[Any], Any]:
    """A client of an app whose analytics read through `engine`."""

    def make(engine: Any) -> Any:
        reading = dataclasses.replace(
            databases, analytics_engine=engine, AnalyticsSessionLocal=session_factory(engine)
        )
        return client_with(databases=reading)

    return make


@pytest.fixture
def statements_on(request) -> Callable[[Engine], list[str]]:
    def listen(engine: Any) -> list[str]:
        seen: list[str] = []
        engine = sync_view(engine)

        def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            seen.append(statement)

        event.listen(engine, "before_cursor_execute", record)
        request.addfinalizer(lambda: event.remove(engine, "before_cursor_execute", record))
        return seen

    return listen


def test_summary_reports_what_only_the_analytics_database_holds(
    client_reading, superuser_headers, replica_writer, replica_reader
):
    with Session(replica_writer) as session:
        _add_rows(session, teams=2)
    client = client_reading(replica_reader)

    response = client.get(URL, headers=superuser_headers)

    assert response.status_code == 200
    body = response.json()
    # The primary holds one superuser and nothing else; these counts are the replica's.
    assert body["users"] == {"total": 2, "active": 1}
    assert body["teams"] == 3
    assert body["heroes"] == 3
    assert body["heroes_without_team"] == 1
    assert body["items"] == 1
    assert [(t["team_name"], t["heroes"]) for t in body["heroes_per_team"]] == [
        ("Replica team 0", 1), ("Replica team 1", 1), ("Empty team 0", 0),
    ]
    ids = [t["team_id"] for t in body["heroes_per_team"]]
    assert ids == sorted(ids)


def test_summary_costs_the_same_statements_whatever_the_data_size(
    client_reading, superuser_headers, replica_writer, replica_reader, statements_on
):
    client = client_reading(replica_reader)
    seen = statements_on(replica_reader)
    with Session(replica_writer) as session:
        _add_rows(session, teams=2)
    client.get(URL, headers=superuser_headers)
    small = len([s for s in seen if s.lstrip().upper().startswith("SELECT")])

    with Session(replica_writer) as session:
        _add_rows(session, teams=60, offset=100)
    seen.clear()
    response = client.get(URL, headers=superuser_headers)
    large = len([s for s in seen if s.lstrip().upper().startswith("SELECT")])

    assert len(response.json()["heroes_per_team"]) == 64
    assert small == large == 2


def test_writing_through_the_analytics_session_fails_and_changes_nothing(
    replica_writer, replica_reader
):
    with Session(replica_writer) as session:
        _add_rows(session, teams=1)
    with _sync_session(session_factory(replica_reader)) as analytics:
        analytics.add(Team(name="Sneaky", headquarters="Nowhere"))
        with pytest.raises(DBAPIError, match="(?i)read.?only"):
            analytics.commit()

    with Session(replica_writer) as session:
        assert session.scalar(select(func.count()).select_from(Team)) == 2
        assert session.scalar(select(Team).where(Team.name == "Sneaky")) is None


def test_without_a_replica_the_summary_reads_the_primary_read_only(
    client, superuser_headers, databases
):
    response = client.get(URL, headers=superuser_headers)
    assert response.status_code == 200
    # Committed rows only: the test's own (its superuser included) are not among them.
    assert {"users", "teams", "heroes", "items"} <= set(response.json())

    with _sync_session(databases.AnalyticsSessionLocal) as analytics:
        analytics.add(Team(name="Sneaky", headquarters="Nowhere"))
        with pytest.raises(DBAPIError, match="(?i)read.?only"):
            analytics.commit()


def test_summary_is_for_superusers_only(client, user_headers):
    assert client.get(URL, headers=user_headers).status_code == 403
    assert client.get(URL).status_code == 401


def test_replica_down_is_503_and_the_rest_of_the_api_carries_on(
    client_reading, superuser_headers, settings
):
    dead = build_engine(dead_database_url(), settings, read_only=True)
    client = client_reading(dead)

    down = client.get(URL, headers=superuser_headers)
    teams = client.get("/api/v1/teams", headers=superuser_headers)

    assert down.status_code == 503
    assert down.json() == {"detail": "Database unavailable"}
    assert teams.status_code == 200
    dispose(dead)
