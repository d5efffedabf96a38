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
from tests.migrations import legacy_microblog

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
    first, second, third, *more = sorted(before)  # the models' tables, however many
    named = ", ".join([first, second, third, *(["..."] if more else [])])

    result = run_cli("migrate", database_url=create_all_url)

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"error: the database has tables ({named}) but no Alembic version: "
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
        "Make it match (or write a migration that does), then run `python -m app stamp` again; "
        "tables that are not the models' (legacy_audit) are imported with "
        "`python -m app import-legacy`, not stamped:",
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


def test_stamp_summarises_many_differences_in_twenty_lines(create_all_url, sync_engine):
    with sync_engine.begin() as conn:
        for n in range(30):
            conn.execute(text(f"CREATE TABLE legacy_{n:02d} (id INTEGER PRIMARY KEY)"))

    found = len(drift(sync_engine))
    assert found == 30

    result = run_cli("stamp", database_url=create_all_url)

    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"error: the database differs from the models in {found} ways;")
    assert len(lines) == 21
    assert lines[-1] == f"  ... and {found - 19} more (--all shows them)"


def test_stamp_all_lists_every_difference(create_all_url, sync_engine):
    with sync_engine.begin() as conn:
        for n in range(30):
            conn.execute(text(f"CREATE TABLE legacy_{n:02d} (id INTEGER PRIMARY KEY)"))

    result = run_cli("stamp", "--all", database_url=create_all_url)

    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert sorted(lines[1:]) == [
        f"  table legacy_{n:02d}: in the database, not in the models" for n in range(30)
    ]
    assert migrate.current_revision(create_all_url) is None


def test_stamp_compares_primary_keys(create_all_url, sync_engine):
    # items rebuilt without its primary key: Alembic's comparison alone called it matching.
    with sync_engine.begin() as conn:
        conn.execute(text("DROP TABLE items"))
        conn.execute(text(
            "CREATE TABLE items (id INTEGER NOT NULL, title VARCHAR(100) NOT NULL, "
            "description VARCHAR(1000), owner_id INTEGER NOT NULL)"
        ))

    result = run_cli("stamp", "--all", database_url=create_all_url)

    assert result.returncode == 1
    assert "  primary key of items: none in the database, (id) in the models" in (
        result.stderr.splitlines()
    )
    assert migrate.current_revision(create_all_url) is None


def test_stamp_refuses_a_flask_migrate_database_and_says_to_import_it(database_url):
    legacy_microblog.build(database_url)

    result = run_cli("stamp", database_url=database_url)

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "error: the database is at revision 834b1a697901 of another migration history "
        "(Flask-Migrate?) and its tables (followers, post, user) are not this project's, so "
        "it cannot be stamped; create this project's schema in a new database (`python -m "
        "app migrate`) and copy the rows in with `python -m app import-legacy --from "
        "URL-OF-THIS-DATABASE`"
    ]
    assert migrate.current_revision(database_url) == legacy_microblog.FLASK_MIGRATE_REVISION


def test_stamp_on_another_history_over_our_own_tables_says_how_to_take_it_over(
    create_all_url, sync_engine
):
    with sync_engine.begin() as conn:
        conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
        conn.execute(text("INSERT INTO alembic_version VALUES ('834b1a697901')"))

    result = run_cli("stamp", database_url=create_all_url)

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: the database is at revision 834b1a697901 of another migration history "
        "(Flask-Migrate?), though its tables match the models: if this project's code now "
        "owns it, run `DELETE FROM alembic_version` in it, then `python -m app stamp` again"
    ]


def test_stamp_refuses_a_database_of_other_tables_and_points_to_import(database_url):
    legacy_microblog.build(database_url)
    with create_engine(sync_url(database_url)).begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))  # a create_all microblog

    result = run_cli("stamp", database_url=database_url)

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: none of the database's tables (followers, post, user) is one of this "
        "project's: it is another application's database, not one to stamp; create this "
        "project's schema in a new database (`python -m app migrate`) and copy the rows in "
        "with `python -m app import-legacy --from URL-OF-THIS-DATABASE`"
    ]


def test_stamp_on_a_database_under_alembic_says_so(database_url):
    migrate.upgrade(database_url)

    result = run_cli("stamp", database_url=database_url)

    assert result.returncode == 0
    assert result.stdout == (
        f"database already under Alembic, at {migrate.head_revision()}; nothing to stamp "
        "(it is at head)\n"
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
