from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db.base import Base, BigId, Timestamped, version_column

if TYPE_CHECKING:
    from app.models.team import Team


class Hero(Timestamped, Base):
    __tablename__ = "heroes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), index=True)
    secret_name: Mapped[str] = mapped_column(String(100))
    age: Mapped[int | None] = mapped_column(BigInteger, index=True)
    team_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("teams.id", ondelete="SET NULL"), index=True
    )
    version: Mapped[int] = version_column()
    __mapper_args__ = {"version_id_col": version}

    team: Mapped["Team | None"] = relationship(back_populates="heroes", lazy="raise_on_sql")
