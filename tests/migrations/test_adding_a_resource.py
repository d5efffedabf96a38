"""README "Adding a resource", steps 1 and 2, done as a newcomer does them: in a copy of
the project, add a model, register it, migrate, autogenerate, and migrate up, down and
up again; `alembic check` then finds nothing to do and warns about nothing."""

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from app.db import migrate
from app.db.drivers import sync_url
from app.testing.databases import fresh_database

ROOT = Path(__file__).resolve().parents[2]

POWER_MODEL = '''\
from datetime import datetime

from sqlalchemy import ForeignKey, String, false
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, BigId, Timestamped, UTCDateTime


class Power(Timestamped, Base):
    __tablename__ = "powers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    discovered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    is_secret: Mapped[bool] = mapped_column(server_default=false())
    hero_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("heroes.id", ondelete="CASCADE"), index=True
    )
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The application and its migrations, copied (no .git, no caches)."""
    copy = tmp_path / "project"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "app", copy / "app", ignore=ignore)
    shutil.copytree(ROOT / "alembic", copy / "alembic", ignore=ignore)
    shutil.copy(ROOT / "alembic.ini", copy / "alembic.ini")
    shutil.copy(ROOT / "ruff.toml", copy / "ruff.toml")  # what the revision hooks format by
    return copy


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    with fresh_database(tmp_path, "resource") as url:
        yield url


def add_power_model(project: Path) -> None:
    (project / "app/models/power.py").write_text(POWER_MODEL)
    init = project / "app/models/__init__.py"
    text = init.read_text()
    text = text.replace(
        "from app.models.item import Item\n",
        "from app.models.item import Item\nfrom app.models.power import Power\n",
    )
    text = text.replace('"Item", ', '"Item", "Power", ')
    assert "Power" in text.split("__all__")[1], "app/models/__init__.py changed shape"
    init.write_text(text)


def tables(database_url: str) -> set[str]:
    engine = create_engine(sync_url(database_url))
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_a_new_model_autogenerates_migrates_both_ways_and_leaves_no_drift(
    project, database_url
):
    env = {
        key: value for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "DATABASE_URL")
    }
    env.update(DATABASE_URL=database_url, SECRET_KEY="x" * 40, PYTHONWARNINGS="default")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, *args], cwd=project, env=env,
            capture_output=True, text=True, timeout=300,
        )
        assert result.returncode == 0, f"{' '.join(args)}:\n{result.stdout}{result.stderr}"
        assert "Warning" not in result.stderr, result.stderr
        return result

    versions = project / "alembic/versions"
    before = set(versions.glob("*.py"))

    add_power_model(project)
    run("-m", "app", "migrate")  # autogenerate compares with a database at head
    run("-m", "alembic", "revision", "--autogenerate", "-m", "powers")

    [revision] = set(versions.glob("*.py")) - before
    head = migrate.head_revision()
    following = f"{int(head) + 1:04d}"  # numbered after the newest revision
    assert re.fullmatch(rf"\d{{8}}_{following}_powers\.py", revision.name), revision.name
    source = revision.read_text()
    # As alembic.ini's post_write_hooks left it: ruff-fixed and formatted (double quotes).
    assert f'revision: str = "{following}"' in source
    assert f'down_revision: str | None = "{head}"' in source
    assert "from app.db.base import UTCDateTime\n" in source
    assert 'sa.Column("discovered_at", UTCDateTime(timezone=True), nullable=True)' in source
    assert "app.db.base." not in source
    # Written on one database, the revision must run on the other too.
    assert "server_default=sa.func.now()" in source
    assert 'sa.Column("is_secret", sa.Boolean(), server_default=sa.false()' in source
    assert "CURRENT_TIMESTAMP" not in source and "now()'" not in source
    assert 'now()"' not in source

    run("-m", "app", "migrate")
    assert "powers" in tables(database_url)
    run("-m", "alembic", "downgrade", "-1")
    assert "powers" not in tables(database_url)
    run("-m", "app", "migrate")
    assert "powers" in tables(database_url)

    check = run("-m", "alembic", "check")
    assert check.stdout == "No new upgrade operations detected.\n"
