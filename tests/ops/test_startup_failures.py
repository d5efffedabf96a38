"""`uvicorn app.main:app` that cannot start says why in one line and exits 3, no traceback."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from app.db.engines import describe as describe_databases
from app.testing.asyncmode import ASYNC_MODE
from app.testing.settings import TestSettings
from tests.live import ROOT, TEST_SECRET_KEY, free_port
from tests.ops.newer_schema import unknown_revision_database

SUPPORTED = "use sqlite, sqlite+aiosqlite, postgresql+psycopg2 or postgresql+asyncpg"
LIFESPAN = "start-up failed: "  # uvicorn's ERROR line for a failed lifespan start-up
IMPORT = LIFESPAN  # settings are read when the server starts the app, not at import


def start(tmp_path: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    """uvicorn as a person starts it; every case here fails long before the timeout."""
    env = {
        key: value for key, value in os.environ.items()
        if key not in {"DEBUG", "ANALYTICS_DATABASE_URL"} and not key.startswith("FIRST_SUPERUSER")
    }
    env.update(SECRET_KEY=TEST_SECRET_KEY, BCRYPT_ROUNDS="4", AUTO_MIGRATE="true",
               DATABASE_URL=f"sqlite:///{tmp_path / 'app.db'}")
    env.update(settings)
    return subprocess.run(
        [sys.executable, "-m", "uvicorn", "app.main:app",
         "--host", "127.0.0.1", "--port", str(free_port())],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one line that says why: uvicorn's own "Application startup failed" follows it."""
    lines = [line for line in result.stderr.splitlines() if LIFESPAN in line]
    assert len(lines) == 1, result.stderr
    return lines[0]


