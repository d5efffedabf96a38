"""Engines, the session factory and the per-request session dependency."""

import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

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


def _make_sqlite_transactional(engine: Engine, *, read_only: bool) -> None:
    # pysqlite opens transactions lazily and mishandles SAVEPOINT; let SQLAlchemy
    # emit BEGIN itself (the recipe in SQLAlchemy's SQLite dialect docs).
    # SQLite has one writer at a time. A deferred BEGIN that reads, then writes,
    # fails at once with "database is locked" when another writer got there
    # first; BEGIN IMMEDIATE takes the write lock up front, so concurrent
    # writers queue for the busy timeout instead.
    begin = "BEGIN" if read_only else "BEGIN IMMEDIATE"

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)


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


def build_engine(
    url: str | URL, settings: Settings, *, read_only: bool = False, **overrides: Any
) -> Engine | AsyncEngine:
    """An engine for `url` with the pool and dialect options the settings ask for:
    an `AsyncEngine` when the URL names an async driver, else an `Engine`."""
    parsed = make_url(url)
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        connect_args["check_same_thread"] = False
    if read_only:
        parsed = _read_only(parsed, connect_args)
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
    if is_async(parsed):
        async_engine = create_async_engine(parsed, **kwargs)
        disconnects.track(async_engine.sync_engine)
        if parsed.get_backend_name() == "sqlite":
            _make_sqlite_transactional(async_engine.sync_engine, read_only=read_only)
            use_unicode_lower(async_engine.sync_engine)
        return async_engine
    engine = create_engine(parsed, **kwargs)
    disconnects.track(engine)
    if parsed.get_backend_name() == "sqlite":
        _make_sqlite_transactional(engine, read_only=read_only)
        use_unicode_lower(engine)
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


async def get_db() -> AsyncIterator[Database]:
    """One session per request, closed (and its connection returned) whatever happens."""
    dbs = databases()
    async with Database(dbs.sessions(), slots=dbs.slots) as db:
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
    engine = build_sync_engine(settings.database_url, settings, poolclass=NullPool)
    try:
        with Session(engine, expire_on_commit=False) as db:
            yield db
    finally:
        engine.dispose()
