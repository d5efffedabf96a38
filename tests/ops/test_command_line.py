"""`python -m app`, run as an operator would run it: every subcommand explains itself,
does its job, and fails in one line with the documented exit code (1 at run time, 2 for a
bad setting or bad arguments)."""

import json
import os
import pty
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, inspect, select
from sqlalchemy.orm import Session

from app.__main__ import main
from app.core.security import verify_password
from app.db import migrate
from app.db.drivers import sync_url
from app.models import Hero, Item, Team, User
from app.testing.databases import fresh_database
from tests.ops.newer_schema import unknown_revision_database

ROOT = Path(__file__).resolve().parents[2]
SUBCOMMANDS = ("migrate", "create-superuser", "openapi", "seed")
DEAD_URL = "postgresql+psycopg2://postgres@127.0.0.1:1/none"
NOT_MIGRATED = "error: the database schema is not at head; run `python -m app migrate`"
SUPPORTED = "use sqlite, sqlite+aiosqlite, postgresql+psycopg2 or postgresql+asyncpg"
SUPERUSER = ("create-superuser", "--username", "root", "--email", "root@example.com",
             "--password", "a long enough password")


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    with fresh_database(tmp_path, "cli") as url:
        yield url


@pytest.fixture
def migrated_url(database_url: str) -> str:
    migrate.upgrade(database_url)
    return database_url


