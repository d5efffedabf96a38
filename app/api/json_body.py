"""Request bodies: what cannot be parsed is 422 (never 400), and only after authentication.

FastAPI reads and parses the body before it solves the dependencies, and answers a
body it cannot parse at once: 400 for an integer past Python's digit limit or a
broken form, 422 for bad JSON, either way before the bearer token is looked at.
Here a body that cannot be parsed is recorded in the scope (`BODY_ERROR_KEY`) and
replaced by a placeholder that no request model accepts; the dependencies, the
token check among them, run first, and the validation handler (app/api/errors.py)
reports the recorded error in place of the placeholder's.

Unknown keys past the first MAX_LISTED_ERRORS are dropped before validation: each
would only add one "extra_forbidden" error that the response does not list, and
pydantic and FastAPI would build them all. How many were dropped is kept
(`DROPPED_KEYS_KEY`) so the 422 still counts them. A large body is decoded, and its
keys dropped, on a worker thread, where the event loop takes turns with the Python
part of that work; json.loads itself holds the GIL on any thread, for about as long
as any JSON body of that size takes to parse (~0.1 s for 1 MiB of short keys here).
"""

import json
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException

BODY_ERROR_KEY = "app.body_error"
DROPPED_KEYS_KEY = "app.dropped_unknown_keys"
MAX_LISTED_ERRORS = 20
# Below this a thread hop costs more than the work it would move off the loop.
OFF_LOOP_BYTES = 64 * 1024


# Stands in for a body that could not be parsed: bytes, as FastAPI itself passes on a
# body it did not parse (one sent with another content type); no request model accepts
# them, even in the from_attributes mode FastAPI validates in (an object would pass a
# model whose fields are all optional).
UNPARSED = b""


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


class StrictRequest(Request):
    """A request whose JSON and form bodies never fail before the dependencies run."""

    known_keys: frozenset[str] | None = None

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                if len(body) > OFF_LOOP_BYTES:
                    value, dropped = await run_in_threadpool(_loads, body, self.known_keys)
                else:
                    value, dropped = _loads(body, self.known_keys)
            except json.JSONDecodeError as exc:
                # The error FastAPI itself would raise, only later.
                self.scope[BODY_ERROR_KEY] = {
                    "type": "json_invalid",
                    "loc": ("body", exc.pos),
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": exc.msg},
                }
                value, dropped = UNPARSED, 0
            if dropped:
                self.scope[DROPPED_KEYS_KEY] = dropped
            self._json = value
        return self._json

    async def _get_form(self, **limits: Any) -> FormData:
        try:
            return await super()._get_form(**limits)
        except HTTPException as exc:
            if exc.status_code != 400:  # 413 stays 413
                raise
            self.scope[BODY_ERROR_KEY] = {
                "type": "form_invalid",
                "loc": ("body",),
                "msg": "Form data could not be parsed",
                "input": {},
                "ctx": {"error": exc.detail},
            }
            self._form = FormData()  # every required field is then missing: a 422
            return self._form


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
    """A route whose request is a StrictRequest."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        known_keys = _known_keys(self)

        async def strict_handler(request: Request) -> Response:
            strict = StrictRequest(request.scope, request.receive)
            strict.known_keys = known_keys
            return await handler(strict)

        return strict_handler
