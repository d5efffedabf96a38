"""The one place where domain and database errors become HTTP status codes."""

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.routing import iter_route_contexts
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from app.api.deps import CALLER_STATE
from app.api.json_body import BODY_ERROR_KEY, DROPPED_KEYS_KEY, MAX_LISTED_ERRORS
from app.db.errors import Outage, outage
from app.db.session import databases_of
from app.services import errors
from app.services.auth import signed_in_user
from app.services.unit_of_work import UnitOfWork

logger = logging.getLogger(__name__)

STATUS_BY_ERROR: dict[type[errors.DomainError], int] = {
    errors.NotAuthenticated: 401,
    errors.InactiveUser: 403,
    errors.PermissionDenied: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.PreconditionFailed: 412,
    errors.KeyReused: 422,
    errors.InvalidReference: 422,
    errors.ValueTooLong: 422,
    errors.InvalidToken: 400,
    errors.NotConfigured: 503,
}

DB_UNAVAILABLE = {"detail": "Database unavailable"}
# A database that refuses writes (a standby, maintenance) still answers reads: the
# caller learns why its write failed, and that a retry later may succeed.
DB_READ_ONLY = {"detail": "Database unavailable: it is read-only and refuses writes for now"}
PAYLOAD_TOO_LARGE_TEXT = "Content Too Large"


def status_for(exc: errors.DomainError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 400


async def domain_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.DomainError)
    status = status_for(exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"detail": exc.detail}, status_code=status, headers=headers)


# Fields whose rejected values are never echoed back in a 422.
SECRET_FIELDS = frozenset({"password", "new_password"})


def _redact(error: dict[str, Any]) -> dict[str, Any]:
    # A rejected password is still a password: never echo it back. A missing one
    # was not sent; its error's input is the object it is missing from.
    value = error.get("input")
    if SECRET_FIELDS & set(error.get("loc", ())) and error.get("type") != "missing":
        error = {**error, "input": "[redacted]"}
    elif isinstance(value, dict) and SECRET_FIELDS & value.keys():
        error = {**error, "input": {**value, **dict.fromkeys(SECRET_FIELDS & value.keys(),
                                                             "[redacted]")}}
    return error


def _readable_ctx(error: dict[str, Any]) -> dict[str, Any]:
    # A validator's ValueError sits in ctx["error"] and would be encoded as {}:
    # its message is what the client needs.
    ctx = error.get("ctx")
    if not ctx:
        return error
    return {**error, "ctx": {k: str(v) if isinstance(v, Exception) else v for k, v in ctx.items()}}


class _AsciiJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return _encoded(content)


# What a 422 echoes is bounded, so that no body sent makes a large answer: strings
# (a key, a rejected value) are cut, larger objects are not echoed, and errors are
# listed only while the body stays within MAX_ERROR_BODY_BYTES (always at least one).
MAX_ECHOED_CHARS = 64
MAX_MESSAGE_CHARS = 256
MAX_ECHOED_BYTES = 200
MAX_ERROR_BODY_BYTES = 4096
TRUNCATED = "[truncated]"


