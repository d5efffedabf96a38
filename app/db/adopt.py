"""Bring a database that Alembic never ran on (say one built with `create_all`) under
Alembic: check that its schema is what the models describe, then stamp it at head."""

from dataclasses import dataclass

from alembic import command
from sqlalchemy import MetaData

from app.db import migrate
from app.db.drivers import sync_url
from app.db.schema_compare import describe, differences

MAX_LINES = 20


class CannotAdopt(Exception):
    """The database cannot be stamped as it is; nothing was changed."""

    def __init__(self, summary: str, details: list[str] | None = None) -> None:
        super().__init__(summary)
        self.summary = summary
        self.details = details or []


@dataclass(frozen=True)
class Adopted:
    revision: str | None
    already: bool  # it was under Alembic before; nothing was done


def summarise(lines: list[str], limit: int = MAX_LINES) -> list[str]:
    if len(lines) <= limit:
        return lines
    return [*lines[: limit - 1], f"... and {len(lines) - limit + 1} more"]


def adopt(url: str, metadata: MetaData) -> Adopted:
    """Stamp the database at `url` at head if its schema matches `metadata`; raise
    CannotAdopt, changing nothing, when it is empty or differs."""
    with migrate.migration_lock(sync_url(url)) as conn:
        current = migrate.current_revision_on(conn)
        if current is not None:
            return Adopted(revision=current, already=True)
        if not migrate.unversioned_tables(conn):
            raise CannotAdopt("the database is empty: run `python -m app migrate` to create it")
        found = [describe(diff) for diff in differences(conn, metadata)]
        conn.rollback()  # reflection only; Alembic begins its own transaction
        if found:
            raise CannotAdopt(
                f"the database differs from the models in {len(found)} "
                f"{'way' if len(found) == 1 else 'ways'}; nothing was changed. Make it match "
                "(or write a migration that does), then run `python -m app stamp` again:",
                summarise(found),
            )
        command.stamp(migrate.alembic_config(url, conn), "head")
        return Adopted(revision=migrate.current_revision_on(conn), already=False)
