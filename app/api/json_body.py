"""Request bodies: what cannot be parsed is 422 (never 400), and only after authentication.

FastAPI reads and parses the body before it solves the dependencies, and answers a
body it cannot parse at once: 400 for an integer past Python's digit limit or a
broken form, 422 for bad JSON, either way before the bearer token is looked at.
Here the route parses the body first (`StrictJSONRoute`). One that cannot be parsed
is recorded in the scope (`BODY_ERROR_KEY`) and the route is handed an empty one;
the dependencies, the token check among them, run first, FastAPI then finds the
body missing, and the validation handler (app/api/errors.py) reports the recorded
error in place of that one.

Unknown keys past the first MAX_LISTED_ERRORS are dropped before validation: each
would only add one "extra_forbidden" error that the response does not list, and
pydantic and FastAPI would build them all. How many were dropped is kept
(`DROPPED_KEYS_KEY`) so the 422 still counts them. A large body is decoded, and its
keys dropped, on a worker thread, where the event loop takes turns with the Python
part of that work; json.loads itself holds the GIL on any thread, for about as long
as any JSON body of that size takes to parse (~0.1 s for 1 MiB of short keys here).
"""

import email.message
import json
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response, params
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.types import Message, Receive, Scope

BODY_ERROR_KEY = "app.body_error"
DROPPED_KEYS_KEY = "app.dropped_unknown_keys"
MAX_LISTED_ERRORS = 20
# Below this a thread hop costs more than the work it would move off the loop.
OFF_LOOP_BYTES = 64 * 1024


def _loads(body: bytes, known_keys: frozenset[str] | None) -> tuple[Any, int]:
    """The decoded body, with unknown keys past the listed ones dropped, and how many were."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise json.JSONDecodeError("Body is not valid UTF-8", "", exc.start) from exc
    try:
        value = json.loads(text)
    except RecursionError as exc:
        raise json.JSONDecodeError("JSON is nested too deeply", "", 0) from exc
    except json.JSONDecodeError:
        raise
    except ValueError as exc:  # int() refuses more digits than sys.get_int_max_str_digits()
        limit = sys.get_int_max_str_digits()
        raise json.JSONDecodeError(f"Integer with more than {limit} digits", "", 0) from exc
    if known_keys is None or not isinstance(value, dict):
        return value, 0
    return _drop_unknown_keys(value, known_keys)


def _drop_unknown_keys(body: dict[str, Any], known: frozenset[str]) -> tuple[dict[str, Any], int]:
    kept: dict[str, Any] = {}
    unknown = 0
    for key, item in body.items():
        if key in known:
            kept[key] = item
        else:
            unknown += 1
            if unknown <= MAX_LISTED_ERRORS:
                kept[key] = item
    dropped = max(0, unknown - MAX_LISTED_ERRORS)
    return (kept if dropped else body), dropped


def _replaying(body: bytes) -> Receive:
    """An ASGI `receive` that hands the route `body` again (the original was read here)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


class _ParsedRequest(Request):
    """A request whose JSON body was already parsed, by `_prepared`."""

    def __init__(self, scope: Scope, body: bytes, parsed: Any) -> None:
        super().__init__(scope, _replaying(body))
        self._parsed = parsed

    async def json(self) -> Any:
        return self._parsed


def _is_json(request: Request) -> bool:
    # What FastAPI itself decodes as JSON: application/json and application/*+json.
    message = email.message.Message()
    message["content-type"] = request.headers.get("content-type", "")
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


_EMPTY_FORM = (b"content-type", b"application/x-www-form-urlencoded")


def _unparsed(request: Request, error: dict[str, Any]) -> Request:
    """The request with its body recorded as unparseable and replaced by nothing, so that
    FastAPI finds the body missing, after the dependencies (the token check) ran."""
    request.scope[BODY_ERROR_KEY] = error
    headers = [(k, v) for k, v in request.scope["headers"] if k != b"content-type"]
    if error["type"] == "form_invalid":
        headers.append(_EMPTY_FORM)  # parses as no fields at all, whatever was declared
    return Request({**request.scope, "headers": headers}, _replaying(b""))


async def _prepared(request: Request, known_keys: frozenset[str] | None, form: bool) -> Request:
    """The request as the route should see it: its body parsed here, where a failure can
    wait for the dependencies instead of answering before them."""
    if form:
        try:
            await request.form()  # cached on the request: FastAPI's own call reuses it
        except HTTPException as exc:
            if exc.status_code != 400:  # 413 stays 413
                raise
            return _unparsed(request, {
                "type": "form_invalid",
                "loc": ("body",),
                "msg": "Form data could not be parsed",
                "input": {},
                "ctx": {"error": exc.detail},
            })
        return request
    body = await request.body()
    if not body or not _is_json(request):
        return request
    try:
        if len(body) > OFF_LOOP_BYTES:
            value, dropped = await run_in_threadpool(_loads, body, known_keys)
        else:
            value, dropped = _loads(body, known_keys)
    except json.JSONDecodeError as exc:
        # The error FastAPI itself would raise, only later.
        return _unparsed(request, {
            "type": "json_invalid",
            "loc": ("body", exc.pos),
            "msg": "JSON decode error",
            "input": {},
            "ctx": {"error": exc.msg},
        })
    if dropped:
        request.scope[DROPPED_KEYS_KEY] = dropped
    return _ParsedRequest(request.scope, body, value)


def _known_keys(route: APIRoute) -> frozenset[str] | None:
    """The top-level keys the route's body model accepts, if it refuses all others."""
    field = route.body_field
    model = field.field_info.annotation if field is not None else None
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return None
    if model.model_config.get("extra") != "forbid":
        return None
    names = set(model.model_fields)
    names.update(f.alias for f in model.model_fields.values() if f.alias)
    return frozenset(names)


class StrictJSONRoute(APIRoute):
    """A route whose body, if it has one, is parsed by `_prepared` before FastAPI sees it."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler
        known_keys = _known_keys(self)
        form = isinstance(self.body_field.field_info, params.Form)

        async def strict_handler(request: Request) -> Response:
            return await handler(await _prepared(request, known_keys, form))

        return strict_handler
