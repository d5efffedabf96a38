"""Fetching one row by id, the same way for every resource."""

from typing import TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import Session

from app.core.limits import MAX_BIGINT
from app.db.base import Base
from app.services.errors import NotFound

ModelT = TypeVar("ModelT", bound=Base)


def get_one(db: Session, stmt: Select[ModelT], model: type[ModelT], id_: int) -> ModelT:
    """The row of `stmt` with this id, or NotFound (ids past 64 bits cannot exist)."""
    if not 0 < id_ <= MAX_BIGINT:
        raise NotFound(f"{model.__name__} not found")
    row = db.scalars(stmt.where(model.id == id_)).unique().one_or_none()  # type: ignore[attr-defined]
    if row is None:
        raise NotFound(f"{model.__name__} not found")
    return row


def get_by_id(db: Session, model: type[ModelT], id_: int) -> ModelT:
    """The row with this id, or NotFound: `Session.get`, which looks in the session first
    and reuses one compiled statement."""
    row = db.get(model, id_) if 0 < id_ <= MAX_BIGINT else None
    if row is None:
        raise NotFound(f"{model.__name__} not found")
    return row
