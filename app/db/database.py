"""The request's database: one session, and one way to run service functions on it.

Services are plain sync functions that take a `Session`. `Database.run` calls one
on a worker thread when the session is sync, and through `AsyncSession.run_sync`
(a greenlet on the event loop, no thread) when it is async, so routers are written
once, as `async def`, for both modes.
"""

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app.db import disconnects

logger = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

# A service function: the request's `Session` first, then its own arguments.
Service = Callable[Concatenate[Session, P], T]


def _call(session: Session, fn: Service[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    try:
        return fn(session, *args, **kwargs)
    except BaseException:
        # In the same hop: a failed call leaves no transaction for `close` to end.
        session.rollback()
        raise


def _call_and_end(
    session: Session, fn: Service[P, T], /, *args: P.args, **kwargs: P.kwargs
) -> T:
    result = _call(session, fn, *args, **kwargs)
    session.commit()  # a read: releases the snapshot (and SQLite's SHARED lock), nothing else
    return result


class ConnectionSlots:
    """As many requests doing sync database work at once as the pool has connections.

    Sync work runs on FastAPI's thread pool (40 threads). Let more requests than
    the pool has connections into it and the extra threads block waiting for a
    connection, while the requests holding the connections wait for a free thread
    to finish: nothing moves until DB_POOL_TIMEOUT. Waiting here instead, on the
    event loop, leaves the threads to requests that can get a connection. (Async
    mode needs none of this: its requests wait for the pool on the loop.)
    """

    def __init__(self, size: int, timeout: float) -> None:
        self._free = asyncio.Semaphore(size)
        self._timeout = timeout

    async def acquire(self) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                await self._free.acquire()
        except TimeoutError:
            # What the pool itself raises when it runs out: a 503, not a 500.
            raise PoolTimeout(f"no connection free within {self._timeout:g}s") from None

    def release(self) -> None:
        self._free.release()


class Database:
    """One session for one request, sync or async."""

    def __init__(
        self,
        session: Session | AsyncSession,
        *,
        slots: ConnectionSlots | None = None,
        end_each_call: bool = False,
    ) -> None:
        """`end_each_call`: end the transaction after every `run` of a request that only
        reads, rather than at the end of the request (see `get_db`)."""
        self._session = session
        self._call = _call_and_end if end_each_call else _call
        self._slots = slots if isinstance(session, Session) else None
        self._holding_slot = False
        self._unfinished: asyncio.Future[Any] | None = None

    @property
    def session(self) -> Session:
        """The sync `Session` services see (an `AsyncSession`'s own sync session in async mode)."""
        if isinstance(self._session, AsyncSession):
            return self._session.sync_session
        return self._session

    async def run(self, fn: Service[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(session, *args, **kwargs)`, off the event loop's thread or without blocking it.

        Typed with `ParamSpec`, so a type checker checks each call against the
        service's own signature, as if the router had called it directly.

        Calls share the session's transaction (services commit their writes), so a
        request checks out one connection, pings it once and begins once, however
        many calls it makes; `close` ends what is left, usually a read.

        A call whose first statement met a stale pooled connection (the database
        restarted) is run once more, on a fresh one: nothing of it was sent."""
        try:
            return await self._run(fn, *args, **kwargs)
        except DBAPIError as exc:
            if not disconnects.retry_safe(exc):
                raise
        return await self._run(fn, *args, **kwargs)

    async def _run(self, fn: Service[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        try:
            if isinstance(self._session, AsyncSession):
                return await self._session.run_sync(self._call, fn, *args, **kwargs)
            if self._slots is not None and not self._holding_slot:
                await self._slots.acquire()  # held until close: the transaction holds a connection
                self._holding_slot = True
            return await run_in_threadpool(self._call, self._session, fn, *args, **kwargs)
        except OSError as exc:
            # asyncpg reports a refused or timed-out connect as a bare OSError, where
            # the sync drivers raise the DBAPI's OperationalError; make them alike.
            raise OperationalError("connect", None, exc) from exc

    async def run_within(
        self, seconds: float, fn: Service[P, T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`run`, but stop waiting for it after `seconds` (readiness answers sooner than
        the statement timeout). The call itself cannot be interrupted safely and carries
        on, within the statement and connect timeouts; `close` waits for it, which
        happens after the response has been sent."""
        call = asyncio.ensure_future(self.run(fn, *args, **kwargs))
        try:
            return await asyncio.wait_for(asyncio.shield(call), seconds)
        except TimeoutError:
            self._unfinished = call
            silence = TimeoutError(f"no answer within {seconds:g}s")
            raise OperationalError("run_within", None, silence) from None

    async def __aenter__(self) -> "Database":
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def _close_session(self) -> None:
        if isinstance(self._session, AsyncSession):
            await self._session.close()
        elif self._session.in_transaction():
            # Its ROLLBACK is a round trip: not on the event loop's thread.
            await run_in_threadpool(self._session.close)
        else:
            self._session.close()

    async def close(self) -> None:
        if self._unfinished is not None:
            # Whatever it raises was answered for already (run_within).
            await asyncio.gather(self._unfinished, return_exceptions=True)
            self._unfinished = None
        try:
            await self._close_session()
        except (OperationalError, InterfaceError) as exc:
            # Ending the transaction needs the database too, and it may have gone or
            # stopped answering since the request's last statement; the response is
            # usually sent by now. SQLAlchemy has dropped the connection: say so in a
            # line rather than a traceback, and let go of the session without I/O.
            logger.warning("database lost while ending a request's session: %s", exc.orig)
            if isinstance(self._session, AsyncSession):
                await self._session.invalidate()
            else:
                self._session.invalidate()
        finally:
            if self._holding_slot:
                self._holding_slot = False
                self._slots.release()  # type: ignore[union-attr]
