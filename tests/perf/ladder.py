"""The cost ladder: authenticated `GET /api/v1/users/{id}` by apps that each add one layer.

`python -m tests.perf --ladder` serves each rung in its own uvicorn process, one
at a time, and reads the CPU the process spent per request. The rungs, from the
ceiling to the service, built from the service's own parts where it has one:

    starlette       the ceiling (tests/perf/ceiling.py): Starlette routing, asyncpg
    fastapi         + FastAPI routing and `user_id: int` path parsing
    deps            + the dependency chain: app_settings, the OAuth2 token, the
                      current user (the service's decode/fingerprint check, asyncpg)
    core            + SQLAlchemy Core: a pooled connection of the service's engine
                      (its pre-ping setting), autocommit, one hop per statement
    orm             + the ORM: `UnitOfWork.run` with the real services
                      (`user_from_token`, `get_user`: two `session.get`-style loads),
                      on an autocommit engine
    transaction     + the units' transactions (BEGIN ... ROLLBACK): the app's real
                      databases (`Databases.open`)
    response_model  + `response_model=UserRead`: the real users router
    service         + middleware (request id, access log, metrics) and the full
                      route table: app.main:app itself

Beside the chain, `core_ping` is `core` with DB_POOL_PRE_PING flipped: what a
ping on every checkout costs; and `textbook` is the shape FastAPI's SQL tutorial
teaches, in the variant's mode (tests/perf/textbook.py): the service should be at
least as fast. Rungs from `core` on run on the variant's driver (DATABASE_URL);
the first three are driver-independent (asyncpg).

The rung is chosen by LADDER_RUNG; PERF_CEILING_DSN is the libpq URL for asyncpg.
"""

import hmac
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from sqlalchemy import Row, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from starlette.concurrency import run_in_threadpool

from app.api import errors
from app.api.deps import CallerDep, SettingsDep, TokenDep, WorkDep
from app.core.config import get_settings
from app.core.security import InvalidToken, decode_access_token, password_fingerprint
from app.db.connection_queue import ConnectionQueue
from app.db.engines import build_engine
from app.db.session import Databases, session_factory
from app.models import User
from app.services import users as users_service
from app.services.errors import NotAuthenticated, NotFound
from tests.perf import ceiling

CHAIN = ("starlette", "fastapi", "deps", "core", "orm", "transaction", "response_model",
         "service")
ASIDES = ("core_ping", "textbook")
# Rungs that do not touch SQLAlchemy: the same for both drivers.
DRIVERLESS = ("starlette", "fastapi", "deps")
INVALID = "Could not validate credentials"
USERS = User.__table__


def target(rung: str) -> str:
    """The ASGI app uvicorn serves for `rung`."""
    if rung == "starlette":
        return "tests.perf.ceiling:app"
    if rung == "service":
        return "app.main:app"
    if rung == "textbook":
        return "tests.perf.textbook:app"
    return "tests.perf.ladder:app"


def _check(row: Any, fingerprint: str, secret: str) -> None:
    """The service's check on the token's user (app.services.auth.user_from_token);
    `row` is an asyncpg Record or a SQLAlchemy row mapping."""
    if row is None or not row["is_active"]:
        raise NotAuthenticated(INVALID)
    expected = password_fingerprint(row["hashed_password"], secret)
    if not hmac.compare_digest(fingerprint, expected):
        raise NotAuthenticated(INVALID)


def _claims(token: str | None, secret: str) -> tuple[int, str]:
    if not token:
        raise NotAuthenticated("Not authenticated")
    try:
        return decode_access_token(token, secret)
    except InvalidToken as exc:
        raise NotAuthenticated(INVALID) from exc


def _user_body(user: Any) -> dict[str, Any]:
    return {"id": user.id, "username": user.username, "email": user.email,
            "full_name": user.full_name, "is_active": user.is_active,
            "is_superuser": user.is_superuser, "created_at": user.created_at,
            "updated_at": user.updated_at}


def _asyncpg_lifespan() -> Any:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await asyncpg.create_pool(
            os.environ["PERF_CEILING_DSN"], min_size=get_settings().db_pool_size,
            max_size=get_settings().db_pool_size + get_settings().db_max_overflow)
        try:
            yield
        finally:
            await app.state.pool.close()

    return lifespan


def _base(lifespan: Any = None) -> FastAPI:
    app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = get_settings()
    app.state.secret_key = get_settings().secret_key  # what the ceiling's check reads
    errors.install(app)

    @app.get("/health/live")
    async def live() -> Response:
        return ceiling._json({"status": "ok"})

    return app


def fastapi_rung() -> FastAPI:
    app = _base(_asyncpg_lifespan())

    @app.get("/api/v1/users/{user_id}")
    async def get_user(user_id: int, request: Request) -> Response:
        async with request.app.state.pool.acquire() as conn:
            if await ceiling._current_user(request, conn) is None:
                return ceiling.UNAUTHORIZED
            row = (await conn.fetchrow(ceiling.SELECT_USER, user_id)
                   if 0 < user_id <= ceiling.MAX_ID else None)
        if row is None:
            return ceiling._json({"detail": "User not found"}, 404)
        return ceiling._json(ceiling._user_body(row))

    return app


