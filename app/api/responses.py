"""Response helpers shared by the routes: documented errors and 201 Location."""

from typing import Any

from fastapi import Request, Response

from app.api.errors import DB_UNAVAILABLE
from app.schemas.error import ErrorMessage

_DESCRIPTIONS = {
    401: ("Missing, invalid or expired token", "Not authenticated"),
    403: ("Authenticated but not allowed", "Not enough permissions"),
    404: ("No such resource, or one the caller may not see", "Hero not found"),
    409: ("A unique value is already taken", "Team name already exists"),
    412: ("If-Match does not hold the resource's current ETag; nothing changed",
          "The resource has changed"),
    422: ("Invalid input, or a reference to a row that does not exist", "Team 7 does not exist"),
    429: ("Too many failed attempts; retry after `Retry-After` seconds",
          "Too many failed login attempts; try again later"),
}

RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before the next attempt",
        "schema": {"type": "integer", "minimum": 1},
    }
}

_ERROR_REF = {"$ref": "#/components/schemas/ErrorMessage"}

# RFC 6749, 5.1: a response that carries tokens MUST NOT be cached.
NO_STORE_HEADERS = {"Cache-Control": "no-store", "Pragma": "no-cache"}
NO_STORE = {
    "Cache-Control": {"description": "`no-store`: tokens are never cached",
                      "schema": {"type": "string", "enum": ["no-store"]}},
    "Pragma": {"description": "`no-cache`, for HTTP/1.0 caches",
               "schema": {"type": "string", "enum": ["no-cache"]}},
}

NOT_MODIFIED = 304


def responses(
    *codes: int, headers: dict[str, Any] | None = None, success: int = 200
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the given codes (errors, or 304), plus 503 which any route may
    answer; `headers` are those of the `success` response."""
    documented: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        if code == NOT_MODIFIED:
            documented[code] = {
                "description": "Not modified: If-None-Match holds the current ETag (no body)",
                "headers": headers or {},
            }
            continue
        description, example = _DESCRIPTIONS[code]
        if code == 422:
            # References are reported as {"detail": "..."}, bad input in FastAPI's shape.
            schema = {"anyOf": [{"$ref": "#/components/schemas/HTTPValidationError"}, _ERROR_REF]}
            content = {"application/json": {"schema": schema, "example": {"detail": example}}}
            documented[code] = {"description": description, "content": content}
        else:
            documented[code] = _error(description, {"detail": example})
        if code == 429:
            documented[code]["headers"] = RETRY_AFTER
    documented[503] = _error("The database cannot be reached", DB_UNAVAILABLE)
    if headers:
        documented[success] = {"headers": headers}
    return documented


def _error(description: str, example: dict[str, str]) -> dict[str, Any]:
    # `model` makes FastAPI publish ErrorMessage once, as a named schema clients can share.
    return {
        "model": ErrorMessage,
        "description": description,
        "content": {"application/json": {"example": example}},
    }


def no_store(obj: Any, response: Response) -> Any:
    """Return `obj`, which carries tokens, with the headers that keep caches from storing it."""
    response.headers.update(NO_STORE_HEADERS)
    return obj


def created(obj: Any, route_name: str, request: Request, response: Response, **path: Any) -> Any:
    """Return `obj` with a Location header pointing at where it can be read.

    A relative reference (RFC 9110, 10.2.2): `request.url_for` would name the host
    from the request's Host header, which the client chooses."""
    url_path = request.app.url_path_for(route_name, **path)
    response.headers["Location"] = relative(request.scope.get("root_path", "") + url_path)
    return obj


def relative(path: str) -> str:
    """`path` as a path-absolute reference: one leading slash, never the `//host` form."""
    return "/" + path.lstrip("/")
