"""The OpenAPI document: FastAPI's, with what it cannot know added, built once."""

from typing import Any

from fastapi import FastAPI

from app.core.limits import MAX_BIGINT

_BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")

# The body limit is the app's, answered before any route runs, in plain text.
PAYLOAD_TOO_LARGE: dict[str, Any] = {
    "description": "The body is over 1 MiB",
    "content": {"text/plain": {"schema": {"type": "string"}, "example": "Content Too Large"}},
}


def _exact_bounds(node: Any) -> None:
    # FastAPI's OpenAPI model types these as float: 2**63 - 1 would be published
    # as 9.223372036854776e18 (2**63) and 1 as 1.0. Put the integers back.
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _BOUNDS and isinstance(value, float) and value.is_integer():
                node[key] = MAX_BIGINT if value == float(MAX_BIGINT) else int(value)
            else:
                _exact_bounds(value)
    elif isinstance(node, list):
        for value in node:
            _exact_bounds(value)


def _document_body_limit(document: dict[str, Any]) -> None:
    # Every operation with a body may be refused with 413 before its route runs.
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            if isinstance(operation, dict) and "requestBody" in operation:
                operation.setdefault("responses", {}).setdefault("413", PAYLOAD_TOO_LARGE)


def install(app: FastAPI) -> None:
    """Serve `app`'s OpenAPI document with the 413s and exact integer bounds, built once."""
    build = app.openapi
    finished: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        # FastAPI caches its document on the app; finish each new one exactly once.
        document = build()
        if not finished or finished[0] is not document:
            _document_body_limit(document)
            _exact_bounds(document)
            finished[:] = [document]
        return document

    app.openapi = openapi  # type: ignore[method-assign]
