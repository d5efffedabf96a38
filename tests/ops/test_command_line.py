"""`python -m app`: every subcommand explains itself, and `seed` fills a database."""

import os
import pty
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from app.__main__ import main
from app.core.security import verify_password
from app.db import migrate
from app.db.drivers import sync_url
from app.models import Hero, Item, Team, User
from app.testing.databases import fresh_database

ROOT = Path(__file__).resolve().parents[2]
SUBCOMMANDS = ("migrate", "create-superuser", "openapi", "seed")


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    with fresh_database(tmp_path, "seed") as url:
        yield url


@pytest.fixture
def migrated_url(database_url: str) -> str:
    migrate.upgrade(database_url)
    return database_url


def run_cli(
    *args: str, database_url: str, stderr: int = subprocess.PIPE
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "BCRYPT_ROUNDS": "4"}
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True, timeout=300,
    )


def counts(database_url: str) -> dict[str, int]:
    engine = create_engine(sync_url(database_url))
    try:
        with Session(engine) as db:
            return {
                model.__tablename__: db.scalar(select(func.count()).select_from(model))
                for model in (User, Team, Hero, Item)
            }
    finally:
        engine.dispose()


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])

    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: python -m app {command}")


def test_the_top_level_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])

    out = capsys.readouterr().out
    assert all(command in out for command in SUBCOMMANDS)


def test_seed_writes_what_was_asked_in_batches(migrated_url):
    result = run_cli("seed", "--users", "7", "--teams", "3", "--heroes", "250", "--items", "40",
                     "--batch-size", "100", database_url=migrated_url)

    assert result.returncode == 0, result.stderr
    assert counts(migrated_url) == {"users": 7, "teams": 3, "heroes": 250, "items": 40}
    # Not a terminal: one plain line per batch.
    hero_lines = [line for line in result.stderr.splitlines() if line.startswith("heroes:")]
    assert hero_lines == ["heroes: 100/250", "heroes: 200/250", "heroes: 250/250"]
    assert "\r" not in result.stderr
    assert "seeded 7 users, 3 teams, 250 heroes and 40 items" in result.stdout


def test_seeded_users_log_in_with_the_printed_password(migrated_url):
    result = run_cli("seed", "--users", "3", "--teams", "1", "--heroes", "5", "--items", "2",
                     database_url=migrated_url)

    password = re.search(r"password: (\S+)$", result.stdout, re.M).group(1)
    engine = create_engine(sync_url(migrated_url))
    try:
        with Session(engine) as db:
            users = db.scalars(select(User)).all()
            teams = db.scalars(select(Team.id)).all()
            heroes = db.scalars(select(Hero)).all()
    finally:
        engine.dispose()
    assert len(users) == 3
    assert all(verify_password(password, user.hashed_password) for user in users)
    assert all(user.is_active and not user.is_superuser for user in users)
    assert all(hero.team_id in (*teams, None) for hero in heroes)


def test_seeding_twice_adds_rows_instead_of_colliding(migrated_url):
    args = ("seed", "--users", "4", "--teams", "2", "--heroes", "10", "--items", "3")
    run_cli(*args, database_url=migrated_url)

    again = run_cli(*args, database_url=migrated_url)

    assert again.returncode == 0, again.stderr
    assert counts(migrated_url) == {"users": 8, "teams": 4, "heroes": 20, "items": 6}


def test_seed_draws_a_progress_bar_on_a_terminal(migrated_url):
    controller, terminal = pty.openpty()
    try:
        result = run_cli("seed", "--users", "0", "--teams", "0", "--heroes", "30", "--items",
                         "0", "--batch-size", "10", database_url=migrated_url, stderr=terminal)
        os.close(terminal)
        terminal = -1
        drawn = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # EIO: the other side is closed and drained
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(controller)
        if terminal != -1:
            os.close(terminal)

    assert result.returncode == 0
    frames = drawn.decode().replace("\r\n", "\n").split("\r")
    assert [f for f in frames if f.startswith("heroes")][-1].rstrip("\n").endswith("30/30 100%")
    assert drawn.count(b"\r") >= 3
    assert b"heroes: 10/30" not in drawn


def test_seed_refuses_a_database_without_the_schema(database_url):
    result = run_cli("seed", "--heroes", "5", database_url=database_url)

    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: the database schema is not at head; run `python -m app migrate`"
    )


def test_seed_refuses_items_without_owners(migrated_url):
    result = run_cli("seed", "--users", "0", "--items", "5", database_url=migrated_url)

    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert counts(migrated_url) == {"users": 0, "teams": 0, "heroes": 0, "items": 0}


def test_seed_on_an_unreachable_database_is_one_clear_line():
    result = run_cli("seed", database_url="postgresql+psycopg2://postgres@127.0.0.1:1/none")

    assert result.returncode == 1
    assert result.stderr.startswith("error: database unreachable")
    assert len(result.stderr.strip().splitlines()) == 1


def test_seed_with_a_bad_database_url_is_one_clear_line():
    result = run_cli("seed", database_url="nosuchdialect://x")

    assert result.returncode == 2
    assert result.stderr.startswith("error: bad DATABASE_URL")
    assert len(result.stderr.strip().splitlines()) == 1
