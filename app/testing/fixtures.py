"""The fixtures: a fresh database per run, a rolled-back transaction per test.

SQLite (a file in a temporary folder) by default; set TEST_DATABASE_URL to a
PostgreSQL URL and the run creates a fresh database on that server, migrates it,
and drops it at the end. An async driver in TEST_DATABASE_URL
(`postgresql+asyncpg://host/db`, or `sqlite+aiosqlite://` for a fresh file) runs
the same tests in async mode: see asyncmode.py. A conftest may override
`database_url` to use a database of its own (migrated, on the mode's driver).

Each test opens one connection and begins a transaction that is rolled back when it
ends ("Joining a Session into an External Transaction", SQLAlchemy's docs). The
test's `db` session and the app's own `SessionLocal` are both bound to that
connection with `join_transaction_mode="create_savepoint"`: a commit, the test's or
a request's, only releases a SAVEPOINT. Requests go through the production `get_db`
and units of work, each with a session of its own, as in production.
"""

import os
import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any, NoReturn

import pytest
from fastapi import FastAPI
from sqlalchemy import Connection, Engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.orm import Session

from app.core.config import BadSetting, Settings
from app.db import migrate
from app.db.connection_queue import ConnectionQueue
from app.db.drivers import SUPPORTED, is_async
from app.db.engines import build_engine
from app.db.session import Databases, session_factory
from app.failures import describe
from app.main import create_app
from app.models import User
from app.services.auth import issue_token
from app.testing import TEST_SECRET_KEY, factories
from app.testing.asyncmode import ASYNC_MODE, run_async
from app.testing.clients import AppClient, app_client
from app.testing.databases import (
    create_postgres_database,
    dispose,
    drop_postgres_database,
    sqlite_url,
)
from app.testing.settings import TestSettings


def pytest_configure(config: pytest.Config) -> None:
    requested = os.environ.get("TEST_DATABASE_URL")
    if not requested:
        return
    try:
        url = make_url(requested)
    except sa_exc.ArgumentError:
        raise pytest.UsageError(
            f"TEST_DATABASE_URL={requested!r} is not a database URL; use {SUPPORTED}, "
            "e.g. postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
        ) from None
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise pytest.UsageError(
            f"TEST_DATABASE_URL names {url.drivername}; the tests run on {SUPPORTED}"
        )


def _stop(url: str, exc: Exception) -> NoReturn:
    """End the run with one line: every test would fail the same way."""
    shown = make_url(url).render_as_string(hide_password=True)
    message = describe(exc, setting="TEST_DATABASE_URL").message
    pytest.exit(f"TEST_DATABASE_URL ({shown}): {message}", returncode=3)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated, empty database for this run; removed at the end."""
    requested = os.environ.get("TEST_DATABASE_URL")
    if not requested or requested.startswith("sqlite"):
        url = sqlite_url(tmp_path_factory.mktemp("db") / "test.db")
        migrate.upgrade(url)
        yield url
        return
    try:
        url = create_postgres_database(requested)
    except (sa_exc.SQLAlchemyError, BadSetting, ImportError) as exc:
        _stop(requested, exc)
    try:
        migrate.upgrade(url)
        yield url
    finally:
        drop_postgres_database(url)


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    """The app's settings under test: the run's database, a fixed signing key, bcrypt at
    its cheapest, no migration at start-up and no login throttling."""
    if is_async(database_url) != ASYNC_MODE:
        mode, other = ("async", "sync") if ASYNC_MODE else ("sync", "async")
        driver = make_url(database_url).drivername
        pytest.fail(
            f"database_url uses {driver} ({other} mode) but TEST_DATABASE_URL selects {mode} "
            f"mode: give database_url a {mode} driver, as TEST_DATABASE_URL names",
            pytrace=False,
        )
    return TestSettings(
        database_url=database_url,
        secret_key=TEST_SECRET_KEY,
        bcrypt_rounds=factories.TEST_BCRYPT_ROUNDS,
        auto_migrate=False,
        # Tests log in and fail on purpose far faster than people; the throttle's own
        # tests (tests/api/test_login_throttling.py) turn it on.
        login_rate_limit_enabled=False,
    )


@pytest.fixture(scope="session")
def engine(settings: Settings) -> Iterator[Engine | AsyncEngine]:
    """The app's kind of engine for the test database: async in async mode."""
    engine = build_engine(settings.database_url, settings)
    yield engine
    dispose(engine)


