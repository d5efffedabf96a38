"""The application: settings in, a configured FastAPI app out."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.middleware.trustedhost import TrustedHostMiddleware

from app.api import errors, metrics, openapi, responses
from app.api.middleware import (
    REQUEST_ID_HEADER,
    BodyLimitMiddleware,
    RequestContextMiddleware,
    RouteTemplates,
)
from app.api.routes import analytics, auth, docs, health, heroes, items, teams, users
from app.core.config import Settings, get_settings
from app.core.logging import configure_logging
from app.db import migrate
from app.db.session import batch_session
from app.services.auth import ensure_first_superuser

MAX_BODY_BYTES = 1024 * 1024
STATIC_DIR = Path(__file__).parent / "static"

DESCRIPTION = """
Users, teams, heroes and items over SQLAlchemy.

* Collections are ordered by id and paged with `skip`/`limit` or keyset `after_id`;
  `X-Total-Count` and `Link: rel="next"` describe the rest.
* Every `/api/v1` endpoint but registration needs `Authorization: Bearer <token>`
  from `POST /api/v1/auth/token`.
* Bodies over 1 MiB are refused with 413; unknown fields, NUL characters and
  integers beyond 64 bits with 422, as is a body that cannot be parsed.
* Authentication comes first: without a valid token a protected operation answers
  401 whatever its body, path or query hold (only a body over the limit is still 413).
* A 422 lists at most the first 20 errors, `error_count` says how many there were,
  and long values are not echoed in full: no error body is more than a few KiB.
* An id outside 1..2^63-1 in a path is 404, however many digits it has.
* `Location` and `Link` are relative references (`/api/v1/heroes/7`): they never
  name a host, whatever the request's `Host` header says.
* A 405 lists every method of the path in `Allow`.
* Every response carries `X-Request-ID`: the client's own, when it sends a sane one
  (1-128 of `A-Z a-z 0-9 . _ -`), else a generated one. Quote it when reporting a problem.
"""

TAGS = [
    {"name": "auth", "description": "Bearer tokens for the OAuth2 password flow."},
    {"name": "users", "description": "Accounts; registration is open while OPEN_REGISTRATION is."},
    {"name": "teams", "description": "Teams, each with its heroes."},
    {"name": "heroes", "description": "Heroes, maybe in a team; secret names are never returned."},
    {"name": "items", "description": "Items belong to their owner; superusers see all."},
    {"name": "analytics", "description": "Read-only reports for superusers."},
    {"name": "health", "description": "Liveness and readiness probes."},
]


def _start_up(settings: Settings) -> None:
    if settings.auto_migrate:
        migrate.upgrade(settings.database_url)
    with batch_session(settings) as db:
        ensure_first_superuser(db=db, settings=settings)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_format)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Blocking work (migrations, bcrypt) stays off the event loop.
        await run_in_threadpool(_start_up, settings)
        yield

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
    api = APIRouter(prefix="/api/v1")
    for module in (auth, users, teams, heroes, items, analytics):
        api.include_router(module.router)
    app.include_router(api)
    app.include_router(health.router)
    app.include_router(docs.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    errors.install(app)
    openapi.install(app)
    responses.document_body_limit(app)
    http_metrics = metrics.HttpMetrics() if settings.metrics_enabled else None
    if http_metrics is not None:
        metrics.install(app, http_metrics)
    # Middleware added later wraps what was added before. The body limit is not
    # FastAPI's max_body_size: that one sits outside every middleware, and its 413
    # had no X-Request-ID.
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
    # Added last, so outermost: it sees every response, CORS preflights, 400s for
    # unknown hosts and 413s included.
    app.add_middleware(
        RequestContextMiddleware, templates=RouteTemplates(app), metrics=http_metrics
    )
    return app


app = create_app()
