"""Test wiring: a fresh database per run, a rolled-back transaction per test.

SQLite (a file in a temporary folder) by default; set TEST_DATABASE_URL to a
PostgreSQL URL and the suite creates a fresh database on that server, migrates
it, and drops it at the end. An async driver in TEST_DATABASE_URL
(`postgresql+asyncpg://host/db`, or `sqlite+aiosqlite://` for a fresh file) runs
the same suite in async mode: see tests/asyncmode.py.
"""

import os
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

# Importing the app reads settings; keep that from touching a developer's files.
os.environ.setdefault("SECRET_KEY", "test-secret-key-that-is-long-enough-for-hs256")
os.environ.setdefault("AUTO_MIGRATE", "false")

from fastapi import FastAPI  # noqa: E402
from sqlalchemy import Connection, Engine, event  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from app.core.config import Settings  # noqa: E402
from app.db import migrate  # noqa: E402
from app.db.database import Database  # noqa: E402
from app.db.session import (  # noqa: E402
    build_engine,
    get_analytics_db,
    get_db,
    make_session_factory,
)
from tests.asyncmode import await_, pytest_runtest_protocol  # noqa: E402,F401  (a hook)
from tests.clients import AppClient, app_client, databases_from, one_database  # noqa: E402
from app.main import create_app  # noqa: E402
from app.models import User  # noqa: E402
from app.services.auth import issue_token  # noqa: E402
from tests import factories  # noqa: E402
from tests.databases import (  # noqa: E402
    create_postgres_database,
    dispose,
    drop_postgres_database,
    sqlite_url,
)

TEST_SECRET_KEY = "test-secret-key-that-is-long-enough-for-hs256"


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
    return Settings(
        database_url=database_url,
        secret_key=TEST_SECRET_KEY,
        bcrypt_rounds=factories.TEST_BCRYPT_ROUNDS,
        auto_migrate=False,
        # Tests log in and fail on purpose far faster than people; the throttle's own
        # tests (tests/api/test_login_throttling.py) turn it on.
        login_rate_limit_enabled=False,
        _env_file=None,  # type: ignore[call-arg]
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
    when the test ends; commits inside it only release SAVEPOINTs."""
    options: dict[str, Any] = {
        "join_transaction_mode": "create_savepoint",
        "autoflush": False,
        "expire_on_commit": False,
    }
    if isinstance(engine, AsyncEngine):
        async_conn = await_(engine.connect())
        async_trans = await_(async_conn.begin())
        async_session = AsyncSession(bind=async_conn, **options)
        try:
            yield Database(async_session)
        finally:
            await_(async_session.close())
            await_(async_trans.rollback())
            await_(async_conn.close())
        return
    with engine.connect() as conn:
        trans = conn.begin()
        session = Session(bind=conn, **options)
        try:
            yield Database(session)
        finally:
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


@pytest.fixture(autouse=True)
def _bind_factories(request: pytest.FixtureRequest) -> None:
    """Point every factory at the test's session, if the test uses the database."""
    if "database" not in request.fixturenames:
        return
    session = request.getfixturevalue("db")
    for factory_class in factories.ALL_FACTORIES:
        factory_class._meta.sqlalchemy_session = session


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
    return factories.UserFactory()


@pytest.fixture
def superuser(db: Session) -> User:
    return factories.UserFactory(is_superuser=True)


@pytest.fixture
def user_headers(user: User, auth_headers: Callable[[User], dict[str, str]]) -> dict[str, str]:
    return auth_headers(user)


@pytest.fixture
def superuser_headers(
    superuser: User, auth_headers: Callable[[User], dict[str, str]]
) -> dict[str, str]:
    return auth_headers(superuser)


_TRANSACTION_CONTROL = re.compile(r"^\s*(SAVEPOINT|RELEASE|ROLLBACK|BEGIN|COMMIT)\b", re.I)


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
