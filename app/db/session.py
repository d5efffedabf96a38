"""Engines, the session factory and the per-request session dependency."""

import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from fastapi import Request
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from app.core.config import BadSetting, Settings, get_settings
from app.db import disconnects
from app.db.database import ConnectionSlots, Database
from app.db.drivers import is_async, sync_url, url_problem
from app.db.sqlite_functions import use_unicode_lower
from app.db.timeouts import (
    asyncpg_connection_without_cancel,
    bounded_psycopg2_connection,
    statement_bound,
    treat_timeouts_as_disconnects,
)

P = ParamSpec("P")
T = TypeVar("T")


# Execution option naming the statement a SQLite transaction begins with.
SQLITE_BEGIN = "sqlite_begin"


def _make_sqlite_transactional(engine: Engine, *, read_only: bool) -> None:
    # pysqlite opens transactions lazily and mishandles SAVEPOINT; let SQLAlchemy
    # emit BEGIN itself (the recipe in SQLAlchemy's SQLite dialect docs).
    # SQLite has one writer at a time. A deferred BEGIN that reads, then writes,
    # fails at once with "database is locked" when another writer got there
    # first; BEGIN IMMEDIATE takes the write lock up front, so concurrent
    # writers queue for the busy timeout instead. That is the default (batch
    # work, start-up); request sessions that only read are bound with
    # `SQLITE_BEGIN: "BEGIN"` (see `get_db`) so that they never queue behind,
    # or hold up, the writers.
    default_begin = "BEGIN" if read_only else "BEGIN IMMEDIATE"

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(conn.get_execution_options().get(SQLITE_BEGIN, default_begin))


def _read_only(url: URL, connect_args: dict[str, Any]) -> URL:
    """Make the database itself refuse writes on connections to `url`."""
    backend = url.get_backend_name()
    if backend == "sqlite":
        if url.database in (None, "", ":memory:"):
            raise ValueError("a read-only SQLite database must be a file")
        return url.set(database=f"file:{url.database}", query={"mode": "ro", "uri": "true"})
    if backend == "postgresql":
        # Every transaction on these connections is READ ONLY; the server refuses writes.
        if url.get_driver_name() == "asyncpg":
            connect_args["server_settings"] = {"default_transaction_read_only": "on"}
        else:
            connect_args["options"] = "-c default_transaction_read_only=on"
        return url
    raise ValueError(f"read-only connections are not supported for {backend}")


def _through_pgbouncer(connect_args: dict[str, Any]) -> None:
    """asyncpg through PgBouncer in transaction pooling mode (DB_PGBOUNCER=true).

    asyncpg prepares every statement under a name (__asyncpg_stmt_1__, ...) and
    caches it per connection; behind PgBouncer consecutive transactions of one
    connection land on different server connections, where that name is missing
    or is another client's statement. So: no statement caches (asyncpg's, and
    SQLAlchemy's on top of it), and a unique name for each prepared statement.
    The cost is a prepare per statement, which is why it is a setting. A timed-out
    statement's connection is dropped rather than cancelled (see timeouts.py)."""
    connect_args["connection_class"] = asyncpg_connection_without_cancel()
    connect_args["statement_cache_size"] = 0
    connect_args["prepared_statement_cache_size"] = 0
    connect_args["prepared_statement_name_func"] = _unique_statement_name


def _unique_statement_name() -> str:
    return f"__asyncpg_{uuid.uuid4().hex}__"


def _bound_waits(url: URL, settings: Settings, connect_args: dict[str, Any]) -> None:
    """Bound how long a PostgreSQL server may keep a request waiting (app/db/timeouts.py):
    connecting, DB_CONNECT_TIMEOUT; a statement, DB_STATEMENT_TIMEOUT on the server and
    a little more on the client, for a server that never answers."""
    statement_ms = f"{settings.db_statement_timeout * 1000:.0f}"
    client_bound = statement_bound(settings.db_statement_timeout)
    # PgBouncer refuses connections that send startup parameters it does not know
    # (options, statement_timeout): behind it, set statement_timeout on the role.
    server_side = not settings.db_pgbouncer
    if url.get_driver_name() == "asyncpg":
        connect_args["timeout"] = settings.db_connect_timeout
        connect_args["command_timeout"] = client_bound
        if server_side:
            connect_args.setdefault("server_settings", {})["statement_timeout"] = statement_ms
        return
    connect_args["connection_factory"] = bounded_psycopg2_connection(
        settings.db_connect_timeout, client_bound
    )
    if server_side:
        options = connect_args.get("options", "")
        connect_args["options"] = f"{options} -c statement_timeout={statement_ms}".strip()


