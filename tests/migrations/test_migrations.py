"""The migrations build exactly what the models describe, both ways, on each database."""

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, inspect

from alembic import command
from app.db import migrate
from app.db.base import Base
from app.db.drivers import sync_url
from app.db.schema_compare import differences
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
