"""CPU-heavy work called from sync code that may be running on the event loop."""

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.util.concurrency import await_, in_greenlet
from starlette.concurrency import run_in_threadpool

T = TypeVar("T")


def off_the_loop(fn: Callable[..., T], *args: object) -> T:
    """`fn(*args)`, moved to a worker thread when called inside `AsyncSession.run_sync`.

    In async mode services run in a greenlet on the event loop's thread, where a
    quarter-second bcrypt call would stall every other request. In sync mode they
    already run on a worker thread, and `fn` is simply called.
    """
    if in_greenlet():
        return await_(run_in_threadpool(fn, *args))
    return fn(*args)
