"""What happens inside a served process, second by second, for the per-second tail.

`uvicorn tests.perf.probes:app` serves the app named by PERF_PROBED_APP
(`module:attribute`, e.g. `app.main:app`) unchanged, and records, on
`time.monotonic()` (CLOCK_MONOTONIC, the clock tail.py's wrk samples use):

- gc: every collection of the cyclic garbage collector, its generation and how
  long it held the interpreter (gc.callbacks);
- connect: every DBAPI connection a SQLAlchemy pool opened, and how long from the
  driver's connect to the connection's first checkout (the dialect's on-connect
  set-up included); close and invalidate: every one it closed or dropped. The
  listeners are on the Pool and Engine classes, so every engine of the process is
  seen without reaching into the app;
- checkout: every checkout that took longer than SLOW_CHECKOUT_S (waiting for a
  connection to come back, or for a new one to open);
- prepare: every statement asyncpg prepared (a Parse round trip: SQLAlchemy's
  per-connection statement cache missed, e.g. on a new connection);
- stall: every time the event loop woke up more than STALL_S late for a timer
  (anything that held the loop: GC, a long callback, the GIL held by a thread).

`GET /__perf_probes__` answers the events recorded since the last call and forgets
them (the harness reads them after each run). Two what-if switches, for finding
a cause, never for a benchmark row: PERF_PROBE_GC=freeze (gc.freeze() once the
app is imported: start-up objects leave the collector's generations) or off
(gc.disable()); PERF_PROBE_ACCESS_LOG=off (the service's `app.access` logger off).
"""

import asyncio
import gc
import importlib
import json
import logging
import os
import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool

PATH = "/__perf_probes__"
TICK_S = 0.005  # the stall monitor's timer
STALL_S = 0.010  # a wake-up this late is recorded
SLOW_CHECKOUT_S = 0.005

Event = dict[str, Any]
_events: list[Event] = []
_opening: dict[int, float] = {}  # id(connection record) -> when the driver began connecting
_gc_started: float | None = None


def _record(kind: str, at: float, **detail: Any) -> None:
    _events.append({"kind": kind, "at": at, **detail})


def _on_gc(phase: str, info: dict[str, Any]) -> None:
    global _gc_started
    if phase == "start":
        _gc_started = time.monotonic()
    elif _gc_started is not None:
        now = time.monotonic()
        _record("gc", _gc_started, seconds=now - _gc_started, generation=info["generation"],
                collected=info["collected"])
        _gc_started = None


def _install_pool_listeners() -> None:
    @event.listens_for(Engine, "do_connect")
    def _connecting(_dialect: Any, record: Any, _cargs: Any, _cparams: Any) -> None:
        _opening[id(record)] = time.monotonic()

    @event.listens_for(Pool, "checkout")
    def _checkout(_dbapi: Any, record: Any, _proxy: Any) -> None:
        started = _opening.pop(id(record), None)
        if started is not None:
            _record("connect", started, seconds=time.monotonic() - started)

    connect = Pool.connect

    def timed_connect(self: Pool) -> Any:
        started = time.monotonic()
        try:
            return connect(self)
        finally:
            waited = time.monotonic() - started
            if waited > SLOW_CHECKOUT_S:
                _record("checkout", started, seconds=waited)

    Pool.connect = timed_connect  # type: ignore[method-assign]

    @event.listens_for(Pool, "close")
    def _close(_dbapi: Any, _record_: Any) -> None:
        _record("close", time.monotonic())

    @event.listens_for(Pool, "invalidate")
    def _invalidate(_dbapi: Any, _record_: Any, exception: BaseException | None) -> None:
        _record("invalidate", time.monotonic(), reason=repr(exception)[:200])


def _install_prepare_probe() -> None:
    try:
        import asyncpg
    except ImportError:
        return
    prepare = asyncpg.Connection.prepare

    async def timed_prepare(self: Any, query: str, **kwargs: Any) -> Any:
        started = time.monotonic()
        try:
            return await prepare(self, query, **kwargs)
        finally:
            _record("prepare", started, seconds=time.monotonic() - started)

    asyncpg.Connection.prepare = timed_prepare


async def _watch_loop() -> None:
    while True:
        before = time.monotonic()
        await asyncio.sleep(TICK_S)
        late = time.monotonic() - before - TICK_S
        if late > STALL_S:
            _record("stall", before + TICK_S, seconds=late)


def _load(target: str) -> Any:
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute or "app")


class Probed:
    """The probed app, plus the events route; starts the stall monitor on first use."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._watcher: asyncio.Task[None] | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            if self._watcher is None:
                self._watcher = asyncio.get_running_loop().create_task(_watch_loop())
            if scope["path"] == PATH:
                await self._answer(send)
                return
        await self.app(scope, receive, send)

    async def _answer(self, send: Any) -> None:
        events = _events[:]
        del _events[: len(events)]
        # What a full collection walks: the objects it tracks, less the frozen ones.
        body = json.dumps({"pid": os.getpid(), "now": time.monotonic(),
                           "tracked_objects": len(gc.get_objects()),
                           "frozen_objects": gc.get_freeze_count(),
                           "gc_threshold": gc.get_threshold(), "events": events}).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})


def build(target: str) -> Probed:
    _install_pool_listeners()
    _install_prepare_probe()
    gc.callbacks.append(_on_gc)
    served = _load(target)
    if os.environ.get("PERF_PROBE_ACCESS_LOG") == "off":
        logging.getLogger("app.access").disabled = True
    switch = os.environ.get("PERF_PROBE_GC", "")
    if switch == "freeze":
        gc.collect()
        gc.freeze()
    elif switch == "off":
        gc.disable()
    return Probed(served)


app = build(os.environ["PERF_PROBED_APP"]) if os.environ.get("PERF_PROBED_APP") else None
