"""Stale pooled connections, handled optimistically instead of pinged on every checkout.

The pool hands out connections without a ping (a round trip on every request).
When the database restarted, failed over or cut an idle connection, the first
statement on a stale connection fails with a disconnect error; SQLAlchemy then
invalidates that connection and every other one pooled before it, so the next
checkouts reconnect. This module marks such an error as safe to retry when the
statement that failed was the first one sent on its checkout: nothing of the
failed call reached the database, so `Database.run` runs it once more on a fresh
connection and the client never sees the restart (SQLAlchemy's "optimistic"
disconnect handling, plus the retry the docs leave to the application).
"""

from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import DBAPIError

_SENT = "statements_sent"  # per checkout, in the pooled connection's info
_NOTHING_SENT = "nothing_sent_before_disconnect"  # set on the exception


def track(engine: Engine) -> None:
    """Count statements per checkout on `engine` and mark retry-safe disconnects."""

    @event.listens_for(engine, "checkout")
    def _checked_out(_dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        record.info[_SENT] = 0

    @event.listens_for(engine, "before_cursor_execute")
    def _sending(conn: Any, *_: Any) -> None:
        info = conn.info
        info[_SENT] = info.get(_SENT, 0) + 1

    @event.listens_for(engine, "handle_error")
    def _failed(context: ExceptionContext) -> None:
        # A failed COMMIT has no statement: its outcome is unknown, never retried.
        if (context.is_disconnect and context.statement is not None
                and context.connection is not None
                and context.connection.info.get(_SENT, 0) <= 1
                and context.sqlalchemy_exception is not None):
            setattr(context.sqlalchemy_exception, _NOTHING_SENT, True)


def retry_safe(exc: BaseException) -> bool:
    """True for a disconnect on the first statement of a checkout (see `track`)."""
    return isinstance(exc, DBAPIError) and bool(getattr(exc, _NOTHING_SENT, False))
