"""Fetching one row by id, the same way for every resource."""

from typing import TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import Session

from app.core.limits import MAX_BIGINT
from app.db.base import Base
from app.services.errors import NotFound

ModelT = TypeVar("ModelT", bound=Base)


def get_one(
    db: Session, stmt: Select[ModelT], model: type[ModelT], id_: int, *, lock: bool = False
) -> ModelT:
    """The row of `stmt` with this id, or NotFound (ids past 64 bits cannot exist).

    `lock`: read it FOR UPDATE (see `for_update`)."""
    if not 0 < id_ <= MAX_BIGINT:
        raise NotFound(f"{model.__name__} not found")
    stmt = stmt.where(model.id == id_)  # type: ignore[attr-defined]
    if lock:
        stmt = stmt.with_for_update(of=model).execution_options(populate_existing=True)
    row = db.scalars(stmt).unique().one_or_none()
    if row is None:
        raise NotFound(f"{model.__name__} not found")
    return row


def get_by_id(db: Session, model: type[ModelT], id_: int, *, lock: bool = False) -> ModelT:
    """The row with this id, or NotFound: `Session.get`, which looks in the session first
    and reuses one compiled statement. `lock`: read it FOR UPDATE (see `for_update`)."""
    if not 0 < id_ <= MAX_BIGINT:
        raise NotFound(f"{model.__name__} not found")
    if lock:
        row = db.get(model, id_, with_for_update=True, populate_existing=True)
    else:
        row = db.get(model, id_)
    if row is None:
        raise NotFound(f"{model.__name__} not found")
    return row


def for_update(expected: object | None) -> bool:
    """Whether a write reads its row FOR UPDATE: when it has no If-Match (`expected`).

    Such a write goes ahead whatever the row holds (last writer wins), yet its versioned
    UPDATE needs the version current when it runs: the lock makes a concurrent writer
    wait, and PostgreSQL then reads the version that writer committed. A write with
    If-Match must not wait and re-read: the version it names decides (versions.py).
    SQLite has no row locks; a transaction that read before another wrote is refused
    (BUSY) and run again by the unit of work."""
    return expected is None