def _cut(text: str, limit: int = MAX_ECHOED_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _size_left(value: Any, budget: int) -> int:
    """`budget` minus about the JSON size of `value`; stops counting once below zero."""
    if isinstance(value, str):
        return budget - len(value) - 2
    if isinstance(value, int) and not isinstance(value, bool):
        return budget - value.bit_length() // 3 - 1  # digits, without converting
    if isinstance(value, dict):
        for key, item in value.items():
            budget = _size_left(item, _size_left(key, budget - 2))
            if budget < 0:
                break
        return budget - 2
    if isinstance(value, list | tuple):
        for item in value:
            budget = _size_left(item, budget - 1)
            if budget < 0:
                break
        return budget - 2
    return budget - 8


def _echo(value: Any) -> Any:
    """The rejected input as echoed back: short strings and small values only."""
    if isinstance(value, str):
        return _cut(value)
    return value if _size_left(value, MAX_ECHOED_BYTES) >= 0 else TRUNCATED


def _bounded(error: dict[str, Any], *, body_pruned: bool) -> dict[str, Any]:
    error = dict(error)
    error["loc"] = [_cut(p) if isinstance(p, str) else p for p in error.get("loc", ())]
    if "input" in error:
        # With unknown keys dropped (app/api/json_body.py), the body is not what was
        # sent; the body models are flat, so an object input is that body.
        pruned = body_pruned and isinstance(error["input"], dict)
        error["input"] = TRUNCATED if pruned else _echo(error["input"])
    error = jsonable_encoder(error)
    if isinstance(error.get("msg"), str):
        error["msg"] = _cut(error["msg"], MAX_MESSAGE_CHARS)
    if isinstance(error.get("ctx"), dict):
        error["ctx"] = {
            k: _cut(v, MAX_MESSAGE_CHARS) if isinstance(v, str) else v
            for k, v in error["ctx"].items()
        }
    return error


def _encoded(content: Any) -> bytes:
    # The rejected input is echoed back, and it may hold an unpaired surrogate
    # that UTF-8 cannot encode; ASCII escapes (\ud800) are still valid JSON.
    return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def _body_errors(request: Request, exc: RequestValidationError) -> list[Any]:
    found = list(exc.errors())
    unparsed = request.scope.get(BODY_ERROR_KEY)
    if unparsed is None:
        return found
    # The body could not be parsed (app/api/json_body.py): its placeholder's errors are noise.
    return [*(e for e in found if tuple(e.get("loc", ()))[:1] != ("body",)), unparsed]


async def _caller_refused(request: Request) -> Response | None:
    """The answer for a caller whose token is good but who is no longer signed in (gone,
    inactive, password changed), or None. A route's dependency checked the token; its
    unit of work, which reads the caller's row, never ran for a request that fails
    validation: authentication still comes first (see app/api/deps.py)."""
    caller = getattr(request.state, CALLER_STATE, None)
    if caller is None:
        return None
    databases = databases_of(request)
    try:
        await UnitOfWork(databases.SessionLocal, databases.queue).run(signed_in_user, caller)
    except errors.DomainError as refused:
        return await domain_error_handler(request, refused)
    except sa_exc.SQLAlchemyError as failed:
        return await database_error_handler(request, failed)
    return None


async def validation_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if (refused := await _caller_refused(request)) is not None:
        return refused
    found = _body_errors(request, exc)
    dropped = request.scope.get(DROPPED_KEYS_KEY, 0)
    detail: list[Any] = []
    size = 0
    for error in found[:MAX_LISTED_ERRORS]:
        bounded = _bounded(_readable_ctx(_redact(error)), body_pruned=bool(dropped))
        size += len(_encoded(bounded)) + 1
        if detail and size > MAX_ERROR_BODY_BYTES:
            break
        detail.append(bounded)
    content = {"detail": detail, "error_count": len(found) + dropped}
    return _AsciiJSONResponse(content, status_code=422)


async def database_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """The database away, overloaded, read-only or too slow (app/db/errors.py): 503, never
    a 500. Any other database error is a bug, answered as one."""
    verdict = outage(exc)
    if verdict is None:
        return await unexpected_error_handler(request, exc)
    cause = getattr(exc, "orig", None) or exc
    logger.warning("database %s: %s", verdict.value, type(cause).__name__)
    body = DB_READ_ONLY if verdict is Outage.READ_ONLY else DB_UNAVAILABLE
    return JSONResponse(body, status_code=503)


async def unexpected_error_handler(request: Request, exc: Exception) -> JSONResponse:
    # This runs outside the request-id middleware (Starlette's outermost layer),
    # so the id is taken from the request state it left behind.
    request_id = getattr(request.state, "request_id", None)
    logger.exception(
        "unhandled error on %s %s", request.method, request.url.path,
        extra={"request_id": request_id},
    )
    headers = {"X-Request-ID": request_id} if request_id else None
    return JSONResponse({"detail": "Internal Server Error"}, status_code=500, headers=headers)


def _route_path(request: Request) -> str:
    # What routes match against: the path without the prefix the app is mounted at.
    path: str = request.scope["path"]
    root: str = request.scope.get("root_path", "")
    return path[len(root):] if root and path.startswith(root) else path


def allowed_methods(app: FastAPI, path: str) -> set[str]:
    """Every method some route serves at `path` (a path may match several routes)."""
    methods: set[str] = set()
    for context in iter_route_contexts(app.routes):
        regex = getattr(context, "path_regex", None)
        if regex is None or not regex.match(path):
            continue
        if context.methods:
            methods.update(context.methods)
        elif isinstance(context.original_route, Mount) and isinstance(
            context.original_route.app, StaticFiles
        ):
            methods.update(("GET", "HEAD"))
    return methods


async def method_not_allowed_handler(request: Request, exc: Exception) -> JSONResponse:
    # Starlette's 405 names the methods of the one route it tried first
    # (`PUT /heroes` said `Allow: POST`); the path's other routes count too.
    assert isinstance(exc, HTTPException)
    named = (exc.headers or {}).get("Allow", "")  # StaticFiles' 405 knows its own
    allowed = {method.strip() for method in named.split(",") if method.strip()}
    allowed |= allowed_methods(request.app, _route_path(request))
    if "GET" in allowed:
        allowed.add("HEAD")  # served as GET (app/api/head.py)
    headers = {"Allow": ", ".join(sorted(allowed))}
    return JSONResponse({"detail": exc.detail}, status_code=405, headers=headers)


async def payload_too_large_handler(request: Request, exc: Exception) -> Response:
    # A streamed body found too large while a route reads it: the same plain text as
    # the 413 for a Content-Length over the limit (app/api/middleware.py), as the
    # OpenAPI document says (app/api/responses.py).
    return PlainTextResponse(PAYLOAD_TOO_LARGE_TEXT, status_code=413)


def install(app: FastAPI) -> None:
    """Register every handler on `app`."""
    app.add_exception_handler(errors.DomainError, domain_error_handler)
    app.add_exception_handler(405, method_not_allowed_handler)
    app.add_exception_handler(413, payload_too_large_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(sa_exc.SQLAlchemyError, database_error_handler)
    app.add_exception_handler(Exception, unexpected_error_handler)
