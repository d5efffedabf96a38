"""users.email_key: emails unique ignoring case under Unicode case folding

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25

`lower(email)` misses `straße@` = `STRASSE@`, `ς@` = `σ@`, `ﬀ@` = `FF@`. The key
is computed in Python, as the application computes it (app/core/casefold.py; a
copy is frozen here so this revision always means what it meant), backfilled for
existing rows, then made NOT NULL and unique.

Existing users whose emails share a key stop the upgrade before anything changes,
naming them: decide which account keeps the address, change the others' emails,
and run the upgrade again.
"""

import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from alembic import context, op
from alembic.util import CommandError

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _caseless_key(text: str) -> str:
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


users = sa.table(
    "users", sa.column("id", sa.BigInteger()), sa.column("email"), sa.column("email_key")
)


def _keys(conn: sa.Connection) -> dict[int, str]:
    """Every user's key; CommandError, before any change, if two users share one."""
    keys: dict[int, str] = {}
    owners: dict[str, list[tuple[int, str]]] = {}
    for id_, email in conn.execute(sa.select(users.c.id, users.c.email).order_by(users.c.id)):
        keys[id_] = _caseless_key(email)
        owners.setdefault(keys[id_], []).append((id_, email))
    clashes = [group for group in owners.values() if len(group) > 1]
    if clashes:
        listed = "; ".join(
            " = ".join(f"user {id_} <{email}>" for id_, email in group) for group in clashes
        )
        raise CommandError(
            f"cannot make emails unique ignoring case: {len(clashes)} address(es) belong to "
            f"several users ({listed}); change all but one of each group's emails, then "
            "upgrade again (nothing was changed)"
        )
    return keys


def _backfill_ascii_in_sql() -> None:
    """For `migrate --sql`, where no Python runs against the data: ASCII emails'
    keys are their lower case; any other email is left NULL, so the NOT NULL that
    follows fails rather than store a wrong key."""
    ascii_only = (
        "email NOT GLOB '*[^ -~]*'"
        if op.get_context().dialect.name == "sqlite"
        else "email ~ '^[ -~]*$'"
    )
    op.execute("-- emails that are not ASCII need `python -m app migrate` (Python case folding)")
    op.execute(f"UPDATE users SET email_key = lower(email) WHERE {ascii_only}")


def upgrade() -> None:
    if context.is_offline_mode():
        op.add_column("users", sa.Column("email_key", sa.String(length=320), nullable=True))
        _backfill_ascii_in_sql()
    else:
        conn = op.get_bind()
        keys = _keys(conn)  # first: a clash must leave the schema as it was
        op.add_column("users", sa.Column("email_key", sa.String(length=320), nullable=True))
        if keys:
            conn.execute(
                users.update().where(users.c.id == sa.bindparam("user_id")),
                [{"user_id": id_, "email_key": key} for id_, key in keys.items()],
            )
    # SQLite cannot add NOT NULL or a constraint in place; batch mode copies the table.
    with _username_index_kept_on_sqlite(), _batch(with_key=True) as batch:
        batch.alter_column("email_key", existing_type=sa.String(length=320), nullable=False)
        batch.create_unique_constraint(op.f("uq_users_email_key"), ["email_key"])


def downgrade() -> None:
    with _username_index_kept_on_sqlite(), _batch(with_key=True, key_unique=True) as batch:
        batch.drop_constraint(op.f("uq_users_email_key"), type_="unique")
        batch.drop_column("email_key")


def _batch(*, with_key: bool, key_unique: bool = False) -> Any:
    """Batch operations on users; `--sql` cannot reflect the table, so it is spelled out."""
    if not context.is_offline_mode():
        return op.batch_alter_table("users")
    key = sa.Column("email_key", sa.String(length=320), nullable=not key_unique)
    now = sa.func.now()
    table = sa.Table(
        "users",
        sa.MetaData(),
        sa.Column("id", BigId, nullable=False),
        sa.Column("username", sa.String(length=50), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("full_name", sa.String(length=100), nullable=True),
        sa.Column("hashed_password", sa.String(length=100), nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("is_superuser", sa.Boolean(), server_default=sa.false(), nullable=False),
        *(
            sa.Column(name, sa.DateTime(timezone=True), server_default=now, nullable=False)
            for name in ("created_at", "updated_at")
        ),
        *([key] if with_key else []),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("email", name="uq_users_email"),
        *([sa.UniqueConstraint("email_key", name="uq_users_email_key")] if key_unique else []),
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
