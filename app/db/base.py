"""The declarative base every model maps onto, and the column types they share."""

from datetime import UTC, datetime

from sqlalchemy import BigInteger, DateTime, Integer, MetaData, TypeDecorator, func, text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from app.db.lengths import fit_columns

# Stable constraint names, so migrations can drop or alter them by name, and the error
# table (services/commit.py) maps one name on every database. Every column of a
# composite key is in its name (`uq_follows_a_b`), so it cannot share one with a key
# over its first column alone; a one-column key's name is what it always was.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# 64-bit ids on PostgreSQL; on SQLite only INTEGER PRIMARY KEY is the autoincrementing rowid.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp that always comes back in UTC, SQLite included."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; use datetime.now(UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        # SQLite keeps no offset; what was written was UTC.
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# A string a model derives (or a service sets) that outgrows its column is a 422, on
# every database, before PostgreSQL refuses it and SQLite stores it.
fit_columns(Base)


class Timestamped:
    """created_at/updated_at, set by the application so every dialect agrees."""

    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, server_default=func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, server_default=func.now()
    )


def version_column() -> Mapped[int]:
    """A row's version, which its ETag names (app/api/conditional.py). Mapped as the
    mapper's `version_id_col`: every ORM UPDATE says `WHERE version = <the version
    read>` and adds one, so the database refuses a write based on a stale read."""
    return mapped_column(Integer, server_default=text("1"))
