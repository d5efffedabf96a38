"""The ceiling: the service's hot paths as bare Starlette + asyncpg.

Same URLs, the same token check (HS256 JWT decoded with PyJWT, the user read by
id, its password fingerprint compared) and the same SQL statements as the
service, but no ORM, no validation and no response models. What the service
reaches as a fraction of this is the cost of its layers on this machine.

Run by the harness as `uvicorn tests.perf.ceiling:app`, in its own process(es)
like the service. Environment: PERF_CEILING_DSN (a libpq URL), SECRET_KEY, and
DB_POOL_SIZE / DB_MAX_OVERFLOW (the service's pool sizes, mirrored).
"""

import hmac
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg
import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.core.security import ALGORITHM, password_fingerprint

MAX_ID = 2**63 - 1
UNAUTHORIZED = Response(
    b'{"detail":"Could not validate credentials"}', status_code=401,
    headers={"WWW-Authenticate": "Bearer"}, media_type="application/json",
)

# The statements each route runs; the harness reports them beside the service's.
STATEMENTS = {"users_get": 2, "heroes_first": 3, "heroes_after": 2, "teams_post": 3}

USER_COLUMNS = ("id, username, email, full_name, hashed_password, is_active, is_superuser, "
                "created_at, updated_at")
SELECT_USER = f"SELECT {USER_COLUMNS} FROM users WHERE id = $1"
HERO_COLUMNS = ("h.id, h.name, h.age, h.team_id, h.created_at, h.updated_at, "
                "t.id AS t_id, t.name AS t_name, t.headquarters AS t_hq")
HEROES_FIRST = (f"SELECT {HERO_COLUMNS} FROM heroes h LEFT JOIN teams t ON t.id = h.team_id "
                "ORDER BY h.id LIMIT $1 OFFSET $2")
HEROES_AFTER = (f"SELECT {HERO_COLUMNS} FROM heroes h LEFT JOIN teams t ON t.id = h.team_id "
                "WHERE h.id > $2 ORDER BY h.id LIMIT $1")
COUNT_HEROES = "SELECT count(*) FROM heroes"
TEAM_NAME_TAKEN = "SELECT id FROM teams WHERE name = $1"
INSERT_TEAM = ("INSERT INTO teams (name, headquarters, created_at, updated_at) "
               "VALUES ($1, $2, now(), now()) RETURNING id, name, headquarters, "
               "created_at, updated_at")


def _default(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value))


def _json(body: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body, default=_default, separators=(",", ":")).encode(),
                    status_code=status_code, headers=headers, media_type="application/json")


async def _current_user(request: Request, conn: asyncpg.Connection) -> asyncpg.Record | None:
    """The service's check: signature and expiry, user by id, active, fingerprint."""
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    secret = request.app.state.secret_key
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM],
                            options={"require": ["sub", "exp"]})
        user_id = int(claims["sub"])
        fingerprint = str(claims.get("pwd", ""))
    except (jwt.PyJWTError, ValueError, TypeError):
        return None
    if not 0 < user_id <= MAX_ID:
        return None
    user = await conn.fetchrow(SELECT_USER, user_id)
    if user is None or not user["is_active"]:
        return None
    expected = password_fingerprint(user["hashed_password"], secret)
    if not hmac.compare_digest(fingerprint, expected):
        return None
    return user


def _user_body(row: asyncpg.Record) -> dict[str, Any]:
    return {"id": row["id"], "username": row["username"], "email": row["email"],
            "full_name": row["full_name"], "is_active": row["is_active"],
            "is_superuser": row["is_superuser"], "created_at": row["created_at"],
            "updated_at": row["updated_at"]}


async def get_user(request: Request) -> Response:
    async with request.app.state.pool.acquire() as conn:
        if await _current_user(request, conn) is None:
            return UNAUTHORIZED
        user_id = int(request.path_params["user_id"])
        row = await conn.fetchrow(SELECT_USER, user_id) if 0 < user_id <= MAX_ID else None
    if row is None:
        return _json({"detail": "User not found"}, 404)
    return _json(_user_body(row))


async def list_heroes(request: Request) -> Response:
    query = request.query_params
    limit = int(query.get("limit", "100"))
    skip = int(query.get("skip", "0"))
    after_id = query.get("after_id")
    headers: dict[str, str] = {}
    async with request.app.state.pool.acquire() as conn:
        if await _current_user(request, conn) is None:
            return UNAUTHORIZED
        if after_id is None:
            headers["X-Total-Count"] = str(await conn.fetchval(COUNT_HEROES))
            rows = await conn.fetch(HEROES_FIRST, limit + 1, skip)
        else:
            rows = await conn.fetch(HEROES_AFTER, limit + 1, int(after_id))
    if len(rows) > limit:
        rows = rows[:limit]
        if after_id is None:
            nxt = request.url.include_query_params(skip=skip + limit)
        else:
            nxt = request.url.include_query_params(after_id=rows[-1]["id"])
        headers["Link"] = f'<{nxt}>; rel="next"'
    body = [
        {"id": r["id"], "name": r["name"], "age": r["age"], "team_id": r["team_id"],
         "team": None if r["t_id"] is None else
         {"id": r["t_id"], "name": r["t_name"], "headquarters": r["t_hq"]},
         "created_at": r["created_at"], "updated_at": r["updated_at"]}
        for r in rows
    ]
    return _json(body, headers=headers)


async def create_team(request: Request) -> Response:
    payload = json.loads(await request.body())
    async with request.app.state.pool.acquire() as conn:
        if await _current_user(request, conn) is None:
            return UNAUTHORIZED
        async with conn.transaction():
            if await conn.fetchval(TEAM_NAME_TAKEN, payload["name"]) is not None:
                return _json({"detail": "Team name already exists"}, 409)
            try:
                row = await conn.fetchrow(INSERT_TEAM, payload["name"], payload["headquarters"])
            except asyncpg.UniqueViolationError:
                return _json({"detail": "Team name already exists"}, 409)
    location = str(request.url_for("get_team", team_id=row["id"]))
    return _json(dict(row), 201, headers={"Location": location})


async def get_team(request: Request) -> Response:  # only named, for Location
    return _json({"detail": "Not implemented in the ceiling"}, 404)


async def live(request: Request) -> Response:
    return _json({"status": "ok"})


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    size = int(os.environ.get("DB_POOL_SIZE", "10"))
    overflow = int(os.environ.get("DB_MAX_OVERFLOW", "0"))
    app.state.secret_key = os.environ["SECRET_KEY"]
    app.state.pool = await asyncpg.create_pool(
        os.environ["PERF_CEILING_DSN"], min_size=size, max_size=size + overflow
    )
    try:
        yield
    finally:
        await app.state.pool.close()


app = Starlette(
    routes=[
        Route("/api/v1/users/{user_id:int}", get_user),
        Route("/api/v1/heroes", list_heroes),
        Route("/api/v1/teams", create_team, methods=["POST"]),
        Route("/api/v1/teams/{team_id:int}", get_team, name="get_team"),
        Route("/health/live", live),
    ],
    lifespan=lifespan,
)
