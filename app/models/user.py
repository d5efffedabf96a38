from sqlalchemy import Boolean, Index, String, false, func, true
from sqlalchemy.orm import Mapped, mapped_column, validates

from app.core.casefold import caseless_key
from app.db.base import Base, BigId, Timestamped, version_column
from app.db.lengths import DERIVED_FROM


class User(Timestamped, Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(50))
    # Stored lower-cased by the service, as the user wrote it otherwise.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    # What makes two emails one: `straße@` and `STRASSE@` share a key. Computed in
    # Python (the databases' lower() differ, and neither folds ß to ss) and kept in
    # step with `email` below; unique, and what login looks emails up by.
    email_key: Mapped[str] = mapped_column(
        String(320), unique=True, info={DERIVED_FROM: "email"}
    )
    full_name: Mapped[str | None] = mapped_column(String(100))
    # 255: room for every legacy format (a Werkzeug scrypt hash is 162 characters).
    hashed_password: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    is_superuser: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    version: Mapped[int] = version_column()
    __mapper_args__ = {"version_id_col": version}

    @validates("email")
    def _keep_email_key(self, _key: str, email: str) -> str:
        self.email_key = caseless_key(email)
        return email


# "Bob" and "bob" are one username; the stored spelling keeps its case. Usernames
# are ASCII (the schema's pattern), where every database's lower() agrees.
Index("uq_users_username_lower", func.lower(User.username), unique=True)
