"""`python -m app import-legacy`: a Flask-SQLAlchemy microblog's database (Flask-Migrate,
Werkzeug hashes, naive timestamps, a followers table with a duplicate pair) copied into
a migrated database, as an operator runs it."""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    ForeignKey,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    create_engine,
    select,
    text,
)

from app.db import migrate
from app.db.base import NAMING_CONVENTION, BigId
from app.db.drivers import sync_url
from app.testing.databases import fresh_database
from tests.migrations import legacy_microblog
from tests.migrations.test_adopt import run_cli

# The tables the team's ported models add (their own models and migration).
theirs = MetaData(naming_convention=NAMING_CONVENTION)
Table("users", theirs, Column("id", BigId, primary_key=True))
posts = Table(
    "posts",
    theirs,
    Column("id", BigId, primary_key=True),
    Column("body", String(140), nullable=False),
    Column("timestamp", DateTime(timezone=True), nullable=False),
    Column("user_id", BigId, ForeignKey("users.id"), nullable=False),
)
followers = Table(
    "followers",
    theirs,
    Column("follower_id", BigId, ForeignKey("users.id")),
    Column("followed_id", BigId, ForeignKey("users.id")),
    PrimaryKeyConstraint("follower_id", "followed_id"),
)

FIRST_RUN_REFUSALS = [
    "  user 3 (josé): username 'josé' does not fit this project's rules (3 to 50 of "
    "A-Z a-z 0-9 _ . -); resolve with --rename 'josé=NEW' or --skip 'josé'",
    "  user 4 (mary jane): username 'mary jane' does not fit this project's rules (3 to 50 "
    "of A-Z a-z 0-9 _ . -); resolve with --rename 'mary jane=NEW' or --skip 'mary jane'",
    "  user 6 (john): username 'john' is taken ignoring case by user 5 (John); resolve with "
    "--rename 'john=NEW' or --skip 'john'",
    '  followers {"followed_id": 3, "follower_id": 7}: followed_id points at user 3, which '
    "was refused (resolve it)",
    *(
        f"  post {n}: user_id points at user {1 + n % 8}, which was refused (resolve it)"
        for n in (2, 3, 5, 10, 11, 13, 18, 19)
    ),
]
RESOLVE = ["--rename", "josé=jose", "--rename", "mary jane=mary_jane", "--skip", "john"]


@pytest.fixture
def legacy_url(tmp_path: Path) -> Iterator[str]:
    with fresh_database(tmp_path, "legacy") as url:
        legacy_microblog.build(url)
        yield url


@pytest.fixture
def target_url(tmp_path: Path) -> Iterator[str]:
    with fresh_database(tmp_path, "target") as url:
        migrate.upgrade(url)
        engine = create_engine(sync_url(url))
        theirs.create_all(engine, tables=[posts, followers])
        engine.dispose()
        yield url


@pytest.fixture
def target(target_url: str) -> Iterator[Engine]:
    engine = create_engine(sync_url(target_url))
    yield engine
    engine.dispose()


def import_legacy(legacy_url: str, target_url: str, *extra: str):
    return run_cli(
        "import-legacy", "--from", legacy_url, "--timezone", "Europe/Paris",
        "--table", "post=posts", *extra, database_url=target_url,
    )  # fmt: skip


def rows(engine: Engine, sql: str) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(text(sql))]


def test_first_run_imports_what_fits_and_lists_the_rest_with_why(legacy_url, target_url, target):
    result = import_legacy(legacy_url, target_url)

    assert result.returncode == 1
    out = result.stdout.splitlines()
    assert "users: 5 imported, 0 already imported before" in out
    assert "posts: 12 imported, 0 already imported before" in out
    assert "followers: 2 imported, 0 already imported before" in out
    assert (
        'note: followers {"followed_id": 2, "follower_id": 1}: a duplicate of an earlier row, '
        "imported once"
    ) in out
    assert "note: user: columns not imported (no column for them in users): about_me" in out
    assert result.stderr.splitlines() == [
        "error: 12 legacy rows were not imported (what was imported stays; resolve these, "
        "then run the same command again):",
        *FIRST_RUN_REFUSALS,
    ]
    assert rows(target, "SELECT id, username, email FROM users ORDER BY id") == [
        (1, "miguel", "miguel@example.com"),
        (2, "susan", "susan@example.com"),  # the validators' lower case
        (5, "John", "john.upper@example.com"),
        (7, "ann", "ann@example.com"),
        (8, "david", "david@example.com"),
    ]
    assert rows(target, "SELECT email_key FROM users WHERE id = 2") == [("susan@example.com",)]
    assert rows(target, "SELECT follower_id, followed_id FROM followers ORDER BY 1") == [
        (1, 2), (2, 1)
    ]


def test_naive_timestamps_are_read_in_the_stated_zone(legacy_url, target_url, target):
    import_legacy(legacy_url, target_url)

    with target.connect() as conn:
        created = conn.execute(select(posts.c.timestamp).where(posts.c.id == 1)).scalar_one()
    # 12:30 in Paris in July (UTC+2) is 10:30 UTC.
    assert created.replace(tzinfo=created.tzinfo or UTC) == datetime(2023, 7, 1, 10, 30, tzinfo=UTC)


