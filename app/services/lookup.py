"""Fetching one row by id, the same way for every resource."""

from typing import TypeVar

from sqlalchemy import Select, select
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
    return get_one(db, select(model), model, id_)
