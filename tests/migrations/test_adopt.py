"""Adopting a database built without Alembic: `python -m app stamp`, and what
`python -m app migrate` says about such a database, run as an operator runs them."""

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, inspect, text

from app.db import migrate
from app.db.base import Base
from app.db.drivers import sync_url
from app.db.schema_compare import differences
from app.testing.databases import fresh_database

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    with fresh_database(tmp_path, "adopt") as url:
        yield url


@pytest.fixture
def sync_engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine(sync_url(database_url))
    yield engine
    engine.dispose()


@pytest.fixture
def create_all_url(database_url: str, sync_engine: Engine) -> str:
    """A database built the legacy way: `Base.metadata.create_all`, no Alembic."""
    Base.metadata.create_all(sync_engine)
    return database_url


def run_cli(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )


def schema(engine: Engine) -> dict[str, list[str]]:
    inspector = inspect(engine)
    return {
        table: sorted(column["name"] for column in inspector.get_columns(table))
        for table in sorted(inspector.get_table_names())
    }


def drift(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        return differences(conn, Base.metadata)


def test_migrate_on_a_create_all_database_says_to_stamp_and_changes_nothing(
    create_all_url, sync_engine
):
    before = schema(sync_engine)

    result = run_cli("migrate", database_url=create_all_url)

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: the database has tables (heroes, idempotency_keys, items, ...) but no Alembic "
        "version: "
        "run `python -m app stamp` to check it against the models and adopt it"
    ]
    assert schema(sync_engine) == before


def test_stamp_adopts_a_create_all_database(create_all_url, sync_engine):
    result = run_cli("stamp", database_url=create_all_url)

    assert result.returncode == 0, result.stderr
    assert result.stdout == f"database matches the models; stamped at {migrate.head_revision()}\n"
    assert result.stderr == ""
    assert migrate.current_revision(create_all_url) == migrate.head_revision()
    assert drift(sync_engine) == []
    # From here on it is an ordinary Alembic database.
    assert run_cli("migrate", database_url=create_all_url).returncode == 0


def test_stamp_refuses_a_database_that_differs_and_changes_nothing(create_all_url, sync_engine):
    with sync_engine.begin() as conn:
        conn.execute(text("ALTER TABLE users DROP COLUMN full_name"))
        conn.execute(text("CREATE TABLE legacy_audit (id INTEGER PRIMARY KEY)"))
    before = schema(sync_engine)

    result = run_cli("stamp", database_url=create_all_url)

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: the database differs from the models in 2 ways; nothing was changed. "
        "Make it match (or write a migration that does), then run `python -m app stamp` again:",
        "  table legacy_audit: in the database, not in the models",
        "  column users.full_name: in the models, missing from the database",
    ]
    assert schema(sync_engine) == before  # no alembic_version either
    assert migrate.current_revision(create_all_url) is None


def test_stamp_finds_a_missing_expression_index(create_all_url, sync_engine):
    # SQLite cannot reflect lower(username): the comparison reads it another way.
    with sync_engine.begin() as conn:
        conn.execute(text("DROP INDEX uq_users_username_lower"))

    result = run_cli("stamp", database_url=create_all_url)

    assert result.returncode == 1
    assert result.stderr.splitlines()[1:] == [
        "  index uq_users_username_lower on users: in the models, missing from the database"
    ]
    assert migrate.current_revision(create_all_url) is None


def test_stamp_summarises_many_differences_in_twenty_lines(database_url, sync_engine):
    with sync_engine.begin() as conn:
        for n in range(30):
            conn.execute(text(f"CREATE TABLE legacy_{n:02d} (id INTEGER PRIMARY KEY)"))

    found = len(drift(sync_engine))  # 30 extra tables, 4 missing ones and their indexes
    assert found > 34

    result = run_cli("stamp", database_url=database_url)

    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"error: the database differs from the models in {found} ways;")
    assert len(lines) == 21
    assert lines[-1] == f"  ... and {found - 19} more"


def test_stamp_on_a_database_under_alembic_says_so(database_url):
    migrate.upgrade(database_url)

    result = run_cli("stamp", database_url=database_url)

    assert result.returncode == 0
    assert result.stdout == (
        f"database already under Alembic, at {migrate.head_revision()}; nothing to stamp "
        "(`python -m app migrate` upgrades it)\n"
    )


def test_stamp_on_an_empty_database_says_to_migrate(database_url, sync_engine):
    result = run_cli("stamp", database_url=database_url)

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: the database is empty: run `python -m app migrate` to create it"
    ]
    assert inspect(sync_engine).get_table_names() == []


def test_stamp_finds_an_expression_index_that_lost_its_uniqueness(create_all_url, sync_engine):
    with sync_engine.begin() as conn:
        conn.execute(text("DROP INDEX uq_users_username_lower"))
        conn.execute(text("CREATE INDEX uq_users_username_lower ON users (lower(username))"))

    result = run_cli("stamp", database_url=create_all_url)

    assert result.returncode == 1
    assert sorted(result.stderr.splitlines()[1:]) == [
        "  index uq_users_username_lower on users: in the database, not in the models",
        "  index uq_users_username_lower on users: in the models, missing from the database",
    ]


def test_stamp_explains_itself():
    result = run_cli("stamp", "--help", database_url="sqlite://")

    assert result.returncode == 0
    assert "stamp it at the newest revision" in " ".join(result.stdout.split())
