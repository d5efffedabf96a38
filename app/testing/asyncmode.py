"""Async mode under pytest: each test runs in a greenlet on one long-lived event loop.

In async mode the app's sessions sit on asyncpg or aiosqlite connections, which
belong to the event loop that opened them. The test must share the app's
connection (the SAVEPOINT pattern in fixtures.py), yet factories and assertions are
plain sync code. So every test, with its fixtures and teardown, runs inside
SQLAlchemy's `greenlet_spawn` on one loop kept for the whole run: sync code there
does its I/O through `await_`, exactly as services do inside
`AsyncSession.run_sync`, and requests reach the app on that same loop
(clients.py). In sync mode none of this is used.

Only public APIs: the `pytest_runtest_protocol` hook, and pluggy's
`subset_hook_caller` to run every other implementation of it (pytest's own
included) inside the greenlet. Tests that are coroutines belong to another plugin
(pytest-asyncio, anyio) and its event loop: they run as that plugin says, outside
this one's loop.
"""

import asyncio
import inspect
import os
import sys
from collections.abc import Awaitable
from typing import Any, TypeVar

import pytest
from sqlalchemy.exc import ArgumentError
from sqlalchemy.util.concurrency import await_, greenlet_spawn, in_greenlet

from app.db.drivers import is_async

__all__ = ["ASYNC_MODE", "run_async"]

T = TypeVar("T")

def _async_mode_requested() -> bool:
    try:
        return is_async(os.environ.get("TEST_DATABASE_URL") or "sqlite://")
    except ArgumentError:
        return False  # not a URL at all: fixtures.pytest_configure says so, in one line


ASYNC_MODE = _async_mode_requested()

_loop: asyncio.AbstractEventLoop | None = None


def _the_loop() -> asyncio.AbstractEventLoop:
    global _loop
    if _loop is None or _loop.is_closed():
        _loop = asyncio.new_event_loop()
    return _loop


def run_async(awaitable: Awaitable[T]) -> T:
    """Wait for `awaitable` from sync test code: on the tests' loop, from inside a test's
    greenlet or, for teardown that happens outside one, by running that loop."""
    if in_greenlet():
        return await_(awaitable)
    return _the_loop().run_until_complete(awaitable)


def _is_coroutine_test(item: pytest.Item) -> bool:
    return inspect.iscoroutinefunction(getattr(item, "obj", None))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    if not ASYNC_MODE or _is_coroutine_test(item):
        return None
    others = item.config.pluginmanager.subset_hook_caller(
        "pytest_runtest_protocol", remove_plugins=[sys.modules[__name__]]
    )
    result = _the_loop().run_until_complete(greenlet_spawn(others, item=item, nextitem=nextitem))
    return result if result is not None else True


def pytest_unconfigure(config: pytest.Config) -> None:
    global _loop
    if _loop is not None and not _loop.is_closed():
        _loop.close()
    _loop = None
