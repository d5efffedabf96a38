"""A session whose database went away between the request's last statement and its end.

The response has usually been sent by then (dependencies end after it), so an error
there can only be logged: one line, not uvicorn's "Exception in ASGI application"
traceback, and the connection slot is still given back.
"""

import asyncio
import logging

from sqlalchemy.exc import OperationalError

from app.db.database import ConnectionSlots, Database
from app.db.session import make_session_factory
from app.testing.asyncmode import ASYNC_MODE, await_


def _run(coroutine):
    return await_(coroutine) if ASYNC_MODE else asyncio.run(coroutine)


def test_losing_the_database_while_closing_is_a_log_line(engine, monkeypatch, caplog):
    session = make_session_factory(engine)()
    slots = ConnectionSlots(1, timeout=1)

    def lost(*_args, **_kwargs):
        raise OperationalError("ROLLBACK", None, ConnectionError("server stopped answering"))

    monkeypatch.setattr(type(session), "close", lost)
    database = Database(session, slots=slots)
    if not ASYNC_MODE:
        _run(slots.acquire())
        database._holding_slot = True

    with caplog.at_level(logging.WARNING, logger="app.db.database"):
        _run(database.close())

    assert "database lost while ending a request's session" in caplog.text
    assert "server stopped answering" in caplog.text
    if not ASYNC_MODE:
        _run(slots.acquire())  # the slot was given back
