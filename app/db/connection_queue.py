"""Connections of a pool, handed out first come, first served.

SQLAlchemy's pool hands a connection that comes back to whoever asks next, not to
whoever has waited longest: under load a request can lose it, over and over, to
newcomers. Measured in async mode (tests/perf, the `tail` scenario): checkouts of
1.6 to 5.9 s, and requests still unanswered when a 6 s run ended; in turn, at most
0.25 s. A request takes its turn here, on the event loop, before it asks the pool.

In sync mode the line also keeps the thread pool moving: FastAPI runs sync work on
40 threads. Were more requests than the pool has connections let into them, the
extra threads would block waiting for a connection while the requests holding the
connections waited for a free thread to finish with: nothing would move until
DB_POOL_TIMEOUT.
"""

import asyncio

from sqlalchemy.exc import TimeoutError as PoolTimeout


class Turn:
    """A place among the connections, held from the request's first statement to its end."""

    def __init__(self, free: asyncio.Semaphore) -> None:
        self._free: asyncio.Semaphore | None = free

    def give_back(self) -> None:
        if self._free is not None:
            self._free.release()
            self._free = None


class ConnectionQueue:
    """As many requests at once as the pool has connections; the others wait in line, up to
    DB_POOL_TIMEOUT, then fail as the pool itself would (a 503)."""

    def __init__(self, size: int, timeout: float) -> None:
        self._free = asyncio.Semaphore(size)
        self._timeout = timeout

    async def take(self) -> Turn:
        if self._free.locked():  # others are waiting, or nothing is free: in line
            try:
                async with asyncio.timeout(self._timeout):
                    await self._free.acquire()
            except TimeoutError:
                raise PoolTimeout(f"no connection free within {self._timeout:g}s") from None
        else:
            await self._free.acquire()  # free and nobody waiting: at once
        return Turn(self._free)