@pytest.fixture(scope="session")
def analytics_engine(settings: Settings) -> Iterator[Engine | AsyncEngine]:
    """A read-only engine on the test database, as the app builds it with no replica.
    It reads what is committed: not the rows of a test's rolled-back transaction."""
    engine = build_engine(settings.database_url, settings, read_only=True)
    yield engine
    dispose(engine)


@pytest.fixture
def test_connection(engine: Engine | AsyncEngine) -> Iterator[Connection | AsyncConnection]:
    """The test's connection, inside a transaction rolled back when the test ends."""
    if isinstance(engine, AsyncEngine):
        async_conn = run_async(engine.connect())
        transaction = run_async(async_conn.begin())
        try:
            yield async_conn
        finally:
            run_async(transaction.rollback())
            run_async(async_conn.close())
        return
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            yield conn
        finally:
            trans.rollback()


@pytest.fixture
def connection(test_connection: Connection | AsyncConnection) -> Connection:
    """The sync `Connection` under the test's transaction (an `AsyncConnection`'s own)."""
    if isinstance(test_connection, AsyncConnection):
        return test_connection.sync_connection  # type: ignore[return-value]
    return test_connection


@pytest.fixture
def databases(
    settings: Settings,
    test_connection: Connection | AsyncConnection,
    analytics_engine: Engine | AsyncEngine,
) -> Databases:
    """The app's databases, bound to the test's transaction; analytics read-only as ever."""
    return Databases(
        engine=test_connection.engine,
        SessionLocal=session_factory(test_connection, join_transaction_mode="create_savepoint"),
        analytics_engine=analytics_engine,
        AnalyticsSessionLocal=session_factory(analytics_engine),
        # One connection: requests take it in turn, as they would a pool of one.
        queue=ConnectionQueue(1, settings.db_pool_timeout),
        analytics_queue=ConnectionQueue(
            settings.db_pool_size + settings.db_max_overflow, settings.db_pool_timeout
        ),
    )


@pytest.fixture
def db(databases: Databases) -> Iterator[Session]:
    """The test's `Session`, on the connection the app's requests use, so both see the
    same rows. The factories write through it while the test runs."""
    opened = databases.SessionLocal()
    session = opened.sync_session if isinstance(opened, AsyncSession) else opened
    factories.bind_session(session)
    try:
        yield session
    finally:
        factories.unbind_session()
        if isinstance(opened, AsyncSession):
            run_async(opened.close())
        else:
            opened.close()


@pytest.fixture
def app(settings: Settings, databases: Databases, db: Session) -> FastAPI:
    """The application, serving from the test's transaction."""
    return create_app(settings, databases=databases)


@pytest.fixture
def client(app: FastAPI) -> Iterator[AppClient]:
    """A client of `app` (Starlette's `TestClient`, or httpx on the test's event loop in
    async mode), with the app started and stopped around the test."""
    with app_client(app) as test_client:
        yield test_client


# Settings that choose a database: an app whose settings change one opens its own.
_DATABASE_SETTINGS = ("database_url", "analytics_database_url", "database_echo", "db_")


@pytest.fixture
def client_with(
    settings: Settings, databases: Databases, db: Session
) -> Iterator[Callable[..., AppClient]]:
    """`client_with(open_registration=False)`: a client of an app whose settings differ
    by these, started for the test and stopped after it.

    It serves from the test's transaction, like `client`'s app, unless `databases=` says
    what to serve from instead, or a changed setting chooses the database or its pool
    (DATABASE_URL, ANALYTICS_DATABASE_URL, DB_*): then the app opens its own from its
    settings, as in production. `prepare(app)` runs before the app starts;
    `raise_server_exceptions=False` answers an unhandled error with the app's 500."""
    with ExitStack() as stack:

        def make(
            *,
            databases: Databases | None = None,
            prepare: Callable[[FastAPI], Any] | None = None,
            raise_server_exceptions: bool = True,
            **changes: Any,
        ) -> AppClient:
            changed = type(settings)(**{**settings.model_dump(), **changes})
            if databases is None and not any(
                name.startswith(_DATABASE_SETTINGS) for name in changes
            ):
                databases = bound
            app = create_app(changed, databases=databases)
            if prepare is not None:
                prepare(app)  # say, routes of the test's own, added before the app starts
            client = app_client(app, raise_server_exceptions=raise_server_exceptions)
            return stack.enter_context(client)

        bound = databases
        yield make


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
    """Every SQL statement run on the test's connection, the app's included, transaction
    control left out."""
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not _TRANSACTION_CONTROL.match(statement):
            statements.append(statement)

    event.listen(connection, "before_cursor_execute", record)
    yield statements
    event.remove(connection, "before_cursor_execute", record)
