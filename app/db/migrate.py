"""Bring the schema to Alembic's head, once, even when several workers start together."""

import fcntl
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, create_engine, inspect, text
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

from app.db.drivers import sync_url
from app.db.engines import use_wal

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# An arbitrary constant shared by every instance of this service.
MIGRATION_LOCK_ID = 7_349_211_001


def alembic_config(url: str, connection: Connection | None = None) -> Config:
    """Alembic's config for `url`; the URL never lives in alembic.ini."""
    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    cfg.attributes["database_url"] = url  # env.py swaps an async driver for its sync twin
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


@contextmanager
def migration_lock(url: URL) -> Iterator[Connection]:
    """A connection held under a lock that every migrating instance takes."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            with _file_lock(Path(f"{url.database}.migrate.lock")), engine.connect() as conn:
                use_wal(conn.connection.dbapi_connection.cursor())  # type: ignore[union-attr]
                yield conn
        elif url.get_backend_name() == "postgresql":
            with engine.connect() as conn:
                # Session-level, so it outlives the transactions Alembic opens and commits.
                conn.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
                conn.commit()
                try:
                    yield conn
                finally:
                    conn.rollback()
                    conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID})
                    conn.commit()
        else:
            with engine.connect() as conn:
                yield conn
    finally:
        engine.dispose()


def current_revision_on(conn: Connection) -> str | None:
    """The revision of the database on `conn`; leaves no transaction open."""
    revision = MigrationContext.configure(conn).get_current_revision()
    conn.commit()
    return revision


def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config(""))


def head_revision() -> str | None:
    """The newest revision this code knows."""
    return _scripts().get_current_head()


def _known(revision: str) -> bool:
    try:
        return _scripts().get_revision(revision) is not None
    except CommandError:  # alembic's ResolutionError among them
        return False


class UnknownRevision(CommandError):
    """The database is at a revision this code's history does not have."""

    def __init__(self, revision: str) -> None:
        super().__init__(
            f"the database is at revision {revision}, which this code does not know: a newer "
            "version of the service migrated it (run that version, or its `migrate` to "
            "downgrade), or another application's migrations did"
        )


class UnknownTarget(CommandError):
    """A revision to migrate to that this code's history does not have."""

    def __init__(self, revision: str) -> None:
        super().__init__(
            f"no revision {revision!r}; `python -m alembic history` lists the revisions "
            "this code knows"
        )


def check_revisions(current: str | None, target: str = "head") -> None:
    """UnknownRevision or UnknownTarget unless both are in this code's history."""
    if current is not None and not _known(current):
        raise UnknownRevision(current)
    if target not in ("head", "heads", "base") and not _known(target):
        raise UnknownTarget(target)


def current_revision(url: str) -> str | None:
    """The revision the database at `url` is at (None when it has no schema)."""
    engine = create_engine(sync_url(url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return current_revision_on(conn)
    finally:
        engine.dispose()


class NotUnderAlembic(CommandError):
    """Tables exist but Alembic has never run here (a `create_all` database, say)."""

    def __init__(self, tables: list[str]) -> None:
        shown = ", ".join(tables[:3]) + (", ..." if len(tables) > 3 else "")
        super().__init__(
            f"the database has tables ({shown}) but no Alembic version: "
            "run `python -m app stamp` to check it against the models and adopt it"
        )


def unversioned_tables(conn: Connection) -> list[str]:
    """The tables of a database Alembic has never run on (none when it has)."""
    if current_revision_on(conn) is not None:
        return []
    tables = sorted(set(inspect(conn).get_table_names()) - {"alembic_version"})
    conn.commit()
    return tables
class SchemaNotAtHead(Exception):
    """The database's schema is not the one this code was written for."""

    def __init__(self) -> None:
        super().__init__("the database schema is not at head; run `python -m app migrate`")


def require_head(url: str) -> None:
    """SchemaNotAtHead (or UnknownRevision) unless the database at `url` is migrated to
    this code's head."""
    current = current_revision(url)
    if current != head_revision():
        check_revisions(current)
        raise SchemaNotAtHead


def upgrade(url: str, revision: str = "head") -> bool:
    """Run `alembic upgrade` under the lock; True if this call changed the schema."""
    with migration_lock(sync_url(url)) as conn:
        # Else the first CREATE TABLE fails, as a bare "table users already exists".
        if tables := unversioned_tables(conn):
            raise NotUnderAlembic(tables)
        before = current_revision_on(conn)
        check_revisions(before, revision)
        command.upgrade(alembic_config(url, conn), revision)
        after = current_revision_on(conn)
    if before == after:
        logger.info("database schema already at %s", after)
        return False
    logger.info("database schema migrated from %s to %s", before or "empty", after)
    return True
