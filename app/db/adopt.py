"""Bring an existing database under this project's Alembic history, or say why not.

Three kinds of legacy database reach `python -m app stamp`:
- built by `create_all` from these models: compared with them (tables, columns, types,
  primary keys, unique constraints, foreign keys, indexes) and stamped at head;
- under another history (Alembic or Flask-Migrate: an `alembic_version` row with a
  revision this code does not know): refused, since stamping would hide that its
  schema is another application's;
- another application's tables (none of ours, or ours beside tables of its own):
  refused, pointing at `python -m app import-legacy`, which copies its rows into a
  database this project migrated.
"""

from dataclasses import dataclass

from alembic import command
from sqlalchemy import Connection, MetaData, inspect

from app.db import migrate
from app.db.drivers import sync_url
from app.db.schema_compare import describe, differences

MAX_LINES = 20
IMPORT_HINT = (
    "create this project's schema in a new database (`python -m app migrate`) and copy "
    "the rows in with `python -m app import-legacy --from URL-OF-THIS-DATABASE`"
)


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


def summarise(lines: list[str], limit: int | None = MAX_LINES) -> list[str]:
    if limit is None or len(lines) <= limit:
        return lines
    return [*lines[: limit - 1], f"... and {len(lines) - limit + 1} more (--all shows them)"]


def _tables(conn: Connection) -> set[str]:
    tables = set(inspect(conn).get_table_names()) - {"alembic_version"}
    conn.rollback()
    return tables


def _unknown_revision(
    conn: Connection, unknown: migrate.UnknownRevision, revision: str, metadata: MetaData
) -> CannotAdopt:
    theirs = _tables(conn)
    if not theirs:
        # Nothing but a version this code does not know: a newer version of the service
        # (or another application) got here first; stamping would hide that.
        return CannotAdopt(str(unknown))
    shown = ", ".join(sorted(theirs)[:4]) + (", ..." if len(theirs) > 4 else "")
    if theirs & set(metadata.tables) and not differences(conn, metadata):
        conn.rollback()
        return CannotAdopt(
            f"the database is at revision {revision} of another migration history (Flask-"
            "Migrate?), though its tables match the models: if this project's code now owns "
            "it, run `DELETE FROM alembic_version` in it, then `python -m app stamp` again"
        )
    conn.rollback()
    return CannotAdopt(
        f"the database is at revision {revision} of another migration history (Flask-Migrate?) "
        f"and its tables ({shown}) are not this project's, so it cannot be stamped; "
        + IMPORT_HINT
    )


def adopt(url: str, metadata: MetaData, *, limit: int | None = MAX_LINES) -> Adopted:
    """Stamp the database at `url` at head if its schema matches `metadata`; raise
    CannotAdopt, changing nothing, when it is empty, differs, or belongs to another
    application. `limit`: how many differences to list (None: all)."""
    with migrate.migration_lock(sync_url(url)) as conn:
        current = migrate.current_revision_on(conn)
        if current is not None:
            try:
                migrate.check_revisions(current)
            except migrate.UnknownRevision as unknown:
                raise _unknown_revision(conn, unknown, current, metadata) from None
            return Adopted(revision=current, already=True)
        tables = migrate.unversioned_tables(conn)
        if not tables:
            raise CannotAdopt("the database is empty: run `python -m app migrate` to create it")
        if not set(tables) & set(metadata.tables):
            shown = ", ".join(tables[:4]) + (", ..." if len(tables) > 4 else "")
            raise CannotAdopt(
                f"none of the database's tables ({shown}) is one of this project's: it is "
                f"another application's database, not one to stamp; {IMPORT_HINT}"
            )
        found = [describe(diff) for diff in differences(conn, metadata)]
        conn.rollback()  # reflection only; Alembic begins its own transaction
        if found:
            others = sorted(set(tables) - set(metadata.tables))
            advice = (
                "Make it match (or write a migration that does), then run "
                "`python -m app stamp` again"
            )
            if others:
                # Ours beside another application's: the merge is import-legacy's job.
                advice += (
                    f"; tables that are not the models' ({', '.join(others[:4])}"
                    f"{', ...' if len(others) > 4 else ''}) are imported with "
                    "`python -m app import-legacy`, not stamped"
                )
            raise CannotAdopt(
                f"the database differs from the models in {len(found)} "
                f"{'way' if len(found) == 1 else 'ways'}; nothing was changed. {advice}:",
                summarise(found, limit),
            )
        command.stamp(migrate.alembic_config(url, conn), "head")
        return Adopted(revision=migrate.current_revision_on(conn), already=False)