def assert_one_line(result: subprocess.CompletedProcess[str], prefix: str, expected: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 3, output
    assert "Traceback" not in output, output
    assert last_line(result) == "ERROR:    " + prefix + expected
    assert result.stderr.splitlines()[-1].endswith("Application startup failed. Exiting.")


CASES = {
    "unreachable server": (
        {"DATABASE_URL": "postgresql+psycopg2://postgres@127.0.0.1:1/heroes"},
        LIFESPAN,
        'database unreachable: connection to server at "127.0.0.1", port 1 failed: '
        "Connection refused; check DATABASE_URL (does the database exist?) and that the "
        "server is running",
    ),
    "unreachable server, async driver": (
        {"DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1:1/heroes"},
        LIFESPAN,
        'database unreachable: connection to server at "127.0.0.1", port 1 failed: '
        "Connection refused; check DATABASE_URL (does the database exist?) and that the "
        "server is running",
    ),
    "SQLite folder missing": (
        {"DATABASE_URL": "sqlite:///{tmp}/missing/app.db"},
        LIFESPAN,
        "No such file or directory: {tmp}/missing/app.db.migrate.lock; its folder must exist "
        "and be writable (for SQLite, the folder in DATABASE_URL)",
    ),
    "SQLite folder missing, no migration": (
        {"DATABASE_URL": "sqlite:///{tmp}/missing/app.db", "AUTO_MIGRATE": "false"},
        LIFESPAN,
        "database unreachable: unable to open database file; the SQLite file's folder must "
        "exist and be writable; fix DATABASE_URL",
    ),
    "schema not migrated": (
        {"AUTO_MIGRATE": "false"},
        LIFESPAN,
        "the database schema is not at head; run `python -m app migrate`",
    ),
    "migration fails": (
        {"DATABASE_URL": "{unknown_revision}"},
        LIFESPAN,
        "the database is at revision f00dcafe, which this code does not know: a newer version "
        "of the service migrated it (run that version, or its `migrate` to downgrade), or "
        "another application's migrations did",
    ),
    "URL that does not parse": (
        {"DATABASE_URL": "nonsense"},
        LIFESPAN,
        "DATABASE_URL is not a database URL; write it as "
        "dialect+driver://user:password@host/database, "
        "e.g. postgresql+psycopg2://postgres@127.0.0.1/heroes",
    ),
    "unknown database": (
        {"DATABASE_URL": "nosuchdialect://x/y"},
        LIFESPAN,
        f"DATABASE_URL names an unknown database 'nosuchdialect'; {SUPPORTED}",
    ),
    "driver not installed": (
        {"DATABASE_URL": "mysql://x/y"},
        LIFESPAN,
        f"DATABASE_URL needs the driver module 'MySQLdb', which is not installed; "
        f"{SUPPORTED}",
    ),
    "bad analytics URL": (
        {"ANALYTICS_DATABASE_URL": "nonsense"},
        LIFESPAN,
        "ANALYTICS_DATABASE_URL is not a database URL; write it as "
        "dialect+driver://user:password@host/database, "
        "e.g. postgresql+psycopg2://postgres@127.0.0.1/heroes",
    ),
    "first superuser's password too short": (
        {"FIRST_SUPERUSER_USERNAME": "root", "FIRST_SUPERUSER_EMAIL": "root@example.com",
         "FIRST_SUPERUSER_PASSWORD": "short"},
        LIFESPAN,
        "FIRST_SUPERUSER_PASSWORD is not accepted: String should have at least 8 characters",
    ),
    "not a number": (
        {"BCRYPT_ROUNDS": "abc"},
        IMPORT,
        "bad setting BCRYPT_ROUNDS='abc': Input should be a valid integer, unable to parse "
        "string as an integer; fix it in the environment or .env",
    ),
    "out of range": (
        {"DB_POOL_SIZE": "-1"},
        IMPORT,
        "bad setting DB_POOL_SIZE='-1': Input should be greater than or equal to 1; "
        "fix it in the environment or .env",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_a_start_up_that_fails_says_why_in_one_line(case, tmp_path):
    settings, prefix, expected = CASES[case]
    fill = {"tmp": str(tmp_path), "unknown_revision": unknown_revision_database(tmp_path)}

    result = start(tmp_path, **{key: value.format(**fill) for key, value in settings.items()})

    assert_one_line(result, prefix, expected.format(**fill))


def test_a_database_that_does_not_exist_says_to_create_it(tmp_path):
    server = os.environ.get("TEST_DATABASE_URL", "")
    if not server.startswith("postgresql"):
        # A SQLite database is created on first use; its folder is what may be missing.
        settings, _, expected = CASES["SQLite folder missing, no migration"]
        url = settings["DATABASE_URL"].format(tmp=tmp_path)
    else:
        name = f"missing_{uuid.uuid4().hex[:8]}"
        url = make_url(server).set(database=name).render_as_string(hide_password=False)
        expected = (
            f'database "{name}" does not exist; check DATABASE_URL (does the database '
            "exist?) and that the server is running"
        )

    result = start(tmp_path, DATABASE_URL=url, AUTO_MIGRATE="false")

    output = result.stdout + result.stderr
    assert result.returncode == 3 and "Traceback" not in output, output
    assert last_line(result).endswith(expected)


@pytest.mark.parametrize("case", ["not a number", "migration fails"])
def test_debug_shows_the_traceback_before_the_line(case, tmp_path):
    settings, prefix, expected = CASES[case]
    fill = {"tmp": str(tmp_path), "unknown_revision": unknown_revision_database(tmp_path)}

    result = start(tmp_path, DEBUG="true",
                   **{key: value.format(**fill) for key, value in settings.items()})

    assert result.returncode == 3
    assert "Traceback (most recent call last)" in result.stderr
    assert last_line(result).endswith(expected.format(**fill))


def test_start_up_logs_mode_driver_database_and_pool(make_client, log_lines, settings):
    make_client()

    url = make_url(settings.database_url)
    mode = "async" if ASYNC_MODE else "sync"
    [line] = [line for line in log_lines if "serving in" in line]
    assert line.endswith(
        f"INFO app.startup serving in {mode} mode, driver "
        f"{url.get_backend_name()}+{url.get_driver_name()}, database "
        f"{url.render_as_string(hide_password=True)}, pool 10 + 0 overflow"
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql+asyncpg://heroes:s3cret@db.internal:5433/heroes",
         "async mode, driver postgresql+asyncpg, database "
         "postgresql+asyncpg://heroes:***@db.internal:5433/heroes, pool 7 + 3 overflow"),
        ("postgresql+psycopg2://heroes:s3cret@db.internal/heroes",
         "sync mode, driver postgresql+psycopg2, database "
         "postgresql+psycopg2://heroes:***@db.internal/heroes, pool 7 + 3 overflow"),
        ("sqlite:///./app.db",
         "sync mode, driver sqlite+pysqlite, database sqlite:///./app.db, pool 7 + 3 overflow"),
        ("sqlite+aiosqlite://",
         "async mode, driver sqlite+aiosqlite, database sqlite+aiosqlite://, "
         "one connection (in-memory SQLite)"),
    ],
)
def test_the_start_up_line_hides_the_password(url, expected):
    settings = TestSettings(database_url=url, secret_key="k", db_pool_size=7, db_max_overflow=3)

    assert describe_databases(settings) == expected