def deps_rung() -> FastAPI:
    app = _base(_asyncpg_lifespan())

    async def connection(request: Request) -> AsyncIterator[asyncpg.Connection]:
        async with request.app.state.pool.acquire() as conn:
            yield conn

    Conn = Annotated[asyncpg.Connection, Depends(connection)]

    async def current_user(conn: Conn, settings: SettingsDep, token: TokenDep) -> Any:
        user_id, fingerprint = _claims(token, settings.secret_key)
        row = await conn.fetchrow(ceiling.SELECT_USER, user_id)
        _check(row, fingerprint, settings.secret_key)
        return row

    @app.get("/api/v1/users/{user_id}")
    async def get_user(user_id: int, conn: Conn,
                       _: Annotated[Any, Depends(current_user)]) -> Response:
        row = await conn.fetchrow(ceiling.SELECT_USER, user_id) if 0 < user_id <= ceiling.MAX_ID \
            else None
        if row is None:
            raise NotFound("User not found")
        return ceiling._json(ceiling._user_body(row))

    return app


class CoreDatabase:
    """A pooled Core connection per request, one worker-thread hop per statement in sync
    mode (as `Database.run` makes one per call), none in async mode."""

    def __init__(self, engine: Engine | AsyncEngine) -> None:
        self._engine = engine
        self._conn: Connection | AsyncConnection | None = None

    def _row_sync(self, user_id: int) -> Row[Any] | None:
        if self._conn is None:
            self._conn = self._engine.connect()  # type: ignore[assignment]
        assert isinstance(self._conn, Connection)
        return self._conn.execute(select(USERS).where(USERS.c.id == user_id)).one_or_none()

    async def user(self, user_id: int) -> Row[Any] | None:
        if isinstance(self._engine, AsyncEngine):
            if self._conn is None:
                self._conn = await self._engine.connect()
            assert isinstance(self._conn, AsyncConnection)
            result = await self._conn.execute(select(USERS).where(USERS.c.id == user_id))
            return result.one_or_none()
        return await run_in_threadpool(self._row_sync, user_id)

    async def close(self) -> None:
        if isinstance(self._conn, AsyncConnection):
            await self._conn.close()
        elif self._conn is not None:
            self._conn.close()  # autocommit: nothing to roll back, no round trip


def _autocommit_engine(pre_ping: bool | None = None) -> Engine | AsyncEngine:
    settings = get_settings()
    overrides: dict[str, Any] = {"isolation_level": "AUTOCOMMIT"}
    if pre_ping is not None:
        overrides["pool_pre_ping"] = pre_ping
    return build_engine(settings.database_url, settings, **overrides)


def core_rung(pre_ping: bool | None = None) -> FastAPI:
    engine = _autocommit_engine(pre_ping)
    app = _base()

    async def connection() -> AsyncIterator[CoreDatabase]:
        db = CoreDatabase(engine)
        try:
            yield db
        finally:
            await db.close()

    Core = Annotated[CoreDatabase, Depends(connection)]

    async def current_user(db: Core, settings: SettingsDep, token: TokenDep) -> Any:
        user_id, fingerprint = _claims(token, settings.secret_key)
        row = await db.user(user_id)
        _check(row._mapping if row is not None else None, fingerprint, settings.secret_key)
        return row

    @app.get("/api/v1/users/{user_id}")
    async def get_user(user_id: int, db: Core,
                       _: Annotated[Any, Depends(current_user)]) -> Response:
        row = await db.user(user_id) if 0 < user_id <= ceiling.MAX_ID else None
        if row is None:
            raise NotFound("User not found")
        return ceiling._json(_user_body(row))

    return app


def _orm_routes(app: FastAPI) -> None:
    @app.get("/api/v1/users/{user_id}")
    async def get_user(user_id: int, work: WorkDep, caller: CallerDep) -> Response:
        user = await work.run_as(caller, users_service.get_user, user_id=user_id)
        return ceiling._json(_user_body(user))


def _databases_lifespan(open_: Any) -> Any:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.databases = open_()
        try:
            yield
        finally:
            await app.state.databases.dispose()

    return lifespan


def _autocommit_databases() -> Databases:
    settings = get_settings()
    engine = _autocommit_engine()
    size = settings.db_pool_size + settings.db_max_overflow
    return Databases(
        engine=engine, SessionLocal=session_factory(engine),
        analytics_engine=engine, AnalyticsSessionLocal=session_factory(engine),
        queue=ConnectionQueue(size, settings.db_pool_timeout),
        analytics_queue=ConnectionQueue(size, settings.db_pool_timeout),
    )


def orm_rung() -> FastAPI:
    app = _base(_databases_lifespan(_autocommit_databases))
    _orm_routes(app)
    return app


def transaction_rung() -> FastAPI:
    app = _base(_databases_lifespan(lambda: Databases.open(get_settings())))
    _orm_routes(app)
    return app


def response_model_rung() -> FastAPI:
    from app.api.routes import users

    app = _base(_databases_lifespan(lambda: Databases.open(get_settings())))
    api = APIRouter(prefix="/api/v1")
    api.include_router(users.router)
    app.include_router(api)
    return app


def build(rung: str) -> FastAPI:
    builders = {
        "fastapi": fastapi_rung, "deps": deps_rung, "core": core_rung,
        "core_ping": lambda: core_rung(not get_settings().db_pool_pre_ping),
        "orm": orm_rung, "transaction": transaction_rung, "response_model": response_model_rung,
    }
    return builders[rung]()



app = build(os.environ["LADDER_RUNG"]) if os.environ.get("LADDER_RUNG") in (
    "fastapi", "deps", "core", "core_ping", "orm", "transaction", "response_model") else None
