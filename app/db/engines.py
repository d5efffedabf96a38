"""Engine recipes: the pool, dialect and timeout options every engine of the service gets.

`build_engine` is the one place that turns a URL and the settings into an engine:
an `AsyncEngine` when the URL names an async driver (asyncpg, aiosqlite), else an
`Engine`. Nothing here connects; a bad URL fails here, as a `BadSetting`.
"""

import sqlite3
import uuid
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.core.config import BadSetting, Settings
from app.db.drivers import SUPPORTED, URL_SHAPE, is_async, sync_url
from app.db.sqlite_functions import use_unicode_lower
from app.db.timeouts import (
    asyncpg_connection_without_cancel,
    bounded_psycopg2_connection,
    statement_bound,
    treat_timeouts_as_disconnects,
)


def _is_memory(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def _sqlite_transactions(engine: Engine, *, writable_file: bool) -> None:
    """SQLite as the service needs it: foreign keys on, WAL, and transactions SQLAlchemy
    begins itself.

    pysqlite opens transactions lazily and mishandles SAVEPOINT, so SQLAlchemy emits
    BEGIN itself (the recipe in SQLAlchemy's SQLite dialect docs). In WAL mode readers
    never block the writer nor the writer them; writers still take turns, and one that
    loses the race is run again by the unit of work (app/services/unit_of_work.py)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        if writable_file:
            use_wal(cursor)
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN")


def use_wal(cursor: Any) -> None:
    """Put the SQLite file `cursor` is on in WAL mode, unless it is already (it stays so:
    the mode is kept in the file). Start-up does it under the migration lock; a new
    connection does it too, for a file that came from elsewhere. It cannot while another
    connection writes: then this one leaves it to the next."""
    cursor.execute("PRAGMA journal_mode")
    if cursor.fetchone()[0] == "wal":
        return
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
    except sqlite3.OperationalError:
        pass


def _read_only(url: URL, connect_args: dict[str, Any]) -> URL:
    """Make the database itself refuse writes on connections to `url`."""
    backend = url.get_backend_name()
    if backend == "sqlite":
        if _is_memory(url):
            raise BadSetting("ANALYTICS_DATABASE_URL", "must name a SQLite file to read only")
        # A URI: its path is percent-encoded, or a '#' or '?' in it would end the path.
        path = quote(str(url.database), safe="/")
        return url.set(database=f"file:{path}", query={"mode": "ro", "uri": "true"})
    if backend == "postgresql":
        # Every transaction on these connections is READ ONLY; the server refuses writes.
        if url.get_driver_name() == "asyncpg":
            connect_args["server_settings"] = {"default_transaction_read_only": "on"}
        else:
            connect_args["options"] = "-c default_transaction_read_only=on"
        return url
    raise BadSetting("ANALYTICS_DATABASE_URL", f"names {backend}, which cannot be read only")


def _through_pgbouncer(connect_args: dict[str, Any]) -> None:
    """asyncpg through PgBouncer in transaction pooling mode (DB_PGBOUNCER=true).

    asyncpg prepares every statement under a name (__asyncpg_stmt_1__, ...) and
    caches it per connection; behind PgBouncer consecutive transactions of one
    connection land on different server connections, where that name is missing
    or is another client's statement. So: no statement caches (asyncpg's, and
    SQLAlchemy's on top of it), and a unique name for each prepared statement.
    The cost is a prepare per statement, which is why it is a setting. A timed-out
    statement's connection is dropped rather than cancelled (see timeouts.py)."""
    connect_args["connection_class"] = asyncpg_connection_without_cancel()
    connect_args["statement_cache_size"] = 0
    connect_args["prepared_statement_cache_size"] = 0
    connect_args["prepared_statement_name_func"] = _unique_statement_name


def _unique_statement_name() -> str:
    return f"__asyncpg_{uuid.uuid4().hex}__"


def _bound_waits(url: URL, settings: Settings, connect_args: dict[str, Any]) -> None:
    """Bound how long a PostgreSQL server may keep a request waiting (app/db/timeouts.py):
    connecting, DB_CONNECT_TIMEOUT; a statement, DB_STATEMENT_TIMEOUT on the server and
    a little more on the client, for a server that never answers."""
    statement_ms = f"{settings.db_statement_timeout * 1000:.0f}"
    client_bound = statement_bound(settings.db_statement_timeout)
    # PgBouncer refuses connections that send startup parameters it does not know
    # (options, statement_timeout): behind it, set statement_timeout on the role.
    server_side = not settings.db_pgbouncer
    if url.get_driver_name() == "asyncpg":
        connect_args["timeout"] = settings.db_connect_timeout
        connect_args["command_timeout"] = client_bound
        if server_side:
            connect_args.setdefault("server_settings", {})["statement_timeout"] = statement_ms
        return
    connect_args["connection_factory"] = bounded_psycopg2_connection(
        settings.db_connect_timeout, client_bound
    )
    if server_side:
        options = connect_args.get("options", "")
        connect_args["options"] = f"{options} -c statement_timeout={statement_ms}".strip()


def parse_url(url: str | URL, setting: str = "DATABASE_URL") -> URL:
    """`url` parsed, or BadSetting naming `setting`."""
    try:
        return make_url(url)
    except sa_exc.ArgumentError:
        raise BadSetting(setting, f"is not a database URL; write it as {URL_SHAPE}") from None


def build_engine(
    url: str | URL,
    settings: Settings,
    *,
    read_only: bool = False,
    timeouts: bool = True,
    setting: str = "DATABASE_URL",
    **overrides: Any,
) -> Engine | AsyncEngine:
    """An engine for `url` with the pool and dialect options the settings ask for.

    `read_only`: the database refuses writes on its connections. `timeouts=False` lets
    statements run as long as they take (batch work). A URL that names an unknown
    database or a driver that is not installed is a BadSetting naming `setting`."""
    parsed = parse_url(url, setting)
    connect_args: dict[str, Any] = {}
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        connect_args["check_same_thread"] = False
    behind_pgbouncer = settings.db_pgbouncer and backend == "postgresql"
    if read_only and not behind_pgbouncer:
        parsed = _read_only(parsed, connect_args)
    if behind_pgbouncer and parsed.get_driver_name() == "asyncpg":
        _through_pgbouncer(connect_args)
    if timeouts and backend == "postgresql":
        _bound_waits(parsed, settings, connect_args)
    connect_args.update(overrides.pop("connect_args", {}))
    kwargs: dict[str, Any] = {
        "echo": settings.database_echo,
        "connect_args": connect_args,
        "pool_pre_ping": settings.db_pool_pre_ping,
        "pool_recycle": settings.db_pool_recycle,
    }
    if "poolclass" not in overrides and not _is_memory(parsed):
        kwargs.update(
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout=settings.db_pool_timeout,
        )
    kwargs.update(overrides)
    if read_only and behind_pgbouncer:
        # PgBouncer refuses the startup parameter _read_only sends; BEGIN READ ONLY
        # instead, per transaction, which any pooler passes through.
        kwargs.setdefault("execution_options", {})["postgresql_readonly"] = True
    try:
        if is_async(parsed):
            async_engine = create_async_engine(parsed, **kwargs)
            _configure(async_engine.sync_engine, parsed, read_only)
            return async_engine
        engine = create_engine(parsed, **kwargs)
    except sa_exc.NoSuchModuleError as exc:
        dialect = str(exc).rsplit(":", 1)[-1].strip()
        problem = f"names an unknown database {dialect!r}; use {SUPPORTED}"
        raise BadSetting(setting, problem) from None
    except ModuleNotFoundError as exc:
        # SQLAlchemy imports the driver (the DBAPI module) when it builds an engine.
        problem = f"needs the driver module {exc.name!r}, which is not installed; use {SUPPORTED}"
        raise BadSetting(setting, problem) from None
    _configure(engine, parsed, read_only)
    return engine


def _configure(engine: Engine, url: URL, read_only: bool) -> None:
    if url.get_backend_name() == "sqlite":
        _sqlite_transactions(engine, writable_file=not (read_only or _is_memory(url)))
        use_unicode_lower(engine)
    treat_timeouts_as_disconnects(engine)


def build_sync_engine(url: str | URL, settings: Settings, **overrides: Any) -> Engine:
    """An `Engine` for `url` on its sync driver: for the CLI, migrations and start-up work."""
    engine = build_engine(sync_url(parse_url(url)), settings, **overrides)
    assert isinstance(engine, Engine)
    return engine


def sync_view(engine: Engine | AsyncEngine) -> Engine:
    """The `Engine` its pool and events belong to (an `AsyncEngine` proxies one)."""
    return engine.sync_engine if isinstance(engine, AsyncEngine) else engine


def describe(settings: Settings) -> str:
    """Mode, driver, database (password hidden) and pool, for the start-up log line."""
    url = make_url(settings.database_url)
    pool = (
        "one connection (in-memory SQLite)"
        if _is_memory(url)
        else f"pool {settings.db_pool_size} + {settings.db_max_overflow} overflow"
    )
    line = (
        f"{'async' if is_async(url) else 'sync'} mode, driver "
        f"{url.get_backend_name()}+{url.get_driver_name()}, database "
        f"{url.render_as_string(hide_password=True)}, {pool}"
    )
    if settings.analytics_database_url:
        analytics = make_url(settings.analytics_database_url)
        line += f", analytics on {analytics.render_as_string(hide_password=True)}"
    return line
