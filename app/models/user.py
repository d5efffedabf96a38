from sqlalchemy import Boolean, Index, String, false, func, true
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, BigId, Timestamped


class User(Timestamped, Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(50))
    # Stored lower-cased by the service, so a plain unique constraint suffices.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    full_name: Mapped[str | None] = mapped_column(String(100))
    hashed_password: Mapped[str] = mapped_column(String(100))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    is_superuser: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


# "Bob" and "bob" are one username; the stored spelling keeps its case.
Index("uq_users_username_lower", func.lower(User.username), unique=True)
