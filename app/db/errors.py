"""What a database failure means to the caller, on every driver, in one table.

PostgreSQL says what went wrong with a SQLSTATE, which psycopg2 (`pgcode`) and
SQLAlchemy's asyncpg adapter (`sqlstate`) both carry; SQLite with a result code
(`sqlite_errorcode`, pysqlite and aiosqlite alike). A failure is one of:

- UNAVAILABLE: the database is away, overloaded, shutting down, or did not answer in
  time. The caller gets 503 and may retry later.
- READ_ONLY: it refuses writes (a standby, maintenance). 503 too, saying so.
- None of those: a bug or a constraint; the services and the error mapping decide.

`rerunnable` picks, among them, the failures after which the whole unit of work may
simply run again: nothing of it took effect, and the database asks for a retry.
"""

import enum

from sqlalchemy import exc as sa_exc


class Outage(enum.Enum):
    UNAVAILABLE = "unavailable"
    READ_ONLY = "read-only"


# SQLSTATE classes: 08 connection exception, 53 insufficient resources (disk full, out of
# memory, too many connections), 57 operator intervention (query canceled by
# statement_timeout, admin shutdown, cannot connect now), 58 system error (I/O).
_UNAVAILABLE_CLASSES = frozenset({"08", "53", "57", "58"})
_UNAVAILABLE_STATES = frozenset({
    "55P03",  # lock_not_available: lock_timeout ran out
    "40001",  # serialization_failure, still failing after the reruns
    "40P01",  # deadlock_detected, likewise
})
_READ_ONLY_STATES = frozenset({"25006"})  # read_only_sql_transaction
# The database aborted the transaction and asks the client to run it again.
_RERUN_STATES = frozenset({"40001", "40P01"})

# SQLite primary result codes (the low byte of an extended code).
SQLITE_BUSY = 5  # another connection holds the lock this one needs
_SQLITE_UNAVAILABLE = frozenset({
    SQLITE_BUSY,
    7,  # SQLITE_NOMEM
    10,  # SQLITE_IOERR
    11,  # SQLITE_CORRUPT
    13,  # SQLITE_FULL
    14,  # SQLITE_CANTOPEN
    15,  # SQLITE_PROTOCOL
})
SQLITE_READONLY = 8


def sqlstate(exc: sa_exc.DBAPIError) -> str | None:
    """The SQLSTATE PostgreSQL gave for `exc`, whichever driver carried it."""
    orig = exc.orig
    code = getattr(orig, "pgcode", None) or getattr(orig, "sqlstate", None)
    return str(code) if code else None


def sqlite_code(exc: sa_exc.DBAPIError) -> int | None:
    """SQLite's primary result code for `exc`, if SQLite raised it."""
    code = getattr(exc.orig, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def outage(exc: BaseException) -> Outage | None:
    """Whether `exc` says the database is unavailable or read-only (None: neither)."""
    if isinstance(exc, sa_exc.TimeoutError):
        return Outage.UNAVAILABLE  # no pooled connection free within DB_POOL_TIMEOUT
    if not isinstance(exc, sa_exc.DBAPIError):
        return None
    if exc.connection_invalidated:
        return Outage.UNAVAILABLE  # a disconnect, or a statement the client gave up on
    if (code := sqlite_code(exc)) is not None:
        if code == SQLITE_READONLY:
            return Outage.READ_ONLY
        return Outage.UNAVAILABLE if code in _SQLITE_UNAVAILABLE else None
    state = sqlstate(exc)
    if state is None:
        # No answer from a server: a refused, broken or timed-out connection.
        connection_level = isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError)
        return Outage.UNAVAILABLE if connection_level else None
    if state in _READ_ONLY_STATES:
        return Outage.READ_ONLY
    if state[:2] in _UNAVAILABLE_CLASSES or state in _UNAVAILABLE_STATES:
        return Outage.UNAVAILABLE
    return None


def rerunnable(exc: BaseException, *, after_disconnect: bool) -> bool:
    """Whether the unit of work that raised `exc` may run again from the start.

    Only for a failure raised by a statement (never by COMMIT, whose outcome is then
    unknown), which means the transaction died uncommitted with it:
    - a disconnect: the pooled connection was stale (the database restarted); once,
      unless `after_disconnect` (it is the second in a row);
    - SQLite's BUSY: a writer got there first (WAL lets a transaction that began by
      reading write only while nobody else has written since);
    - PostgreSQL's serialization failure or deadlock, which ask for exactly this."""
    if not isinstance(exc, sa_exc.DBAPIError) or exc.statement is None:
        return False
    if exc.connection_invalidated:
        return not after_disconnect
    return sqlite_code(exc) == SQLITE_BUSY or sqlstate(exc) in _RERUN_STATES
