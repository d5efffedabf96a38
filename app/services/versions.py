"""Writes conditional on a row's version (If-Match), decided by the database.

Every versioned model maps `version` as its `version_id_col` (app/db/base.py): the
ORM's UPDATE says `WHERE id = ? AND version = <committed version>`. A conditional
write makes the committed version the one the caller named, so the UPDATE itself
decides: of several concurrent writes naming one version, the first to commit
matches the row and the rest match nothing (StaleDataError, app/services/commit.py).
No Python comparison can race it.
"""

from dataclasses import dataclass

from sqlalchemy import inspect, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from app.db.base import Base
from app.services.errors import NotFound, PreconditionFailed

CHANGED = "The resource has changed"


@dataclass(frozen=True)
class Expected:
    """What an If-Match asks for: one of `versions`, or (`any_version`) any existing row."""

    versions: frozenset[int] = frozenset()
    any_version: bool = False


def hold_to(db: Session, row: Base, expected: Expected | None) -> None:
    """Make the commit of `row`'s pending changes require a version `expected` names.

    Called after the changes are applied. A write that changes nothing emits no UPDATE,
    so it makes one that changes nothing (`version = version`): the database still
    decides, and the version (the ETag) stays as it was."""
    if expected is None or expected.any_version:
        return
    if not expected.versions:
        # Only weak or foreign tags: no version of this row ever matches them.
        db.rollback()
        raise PreconditionFailed(CHANGED)
    current: int = row.version  # type: ignore[attr-defined]
    # Any version the caller named will do; the one read is as good as any other.
    named = current if current in expected.versions else min(expected.versions)
    if db.is_modified(row):
        set_committed_value(row, "version", named)
        return
    model = type(row)
    ident = inspect(row).identity
    assert ident is not None
    same = (
        update(model)
        .where(model.id == ident[0], model.version == named)  # type: ignore[attr-defined]
        # updated_at named too, or its onupdate would change what nothing changed
        .values(version=model.version, updated_at=model.updated_at)  # type: ignore[attr-defined]
        .execution_options(synchronize_session=False)
    )
    if db.execute(same).rowcount != 1:  # type: ignore[attr-defined]
        raise_changed_or_gone(db, model, ident[0])


def raise_changed_or_gone(db: Session, model: type[Base], id_: int) -> None:
    """After a conditional write matched nothing: NotFound if the row is gone (a
    concurrent DELETE), PreconditionFailed if it is there in another version."""
    db.rollback()
    if db.scalar(select(model.id).where(model.id == id_)) is None:  # type: ignore[attr-defined]
        raise NotFound(f"{model.__name__} not found")
    raise PreconditionFailed(CHANGED)
