"""The application: settings in, a configured FastAPI app out.

`create_app(settings)` builds an app and nothing else; the app opens its databases when
it starts (its lifespan) and closes them when it stops. `app`, what
`uvicorn app.main:app` serves, builds one from the environment's settings only when
the server starts it: importing this module builds, writes and exits nothing.
"""

import gc
import traceback
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from sqlalchemy import exc as sa_exc
from starlette.concurrency import run_in_threadpool
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import Message, Receive, Scope, Send

from app.api import errors, metrics, openapi
from app.api.head import HeadAsGetMiddleware
from app.api.middleware import (
    REQUEST_ID_HEADER,
    BodyLimitMiddleware,
    RequestContextMiddleware,
    RouteTemplates,
)
from app.api.problems import ProblemDetailsMiddleware
from app.api.routes import analytics, auth, docs, health, heroes, items, teams, users
from app.api.security_headers import SecurityHeadersMiddleware
from app.api.throttle import LoginThrottle
from app.core.config import Settings
from app.core.logging import configure_logging, server_logs_access
from app.core.mail import Mailer
from app.db import errors as db_errors
from app.db.session import Databases
from app.failures import Failure, debug_requested, describe
from app.startup import start_up

API_PREFIX = "/api/v1"
MAX_BODY_BYTES = 1024 * 1024
STATIC_DIR = Path(__file__).parent / "static"

# The API's rules, in the OpenAPI document (served at /openapi.json and exported by
# `python -m app openapi`), where a client developer reads them.
DESCRIPTION = (Path(__file__).parent / "api" / "rules.md").read_text(encoding="utf-8")

TAGS = [
    {"name": "auth", "description": "Bearer tokens for the OAuth2 password flow."},
    {"name": "users", "description": "Accounts; registration is open while OPEN_REGISTRATION is."},
    {"name": "teams", "description": "Teams, each with its heroes."},
    {"name": "heroes", "description": "Heroes, maybe in a team; secret names are never returned."},
    {"name": "items", "description": "Items belong to their owner; superusers see all."},
    {"name": "analytics", "description": "Read-only reports for superusers."},
    {"name": "health", "description": "Liveness and readiness probes."},
]

STARTUP_FAILED = "start-up failed"


@dataclass(frozen=True)
class StartUpFailure:
    """Why this process's app could not start, for the supervisor (app/serve.py)."""

    failure: Failure
    # The database was unavailable: another try later may well succeed.
    waits: bool

    @classmethod
    def of(cls, exc: BaseException) -> "StartUpFailure":
        return cls(describe(exc), waits=_an_outage(exc))


def _an_outage(exc: BaseException) -> bool:
    """Whether `exc`, or what caused it, says the database is away for now: PostgreSQL
    refusing, shutting down, out of connections or read-only (a standby being promoted),
    SQLite busy. Not a SQLite file that cannot be opened: that is a bad path."""
    seen: BaseException | None = exc
    while seen is not None:
        if db_errors.outage(seen) is not None and isinstance(seen, sa_exc.DBAPIError):
            code = db_errors.sqlite_code(seen)
            return code is None or code == db_errors.SQLITE_BUSY
        if db_errors.outage(seen) is not None:
            return True  # no pooled connection in time
        seen = seen.__cause__ or seen.__context__
    return False


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start up (app/startup.py), open the databases, serve, dispose of them."""
    given: Databases | None = getattr(app.state, "databases", None)
    try:
        # Blocking work (migrations, bcrypt, the key file) stays off the event loop.
        app.state.settings = await run_in_threadpool(start_up, app.state.settings)
        databases = given or Databases.open(app.state.settings)
    except Exception as exc:
        app.state.startup_failure = exc  # for OneLineStartupFailure
        raise
    app.state.databases = databases
    try:
        yield
    finally:
        app.state.mailer.close()
        if given is None:
            await databases.dispose()


class OneLineStartupFailure:
    """Around the app's lifespan: a start-up that fails is reported to the server as one
    line that says what to do (app/failures.py), not as Starlette's traceback. The
    server logs it and exits (uvicorn: code 3)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def send_one_line(message: Message) -> None:
            failure = getattr(self.app.state, "startup_failure", None)
            if message["type"] == "lifespan.startup.failed" and failure is not None:
                debug = self.app.state.settings.debug or debug_requested()
                message = {**message, "message": _failure_message(failure, debug=debug)}
            await send(message)

        await self.app(scope, receive, send_one_line)


