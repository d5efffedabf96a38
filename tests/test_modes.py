"""Sync and async mode: the URL's driver picks the mode; services run the same in both."""

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session
from sqlalchemy.util.concurrency import await_, greenlet_spawn, in_greenlet

from app.core.blocking import off_the_loop
from app.db.database import Database
from app.db.drivers import is_async, sync_url
from app.db.session import build_engine, make_session_factory
from app.models import Hero, Team
from app.testing.asyncmode import ASYNC_MODE
from app.testing.factories import HeroFactory, TeamFactory


@pytest.mark.parametrize(
    ("url", "expected_async", "twin"),
    [
        ("sqlite:///app.db", False, "sqlite:///app.db"),
        ("sqlite+aiosqlite:///app.db", True, "sqlite:///app.db"),
        ("postgresql+psycopg2://u@h/db", False, "postgresql+psycopg2://u@h/db"),
        ("postgresql+asyncpg://u:pw@h:5433/db", True, "postgresql+psycopg2://u:pw@h:5433/db"),
    ],
)
def test_the_driver_picks_the_mode_and_batch_work_uses_the_sync_twin(url, expected_async, twin):
    assert is_async(url) is expected_async
    assert sync_url(url).render_as_string(hide_password=False) == twin


@pytest.mark.parametrize(
    ("url", "engine_type"),
    [("sqlite+aiosqlite:///x.db", AsyncEngine), ("sqlite:///x.db", Engine)],
)
def test_build_engine_returns_the_engine_of_the_mode(url, engine_type, settings, tmp_path):
    engine = build_engine(url.replace("x.db", str(tmp_path / "x.db")), settings)
    assert isinstance(engine, engine_type)
    if isinstance(engine, AsyncEngine):
        _run(engine.dispose())
    else:
        engine.dispose()


def _run(coroutine):
    """Await from sync test code: on the test's loop in async mode, on a new one otherwise."""
    return await_(coroutine) if in_greenlet() else asyncio.run(coroutine)


def _thread_and_teams(db: Session) -> tuple[int, list[str]]:
    return threading.get_ident(), list(db.scalars(select(Team.name)))


def test_services_run_on_a_worker_thread_in_sync_mode_and_on_the_loop_in_async_mode(database):
    TeamFactory(name="Seen by the service")

    thread, names = _run(database.run(_thread_and_teams))

    assert "Seen by the service" in names
    if ASYNC_MODE:
        assert thread == threading.get_ident()  # a greenlet on the event loop's thread
    else:
        assert thread != threading.get_ident()  # FastAPI's thread pool


def test_calls_of_one_request_share_a_transaction_and_close_ends_it(engine):
    database = Database(make_session_factory(engine)())
    try:
        _run(database.run(_thread_and_teams))
        first = database.session.get_transaction()
        _run(database.run(_thread_and_teams))
        assert database.session.get_transaction() is first
    finally:
        _run(database.close())

    assert not database.session.in_transaction()


def _failing_read(db: Session) -> None:
    db.scalars(select(Team.name)).all()
    raise LookupError("a domain error after a read")


def test_a_failed_call_rolls_back_in_the_same_hop(engine):
    database = Database(make_session_factory(engine)())
    try:
        with pytest.raises(LookupError):
            _run(database.run(_failing_read))
        assert not database.session.in_transaction()
    finally:
        _run(database.close())


def test_cpu_heavy_work_leaves_the_event_loop_when_called_from_a_greenlet():
    def where() -> int:
        return off_the_loop(threading.get_ident)

    worker = where() if in_greenlet() else asyncio.run(greenlet_spawn(where))

    assert worker != threading.get_ident()


def test_cpu_heavy_work_runs_in_place_on_a_worker_thread():
    def where() -> tuple[int, int]:
        return off_the_loop(threading.get_ident), threading.get_ident()

    with ThreadPoolExecutor(1) as pool:
        ran_on, caller = pool.submit(where).result()

    assert ran_on == caller



def test_an_unloaded_relationship_raises_instead_of_loading_lazily(db):
    # In async mode a lazy load during serialisation would fail with MissingGreenlet;
    # raise_on_sql makes the forgotten eager load fail the same way in both modes.
    hero_id = HeroFactory(team=TeamFactory()).id
    db.expunge_all()
    hero = db.get(Hero, hero_id)

    with pytest.raises(InvalidRequestError, match="raise_on_sql"):
        _ = hero.team