def build_engine(
    url: str | URL,
    settings: Settings,
    *,
    read_only: bool = False,
    timeouts: bool = True,
    **overrides: Any,
) -> Engine | AsyncEngine:
    """An engine for `url` with the pool and dialect options the settings ask for:
    an `AsyncEngine` when the URL names an async driver, else an `Engine`.
    `timeouts=False` lets statements run as long as they take (batch work)."""
    parsed = make_url(url)
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        connect_args["check_same_thread"] = False
    behind_pgbouncer = settings.db_pgbouncer and parsed.get_backend_name() == "postgresql"
    if read_only and not behind_pgbouncer:
        parsed = _read_only(parsed, connect_args)
    if behind_pgbouncer and parsed.get_driver_name() == "asyncpg":
        _through_pgbouncer(connect_args)
    if timeouts and parsed.get_backend_name() == "postgresql":
        _bound_waits(parsed, settings, connect_args)
    connect_args.update(overrides.pop("connect_args", {}))
    kwargs: dict[str, Any] = {
        "echo": settings.database_echo,
        "connect_args": connect_args,
        "pool_pre_ping": settings.db_pool_pre_ping,
        "pool_recycle": settings.db_pool_recycle,
    }
    in_memory = parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:")
    if "poolclass" not in overrides and not in_memory:
        kwargs.update(
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout=settings.db_pool_timeout,
        )
    kwargs.update(overrides)
    if read_only and behind_pgbouncer:
        # PgBouncer refuses the startup parameter _read_only sends; BEGIN READ ONLY
        # instead, per transaction, which any pooler passes through.
        kwargs.setdefault("execution_options", {})["postgresql_readonly"] = True
    if is_async(parsed):
        async_engine = create_async_engine(parsed, **kwargs)
        disconnects.track(async_engine.sync_engine)
        if parsed.get_backend_name() == "sqlite":
            _make_sqlite_transactional(async_engine.sync_engine, read_only=read_only)
            use_unicode_lower(async_engine.sync_engine)
        treat_timeouts_as_disconnects(async_engine.sync_engine)
        return async_engine
    engine = create_engine(parsed, **kwargs)
    disconnects.track(engine)
    if parsed.get_backend_name() == "sqlite":
        _make_sqlite_transactional(engine, read_only=read_only)
        use_unicode_lower(engine)
    treat_timeouts_as_disconnects(engine)
    return engine


def build_sync_engine(url: str | URL, settings: Settings, **overrides: Any) -> Engine:
    """An `Engine` for `url` on its sync driver: for the CLI, the seeder and start-up work."""
    engine = build_engine(sync_url(url), settings, **overrides)
    assert isinstance(engine, Engine)
    return engine


def make_session_factory(
    engine: Engine | AsyncEngine,
) -> sessionmaker[Session] | async_sessionmaker[AsyncSession]:
    # Objects stay readable after commit: services return them for serialisation
    # without a second round trip to reload what they just wrote.
    if isinstance(engine, AsyncEngine):
        return async_sessionmaker(bind=engine, autoflush=False, expire_on_commit=False)
    return sessionmaker(bind=engine, autoflush=False, expire_on_commit=False)


def connection_slots(settings: Settings) -> ConnectionSlots:
    """One slot per connection the pool may open (see ConnectionSlots)."""
    size = settings.db_pool_size + settings.db_max_overflow
    return ConnectionSlots(size, settings.db_pool_timeout)


@dataclass(frozen=True)
class Databases:
    """The process's engines and session factories, one pair per database."""

    # The URL's driver picks the mode: psycopg2 or pysqlite (the default) serve requests
    # from FastAPI's thread pool; asyncpg or aiosqlite serve them on the event loop.
    engine: Engine | AsyncEngine
    sessions: sessionmaker[Session] | async_sessionmaker[AsyncSession]
    slots: ConnectionSlots
    # For sessions of requests that only read: on SQLite they begin a plain (deferred)
    # BEGIN, which takes no write lock. Same pool as `engine`; other databases ignore it.
    reading_engine: Engine | AsyncEngine
    # Reporting reads go to the replica when one is configured, else to the primary,
    # and through a connection that cannot write either way.
    analytics_engine: Engine | AsyncEngine
    analytics_sessions: sessionmaker[Session] | async_sessionmaker[AsyncSession]
    analytics_slots: ConnectionSlots


def _analytics_url(settings: Settings) -> str:
    return settings.analytics_database_url or settings.database_url


