"""One page of a collection: count, slice and whether more rows follow."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func
from sqlalchemy.orm import Session
from sqlalchemy.orm.interfaces import ORMOption

ModelT = TypeVar("ModelT")


@dataclass(frozen=True)
class PageRequest:
    limit: int = 100
    skip: int = 0
    after_id: int | None = None  # keyset mode: rows with id > after_id, no count


@dataclass(frozen=True)
class Page(Generic[ModelT]):
    rows: Sequence[ModelT]
    total: int | None  # None in keyset mode: deep pages must not pay for a count
    has_more: bool


def fetch_page(
    db: Session,
    stmt: Select[ModelT],
    id_column: Any,
    page: PageRequest,
    options: Sequence[ORMOption] = (),
) -> Page[ModelT]:
    """Rows of `stmt` ordered by id; one extra row is read to learn whether more follow."""
    total = None
    if page.after_id is None:
        count_stmt = stmt.with_only_columns(func.count(), maintain_column_froms=True)
        total = db.scalar(count_stmt.order_by(None))
        stmt = stmt.offset(page.skip)
    else:
        stmt = stmt.where(id_column > page.after_id)
    stmt = stmt.order_by(id_column).limit(page.limit + 1).options(*options)
    rows = db.scalars(stmt).unique().all()
    return Page(rows=rows[: page.limit], total=total, has_more=len(rows) > page.limit)


@dataclass(frozen=True)
class Pagination(Generic[ModelT]):
    """Flask-SQLAlchemy's `Pagination`, for code ported from `.paginate()`."""

    items: Sequence[ModelT]
    page: int  # from 1
    per_page: int
    total: int

    @property
    def has_next(self) -> bool:
        return self.page * self.per_page < self.total

    @property
    def next_num(self) -> int | None:
        return self.page + 1 if self.has_next else None

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def prev_num(self) -> int | None:
        return self.page - 1 if self.has_prev else None


def paginate(db: Session, stmt: Select[ModelT], *, page: int, per_page: int) -> Pagination[ModelT]:
    """Page `page` (from 1) of `stmt`, in the statement's own order: newest first is
    `.order_by(Post.timestamp.desc(), Post.id.desc())` (the id breaks ties, so no row
    shows on two pages). Past the last page, `items` is empty rather than a 404."""
    if page < 1 or per_page < 1:
        raise ValueError("page and per_page start at 1")
    count_stmt = stmt.with_only_columns(func.count(), maintain_column_froms=True)
    total = db.scalar(count_stmt.order_by(None)) or 0
    items = db.scalars(stmt.limit(per_page).offset((page - 1) * per_page)).all()
    return Pagination(items=items, page=page, per_page=per_page, total=total)
