"""Whether every worker's pools fit in the PostgreSQL server they draw connections from.

Each worker process has its own pools: the primary engine's, and the analytics
engine's, which draws from the same server unless ANALYTICS_DATABASE_URL names
another. At their fullest they hold WEB_CONCURRENCY × (DB_POOL_SIZE + DB_MAX_OVERFLOW)
connections each. Past what the server admits (max_connections, less the slots it
keeps for superusers and for roles granted pg_use_reserved_connections), requests
are refused under load with "too many clients": 503s that no retry cures. Start-up
says so in one warning line, while the operator is still looking.
"""

from sqlalchemy import Connection, text
from sqlalchemy.engine import URL, make_url

from app.core.config import Settings


def _server(url: URL) -> tuple[str | None, int | None]:
    return url.host, url.port


def planned(settings: Settings) -> tuple[int, str]:
    """The most connections the service's workers may open on the primary's server, and
    how that number is made up."""
    per_pool = settings.db_pool_size + settings.db_max_overflow
    primary = make_url(settings.database_url)
    analytics = make_url(settings.analytics_database_url or settings.database_url)
    pools = 2 if _server(analytics) == _server(primary) else 1
    what = "primary and analytics pools" if pools == 2 else "primary pool"
    total = settings.web_concurrency * per_pool * pools
    formula = (
        f"{settings.web_concurrency} worker(s) × {pools} pool(s) ({what}) × "
        f"({settings.db_pool_size} DB_POOL_SIZE + {settings.db_max_overflow} DB_MAX_OVERFLOW)"
    )
    return total, formula


def admitted(conn: Connection) -> tuple[int, str]:
    """How many connections the server admits for ordinary roles, and why."""
    values = dict(tuple(row) for row in conn.execute(text(
        "SELECT name, setting FROM pg_settings WHERE name IN "
        "('max_connections', 'superuser_reserved_connections', 'reserved_connections')"
    )).all())
    maximum = int(values["max_connections"])
    reserved = int(values["superuser_reserved_connections"])
    reserved += int(values.get("reserved_connections", 0))  # PostgreSQL 16 and later
    return maximum - reserved, f"max_connections {maximum} − {reserved} reserved"


def over_budget(settings: Settings, conn: Connection) -> str | None:
    """The warning line when the pools may need more connections than the server admits."""
    if conn.dialect.name != "postgresql" or settings.db_pgbouncer:
        return None  # SQLite has no connection limit; PgBouncer multiplexes its own
    needed, formula = planned(settings)
    available, why = admitted(conn)
    if needed <= available:
        return None
    return (
        f"connection budget: the pools may open {needed} connections ({formula}) but the "
        f"server admits {available} ({why}), other clients included; lower DB_POOL_SIZE, "
        "DB_MAX_OVERFLOW or WEB_CONCURRENCY, or raise the server's max_connections"
    )
