"""Fresh PostgreSQL databases for the benchmark, migrated and bulk-loaded with COPY."""

import io
import random
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import psycopg2
from psycopg2 import sql
from sqlalchemy.engine import make_url

from app.core.casefold import caseless_key
from app.core.security import hash_password
from app.db import migrate

# Every seeded user shares one password and one (cheap) hash: hashing 100,000
# passwords would take minutes and measure nothing the benchmark asks about.
USER_PASSWORD = "perf password 1"
USER_HASH_ROUNDS = 4
# The one user the login scenario signs in as, with the cost production uses.
LOGIN_USERNAME = "perf_login"
LOGIN_PASSWORD = "perf login password"
LOGIN_HASH_ROUNDS = 12

CHUNK = 50_000
NAME_PATTERN = re.compile(r"perf_[0-9a-f]{8}")


@dataclass(frozen=True)
class Sizes:
    users: int
    teams: int
    heroes: int
    items: int


@dataclass
class SeededDatabase:
    name: str
    sizes: Sizes
    sync_url: str  # postgresql+psycopg2://...: what the service and Alembic get
    login_user_id: int
    user_hash: str = ""  # every seeded user's hashed_password (tokens carry its fingerprint)
    seconds: float = 0.0
    rows_per_second: dict[str, float] = field(default_factory=dict)

    @property
    def libpq_dsn(self) -> str:
        """The same database as a plain libpq URL (psycopg2, asyncpg)."""
        return make_url(self.sync_url).set(drivername="postgresql").render_as_string(
            hide_password=False
        )

    def url_for(self, drivername: str) -> str:
        return make_url(self.sync_url).set(drivername=drivername).render_as_string(
            hide_password=False
        )


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def create_database(admin_url: str) -> str:
    """A new, empty database named perf_<8 hex> on the admin URL's server; its URL."""
    name = f"perf_{uuid.uuid4().hex[:8]}"
    conn = psycopg2.connect(_libpq(admin_url))
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        conn.close()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, name: str) -> None:
    """Drop a database this harness created (refuses any other name)."""
    if not NAME_PATTERN.fullmatch(name):
        raise ValueError(f"refusing to drop {name!r}: not a perf_ database")
    conn = psycopg2.connect(_libpq(admin_url))
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
    finally:
        conn.close()


def _copy(cur: object, table: str, columns: tuple[str, ...], rows: Iterator[str],
          total: int, log: Callable[[str], None]) -> float:
    """COPY `rows` (tab-separated lines) into `table` in chunks; rows per second."""
    started = time.monotonic()
    done = 0
    copy_sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    while done < total:
        n = min(CHUNK, total - done)
        buf = io.StringIO()
        for _ in range(n):
            buf.write(next(rows))
        buf.seek(0)
        cur.copy_expert(copy_sql, buf)  # type: ignore[attr-defined]
        done += n
        if total > CHUNK:
            log(f"  {table}: {done:,}/{total:,}")
    elapsed = time.monotonic() - started
    return total / elapsed if elapsed > 0 else float("inf")


def _users(n: int, hashed: str) -> Iterator[str]:
    for i in range(1, n + 1):
        # email_key: the case-folded email (app/core/casefold.py); these are ASCII.
        email = f"user{i}@example.com"
        yield f"{i}\tuser{i}\t{email}\t{email}\tUser Number {i}\t{hashed}\tt\tf\n"


def _teams(n: int) -> Iterator[str]:
    for i in range(1, n + 1):
        yield f"{i}\tteam-{i}\tHeadquarters {i}\n"


def _heroes(n: int, teams: int, rng: random.Random) -> Iterator[str]:
    for i in range(1, n + 1):
        age = "\\N" if rng.random() < 0.1 else str(rng.randint(16, 90))
        team = "\\N" if teams == 0 or rng.random() < 0.1 else str(rng.randint(1, teams))
        yield f"{i}\thero-{i}\tSecret Identity {i}\t{age}\t{team}\n"


def _items(n: int, users: int, rng: random.Random) -> Iterator[str]:
    for i in range(1, n + 1):
        yield f"{i}\tItem {i}\tThe description of item {i}.\t{rng.randint(1, users)}\n"


def seed(admin_url: str, sizes: Sizes, log: Callable[[str], None] = print) -> SeededDatabase:
    """Create a database, migrate it to head and load `sizes` rows (ids 1..n).

    One extra user (id users + 1) has a cost-12 hash, for the login scenario.
    The caller drops the database (`drop_database`), also when this raises.
    """
    started = time.monotonic()
    url = create_database(admin_url)
    name = make_url(url).database
    assert name is not None
    db = SeededDatabase(name=name, sizes=sizes, sync_url=url, login_user_id=sizes.users + 1)
    log(f"seeding {name}: {sizes.users:,} users, {sizes.teams:,} teams, "
        f"{sizes.heroes:,} heroes, {sizes.items:,} items")
    migrate.upgrade(url)
    rng = random.Random(20261125)
    cheap_hash = hash_password(USER_PASSWORD, USER_HASH_ROUNDS)
    db.user_hash = cheap_hash
    login_hash = hash_password(LOGIN_PASSWORD, LOGIN_HASH_ROUNDS)
    conn = psycopg2.connect(_libpq(url))
    try:
        with conn.cursor() as cur:
            user_cols = ("id", "username", "email", "email_key", "full_name",
                         "hashed_password", "is_active", "is_superuser")
            rate = _copy(cur, "users", user_cols, _users(sizes.users, cheap_hash),
                         sizes.users, log)
            db.rows_per_second["users"] = rate
            cur.execute(
                "INSERT INTO users (id, username, email, email_key, full_name, hashed_password) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                (db.login_user_id, LOGIN_USERNAME, f"{LOGIN_USERNAME}@example.com",
                 caseless_key(f"{LOGIN_USERNAME}@example.com"), "Login Benchmark", login_hash),
            )
            db.rows_per_second["teams"] = _copy(
                cur, "teams", ("id", "name", "headquarters"), _teams(sizes.teams),
                sizes.teams, log)
            db.rows_per_second["heroes"] = _copy(
                cur, "heroes", ("id", "name", "secret_name", "age", "team_id"),
                _heroes(sizes.heroes, sizes.teams, rng), sizes.heroes, log)
            if sizes.items:
                db.rows_per_second["items"] = _copy(
                    cur, "items", ("id", "title", "description", "owner_id"),
                    _items(sizes.items, sizes.users, rng), sizes.items, log)
            # Explicit ids were written; new rows must continue after them.
            for table in ("users", "teams", "heroes", "items"):
                cur.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), false)"
                )
        conn.commit()
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("VACUUM (ANALYZE)")
    finally:
        conn.close()
    db.seconds = time.monotonic() - started
    log(f"seeded {name} in {db.seconds:.1f}s")
    return db


def owned_item(db: SeededDatabase) -> tuple[int, int]:
    """The first item's id and its owner's id (a seeded user, with the shared hash)."""
    conn = psycopg2.connect(db.libpq_dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id, owner_id FROM items ORDER BY id LIMIT 1")
            row = cur.fetchone()
    finally:
        conn.close()
    if row is None:
        raise ValueError(f"{db.name} has no items")
    return int(row[0]), int(row[1])
