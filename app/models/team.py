from typing import TYPE_CHECKING

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db.base import Base, BigId, Timestamped, version_column

if TYPE_CHECKING:
    from app.models.hero import Hero


class Team(Timestamped, Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    headquarters: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = version_column()
    __mapper_args__ = {"version_id_col": version}

    # The database sets team_id to NULL on delete; the ORM need not load heroes for it.
    # raise_on_sql: loading is chosen per query, never by accident.
    heroes: Mapped[list["Hero"]] = relationship(
        back_populates="team", passive_deletes=True, lazy="raise_on_sql", order_by="Hero.id"
    )
