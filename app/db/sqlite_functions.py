"""SQLite's lower() made to mean what it means on PostgreSQL.

SQLite's built-in lower() (and so SQLAlchemy's `icontains` and `ilike` there)
folds ASCII letters only: `?name=élan` missed "ÉLAN". A Python lower() registered
under the same name on every connection folds all of Unicode letter by letter, as
PostgreSQL's lower() and ILIKE do, so both databases give the same answers (both
leave ß and SS apart: that takes case folding, which only emails get). The
expression index on lower(username) is unaffected: usernames are ASCII.
"""

from typing import Any

from sqlalchemy import Engine, event


def _lower(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    lowered = value.lower()
    if "ς" in lowered or "\u0307" in lowered:
        # Python applies context (a final Σ becomes ς) and multi-letter mappings
        # (İ becomes i + dot); PostgreSQL maps letter by letter, one to one.
        return "".join("i" if char == "İ" else char.lower() for char in value)
    return lowered


def use_unicode_lower(engine: Engine) -> None:
    """Replace lower() on every connection `engine` opens (pysqlite and aiosqlite)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.create_function("lower", 1, _lower, deterministic=True)
