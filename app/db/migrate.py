"""Bring the schema to Alembic's head, once, even when several workers start together."""

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# An arbitrary constant shared by every instance of this service.
MIGRATION_LOCK_ID = 7_349_211_001


def alembic_config(url: str, connection: Connection | None = None) -> Config:
    """Alembic's config for `url`; the URL never lives in alembic.ini."""
    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    cfg.attributes["database_url"] = url
    # The running app owns logging; Alembic must not reconfigure it.
    cfg.attributes["configure_logger"] = False
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def upgrade(url: str, revision: str = "head") -> None:
    """Run `alembic upgrade` under a lock so concurrent starters take turns."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        lock = Path(f"{database}.migrate.lock") if database not in ("", ":memory:") else None
        if lock is None:
            command.upgrade(alembic_config(url), revision)
            return
        with _file_lock(lock):
            command.upgrade(alembic_config(url), revision)
        return
    if parsed.get_backend_name() != "postgresql":
        command.upgrade(alembic_config(url), revision)
        return
    engine = create_engine(parsed, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            # Session-level advisory lock: held across Alembic's own transactions.
            conn.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
            conn.commit()
            try:
                command.upgrade(alembic_config(url, conn), revision)
                conn.commit()
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID})
                conn.commit()
    finally:
        engine.dispose()
