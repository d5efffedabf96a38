"""Row versions on users, teams, heroes and items: what ETags and If-Match compare

Revision ID: 0005
Revises: 0002
Create Date: 2026-12-02

Existing rows start at version 1 (the server default fills them in place, on both
databases, without rewriting the table on PostgreSQL 11+).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VERSIONED = ("users", "teams", "heroes", "items")


def upgrade() -> None:
    for table in VERSIONED:
        op.add_column(
            table,
            sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        )


def downgrade() -> None:
    for table in reversed(VERSIONED):
        op.drop_column(table, "version")