def run_cli(
    *args: str,
    database_url: str,
    stdin: str = "",
    stderr: int = subprocess.PIPE,
    **settings: str,
) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "DEBUG"}
    env.update(DATABASE_URL=database_url, BCRYPT_ROUNDS="4")
    env.update(settings)
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=ROOT, env=env, input=stdin, stdout=subprocess.PIPE, stderr=stderr, text=True,
        timeout=300,
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


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """stderr, which must be exactly one line and no traceback."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


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


@pytest.mark.parametrize(
    ("numbers", "said"),
    [((1, 1, 1, 1), "seeded 1 user, 1 team, 1 hero and 1 item in "),
     ((2, 0, 2, 0), "seeded 2 users, 0 teams, 2 heroes and 0 items in ")],
)
def test_seed_counts_in_words_a_person_would_use(migrated_url, numbers, said):
    flags = ("--users", "--teams", "--heroes", "--items")
    args = [part for flag, n in zip(flags, numbers, strict=True) for part in (flag, str(n))]

    result = run_cli("seed", *args, database_url=migrated_url)

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(said)


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


def test_migrate_then_create_superuser_with_password_from_stdin(database_url):
    assert run_cli("migrate", database_url=database_url).returncode == 0

    result = run_cli(
        "create-superuser", "--username", "Root", "--email", "Root@Example.com",
        database_url=database_url, stdin="a long enough password\n",
    )

    assert result.returncode == 0, result.stderr
    assert superusers(database_url) == [("Root", "root@example.com", True)]


def test_create_superuser_help_explains_its_options(capsys):
    with pytest.raises(SystemExit):
        main(["create-superuser", "--help"])

    out = " ".join(capsys.readouterr().out.split())
    assert "--username USERNAME 3 to 50 of A-Z a-z 0-9 _ . - (unique in any letter case)" in out
    assert "--email EMAIL a valid address, unique, stored in lower case" in out
    assert "--password PASSWORD read from the terminal without echo" in out


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


def test_openapi_into_a_reader_that_stops_early_ends_quietly(database_url):
    env = {key: value for key, value in os.environ.items() if key != "DEBUG"}
    env["DATABASE_URL"] = database_url
    # `python -m app openapi | head -c 200`: the document (90 KB) outgrows the pipe.
    head = subprocess.Popen(["head", "-c", "200"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)
    cli = subprocess.Popen([sys.executable, "-m", "app", "openapi"], cwd=ROOT, env=env,
                           stdout=head.stdin, stderr=subprocess.PIPE, text=True)
    head.stdin.close()  # the CLI holds the pipe's only writing end
    shown = head.stdout.read()
    head.wait(timeout=30)
    errors = cli.stderr.read()
    cli.wait(timeout=120)

    assert len(shown) == 200 and shown.startswith(b"{")
    assert errors == ""
    assert cli.returncode == 1


def test_the_command_line_ignores_what_the_documented_commands_write():
    # README: `openapi -o openapi.json`, `migrate --sql > up.sql`, the generated client.
    written = ["openapi.json", "up.sql", "heroes_api_client/__init__.py"]

    result = subprocess.run(["git", "check-ignore", *written], cwd=ROOT,
                            capture_output=True, text=True)

    assert result.stdout.split() == written, result.stderr


UNREACHABLE = (
    'error: database unreachable: connection to server at "127.0.0.1", port 1 failed: '
    "Connection refused; check DATABASE_URL (does the database exist?) and that the server "
    "is running"
)
BAD_URL = (
    "error: DATABASE_URL is not a database URL; write it as "
    "dialect+driver://user:password@host/database, "
    "e.g. postgresql+psycopg2://postgres@127.0.0.1/heroes"
)
NO_REVISION = (
    "error: no revision '{revision}'; `python -m alembic history` lists the revisions "
    "this code knows"
)
NEWER = (
    "error: the database is at revision {revision}, which this code does not know: a newer "
    "version of the service migrated it (run that version, or its `migrate` to downgrade), "
    "or another application's migrations did"
)

# (arguments, database, extra settings, the line, the exit code). Databases: "fresh"
# (empty), "migrated", "newer" (at a revision this code does not know) or a URL.
FAILURES = {
    "migrate to a revision that does not exist": (
        ("migrate", "nope"), "fresh", {}, NO_REVISION.format(revision="nope"), 1),
    "migrate --sql to a revision that does not exist": (
        ("migrate", "--sql", "nope"), "fresh", {}, NO_REVISION.format(revision="nope"), 1),
    "migrate a database newer than the code": (
        ("migrate",), "newer", {}, NEWER.format(revision="f00dcafe"), 1),
    # It once said "nothing to stamp (`python -m app migrate` upgrades it)", which fails.
    "stamp a database newer than the code": (
        ("stamp",), "newer", {}, NEWER.format(revision="f00dcafe"), 1),
    "migrate an unreachable database": (("migrate",), DEAD_URL, {}, UNREACHABLE, 1),
    "migrate with an unknown database": (
        ("migrate",), "nosuchdialect://x", {},
        f"error: DATABASE_URL names an unknown database 'nosuchdialect'; {SUPPORTED}", 2),
    "migrate with a URL that does not parse": (("migrate",), "nonsense", {}, BAD_URL, 2),
    "seed without the driver": (
        ("seed",), "mysql://x/y", {},
        "error: DATABASE_URL needs the driver module 'MySQLdb', which is not installed; "
        f"{SUPPORTED}", 2),
    "seed with a bad URL": (("seed",), "nosuchdialect://x", {},
                            f"error: DATABASE_URL names an unknown database 'nosuchdialect'; "
                            f"{SUPPORTED}", 2),
    "seed an unreachable database": (("seed",), DEAD_URL, {}, UNREACHABLE, 1),
    "seed an unmigrated database": (("seed", "--heroes", "5"), "fresh", {}, NOT_MIGRATED, 1),
    "seed items without owners": (
        ("seed", "--users", "0", "--items", "5"), "migrated", {},
        "error: items need owners: --items needs --users of 1 or more", 1),
    "seed with a short password": (
        ("seed", "--password", "short"), "migrated", {},
        "error: --password must be 8 to 128 characters", 1),
    "create a superuser in an unmigrated database": (SUPERUSER, "fresh", {}, NOT_MIGRATED, 1),
    "create a superuser in an unreachable database": (SUPERUSER, DEAD_URL, {}, UNREACHABLE, 1),
    "create a superuser with a weak password": (
        ("create-superuser", "--username", "root", "--email", "r@example.com",
         "--password", "short"), "migrated", {},
        "error: password: String should have at least 8 characters", 1),
    "openapi with a bad setting": (
        ("openapi",), "migrated", {"BCRYPT_ROUNDS": "abc"},
        "error: bad setting BCRYPT_ROUNDS='abc': Input should be a valid integer, unable to "
        "parse string as an integer; fix it in the environment or .env", 2),
    "migrate with a bad setting": (
        ("migrate",), "migrated", {"DB_POOL_SIZE": "-1"},
        "error: bad setting DB_POOL_SIZE='-1': Input should be greater than or equal to 1; "
        "fix it in the environment or .env", 2),
    "an unknown option": (
        ("seed", "--hereos", "5"), "migrated", {},
        "python -m app: error: unrecognized arguments: --hereos 5", 2),
    "a count that is not a number": (
        ("seed", "--heroes", "many"), "migrated", {},
        "python -m app seed: error: argument --heroes: 'many' is not a whole number", 2),
    "a drain time below zero": (
        ("serve", "--drain", "-1"), "migrated", {},
        "python -m app serve: error: argument --drain: must be 0 to 3600 seconds", 2),
}


@pytest.fixture
def cli_database(request, tmp_path, database_url):
    """The database a FAILURES case names."""
    kind = request.param
    if kind == "fresh":
        return database_url
    if kind == "migrated":
        migrate.upgrade(database_url)
        return database_url
    if kind == "newer":
        return unknown_revision_database(tmp_path)
    return kind


@pytest.mark.parametrize(
    ("case", "cli_database"),
    [(case, spec[1]) for case, spec in FAILURES.items()],
    indirect=["cli_database"],
    ids=list(FAILURES),
)
def test_every_failure_is_one_line_and_the_documented_exit_code(case, cli_database):
    args, _, settings, line, code = FAILURES[case]

    result = run_cli(*args, database_url=cli_database, **settings)

    if line.startswith("python -m app"):  # argparse's own: the usage, then the error
        assert "Traceback" not in result.stderr
        last = result.stderr.strip().splitlines()[-1]
    else:
        last = one_line(result)
    assert (last, result.returncode) == (line, code)


def test_a_failure_changes_nothing(migrated_url):
    run_cli("seed", "--users", "0", "--items", "5", database_url=migrated_url)
    run_cli("create-superuser", "--username", "root", "--email", "r@example.com",
            "--password", "short", database_url=migrated_url)

    assert counts(migrated_url) == {"users": 0, "teams": 0, "heroes": 0, "items": 0}


def test_a_duplicate_superuser_is_one_line_and_exit_1(migrated_url):
    run_cli(*SUPERUSER, database_url=migrated_url)

    result = run_cli(*SUPERUSER, database_url=migrated_url)

    assert (one_line(result), result.returncode) == ("error: Email already registered", 1)


def test_debug_shows_the_traceback_before_the_line(database_url):
    result = run_cli("migrate", "nope", database_url=database_url, DEBUG="true")

    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == NO_REVISION.format(revision="nope")
