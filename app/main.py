"""The application: settings in, a configured FastAPI app out."""

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from starlette.middleware.trustedhost import TrustedHostMiddleware

from app.api import errors, metrics, openapi
from app.api.middleware import (
    REQUEST_ID_HEADER,
    BodyLimitMiddleware,
    RequestContextMiddleware,
    RouteTemplates,
)
from app.api.routes import analytics, auth, docs, health, heroes, items, teams, users
from app.api.throttle import LoginThrottle, ThrottleConfigError
from app.core.config import Settings, get_settings
from app.core.logging import configure_logging
from app.startup import lifespan_for, served

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


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_format)
    app = FastAPI(
        title="Heroes API",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan_for(settings),
        docs_url=None,
        redoc_url=None,
        openapi_tags=TAGS,
    )
    app.state.settings = settings
    try:
        app.state.login_throttle = LoginThrottle(settings)
    except ThrottleConfigError as exc:
        raise SystemExit(f"error: {exc}") from None
    api = APIRouter(prefix="/api/v1")
    for module in (auth, users, teams, heroes, items, analytics):
        api.include_router(module.router)
    app.include_router(api)
    app.include_router(health.router)
    app.include_router(docs.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    errors.install(app)
    openapi.install(app)
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


# What `uvicorn app.main:app` serves; a failed start-up is one line, not a traceback.
app = served(create_app)
