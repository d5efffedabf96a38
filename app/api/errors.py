"""The one place where domain and database errors become HTTP status codes."""

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc

from app.services import errors

logger = logging.getLogger(__name__)

STATUS_BY_ERROR: dict[type[errors.DomainError], int] = {
    errors.NotAuthenticated: 401,
    errors.InactiveUser: 403,
    errors.PermissionDenied: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.InvalidReference: 422,
}

DB_UNAVAILABLE = {"detail": "Database unavailable"}


def _status_for(exc: errors.DomainError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]  # type: ignore[index]
    return 400


async def domain_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.DomainError)
    status = _status_for(exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"detail": exc.detail}, status_code=status, headers=headers)


def _redact(error: dict[str, Any]) -> dict[str, Any]:
    # A rejected password is still a password: never echo it back. A missing one
    # was not sent; its error's input is the object it is missing from.
    value = error.get("input")
    if "password" in error.get("loc", ()) and error.get("type") != "missing":
        error = {**error, "input": "[redacted]"}
    elif isinstance(value, dict) and "password" in value:
        error = {**error, "input": {**value, "password": "[redacted]"}}
    return error


def _readable_ctx(error: dict[str, Any]) -> dict[str, Any]:
    # A validator's ValueError sits in ctx["error"] and would be encoded as {}:
    # its message is what the client needs.
    ctx = error.get("ctx")
    if not ctx:
        return error
    return {**error, "ctx": {k: str(v) if isinstance(v, Exception) else v for k, v in ctx.items()}}


class _AsciiJSONResponse(JSONResponse):
    # The rejected input is echoed back, and it may hold an unpaired surrogate
    # that UTF-8 cannot encode; ASCII escapes (\ud800) are still valid JSON.
    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    detail = [_readable_ctx(_redact(e)) for e in exc.errors()]
    return _AsciiJSONResponse({"detail": jsonable_encoder(detail)}, status_code=422)


async def database_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Connection-level failures are the database being away: 503, never a 500."""
    logger.warning("database unavailable: %s", type(exc).__name__)
    return JSONResponse(DB_UNAVAILABLE, status_code=503)


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


def install(app: FastAPI) -> None:
    """Register every handler on `app`."""
    app.add_exception_handler(errors.DomainError, domain_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    # OperationalError/InterfaceError: refused, dropped or timed-out connections;
    # TimeoutError: no pooled connection free within DB_POOL_TIMEOUT.
    for exc_type in (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError):
        app.add_exception_handler(exc_type, database_error_handler)
    app.add_exception_handler(Exception, unexpected_error_handler)
