"""Response helpers shared by the routes: documented errors and 201 Location."""

from typing import Any

from fastapi import Request, Response

from app.api.errors import DB_UNAVAILABLE

_DESCRIPTIONS = {
    401: ("Missing, invalid or expired token", "Not authenticated"),
    403: ("Authenticated but not allowed", "Not enough permissions"),
    404: ("No such resource, or one the caller may not see", "Hero not found"),
    409: ("A unique value is already taken", "Team name already exists"),
    422: ("Invalid input, or a reference to a row that does not exist", "Team 7 does not exist"),
}

_ERROR_SCHEMA = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}


def responses(*codes: int, headers: dict[str, Any] | None = None) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the given error codes, plus 503 which any route may answer."""
    documented: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        description, example = _DESCRIPTIONS[code]
        schema: dict[str, Any] = _ERROR_SCHEMA
        if code == 422:
            # References are reported as {"detail": "..."}, bad input in FastAPI's shape.
            schema = {"anyOf": [{"$ref": "#/components/schemas/HTTPValidationError"}, _ERROR_SCHEMA]}
        documented[code] = {
            "description": description,
            "content": {"application/json": {"schema": schema, "example": {"detail": example}}},
        }
    documented[503] = {
        "description": "The database cannot be reached",
        "content": {"application/json": {"schema": _ERROR_SCHEMA, "example": DB_UNAVAILABLE}},
    }
    if headers:
        documented[200] = {"headers": headers}
    return documented


def created(obj: Any, route_name: str, request: Request, response: Response, **path: Any) -> Any:
    """Return `obj` with a Location header pointing at where it can be read."""
    response.headers["Location"] = str(request.url_for(route_name, **path))
    return obj
