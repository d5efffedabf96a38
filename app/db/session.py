"""The classic shape: an app's engines and `SessionLocal`, and `get_db` yielding a `Session`.

The engines belong to the app: `create_app` opens them from the app's own settings
when it starts (its lifespan), keeps them on `app.state.databases` and disposes of
them when it stops. Nothing here is built at import, and nothing on the request path
reads a process-wide global.

    @router.get("/heroes/{hero_id}")
    def read_hero(hero_id: int, db: Session = Depends(get_db)) -> Hero: ...

works as FastAPI's SQL tutorial has it, in sync mode; `get_async_db` is its
`AsyncSession` twin for async mode. The service's own routes run each request's
work through `UnitOfWork` (app/services/unit_of_work.py), which serves both modes.
"""

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool
from starlette.requests import HTTPConnection

from app.core.config import Settings
from app.db.connection_queue import ConnectionQueue
from app.db.engines import build_engine, build_sync_engine, sync_view

SessionFactory = sessionmaker[Session] | async_sessionmaker[AsyncSession]
Bind = Engine | AsyncEngine | Connection | AsyncConnection

# Objects stay readable after commit: services return them for serialisation
# without a second round trip to reload what they just wrote.
SESSION_OPTIONS: dict[str, Any] = {"autoflush": False, "expire_on_commit": False}


def session_factory(bind: Bind, **options: Any) -> SessionFactory:
    """`sessionmaker(bind=...)`, or `async_sessionmaker` for an async engine or connection."""
    if isinstance(bind, AsyncEngine | AsyncConnection):
        return async_sessionmaker(bind=bind, **SESSION_OPTIONS, **options)
    return sessionmaker(bind=bind, **SESSION_OPTIONS, **options)


@dataclass(frozen=True)
class Databases:
    """An app's databases: the primary, and the read-only one analytics reads.

    The URL's driver picks the mode: psycopg2 or pysqlite make `SessionLocal` a
    `sessionmaker` (sync mode); asyncpg or aiosqlite an `async_sessionmaker`."""

    engine: Engine | AsyncEngine
    SessionLocal: SessionFactory
    # The replica when ANALYTICS_DATABASE_URL is set, else the primary, on connections
    # that cannot write either way.
    analytics_engine: Engine | AsyncEngine
    AnalyticsSessionLocal: SessionFactory
    # Where units of work wait for each pool's connections (app/db/connection_queue.py).
    queue: ConnectionQueue
    analytics_queue: ConnectionQueue

    @classmethod
    def open(cls, settings: Settings) -> "Databases":
        """Engines for the settings' URLs (nothing connects until a session needs to)."""
        engine = build_engine(settings.database_url, settings)
        analytics_url = settings.analytics_database_url or settings.database_url
        analytics_engine = build_engine(
            analytics_url, settings, read_only=True, setting="ANALYTICS_DATABASE_URL"
        )
        connections = settings.db_pool_size + settings.db_max_overflow
        return cls(
            engine=engine,
            SessionLocal=session_factory(engine),
            analytics_engine=analytics_engine,
            AnalyticsSessionLocal=session_factory(analytics_engine),
            queue=ConnectionQueue(connections, settings.db_pool_timeout),
            analytics_queue=ConnectionQueue(connections, settings.db_pool_timeout),
        )

    async def dispose(self) -> None:
        """Close every pooled connection."""
        for engine in (self.engine, self.analytics_engine):
            if isinstance(engine, AsyncEngine):
                await engine.dispose()
            else:
                engine.dispose()

    def pools(self) -> dict[str, Engine]:
        """The engines whose pools the metrics report, by label."""
        return {"primary": sync_view(self.engine), "analytics": sync_view(self.analytics_engine)}


def databases_of(connection: HTTPConnection) -> Databases:
    """The databases of the app serving this request."""
    databases: Databases = connection.app.state.databases
    return databases


class WrongMode(RuntimeError):
    """A sync dependency used in async mode, or the other way round."""


def get_db(request: HTTPConnection) -> Iterator[Session]:
    """One `Session` per request, closed (its connection returned) whatever happens."""
    SessionLocal = databases_of(request).SessionLocal
    if not isinstance(SessionLocal, sessionmaker):
        raise WrongMode("get_db yields a Session in sync mode; in async mode use get_async_db")
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()


async def get_async_db(request: HTTPConnection) -> AsyncIterator[AsyncSession]:
    """`get_db`'s twin for async mode: one `AsyncSession` per request."""
    SessionLocal = databases_of(request).SessionLocal
    if not isinstance(SessionLocal, async_sessionmaker):
        raise WrongMode(
            "get_async_db yields an AsyncSession in async mode; in sync mode use get_db"
        )
    async with SessionLocal() as db:
        yield db


@contextmanager
def batch_session(settings: Settings) -> Iterator[Session]:
    """A session with an engine of its own, on the sync driver and with no statement
    timeout, for one-off work (start-up, the command line)."""
    engine = build_sync_engine(settings.database_url, settings, poolclass=NullPool, timeouts=False)
    try:
        with Session(engine, **SESSION_OPTIONS) as db:
            yield db
    finally:
        engine.dispose()
