"""A legacy database shaped like Flask-SQLAlchemy's microblog (Flask-Migrate, Werkzeug
hashes, naive timestamps, a `followers` association table without a primary key), for
the `stamp` and `import-legacy` tests."""

from datetime import datetime

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    insert,
)
from werkzeug.security import generate_password_hash

from app.db.drivers import sync_url

FLASK_MIGRATE_REVISION = "834b1a697901"
# Werkzeug's pbkdf2 at a low cost keeps the tests fast; one user has the scrypt default.
FAST_PBKDF2 = "pbkdf2:sha256:1000"

legacy = MetaData()
user = Table(
    "user",
    legacy,
    Column("id", Integer, primary_key=True),
    Column("username", String(64), index=True, unique=True),
    Column("email", String(120), index=True, unique=True),
    Column("password_hash", String(256)),
    Column("about_me", String(140)),
    Column("last_seen", DateTime),  # naive: Flask-era `datetime.utcnow`
)
post = Table(
    "post",
    legacy,
    Column("id", Integer, primary_key=True),
    Column("body", String(140)),
    Column("timestamp", DateTime, index=True),
    Column("user_id", Integer, ForeignKey("user.id")),
)
followers = Table(  # db.Table(...): no primary key, so a pair can be stored twice
    "followers",
    legacy,
    Column("follower_id", Integer, ForeignKey("user.id")),
    Column("followed_id", Integer, ForeignKey("user.id")),
)
alembic_version = Table(
    "alembic_version", legacy, Column("version_num", String(32), primary_key=True)
)

# (id, username, email, password): 8 users, 3 of whom break this project's rules.
USERS = [
    (1, "miguel", "miguel@example.com", "miguel's password"),
    (2, "susan", "Susan@Example.com", "susan's password"),
    (3, "josé", "jose@example.com", "josé's password"),  # not ASCII
    (4, "mary jane", "mj@example.com", "mary's password"),  # a space
    (5, "John", "john.upper@example.com", "John's password"),
    (6, "john", "john@example.com", "john's password"),  # John ignoring case
    (7, "ann", "ann@example.com", "ann's password"),
    (8, "david", "david@example.com", "david's password"),
]
PASSWORDS = {username: password for _, username, _, password in USERS}
NAIVE = datetime(2023, 7, 1, 12, 30)  # 12:30 in the legacy server's zone


def build(url: str, *, with_data: bool = True, schema: str | None = None) -> None:
    """Create the legacy tables at `url` (in `schema`, when given), Flask-Migrate's
    revision stamped, and fill them."""
    engine = create_engine(sync_url(url)).execution_options(
        schema_translate_map={None: schema} if schema else None
    )
    try:
        legacy.create_all(engine)
        with engine.begin() as conn:
            conn.execute(insert(alembic_version).values(version_num=FLASK_MIGRATE_REVISION))
            if not with_data:
                return
            conn.execute(
                insert(user),
                [
                    {
                        "id": id_,
                        "username": username,
                        "email": email,
                        "password_hash": generate_password_hash(
                            password, "scrypt" if id_ == 1 else FAST_PBKDF2
                        ),
                        "about_me": f"I am {username}",
                        "last_seen": NAIVE,
                    }
                    for id_, username, email, password in USERS
                ],
            )
            conn.execute(
                insert(post),
                [
                    {"id": n, "body": f"post {n}", "timestamp": NAIVE, "user_id": 1 + n % 8}
                    for n in range(1, 21)
                ],
            )
            conn.execute(
                insert(followers),
                [
                    {"follower_id": 1, "followed_id": 2},
                    {"follower_id": 2, "followed_id": 1},
                    {"follower_id": 1, "followed_id": 2},  # the duplicate pair
                    {"follower_id": 7, "followed_id": 3},
                ],
            )
    finally:
        engine.dispose()
