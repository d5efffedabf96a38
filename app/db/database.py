"""The request's database: one session, and one way to run service functions on it.

Services are plain sync functions that take a `Session`. `Database.run` calls one
on a worker thread when the session is sync, and through `AsyncSession.run_sync`
(a greenlet on the event loop, no thread) when it is async, so routers are written
once, as `async def`, for both modes.
"""

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

T = TypeVar("T")


def _call(session: Session, fn: Callable[..., T], kwargs: dict[str, Any]) -> T:
    try:
        result = fn(db=session, **kwargs)
        if session.in_transaction():
            # Services commit their own writes, so what is open here is a read.
            # Ending it now hands the connection back before the response is
            # serialised. Commit, not rollback: rollback would expire the objects
            # about to be serialised.
            session.commit()
    except BaseException:
        session.rollback()
        raise
    return result


class Database:
    """One session for one request, sync or async."""

    def __init__(self, session: Session | AsyncSession) -> None:
        self._session = session

    @property
    def session(self) -> Session:
        """The sync `Session` services see (an `AsyncSession`'s own sync session in async mode)."""
        if isinstance(self._session, AsyncSession):
            return self._session.sync_session
        return self._session

    async def run(self, fn: Callable[..., T], /, **kwargs: Any) -> T:
        """`fn(db=session, **kwargs)`, off the event loop's thread or without blocking it;
        the transaction it leaves open is ended before this returns."""
        try:
            if isinstance(self._session, AsyncSession):
                return await self._session.run_sync(_call, fn, kwargs)
            return await run_in_threadpool(_call, self._session, fn, kwargs)
        except OSError as exc:
            # asyncpg reports a refused or timed-out connect as a bare OSError, where
            # the sync drivers raise the DBAPI's OperationalError; make them alike.
            raise OperationalError("connect", None, exc) from exc

    async def close(self) -> None:
        if isinstance(self._session, AsyncSession):
            await self._session.close()
        elif self._session.in_transaction():
            # Only work done outside `run` leaves a transaction; its rollback is I/O.
            await run_in_threadpool(self._session.close)
        else:
            self._session.close()
