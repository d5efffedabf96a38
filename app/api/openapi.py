"""The OpenAPI document: FastAPI's, with what it cannot know added, built once."""

from typing import Any

from fastapi import FastAPI

from app.api.json_body import MAX_LISTED_ERRORS
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


def _bounded_validation_errors(document: dict[str, Any]) -> None:
    # What the 422 handler (app/api/errors.py) answers, beyond FastAPI's own shape.
    schema = document.get("components", {}).get("schemas", {}).get("HTTPValidationError")
    if schema is None:
        return
    schema["description"] = (
        f"At most the first {MAX_LISTED_ERRORS} errors (fewer if they are long), "
        "and how many there were in all. Long rejected values are cut short or "
        'replaced by "[truncated]", passwords by "[redacted]".'
    )
    schema["properties"]["detail"]["maxItems"] = MAX_LISTED_ERRORS
    schema["properties"]["error_count"] = {
        "type": "integer",
        "minimum": 1,
        "title": "Error Count",
        "description": "How many errors the request had; `detail` lists the first of them.",
    }
    schema["required"] = sorted({*schema.get("required", ()), "detail", "error_count"})


def _optional_headers_are_strings(document: dict[str, Any]) -> None:
    # An optional header is either sent, as a string, or absent: FastAPI's `anyOf
    # [string, null]` would tell clients (and schemathesis) to send the text "null".
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", ()):
                schema = parameter.get("schema", {})
                options = schema.get("anyOf")
                if parameter.get("in") != "header" or not options:
                    continue
                sent = [option for option in options if option.get("type") != "null"]
                if len(sent) == 1:
                    parameter["schema"] = {
                        **{k: v for k, v in schema.items() if k != "anyOf"}, **sent[0]
                    }


def install(app: FastAPI) -> None:
    """Serve `app`'s OpenAPI document with the 413s, exact integer bounds and the 422
    body as the app answers it, finished once."""
    build = app.openapi
    finished: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        # FastAPI caches its document on the app; finish each new one exactly once.
        document = build()
        if not finished or finished[0] is not document:
            _document_body_limit(document)
            _exact_bounds(document)
            _bounded_validation_errors(document)
            _optional_headers_are_strings(document)
            finished[:] = [document]
        return document

    app.openapi = openapi  # type: ignore[method-assign]
