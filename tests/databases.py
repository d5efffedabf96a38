"""Throwaway PostgreSQL databases, so no test run depends on what an earlier one left."""

import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


def create_postgres_database(url: str) -> str:
    """Create a database named after the one in `url` plus a random suffix; return its URL."""
    base = make_url(url)
    name = f"{base.database or 'test'}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(url: str) -> None:
    target = make_url(url)
    assert target.database and re.fullmatch(r"[\w]+_[0-9a-f]{8}", target.database)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
    admin.dispose()


@contextmanager
def fresh_database(tmp_path: Path, name: str = "fresh") -> Iterator[str]:
    """An empty database of its own: a SQLite file, or a new PostgreSQL database
    on the server of TEST_DATABASE_URL when that is set."""
    server = os.environ.get("TEST_DATABASE_URL")
    if not server:
        yield f"sqlite:///{tmp_path / (name + '.db')}"
        return
    url = create_postgres_database(server)
    try:
        yield url
    finally:
        drop_postgres_database(url)
