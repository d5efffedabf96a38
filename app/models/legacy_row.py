from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, UTCDateTime, utcnow


class LegacyRow(Base):
    """Which row of a legacy database became which row here (`python -m app
    import-legacy`): what is recorded is skipped, so a re-run imports nothing twice and
    an interrupted run resumes where it stopped."""

    __tablename__ = "legacy_rows"
    legacy_table: Mapped[str] = mapped_column(String(100), primary_key=True)
    # The legacy primary key, or the whole row (JSON) of a table that had none.
    legacy_key: Mapped[str] = mapped_column(String(500), primary_key=True)
    target_table: Mapped[str] = mapped_column(String(100))
    target_key: Mapped[str] = mapped_column(String(500))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
