"""legacy databases: users.hashed_password of 255 characters; legacy_rows

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

A Werkzeug pbkdf2 hash is 102 characters, a scrypt one 162: users imported from a
Flask application (`python -m app import-legacy`) keep them until their next login,
when the service replaces them with bcrypt (app/core/password_formats.py).

legacy_rows records which legacy row became which row here, so that import-legacy
imports nothing twice and resumes after an interruption.
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from alembic import context, op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "legacy_rows",
        sa.Column("legacy_table", sa.String(length=100), nullable=False),
        sa.Column("legacy_key", sa.String(length=500), nullable=False),
        sa.Column("target_table", sa.String(length=100), nullable=False),
        sa.Column("target_key", sa.String(length=500), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("legacy_table", "legacy_key", name=op.f("pk_legacy_rows")),
    )
    with _username_index_kept_on_sqlite(), _batch(length=100) as batch:
        batch.alter_column(
            "hashed_password",
            existing_type=sa.String(length=100),
            type_=sa.String(length=255),
            existing_nullable=False,
        )


def downgrade() -> None:
    op.drop_table("legacy_rows")
    # Refuses (the database's "value too long") while a legacy hash is still stored.
    with _username_index_kept_on_sqlite(), _batch(length=255) as batch:
        batch.alter_column(
            "hashed_password",
            existing_type=sa.String(length=255),
            type_=sa.String(length=100),
            existing_nullable=False,
        )


def _batch(*, length: int) -> Any:
    """Batch operations on users (SQLite copies the table to change a type); `--sql`
    cannot reflect the table, so it is spelled out."""
    if not context.is_offline_mode():
        return op.batch_alter_table("users")
    now = sa.func.now()
    table = sa.Table(
        "users",
        sa.MetaData(),
        sa.Column("id", BigId, nullable=False),
        sa.Column("username", sa.String(length=50), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("full_name", sa.String(length=100), nullable=True),
        sa.Column("hashed_password", sa.String(length=length), nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("is_superuser", sa.Boolean(), server_default=sa.false(), nullable=False),
        *(
            sa.Column(name, sa.DateTime(timezone=True), server_default=now, nullable=False)
            for name in ("created_at", "updated_at")
        ),
        sa.Column("email_key", sa.String(length=320), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("email", name="uq_users_email"),
        sa.UniqueConstraint("email_key", name="uq_users_email_key"),
    )
    return op.batch_alter_table("users", copy_from=table)


@contextmanager
def _username_index_kept_on_sqlite() -> Iterator[None]:
    """Batch mode rebuilds the table from what it can reflect, and SQLite's expression
    indexes are not reflected: without this, the copy would lose uq_users_username_lower."""
    if op.get_context().dialect.name != "sqlite":
        yield
        return
    op.drop_index("uq_users_username_lower", table_name="users")
    yield
    op.create_index("uq_users_username_lower", "users", [sa.text("lower(username)")], unique=True)