def _build_databases(settings: Settings) -> Databases:
    engine = build_engine(settings.database_url, settings)
    analytics_engine = build_engine(_analytics_url(settings), settings, read_only=True)
    return Databases(
        engine=engine,
        sessions=make_session_factory(engine),
        slots=connection_slots(settings),
        reading_engine=engine.execution_options(**{SQLITE_BEGIN: "BEGIN"}),
        analytics_engine=analytics_engine,
        analytics_sessions=make_session_factory(analytics_engine),
        analytics_slots=connection_slots(settings),
    )


_databases: Databases | None = None
_databases_lock = threading.Lock()


def databases() -> Databases:
    """The engines requests use, built from the process settings on first use.

    Not at import: importing the app must not fail on a bad URL, so that start-up
    can report it in one line (see `check_database_urls`)."""
    global _databases
    if _databases is None:
        with _databases_lock:
            if _databases is None:
                _databases = _build_databases(get_settings())
    return _databases


# The classic module-level names (`from app.db.session import SessionLocal`), kept
# for code written against them; like everything in `databases()`, built on first use.
_CLASSIC_NAMES = {
    "engine": "engine",
    "SessionLocal": "sessions",
    "analytics_engine": "analytics_engine",
    "AnalyticsSessionLocal": "analytics_sessions",
}


def __getattr__(name: str) -> Any:
    if name in _CLASSIC_NAMES:
        return getattr(databases(), _CLASSIC_NAMES[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def check_database_urls(settings: Settings) -> None:
    """BadSetting unless both database URLs can make engines (no connection is made)."""
    urls = {"DATABASE_URL": (settings.database_url, False)}
    if settings.analytics_database_url:
        urls["ANALYTICS_DATABASE_URL"] = (settings.analytics_database_url, True)
    for name, (url, read_only) in urls.items():
        try:
            engine = build_engine(url, settings, read_only=read_only)
        except Exception as exc:
            problem = url_problem(exc) or (str(exc) if isinstance(exc, ValueError) else None)
            if problem is None:
                raise
            raise BadSetting(name, problem) from exc
        # Nothing was connected; this only drops the unused pool.
        (engine.sync_engine if isinstance(engine, AsyncEngine) else engine).dispose()


def describe_databases(settings: Settings) -> str:
    """Mode, driver, database (password hidden) and pool, for the start-up log line."""
    url = make_url(settings.database_url)
    in_memory = url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")
    pool = (
        "one connection (in-memory SQLite)"
        if in_memory
        else f"pool {settings.db_pool_size} + {settings.db_max_overflow} overflow"
    )
    line = (
        f"{'async' if is_async(url) else 'sync'} mode, driver "
        f"{url.get_backend_name()}+{url.get_driver_name()}, database "
        f"{url.render_as_string(hide_password=True)}, {pool}"
    )
    if settings.analytics_database_url:
        analytics = make_url(settings.analytics_database_url)
        line += f", analytics on {analytics.render_as_string(hide_password=True)}"
    return line


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def reads_only(endpoint: Callable[P, T]) -> Callable[P, T]:
    """Mark an endpoint of an unsafe method that never writes (logging in), so that
    its session begins like a GET's."""
    endpoint.reads_only = True  # type: ignore[attr-defined]
    return endpoint


def request_writes(request: Request) -> bool:
    """Whether the request may write: any unsafe method, unless its endpoint `reads_only`."""
    if request.method in SAFE_METHODS:
        return False
    return not getattr(request.scope.get("endpoint"), "reads_only", False)


async def get_db(request: Request) -> AsyncIterator[Database]:
    """One session per request, closed (and its connection returned) whatever happens."""
    dbs = databases()
    if request_writes(request):
        session, end_each_call = dbs.sessions(), False
    else:
        # On SQLite a reading request ends its read transaction after each call: held
        # for the whole request, its SHARED lock and the analytics connection's (same
        # file) would deadlock with a writer waiting to commit, until the busy timeout.
        session = dbs.sessions(bind=dbs.reading_engine)
        end_each_call = dbs.engine.dialect.name == "sqlite"
    async with Database(session, slots=dbs.slots, end_each_call=end_each_call) as db:
        yield db


async def get_analytics_db() -> AsyncIterator[Database]:
    """A read-only session on the analytics database, closed whatever happens."""
    dbs = databases()
    async with Database(dbs.analytics_sessions(), slots=dbs.analytics_slots) as db:
        yield db


@contextmanager
def batch_session(settings: Settings) -> Iterator[Session]:
    """A session with an engine of its own, on the sync driver, for one-off work
    (start-up, the CLI): `settings` may not be the ones `databases()` was built from."""
    engine = build_sync_engine(settings.database_url, settings, poolclass=NullPool, timeouts=False)
    try:
        with Session(engine, expire_on_commit=False) as db:
            yield db
    finally:
        engine.dispose()
