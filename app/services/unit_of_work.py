"""A request's work: one service call, on one session, in sync and async mode alike.

Services are plain sync functions that take a `Session` first and commit their own
writes, once, at the end. `UnitOfWork.run(service, ...)` opens a session of the app's
`SessionLocal`, calls the service with it and closes it:

- in sync mode (psycopg2, pysqlite) on a worker thread: one hop for the whole call;
- in async mode (asyncpg, aiosqlite) through `AsyncSession.run_sync`: one greenlet on
  the event loop, in which every query the ORM makes is awaited.

So a route is written once, as `async def`, for both modes, and makes one call, whose
session and transaction are the request's:

    return await work.run_as(caller, service.update_item, item_id=item_id, item_in=item_in)

`run_as` first reads the caller's row in that same transaction and hands the service
the signed-in `User` as its actor (app/services/auth.py).

A call the database refused as a whole, before anything of it took effect, is run
again (app/db/errors.py: a stale pooled connection, SQLite's one writer at a time,
PostgreSQL's serialization failures); the service never needs to know. Calls take
their turn for a connection first come, first served (app/db/connection_queue.py).
"""

import asyncio
import random
import time
from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app.db.connection_queue import ConnectionQueue
from app.db.errors import rerunnable
from app.db.session import SessionFactory
from app.models import User
from app.services.auth import Caller, signed_in_user
from app.services.commit import SequenceRepaired

P = ParamSpec("P")
T = TypeVar("T")

# A service: the unit of work's `Session` first, then its own arguments.
Service = Callable[Concatenate[Session, P], T]
# A service that acts for someone: the session, then the signed-in user (its actor).
ActorService = Callable[Concatenate[Session, User, P], T]

# How long a call may keep being refused before the refusal is the answer (503): as long
# as SQLite's own busy timeout would have waited for the lock.
RERUN_SECONDS = 5.0
_FIRST_PAUSE = 0.001
_LONGEST_PAUSE = 0.05


def _in_session(
    sessions: Callable[[], Session], fn: Service[P, T], /, *args: P.args, **kwargs: P.kwargs
) -> T:
    with sessions() as db:  # closing rolls back whatever the service left uncommitted
        return fn(db, *args, **kwargs)


def _as(
    db: Session, caller: Caller, fn: ActorService[P, T], /, *args: P.args, **kwargs: P.kwargs
) -> T:
    return fn(db, signed_in_user(db, caller), *args, **kwargs)


class UnitOfWork:
    """Runs service calls on sessions of one database, a session per call."""

    def __init__(self, sessions: SessionFactory, queue: ConnectionQueue) -> None:
        self.sessions = sessions
        self.queue = queue

    async def run_as(
        self, caller: Caller, fn: ActorService[P, T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`fn(session, user, *args, **kwargs)` for the signed-in user `caller` names, read in
        the same transaction; NotAuthenticated (401) if that user is gone, inactive, or
        changed their password since the token was issued."""
        return await self.run(_as, caller, fn, *args, **kwargs)

    async def run(self, fn: Service[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(session, *args, **kwargs)` as one unit of work, off the event loop's thread
        or without blocking it.

        Typed with `ParamSpec`: a type checker checks each call against the service's own
        signature, as if the route had called it directly."""
        deadline = time.monotonic() + RERUN_SECONDS
        pause = _FIRST_PAUSE
        after_disconnect = False
        repaired = False
        while True:
            try:
                turn = await self.queue.take()
                try:
                    return await self._once(fn, *args, **kwargs)
                finally:
                    turn.give_back()
            except SequenceRepaired:
                if repaired:
                    raise
                repaired = True  # commit() moved the sequence on; the call's id is free now
            except DBAPIError as exc:
                if not rerunnable(exc, after_disconnect=after_disconnect):
                    raise
                if exc.connection_invalidated:
                    after_disconnect = True  # the pool has dropped its stale connections
                elif time.monotonic() + pause > deadline:
                    raise
                else:
                    # Writers that lost the race spread out instead of colliding again.
                    await asyncio.sleep(pause * random.uniform(0.5, 1.5))
                    pause = min(pause * 2, _LONGEST_PAUSE)

    async def _once(self, fn: Service[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        sessions = self.sessions
        if isinstance(sessions, async_sessionmaker):
            try:
                async with sessions() as session:
                    return await session.run_sync(fn, *args, **kwargs)
            except OSError as exc:
                # asyncpg reports a refused or timed-out connect as a bare OSError, where
                # the sync drivers raise the DBAPI's OperationalError; make them alike.
                raise OperationalError("connect", None, exc) from exc
        return await run_in_threadpool(_in_session, sessions, fn, *args, **kwargs)
