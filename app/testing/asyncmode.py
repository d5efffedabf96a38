"""Async mode under pytest: each test runs in a greenlet on one long-lived event loop.

In async mode the app's sessions sit on asyncpg or aiosqlite connections, which
belong to the event loop that opened them. The test must share the app's
connection (the SAVEPOINT pattern in fixtures.py), yet factories and assertions are
plain sync code. So every test, with its fixtures and teardown, runs inside
SQLAlchemy's `greenlet_spawn` on one loop kept for the whole run: sync code there
does its I/O through `await_`, exactly as services do inside
`AsyncSession.run_sync`, and requests reach the app on that same loop
(clients.py). In sync mode none of this is used.
"""

import asyncio
import os

import pytest
from _pytest.runner import runtestprotocol
from sqlalchemy.util.concurrency import await_, greenlet_spawn

from app.db.drivers import is_async

__all__ = ["ASYNC_MODE", "await_", "pytest_runtest_protocol"]

ASYNC_MODE = is_async(os.environ.get("TEST_DATABASE_URL") or "sqlite://")

_loop: asyncio.AbstractEventLoop | None = None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
    if not ASYNC_MODE:
        return None
    global _loop
    if _loop is None:
        _loop = asyncio.new_event_loop()
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    _loop.run_until_complete(greenlet_spawn(runtestprotocol, item, nextitem=nextitem, log=True))
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    if nextitem is None:
        _loop.close()
        _loop = None
    return True
