"""Which mode a database URL asks for: a sync driver, or an async one and its sync twin."""

from sqlalchemy.engine import URL, make_url

# The async drivers the service supports, each with the sync driver of the same
# database. Migrations, the CLI and the seeder are batch work and use the twin;
# only the request path runs on the async driver.
SYNC_TWIN = {
    "postgresql+asyncpg": "postgresql+psycopg2",
    "sqlite+aiosqlite": "sqlite",
}
SUPPORTED = "sqlite, sqlite+aiosqlite, postgresql+psycopg2 or postgresql+asyncpg"
URL_SHAPE = (
    "dialect+driver://user:password@host/database, "
    "e.g. postgresql+psycopg2://postgres@127.0.0.1/heroes"
)


def is_async(url: str | URL) -> bool:
    """True when `url` names an async driver (postgresql+asyncpg, sqlite+aiosqlite)."""
    return make_url(url).drivername in SYNC_TWIN


def sync_url(url: str | URL) -> URL:
    """`url` with its async driver swapped for the sync one; sync URLs are returned as they are."""
    parsed = make_url(url)
    return parsed.set(drivername=SYNC_TWIN.get(parsed.drivername, parsed.drivername))
