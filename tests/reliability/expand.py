"""A throwaway expand migration, one revision ahead of this code, for the N-1 on N proofs.

It is written the way the migration template (alembic/script.py.mako) writes every
revision, `SET lock_timeout` first, and follows the expand rules of docs/operations.md:
a new column that is nullable, with no default to backfill, so the previous release's
INSERTs (which do not name it) and SELECTs (which do not read it) work unchanged.
"""

import shutil
from collections.abc import Callable
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine, inspect

from app.db import migrate
from app.db.drivers import sync_url

ALEMBIC_DIR = Path(__file__).resolve().parents[2] / "alembic"
REVISION = "9999"
COLUMN = "expand_note"

EXPAND = f'''"""expand: items.{COLUMN}, nullable (a throwaway revision for tests)."""

import sqlalchemy as sa
from alembic import op

revision = "{REVISION}"
down_revision = {{head!r}}
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SET lock_timeout = '5s'")
    op.add_column("items", sa.Column("{COLUMN}", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("items", "{COLUMN}")
'''


def migrate_one_ahead(url: str, folder: Path,
                      upgrade: Callable[[str], bool] = migrate.upgrade) -> None:
    """Upgrade the database at `url` to this code's head, then one expand revision past it
    that this code does not know (from a copy of alembic/ in `folder`)."""
    upgrade(url)
    scripts = folder / "alembic"
    shutil.copytree(ALEMBIC_DIR, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    (scripts / "versions" / f"{REVISION}_expand.py").write_text(
        EXPAND.format(head=migrate.head_revision()))
    config = migrate.alembic_config(url)
    config.set_main_option("script_location", str(scripts))
    command.upgrade(config, REVISION)
    shutil.rmtree(scripts, ignore_errors=True)
    engine = create_engine(sync_url(url))
    try:
        columns = {column["name"] for column in inspect(engine).get_columns("items")}
    finally:
        engine.dispose()
    assert COLUMN in columns, columns
