"""The migrations build exactly what the models describe, both ways, on each database."""

from collections.abc import Iterator

import pytest
from alembic import command
from alembic.util import CommandError
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.orm import Session

from app.db import migrate
from app.db.base import Base
from app.db.drivers import sync_url
from app.db.schema_compare import differences
from app.models import Item
from app.testing.databases import fresh_database


@pytest.fixture
def empty_database_url(tmp_path) -> Iterator[str]:
    """A database of its own, apart from the one the rest of the suite shares."""
    with fresh_database(tmp_path, "migrations") as url:
        yield url


def _differences(url: str) -> list:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            # What `alembic check` compares, without its warnings on SQLite: the suite
            # turns SAWarnings into errors.
            return differences(conn, Base.metadata)
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = create_engine(sync_url(url))
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_matches_models_and_downgrade_removes_everything(empty_database_url):
    migrate.upgrade(empty_database_url)
    assert _tables(empty_database_url) == set(Base.metadata.tables)
    assert _differences(empty_database_url) == []

    command.downgrade(migrate.alembic_config(empty_database_url), "base")
    assert _tables(empty_database_url) == set()

    migrate.upgrade(empty_database_url)
    assert _differences(empty_database_url) == []


def test_upgrade_twice_is_a_no_op(empty_database_url):
    migrate.upgrade(empty_database_url)
    migrate.upgrade(empty_database_url)
    assert _tables(empty_database_url) == set(Base.metadata.tables)


def _add_users_at_0001(url: str, *emails: str) -> None:
    engine = create_engine(sync_url(url))
    try:
        with engine.begin() as conn:
            insert = text(
                "INSERT INTO users (username, email, hashed_password) VALUES (:u, :e, 'x')"
            )
            for n, email in enumerate(emails):
                conn.execute(insert, {"u": f"user{n}", "e": email})
    finally:
        engine.dispose()


def _email_keys(url: str) -> dict[str, str]:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            return dict(conn.execute(text("SELECT email, email_key FROM users")).all())
    finally:
        engine.dispose()


def test_0002_backfills_the_case_folded_email_keys(empty_database_url):
    migrate.upgrade(empty_database_url, "0001")
    _add_users_at_0001(
        empty_database_url, "straße@example.com", "ﬀ@example.com", "ada@example.com"
    )

    migrate.upgrade(empty_database_url)

    assert _email_keys(empty_database_url) == {
        "straße@example.com": "strasse@example.com",
        "ﬀ@example.com": "ff@example.com",
        "ada@example.com": "ada@example.com",
    }
    assert migrate.current_revision(empty_database_url) == migrate.head_revision()


def test_0002_stops_on_emails_that_fold_together_and_changes_nothing(empty_database_url):
    migrate.upgrade(empty_database_url, "0001")
    _add_users_at_0001(empty_database_url, "straße@example.com", "ada@example.com",
                       "strasse@example.com")

    with pytest.raises(CommandError) as refused:
        migrate.upgrade(empty_database_url)

    message = str(refused.value)
    assert "user 1 <straße@example.com> = user 3 <strasse@example.com>" in message
    assert "change all but one" in message and "nothing was changed" in message
    assert migrate.current_revision(empty_database_url) == "0001"
    assert "email_key" not in {c["name"] for c in _columns(empty_database_url, "users")}


def _columns(url: str, table: str) -> list[dict]:
    engine = create_engine(sync_url(url))
    try:
        return inspect(engine).get_columns(table)
    finally:
        engine.dispose()


def test_0005_gives_existing_rows_version_1_and_the_orm_counts_on_from_there(empty_database_url):
    migrate.upgrade(empty_database_url, "0002")
    engine = create_engine(sync_url(empty_database_url))
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO users (username, email, email_key, hashed_password)"
                              " VALUES ('old', 'old@example.com', 'old@example.com', 'x')"))
            conn.execute(text("INSERT INTO teams (name, headquarters) VALUES ('Old', 'HQ')"))
            conn.execute(text("INSERT INTO heroes (name, secret_name) VALUES ('H', 's')"))
            conn.execute(text("INSERT INTO items (title, owner_id) VALUES ('Old item', 1)"))

        migrate.upgrade(empty_database_url)

        with engine.connect() as conn:
            versions = {table: conn.scalar(text(f"SELECT version FROM {table}"))
                        for table in ("users", "teams", "heroes", "items")}
        assert versions == {"users": 1, "teams": 1, "heroes": 1, "items": 1}
        with Session(engine) as db:
            item = db.get(Item, 1)
            item.title = "Renamed"
            db.commit()
            assert item.version == 2
    finally:
        engine.dispose()
