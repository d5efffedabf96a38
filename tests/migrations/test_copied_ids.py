"""Rows copied in with their ids leave PostgreSQL's sequences behind: the next insert
is handed a taken id. That is repaired and logged, and the write goes through, not a 500."""

import logging
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from app.db import migrate
from app.db.drivers import sync_url
from app.testing.databases import fresh_database
from tests.migrations.test_adopt import run_cli

REPAIRED = "the id sequence of users was behind its rows (ids copied in without moving it)"


@pytest.fixture
def copied_url(tmp_path) -> Iterator[str]:
    """A migrated database into which three users were copied with their ids, by hand."""
    with fresh_database(tmp_path, "copied") as url:
        migrate.upgrade(url)
        engine = create_engine(sync_url(url))
        with engine.begin() as conn:
            for id_ in (1, 2, 3):
                conn.execute(
                    text(
                        "INSERT INTO users (id, username, email, email_key, hashed_password) "
                        "VALUES (:id, :name, :email, :email, 'x')"
                    ),
                    {"id": id_, "name": f"copied{id_}", "email": f"copied{id_}@example.com"},
                )
        engine.dispose()
        yield url


def test_registration_after_copied_ids_succeeds_and_logs_the_repair(
    copied_url, client_with, caplog
):
    client = client_with(database_url=copied_url)

    with caplog.at_level(logging.WARNING, logger="app.db.sequences"):
        response = client.post(
            "/api/v1/users",
            json={"username": "newcomer", "email": "new@example.com", "password": "long enough"},
        )

    assert response.status_code == 201, response.text
    assert response.json()["id"] == 4
    if copied_url.startswith("postgresql"):
        assert REPAIRED in caplog.text  # SQLite takes max(id) + 1 by itself


def test_create_superuser_after_copied_ids_succeeds(copied_url):
    result = run_cli(
        "create-superuser", "--username", "boss", "--email", "boss@example.com",
        "--password", "long enough", database_url=copied_url,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert result.stdout == "created superuser boss (id 4)\n"
