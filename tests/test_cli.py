"""`python -m app`, run as an operator would run it."""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, select
from sqlalchemy.orm import Session

from app.db.drivers import sync_url
from app.models import User
from app.testing.databases import fresh_database

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    with fresh_database(tmp_path, "cli") as url:
        yield url


def run_cli(*args: str, database_url: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "BCRYPT_ROUNDS": "4"}
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=ROOT, env=env, input=stdin, capture_output=True, text=True, timeout=120,
    )


def table_names(database_url: str) -> list[str]:
    engine = create_engine(sync_url(database_url))
    try:
        return inspect(engine).get_table_names()
    finally:
        engine.dispose()


def superusers(database_url: str) -> list[tuple[str, str, bool]]:
    engine = create_engine(sync_url(database_url))
    try:
        with Session(engine) as db:
            rows = db.execute(select(User.username, User.email, User.is_superuser)).all()
            return [tuple(row) for row in rows]
    finally:
        engine.dispose()


def test_migrate_then_create_superuser_with_password_from_stdin(database_url):
    assert run_cli("migrate", database_url=database_url).returncode == 0

    result = run_cli(
        "create-superuser", "--username", "Root", "--email", "Root@Example.com",
        database_url=database_url, stdin="a long enough password\n",
    )

    assert result.returncode == 0, result.stderr
    assert superusers(database_url) == [("Root", "root@example.com", True)]


def test_duplicate_superuser_is_one_line_and_nonzero(database_url):
    run_cli("migrate", database_url=database_url)
    args = ("create-superuser", "--username", "root", "--email", "root@example.com",
            "--password", "a long enough password")
    run_cli(*args, database_url=database_url)

    result = run_cli(*args, database_url=database_url)

    assert result.returncode == 1
    assert result.stderr.strip() == "error: Email already registered"


def test_weak_password_is_refused(database_url):
    run_cli("migrate", database_url=database_url)

    result = run_cli("create-superuser", "--username", "root", "--email", "r@example.com",
                     "--password", "short", database_url=database_url)

    assert result.returncode != 0
    assert "password" in result.stderr and "Traceback" not in result.stderr
    assert superusers(database_url) == []


def test_bad_database_url_is_one_clear_line():
    result = run_cli("migrate", database_url="nosuchdialect://x")

    assert result.returncode == 2
    assert result.stderr.startswith("error: bad DATABASE_URL")
    assert len(result.stderr.strip().splitlines()) == 1


def test_unreachable_database_is_one_clear_line():
    result = run_cli("migrate", database_url="postgresql+psycopg2://postgres@127.0.0.1:1/none")

    assert result.returncode == 1
    assert result.stderr.startswith("error: database unreachable")
    assert len(result.stderr.strip().splitlines()) == 1


def test_migrate_sql_prints_ddl_without_touching_the_database(database_url):
    result = run_cli("migrate", "--sql", database_url=database_url)

    assert result.returncode == 0, result.stderr
    assert "CREATE TABLE users" in result.stdout
    assert table_names(database_url) == []


def test_openapi_writes_the_document(tmp_path, database_url):
    target = tmp_path / "openapi.json"

    result = run_cli("openapi", "--output", str(target), database_url=database_url)

    assert result.returncode == 0, result.stderr
    assert "/api/v1/heroes" in json.loads(target.read_text())["paths"]
