"""How long the database may keep a request waiting, whatever state the server is in.

A server that refuses connections is noticed at once. A hung one (stopped, swapped
out, behind a black-holed route) is not: the kernel still completes TCP handshakes
and acknowledges what is sent, so TCP keepalives and `tcp_user_timeout` never fire,
and neither does the server's own `statement_timeout`. Only the client can give up.

- asyncpg has the knobs: `timeout` bounds connecting, `command_timeout` every
  statement (the pool's ping, BEGIN and COMMIT included).
- psycopg2 blocks inside libpq, which has `connect_timeout` and nothing for
  statements. Registering a wait callback (psycopg2's "green" mode) makes libpq
  non-blocking and has psycopg2 call back into Python whenever it would wait; the
  callback below waits with a deadline. It is process-wide, but bounds only
  connections made through `bounded_psycopg2_connection` (the request engines'),
  so migrations and batch work may take as long as they need. One cost: psycopg2
  refuses `copy_expert` (COPY) while a wait callback is registered, in that process.

A connection that timed out is closed and treated as a disconnect: the pool drops
it, and every other connection it holds (they lead to the same server), and the
request gets 503.
"""

import select
import time
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import OperationalError

# Beyond the server's own statement_timeout: a live server cancels a slow statement
# itself and keeps the connection; the client gives up only on one that says nothing.
CLIENT_GRACE_SECONDS = 2.0


def statement_bound(statement_timeout: float) -> float:
    """How long the client waits for any one answer before abandoning the connection."""
    return statement_timeout + CLIENT_GRACE_SECONDS


def _wait_with_deadline(conn: Any) -> None:
    """psycopg2's wait callback: `psycopg2.extras.wait_select`, with a deadline."""
    from psycopg2.extensions import (  # type: ignore[import-untyped]
        POLL_OK,
        POLL_READ,
        POLL_WRITE,
    )

    connecting = getattr(conn, "connecting", False)
    # Connections not made by bounded_psycopg2_connection wait as long as it takes.
    seconds = getattr(conn, "connect_seconds" if connecting else "statement_seconds", None)
    deadline = None if seconds is None else time.monotonic() + seconds
    poller = select.poll()
    registered = 0
    while True:
        state = conn.poll()
        if state == POLL_OK:
            return
        if state not in (POLL_READ, POLL_WRITE):
            raise conn.OperationalError(f"bad state from poll: {state}")
        mask = select.POLLIN if state == POLL_READ else select.POLLOUT
        if mask != registered:
            poller.register(conn.fileno(), mask)
            registered = mask
        if deadline is None:
            poller.poll()
            continue
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not poller.poll(remaining * 1000):
            # psycopg2 closes a connection whose wait callback failed. The message
            # is one SQLAlchemy's psycopg2 dialect reads as a disconnect.
            what = "connect to" if connecting else "receive data from"
            raise conn.OperationalError(
                f"could not {what} server: no answer within {seconds:g}s"
            )


_installed = False


def bounded_psycopg2_connection(connect_seconds: float, statement_seconds: float) -> type[Any]:
    """A psycopg2 connection class (for `connection_factory`) whose every wait is bounded."""
    global _installed
    import psycopg2.extensions  # type: ignore[import-untyped]

    if not _installed:
        psycopg2.extensions.set_wait_callback(_wait_with_deadline)
        _installed = True

    class BoundedConnection(psycopg2.extensions.connection):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self.connecting = True
            self.connect_seconds = connect_seconds
            self.statement_seconds = statement_seconds
            super().__init__(*args, **kwargs)
            self.connecting = False

    return BoundedConnection


def asyncpg_connection_without_cancel() -> type[Any]:
    """An asyncpg connection class that, when a statement times out, drops the connection
    instead of sending the server a CancelRequest.

    The connection is abandoned either way (see `treat_timeouts_as_disconnects`), so the
    request is only a courtesy to a server that is not answering; and PgBouncer 1.18 (the
    Debian package) aborts, every client with it, on a CancelRequest that races the
    client's disconnect ("bad client state" in disconnect_client). Used behind PgBouncer,
    where the server's statement_timeout set on the role cancels slow statements.
    This overrides `asyncpg.Connection._cancel` (asyncpg 0.32, pinned)."""
    import asyncpg  # type: ignore[import-untyped]

    class ConnectionWithoutCancel(asyncpg.Connection):  # type: ignore[misc]
        async def _cancel(self, waiter: Any, cancel_waiter: Any = None) -> None:
            self.terminate()
            if not waiter.done():
                waiter.set_result(None)

    return ConnectionWithoutCancel


def _timed_out(exc: BaseException) -> bool:
    # asyncpg's command_timeout raises asyncio's TimeoutError (the builtin one).
    return isinstance(exc, TimeoutError)


def treat_timeouts_as_disconnects(engine: Engine) -> None:
    """Make SQLAlchemy drop a connection (and the pool's others) when the client gave up
    on it, and report an `OperationalError` (a 503) rather than a bare TimeoutError."""

    @event.listens_for(engine, "handle_error")
    def _on_error(context: ExceptionContext) -> BaseException | None:
        if not _timed_out(context.original_exception):
            return None
        context.is_disconnect = True
        return OperationalError(
            context.statement, context.parameters, context.original_exception,
            connection_invalidated=True,
        )
