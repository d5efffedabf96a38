"""Throwaway PostgreSQL databases, so no test run depends on what an earlier one left."""

import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.drivers import sync_url
from app.testing.asyncmode import ASYNC_MODE, run_async


def sqlite_url(path: Path) -> str:
    """A SQLite URL for `path`, on the driver TEST_DATABASE_URL names (aiosqlite or pysqlite)."""
    requested = os.environ.get("TEST_DATABASE_URL") or "sqlite://"
    driver = make_url(requested).drivername if requested.startswith("sqlite") else "sqlite"
    return f"{driver}:///{path}"


def create_postgres_database(url: str) -> str:
    """Create a database named after the one in `url` plus a random suffix; return its URL
    (on the driver `url` names; the database is created through the sync one)."""
    base = make_url(url)
    name = f"{base.database or 'test'}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(sync_url(base), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(url: str) -> None:
    target = make_url(url)
    assert target.database and re.fullmatch(r"[\w]+_[0-9a-f]{8}", target.database)
    admin = create_engine(sync_url(target).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
    admin.dispose()


@contextmanager
def fresh_database(tmp_path: Path, name: str = "fresh") -> Iterator[str]:
    """An empty database of its own: a SQLite file, or a new PostgreSQL database
    on the server of TEST_DATABASE_URL when that is set."""
    server = os.environ.get("TEST_DATABASE_URL")
    if not server or server.startswith("sqlite"):
        yield sqlite_url(tmp_path / (name + ".db"))
        return
    url = create_postgres_database(server)
    try:
        yield url
    finally:
        drop_postgres_database(url)


def dispose(engine: Engine | AsyncEngine) -> None:
    """Close an engine's pooled connections, whichever mode built it."""
    if isinstance(engine, AsyncEngine):
        run_async(engine.dispose())
    else:
        engine.dispose()


def dead_database_url() -> str:
    """A PostgreSQL URL nobody listens on (port 1 refuses at once), on the mode's driver."""
    driver = "postgresql+asyncpg" if ASYNC_MODE else "postgresql+psycopg2"
    return f"{driver}://postgres@127.0.0.1:1/unreachable"
