"""Sync and async mode: the URL's driver picks the mode; services run the same in both."""

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.exc import InvalidRequestError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session
from sqlalchemy.util.concurrency import await_, greenlet_spawn, in_greenlet

from app.core.blocking import off_the_loop
from app.db.connection_queue import ConnectionQueue
from app.db.drivers import is_async, sync_url
from app.db.engines import build_engine, sync_view
from app.db.session import session_factory
from app.models import Hero, Team, User
from app.services.auth import caller_from_token, issue_token
from app.services.errors import NotAuthenticated
from app.services.unit_of_work import UnitOfWork
from app.testing.asyncmode import ASYNC_MODE
from app.testing.factories import HeroFactory, TeamFactory, UserFactory


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


def _work(databases) -> UnitOfWork:
    return UnitOfWork(databases.SessionLocal, databases.queue)


def test_services_run_on_a_worker_thread_in_sync_mode_and_on_the_loop_in_async_mode(databases, db):
    TeamFactory(name="Seen by the service")

    thread, names = _run(_work(databases).run(_thread_and_teams))

    assert "Seen by the service" in names
    if ASYNC_MODE:
        assert thread == threading.get_ident()  # a greenlet on the event loop's thread
    else:
        assert thread != threading.get_ident()  # FastAPI's thread pool


def _failing_read(db: Session) -> None:
    db.scalars(select(Team.name)).all()
    raise LookupError("a domain error after a read")


def test_each_call_is_a_session_of_its_own_closed_whatever_happens(engine):
    work = UnitOfWork(session_factory(engine), ConnectionQueue(2, timeout=5))
    pool = sync_view(engine).pool

    _run(work.run(_thread_and_teams))
    with pytest.raises(LookupError):
        _run(work.run(_failing_read))

    assert pool.checkedout() == 0


def _who(db: Session, actor: User) -> tuple[str, bool]:
    return actor.username, actor in db  # the actor is read in the call's own session


def test_run_as_hands_the_service_the_signed_in_user(databases, db, settings):
    user = UserFactory(username="signed_in")
    caller = caller_from_token(
        issue_token(user=user, settings=settings).access_token, secret_key=settings.secret_key
    )

    assert _run(_work(databases).run_as(caller, _who)) == ("signed_in", True)


def test_run_as_refuses_a_caller_whose_user_has_gone(databases, db, settings):
    user = UserFactory()
    caller = caller_from_token(
        issue_token(user=user, settings=settings).access_token, secret_key=settings.secret_key
    )
    db.delete(user)
    db.commit()

    with pytest.raises(NotAuthenticated, match="Could not validate credentials"):
        _run(_work(databases).run_as(caller, _who))


class _Refusal(Exception):
    """Stands in for a driver's error, with the code the database gave."""

    def __init__(self, sqlite_errorcode=None, pgcode=None):
        super().__init__("refused")
        self.sqlite_errorcode = sqlite_errorcode
        self.pgcode = pgcode


def _refused_then_done(refusals, **refusal):
    calls = []

    def service(db: Session) -> int:
        calls.append(1)
        if len(calls) <= refusals:
            raise OperationalError("UPDATE teams SET name=?", {}, _Refusal(**refusal))
        return len(calls)

    return service


@pytest.mark.parametrize(
    "refusal",
    [{"sqlite_errorcode": 5}, {"sqlite_errorcode": 517}, {"pgcode": "40001"}, {"pgcode": "40P01"}],
    ids=["sqlite-busy", "sqlite-busy-snapshot", "serialization-failure", "deadlock"],
)
def test_a_call_the_database_refused_as_a_whole_runs_again(databases, refusal):
    service = _refused_then_done(3, **refusal)

    assert _run(_work(databases).run(service)) == 4


def test_any_other_database_error_is_raised_at_once(databases):
    service = _refused_then_done(1, pgcode="23505")  # unique_violation

    with pytest.raises(OperationalError):
        _run(_work(databases).run(service))


def test_a_stale_connection_is_retried_once_only(databases):
    calls = []

    def disconnected(db: Session) -> None:
        calls.append(1)
        raise OperationalError(
            "SELECT 1", {}, ConnectionError("server closed the connection"),
            connection_invalidated=True,
        )

    with pytest.raises(OperationalError):
        _run(_work(databases).run(disconnected))

    assert len(calls) == 2


def test_calls_get_connections_in_the_order_they_asked():
    queue = ConnectionQueue(1, timeout=5)
    served = []

    async def call(n: int) -> None:
        turn = await queue.take()
        served.append(n)
        await asyncio.sleep(0.01)
        turn.give_back()

    async def crowd() -> None:
        first = asyncio.ensure_future(call(0))
        await asyncio.sleep(0)  # it holds the one connection
        waiting = [asyncio.ensure_future(call(n)) for n in range(1, 6)]
        await asyncio.gather(first, *waiting)

    _run(crowd())

    assert served == [0, 1, 2, 3, 4, 5]


def test_a_call_that_waits_past_the_pool_timeout_fails_as_the_pool_would():
    queue = ConnectionQueue(1, timeout=0.05)

    async def hold_and_ask() -> None:
        await queue.take()
        await queue.take()

    with pytest.raises(PoolTimeout, match="no connection free within 0.05s"):
        _run(hold_and_ask())


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
