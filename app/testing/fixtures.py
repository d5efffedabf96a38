"""The fixtures: a fresh database per run, a rolled-back transaction per test.

SQLite (a file in a temporary folder) by default; set TEST_DATABASE_URL to a
PostgreSQL URL and the run creates a fresh database on that server, migrates it,
and drops it at the end. An async driver in TEST_DATABASE_URL
(`postgresql+asyncpg://host/db`, or `sqlite+aiosqlite://` for a fresh file) runs
the same tests in async mode: see asyncmode.py. A conftest may override
`database_url` to use a database of its own (migrated, on the mode's driver).
"""

import os
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.util.concurrency import await_

from app.core.config import Settings
from app.db import migrate
from app.db.database import Database
from app.db.drivers import is_async
from app.db.session import build_engine, get_analytics_db, get_db, make_session_factory
from app.main import create_app
from app.models import User
from app.services.auth import issue_token
from app.testing import TEST_SECRET_KEY, factories
from app.testing.asyncmode import ASYNC_MODE
from app.testing.clients import AppClient, app_client, databases_from, one_database
from app.testing.databases import (
    create_postgres_database,
    dispose,
    drop_postgres_database,
    sqlite_url,
)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated, empty database for this run; removed at the end."""
    requested = os.environ.get("TEST_DATABASE_URL")
    if not requested or requested.startswith("sqlite"):
        url = sqlite_url(tmp_path_factory.mktemp("db") / "test.db")
        migrate.upgrade(url)
        yield url
        return
    url = create_postgres_database(requested)
    try:
        migrate.upgrade(url)
        yield url
    finally:
        drop_postgres_database(url)


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    if is_async(database_url) != ASYNC_MODE:
        mode, other = ("async", "sync") if ASYNC_MODE else ("sync", "async")
        driver = make_url(database_url).drivername
        pytest.fail(
            f"database_url uses {driver} ({other} mode) but TEST_DATABASE_URL selects {mode} "
            f"mode: give database_url a {mode} driver, as TEST_DATABASE_URL names",
            pytrace=False,
        )
    return Settings(
        database_url=database_url,
        secret_key=TEST_SECRET_KEY,
        bcrypt_rounds=factories.TEST_BCRYPT_ROUNDS,
        auto_migrate=False,
        # Tests log in and fail on purpose far faster than people; the throttle's own
        # tests (tests/api/test_login_throttling.py) turn it on.
        login_rate_limit_enabled=False,
        _env_file=None,
    )


@pytest.fixture(scope="session")
def engine(settings: Settings) -> Iterator[Engine | AsyncEngine]:
    """The app's kind of engine for the test database: async in async mode."""
    engine = build_engine(settings.database_url, settings)
    yield engine
    dispose(engine)


@pytest.fixture(scope="session")
def analytics_sessions(settings: Settings) -> Iterator[Callable[[], Database]]:
    """Read-only sessions on the test database, as the app builds them with no replica."""
    engine = build_engine(settings.database_url, settings, read_only=True)
    factory = make_session_factory(engine)
    yield lambda: Database(factory())
    dispose(engine)


@pytest.fixture
def database(engine: Engine | AsyncEngine) -> Iterator[Database]:
    """The test's session, on a connection inside a transaction that is rolled back
    when the test ends; commits inside it only release SAVEPOINTs. The factories
    write through it while the test runs."""
    options: dict[str, Any] = {
        "join_transaction_mode": "create_savepoint",
        "autoflush": False,
        "expire_on_commit": False,
    }
    if isinstance(engine, AsyncEngine):
        async_conn = await_(engine.connect())
        async_trans = await_(async_conn.begin())
        async_session = AsyncSession(bind=async_conn, **options)
        factories.bind_session(async_session.sync_session)
        try:
            yield Database(async_session)
        finally:
            factories.unbind_session()
            await_(async_session.close())
            await_(async_trans.rollback())
            await_(async_conn.close())
        return
    with engine.connect() as conn:
        trans = conn.begin()
        session = Session(bind=conn, **options)
        factories.bind_session(session)
        try:
            yield Database(session)
        finally:
            factories.unbind_session()
            session.close()
            trans.rollback()


@pytest.fixture
def db(database: Database) -> Session:
    """The test's sync session: the one the app's requests use, so both see the same rows."""
    return database.session


@pytest.fixture
def connection(db: Session) -> Connection:
    bind = db.get_bind()
    assert isinstance(bind, Connection)
    return bind


@pytest.fixture
def app(
    database: Database, settings: Settings, analytics_sessions: Callable[[], Database]
) -> FastAPI:
    """The application, wired to the test's session and settings."""
    application = create_app(settings)
    application.dependency_overrides[get_db] = one_database(database)
    application.dependency_overrides[get_analytics_db] = databases_from(analytics_sessions)
    return application


@pytest.fixture
def client(app: FastAPI) -> Iterator[AppClient]:
    with app_client(app) as test_client:
        yield test_client


@pytest.fixture
def auth_headers(settings: Settings) -> Callable[[User], dict[str, str]]:
    """Bearer headers for a user, signed like the service signs them."""

    def headers_for(user: User) -> dict[str, str]:
        token = issue_token(user=user, settings=settings).access_token
        return {"Authorization": f"Bearer {token}"}

    return headers_for


@pytest.fixture
def user(db: Session) -> User:
    created: User = factories.UserFactory.create()
    return created


@pytest.fixture
def superuser(db: Session) -> User:
    created: User = factories.UserFactory.create(is_superuser=True)
    return created


@pytest.fixture
def user_headers(user: User, auth_headers: Callable[[User], dict[str, str]]) -> dict[str, str]:
    return auth_headers(user)


@pytest.fixture
def superuser_headers(
    superuser: User, auth_headers: Callable[[User], dict[str, str]]
) -> dict[str, str]:
    return auth_headers(superuser)


_TRANSACTION_CONTROL = re.compile(r"^\s*(SAVEPOINT|RELEASE|ROLLBACK|BEGIN|COMMIT)\b", re.IGNORECASE)


@pytest.fixture
def sql_statements(connection: Connection) -> Iterator[list[str]]:
    """Every SQL statement the test's connection runs, transaction control left out."""
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not _TRANSACTION_CONTROL.match(statement):
            statements.append(statement)

    event.listen(connection, "before_cursor_execute", record)
    yield statements
    event.remove(connection, "before_cursor_execute", record)
