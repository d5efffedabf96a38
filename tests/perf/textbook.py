"""The textbook shape: FastAPI's SQL tutorial, serving the service's `GET /users/{id}`.

The yardstick of the `textbook` scenario: what a person who knows FastAPI's SQL
tutorial writes for an authenticated `GET /api/v1/users/{user_id}` over the
service's table. One engine with SQLAlchemy's default pool (5 + 10
overflow), `SessionLocal`, a `get_db` that yields a session and closes it, an
`OAuth2PasswordBearer` token checked the way the service checks it (signature
and expiry, the user by id, active, the password fingerprint), `db.get` and
`response_model=UserRead`, dependencies spelled `Annotated[Session, Depends(get_db)]`
as the tutorial spells them today. No tuning: the service, with all its layers, should
serve this path at least as fast as this does in the same mode.

TEXTBOOK_MODE picks the app: `sync` (def routes and a Session, so FastAPI runs
them in its thread pool; psycopg2) or `async` (async def routes and an
AsyncSession; asyncpg). DATABASE_URL (with that driver) and SECRET_KEY are read
as the service reads them. Only the service's models, schemas, security helpers
and settings are shared: nothing of its request machinery (app/api, app/db),
which is what is being compared.
"""

import hmac
import os
from collections.abc import AsyncIterator, Iterator
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, status
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import Settings
from app.core.security import InvalidToken, decode_access_token, password_fingerprint
from app.models import User
from app.schemas.user import UserRead

MODES = ("sync", "async")
TOKEN_URL = "/api/v1/auth/token"  # only named in the OpenAPI document; never served here


def mode_for(database_url: str) -> str:
    """The textbook mode that matches a service URL's driver (asyncpg: async)."""
    return "async" if make_url(database_url).get_dialect().is_async else "sync"


def _credentials_exception() -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail="Could not validate credentials",
        headers={"WWW-Authenticate": "Bearer"},
    )


def _checked(user: User | None, fingerprint: str, secret_key: str) -> User:
    """The service's rule: the user exists, is active, and the token carries the
    fingerprint of their current password hash."""
    if user is None or not user.is_active:
        raise _credentials_exception()
    expected = password_fingerprint(user.hashed_password, secret_key)
    if not hmac.compare_digest(fingerprint, expected):
        raise _credentials_exception()
    return user


def _claims(token: str, secret_key: str) -> tuple[int, str]:
    try:
        return decode_access_token(token, secret_key)
    except InvalidToken:
        raise _credentials_exception() from None


def sync_app(settings: Settings) -> FastAPI:
    engine = create_engine(settings.database_url)
    SessionLocal = sessionmaker(autocommit=False, autoflush=False, bind=engine)

    app = FastAPI()
    oauth2_scheme = OAuth2PasswordBearer(tokenUrl=TOKEN_URL)

    def get_db() -> Iterator[Session]:
        db = SessionLocal()
        try:
            yield db
        finally:
            db.close()

    def get_current_user(
        db: Annotated[Session, Depends(get_db)], token: Annotated[str, Depends(oauth2_scheme)]
    ) -> User:
        user_id, fingerprint = _claims(token, settings.secret_key)
        return _checked(db.get(User, user_id), fingerprint, settings.secret_key)

    @app.get("/api/v1/users/{user_id}", response_model=UserRead)
    def read_user(
        user_id: int,
        db: Annotated[Session, Depends(get_db)],
        current_user: Annotated[User, Depends(get_current_user)],
    ) -> User:
        user = db.get(User, user_id)
        if user is None:
            raise HTTPException(status_code=404, detail="User not found")
        return user

    @app.get("/health/live")  # the harness's readiness probe
    def live() -> dict[str, str]:
        return {"status": "ok"}

    return app


def async_app(settings: Settings) -> FastAPI:
    engine = create_async_engine(settings.database_url)
    SessionLocal = async_sessionmaker(engine, expire_on_commit=False)

    app = FastAPI()
    oauth2_scheme = OAuth2PasswordBearer(tokenUrl=TOKEN_URL)

    async def get_db() -> AsyncIterator[AsyncSession]:
        async with SessionLocal() as db:
            yield db

    async def get_current_user(
        db: Annotated[AsyncSession, Depends(get_db)],
        token: Annotated[str, Depends(oauth2_scheme)],
    ) -> User:
        user_id, fingerprint = _claims(token, settings.secret_key)
        return _checked(await db.get(User, user_id), fingerprint, settings.secret_key)

    @app.get("/api/v1/users/{user_id}", response_model=UserRead)
    async def read_user(
        user_id: int,
        db: Annotated[AsyncSession, Depends(get_db)],
        current_user: Annotated[User, Depends(get_current_user)],
    ) -> User:
        user = await db.get(User, user_id)
        if user is None:
            raise HTTPException(status_code=404, detail="User not found")
        return user

    @app.get("/health/live")  # the harness's readiness probe
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    return app


def build(mode: str, settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    return sync_app(settings) if mode == "sync" else async_app(settings)


# What `uvicorn tests.perf.textbook:app` serves; importing the module without
# TEXTBOOK_MODE (the harness reading MODES) builds nothing.
app = build(os.environ["TEXTBOOK_MODE"]) if os.environ.get("TEXTBOOK_MODE") in MODES else None