def create_app(settings: Settings, *, databases: Databases | None = None) -> FastAPI:
    """An app serving the API with `settings`.

    `databases`: engines to use instead of opening the settings' own at start-up (the
    test plugin binds them to each test's transaction); the app then leaves them open."""
    app = FastAPI(
        title="Heroes API",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_tags=TAGS,
    )
    app.state.settings = settings
    if databases is not None:
        app.state.databases = databases
    app.state.login_throttle = LoginThrottle(settings)
    app.state.mailer = Mailer(settings)
    # Each straight onto the app: FastAPI matches an included router's routes one by one,
    # and every level of nesting matches them twice (a router in a router under
    # /api/v1 cost a request to /items/{id} about 0.3 ms more, measured).
    for module in (auth, users, teams, heroes, items, analytics):
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(health.router)
    app.include_router(docs.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    errors.install(app)
    openapi.install(app)
    http_metrics = metrics.HttpMetrics(lambda: app.state.databases.pools())
    if settings.metrics_enabled:
        metrics.install(app, http_metrics)
    # Middleware added later wraps what was added before. The body limit is not
    # FastAPI's max_body_size: that one sits outside every middleware, and its 413
    # had no X-Request-ID.
    app.add_middleware(HeadAsGetMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_body_size=MAX_BODY_BYTES)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["X-Total-Count", "Link", "Location", REQUEST_ID_HEADER],
        )
    if "*" not in settings.allowed_hosts:
        app.add_middleware(
            TrustedHostMiddleware, allowed_hosts=settings.allowed_hosts, www_redirect=False
        )
    # Inside the request id's middleware (whose id it names), outside every other: it
    # sees each error, the 400s for unknown hosts and the 413s included.
    app.add_middleware(ProblemDetailsMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
    # Added last, so outermost: it sees every response, CORS preflights, 400s for
    # unknown hosts and 413s included.
    app.add_middleware(
        RequestContextMiddleware,
        templates=RouteTemplates(app),
        metrics=http_metrics if settings.metrics_enabled else None,
    )
    return app


class FromEnvironment:
    """What `uvicorn app.main:app` serves: the app built from the environment's settings
    (and `.env`) when the server first calls it, which is its lifespan's start-up.

    Settings that cannot be read fail that start-up in one line, like any other start-up
    failure; importing this module reads nothing. What only a serving process should do
    is done here: logging is configured, and once started, everything built so far is
    left out of the garbage collector's full passes (`gc.freeze`): they walked some
    140,000 objects that live as long as the process, pausing requests 135-226 ms every
    few seconds (tests/perf, the `tail` scenario), against 9-22 ms frozen."""

    def __init__(self) -> None:
        self._app: FastAPI | None = None
        self._settings_failure: BaseException | None = None

    @property
    def startup_failure(self) -> StartUpFailure | None:
        """Why the app could not start in this process, once it failed to."""
        exc = self._settings_failure
        if exc is None and self._app is not None:
            exc = getattr(self._app.state, "startup_failure", None)
        return None if exc is None else StartUpFailure.of(exc)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._app is None:
            try:
                settings = Settings()
                configure_logging(settings.log_format, access_log=server_logs_access())
                self._app = create_app(settings)
            except Exception as exc:
                if scope["type"] != "lifespan":
                    raise
                self._settings_failure = exc
                await _fail_start_up(receive, send, exc)
                return
        if scope["type"] == "lifespan":
            send = _freezing_once_started(send)
        await OneLineStartupFailure(self._app)(scope, receive, send)


def _freezing_once_started(send: Send) -> Send:
    async def send_and_freeze(message: Message) -> None:
        if message["type"] == "lifespan.startup.complete":
            gc.freeze()
        await send(message)

    return send_and_freeze


def _failure_message(exc: BaseException, *, debug: bool) -> str:
    """One line saying why; after the traceback when debugging (DEBUG=true)."""
    line = f"{STARTUP_FAILED}: {describe(exc).message}"
    return "".join(traceback.format_exception(exc)) + line if debug else line


async def _fail_start_up(receive: Receive, send: Send, exc: Exception) -> None:
    await receive()  # lifespan.startup
    message = _failure_message(exc, debug=debug_requested())
    await send({"type": "lifespan.startup.failed", "message": message})


app = FromEnvironment()
