"""Committing a write, and what the database's refusals mean to the caller.

A pre-check gives the friendly answer in the common case; the constraint decides
the race. When a concurrent request takes a unique value, deletes a referenced row
or deletes the row being changed, the commit fails, and this module turns that
failure into the domain error the service named for it, never a 500.
"""

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from sqlalchemy import MetaData, PrimaryKeyConstraint, Table, UniqueConstraint, delete, inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from app.db import sequences
from app.db.base import Base
from app.services.errors import DomainError, NotFound
from app.services.versions import Expected, raise_changed_or_gone

# SQLite names columns or an index, never the constraint, in its messages:
# "UNIQUE constraint failed: users.email", "UNIQUE constraint failed: index 'uq_x'",
# "UNIQUE constraint failed: followers.follower_id, followers.followed_id".
_SQLITE_UNIQUE_INDEX = re.compile(r"UNIQUE constraint failed: index '(\w+)'")
_SQLITE_UNIQUE_COLUMNS = re.compile(r"UNIQUE constraint failed: ((?:\w+\.\w+(?:, )?)+)")
_SQLITE_FOREIGN_KEY = "FOREIGN KEY constraint failed"


class SequenceRepaired(Exception):
    """An INSERT was handed a taken id by a sequence that had fallen behind; the sequence
    was moved past the rows and the write can simply run again."""

    def __init__(self, table: str) -> None:
        super().__init__(
            f"the id sequence of {table} was behind its rows (ids copied in?); it was "
            "moved past them: run the command again"
        )


def _named_by_columns(table_name: str, columns: list[str], metadata: MetaData) -> str:
    """The name of the key over `columns` of `table_name`, as PostgreSQL reports it: so
    a composite primary key is `pk_followers` on SQLite too, not `uq_followers_...`."""
    table = metadata.tables.get(table_name)
    wanted = set(columns)
    if table is not None:
        for constraint in table.constraints:
            if isinstance(constraint, PrimaryKeyConstraint | UniqueConstraint) and (
                {c.name for c in constraint.columns} == wanted and constraint.name
            ):
                return str(constraint.name)
        for index in table.indexes:
            if index.unique and index.name and {c.name for c in index.columns} == wanted:
                return str(index.name)
    return f"uq_{table_name}_{'_'.join(columns)}"  # the naming convention's uq_ name


def constraint_name(exc: IntegrityError, metadata: MetaData | None = None) -> str | None:
    """The name of the constraint `exc` broke, as app/db/base.py's convention spells it
    (`metadata`: where the tables are declared; the project's models by default)."""
    orig = exc.orig
    diag = getattr(orig, "diag", None)  # psycopg2
    if diag is not None and diag.constraint_name:
        return str(diag.constraint_name)
    cause = getattr(orig, "__cause__", None)  # asyncpg, behind SQLAlchemy's adapter
    if getattr(cause, "constraint_name", None):
        return str(cause.constraint_name)  # type: ignore[union-attr]
    message = str(orig)
    if match := _SQLITE_UNIQUE_INDEX.search(message):
        return match.group(1)
    if match := _SQLITE_UNIQUE_COLUMNS.search(message):
        qualified = [part.split(".") for part in match.group(1).split(", ")]
        columns = [column for _, column in qualified]
        return _named_by_columns(qualified[0][0], columns, metadata or Base.metadata)
    return None


def _primary_key_of(name: str, metadata: MetaData) -> Table | None:
    for table in metadata.tables.values():
        if table.primary_key.name == name:
            return table
    return None


def _error_for(
    exc: IntegrityError, violations: Mapping[str, DomainError], metadata: MetaData
) -> DomainError | None:
    name = constraint_name(exc, metadata)
    if name is not None:
        return violations.get(name)
    if _SQLITE_FOREIGN_KEY in str(exc.orig):
        # SQLite does not say which foreign key; one named by the caller is the one.
        foreign_keys = [error for key, error in violations.items() if key.startswith("fk_")]
        if len(foreign_keys) == 1:
            return foreign_keys[0]
    return None


@contextmanager
def mapped_errors(
    db: Session,
    violations: Mapping[str, DomainError] | None = None,
    *,
    row: Base | None = None,
    expected: Expected | None = None,
    metadata: MetaData | None = None,
) -> Iterator[None]:
    """Around writes that may fail before the commit (a Core `insert(...)` executed at
    once, a flush), the same translation `commit` makes:

        with mapped_errors(db, {"pk_followers": Conflict("already following")}):
            db.execute(insert(followers).values(...))
            db.commit()

    `metadata`: where the tables are declared, if not on the project's `Base`.
    """
    metadata = metadata or Base.metadata
    try:
        yield
    except IntegrityError as exc:
        db.rollback()
        error = _error_for(exc, violations or {}, metadata)
        if error is not None:
            raise error from exc
        name = constraint_name(exc, metadata)
        table = _primary_key_of(name, metadata) if name is not None else None
        if table is not None and sequences.repair_if_behind(db, table):
            raise SequenceRepaired(table.name) from exc
        raise
    except StaleDataError as exc:
        db.rollback()
        identity = inspect(row).identity if row is not None else None
        if row is None or identity is None:
            raise
        if expected is None:
            raise NotFound(f"{type(row).__name__} not found") from exc
        raise_changed_or_gone(db, type(row), identity[0])


def commit(
    db: Session,
    violations: Mapping[str, DomainError] | None = None,
    *,
    row: Base | None = None,
    expected: Expected | None = None,
) -> None:
    """Commit the session's writes.

    `violations` maps constraint names (`uq_teams_name`, `fk_items_owner_id_users`)
    to the error a caller gets when a concurrent request made the write break that
    constraint. `row`: the row being updated, whose versioned UPDATE matched nothing.
    Without `expected` (no If-Match) it was read FOR UPDATE (app/services/lookup.py), so
    only a DELETE can have changed it meanwhile: NotFound. With it, PreconditionFailed
    unless the row is gone (app/services/versions.py). A primary key broken because its
    sequence fell behind (ids copied in) is repaired and SequenceRepaired raised: the
    unit of work runs the call again. Anything else unexpected is re-raised as it was."""
    with mapped_errors(db, violations, row=row, expected=expected):
        db.commit()


def delete_row(db: Session, row: Base, expected: Expected | None = None) -> None:
    """Delete `row` and commit; NotFound if it was no longer there to delete,
    PreconditionFailed if `expected` (If-Match) names versions it no longer has.

    The ORM's own `Session.delete` only warns when its DELETE matches nothing, so
    two concurrent DELETEs of one row would both succeed. A DELETE statement's row
    count says which one removed it, and its WHERE holds the version the caller
    named. Cascades are the database's (ON DELETE)."""
    model = type(row)
    id_ = row.id  # type: ignore[attr-defined]
    stmt = delete(model).where(model.id == id_)  # type: ignore[attr-defined]
    if expected is not None and not expected.any_version:
        stmt = stmt.where(model.version.in_(expected.versions))  # type: ignore[attr-defined]
    result = db.execute(stmt)
    if result.rowcount != 1:  # type: ignore[attr-defined]
        if expected is None:
            db.rollback()
            raise NotFound(f"{model.__name__} not found")
        raise_changed_or_gone(db, model, id_)
    commit(db)
