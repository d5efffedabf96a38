"""Committing a write, and what the database's refusals mean to the caller.

A pre-check gives the friendly answer in the common case; the constraint decides
the race. When a concurrent request takes a unique value, deletes a referenced row
or deletes the row being changed, the commit fails, and this module turns that
failure into the domain error the service named for it, never a 500.
"""

import re
from collections.abc import Mapping

from sqlalchemy import delete, inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from app.db.base import Base
from app.services.errors import DomainError, NotFound
from app.services.versions import Expected, raise_changed_or_gone

# SQLite names columns or an index, never the constraint, in its messages:
# "UNIQUE constraint failed: users.email", "UNIQUE constraint failed: index 'uq_x'".
_SQLITE_UNIQUE_INDEX = re.compile(r"UNIQUE constraint failed: index '(\w+)'")
_SQLITE_UNIQUE_COLUMNS = re.compile(r"UNIQUE constraint failed: (\w+)\.(\w+)")
_SQLITE_FOREIGN_KEY = "FOREIGN KEY constraint failed"


def constraint_name(exc: IntegrityError) -> str | None:
    """The name of the constraint `exc` broke, as app/db/base.py's convention spells it."""
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
        return f"uq_{match.group(1)}_{match.group(2)}"  # the naming convention's uq_ name
    return None


def _error_for(exc: IntegrityError, violations: Mapping[str, DomainError]) -> DomainError | None:
    name = constraint_name(exc)
    if name is not None:
        return violations.get(name)
    if _SQLITE_FOREIGN_KEY in str(exc.orig):
        # SQLite does not say which foreign key; one named by the caller is the one.
        foreign_keys = [error for key, error in violations.items() if key.startswith("fk_")]
        if len(foreign_keys) == 1:
            return foreign_keys[0]
    return None


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
    unless the row is gone (app/services/versions.py). Anything else unexpected is
    re-raised as it was."""
    try:
        db.commit()
    except IntegrityError as exc:
        db.rollback()
        error = _error_for(exc, violations or {})
        if error is None:
            raise
        raise error from exc
    except StaleDataError as exc:
        db.rollback()
        identity = inspect(row).identity if row is not None else None
        if row is None or identity is None:
            raise
        if expected is None:
            raise NotFound(f"{type(row).__name__} not found") from exc
        raise_changed_or_gone(db, type(row), identity[0])


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