def test_resolving_and_running_again_imports_the_rest_and_nothing_twice(
    legacy_url, target_url, target
):
    import_legacy(legacy_url, target_url)

    second = import_legacy(legacy_url, target_url, *RESOLVE)

    assert second.returncode == 0, second.stderr  # everything resolved
    out = second.stdout.splitlines()
    assert "users: 2 imported, 5 already imported before" in out
    assert "posts: 6 imported, 12 already imported before" in out
    # john was skipped, so his posts stay out with him, said so.
    assert "note: post 5: left out with user 6, skipped as asked" in out
    assert "note: post 13: left out with user 6, skipped as asked" in out
    assert "9 rows imported, 0 refused, 3 skipped as asked" in out[-1]
    # Legacy rows: the duplicate pair counts as imported (once).
    assert "followers: 1 imported, 3 already imported before" in second.stdout.splitlines()
    assert "note: user 6 (john): skipped as asked" in second.stdout.splitlines()
    assert rows(target, "SELECT id, username FROM users WHERE id IN (3, 4)") == [
        (3, "jose"), (4, "mary_jane")
    ]

    third = import_legacy(legacy_url, target_url, *RESOLVE)

    assert third.returncode == 0, third.stderr
    assert "users: 0 imported, 7 already imported before" in third.stdout.splitlines()
    assert "posts: 0 imported, 18 already imported before" in third.stdout.splitlines()
    assert rows(target, "SELECT count(*) FROM users") == [(7,)]
    assert rows(target, "SELECT count(*) FROM posts") == [(18,)]
    assert rows(target, "SELECT count(*) FROM followers") == [(3,)]


def test_imported_users_log_in_with_their_old_passwords_and_others_can_register(
    legacy_url, target_url, target, client_with
):
    import_legacy(legacy_url, target_url, *RESOLVE)
    client = client_with(database_url=target_url)

    for username, password in (("jose", "josé's password"), ("miguel", "miguel's password")):
        response = client.post(
            "/api/v1/auth/token", data={"username": username, "password": password}
        )
        assert response.status_code == 200, username
    assert all(h.startswith("$2b$") for (h,) in rows(
        target, "SELECT hashed_password FROM users WHERE id IN (1, 3)"
    ))
    assert rows(target, "SELECT hashed_password FROM users WHERE id = 2")[0][0].startswith(
        "pbkdf2:sha256:1000$"
    )  # susan has not logged in yet
    # Ids 1 to 8 were copied: a new registration must not be handed one of them.
    registered = client.post(
        "/api/v1/users",
        json={"username": "newcomer", "email": "new@example.com", "password": "a long password"},
    )
    assert registered.status_code == 201, registered.text
    assert registered.json()["id"] == 9


def test_the_timezone_must_be_a_real_zone(legacy_url, target_url):
    result = run_cli(
        "import-legacy", "--from", legacy_url, "--timezone", "Mars/Olympus",
        database_url=target_url,
    )  # fmt: skip

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: --timezone 'Mars/Olympus' is not a time zone; give the zone the legacy "
        "application wrote its timestamps in, e.g. UTC or Europe/Paris"
    ]


def test_a_legacy_table_with_no_table_here_is_refused_not_dropped(legacy_url, target_url):
    result = run_cli(
        "import-legacy", "--from", legacy_url, "--timezone", "UTC", database_url=target_url
    )

    assert result.returncode == 1
    assert (
        "  post (all rows): 20 rows not imported: this database has no table post; create "
        "it (a model and a migration), or map it with --table post=TABLE"
    ) in result.stderr.splitlines()


def test_a_resolution_file_works_like_the_options(legacy_url, target_url, tmp_path, target):
    plan = tmp_path / "resolve.toml"
    plan.write_text('skip = ["john"]\n[rename]\n"josé" = "jose"\n"mary jane" = "mary_jane"\n')

    import_legacy(legacy_url, target_url, "--resolve", str(plan))

    assert rows(target, "SELECT username FROM users ORDER BY id") == [
        ("miguel",), ("susan",), ("jose",), ("mary_jane",), ("John",), ("ann",), ("david",)
    ]


def test_legacy_tables_in_a_postgresql_schema_of_the_same_database(target_url, target):
    if not target_url.startswith("postgresql"):
        pytest.skip("schemas are PostgreSQL's; SQLite legacy databases are read with --from")
    with target.begin() as conn:
        conn.execute(text("CREATE SCHEMA legacy"))
    legacy_microblog.build(target_url, schema="legacy")

    result = run_cli(
        "import-legacy", "--schema", "legacy", "--timezone", "UTC", "--table", "post=posts",
        *RESOLVE, database_url=target_url,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert "users: 7 imported, 0 already imported before" in result.stdout.splitlines()
    assert rows(target, "SELECT count(*) FROM posts") == [(18,)]


def test_emails_that_do_not_fit_are_refused_with_what_resolves_them(tmp_path, target_url):
    with fresh_database(tmp_path, "emails") as url:
        legacy_microblog.build(url, with_data=False)
        engine = create_engine(sync_url(url))
        with engine.begin() as conn:
            conn.execute(legacy_microblog.user.insert(), [
                {"id": 1, "username": "anna", "email": "Anna@example.com", "password_hash": "x"},
                {"id": 2, "username": "anna2", "email": "anna@EXAMPLE.com", "password_hash": "x"},
                {"id": 3, "username": "bad", "email": "not-an-email", "password_hash": "x"},
            ])  # fmt: skip
        engine.dispose()

        result = run_cli("import-legacy", "--from", url, "--timezone", "UTC",
                         database_url=target_url)  # fmt: skip

    assert result.returncode == 1
    assert result.stderr.splitlines()[1:] == [
        "  user 2 (anna2): email anna@example.com is taken ignoring case by user 1 "
        "(anna@example.com); resolve with --skip 'anna2', or correct it in the legacy database",
        "  user 3 (bad): email 'not-an-email' is not valid: value is not a valid email address: "
        "An email address must have an @-sign.; resolve with --skip 'bad', or correct it in the "
        "legacy database",
    ]
