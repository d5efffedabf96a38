"""The application: settings in, a configured FastAPI app out."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool
from starlette.concurrency import run_in_threadpool

from app.api import errors, openapi
from app.api.routes import analytics, auth, docs, health, heroes, items, teams, users
from app.core.config import Settings, get_settings
from app.core.logging import configure_logging
from app.db import migrate
from app.db.session import build_engine
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
  integers beyond 64 bits with 422.
"""


def _start_up(settings: Settings) -> None:
    if settings.auto_migrate:
        migrate.upgrade(settings.database_url)
    # Its own short-lived engine: `settings` may not be the ones SessionLocal was built from.
    engine = build_engine(settings.database_url, settings, poolclass=NullPool)
    try:
        with Session(engine) as db:
            ensure_first_superuser(db=db, settings=settings)
    finally:
        engine.dispose()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging()

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
        max_body_size=MAX_BODY_BYTES,
    )
    api = APIRouter(prefix="/api/v1")
    for module in (auth, users, teams, heroes, items, analytics):
        api.include_router(module.router)
    app.include_router(api)
    app.include_router(health.router)
    app.include_router(docs.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    errors.install(app)
    openapi.install(app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["X-Total-Count", "Link", "Location"],
        )
    return app


app = create_app()
