"""Request ids, the access log and request metrics, in one pure ASGI middleware; the body limit.

Pure ASGI (not BaseHTTPMiddleware): it only looks at the response's start
message, so streaming responses and the request body limit work as before,
and it costs a few microseconds per request plus the log line.
"""

import logging
import re
from time import perf_counter
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from fastapi.routing import iter_route_contexts
from starlette.applications import Starlette
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.errors import PAYLOAD_TOO_LARGE_TEXT
from app.core.logging import request_id_var

if TYPE_CHECKING:
    from app.api.metrics import HttpMetrics

REQUEST_ID_HEADER = "X-Request-ID"
# 404s and redirects have no route; one label for them all keeps metrics bounded.
UNMATCHED = "<unmatched>"

_REQUEST_ID_KEY = REQUEST_ID_HEADER.lower().encode("latin-1")
# A client's id is echoed into logs and headers only if it is plainly harmless.
_SANE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._-]{1,128}")

access_logger = logging.getLogger("app.access")


class RouteTemplates:
    """The path template (`/api/v1/heroes/{hero_id}`) of the route a request matched."""

    def __init__(self, app: Starlette) -> None:
        self._app = app
        self._by_id: dict[int, str] = {}

    def _rebuild(self) -> None:
        # A route included under a prefix knows only its own path ("/{hero_id}");
        # FastAPI's route contexts carry the full one.
        by_id: dict[int, str] = {}
        for context in iter_route_contexts(self._app.routes):
            template = context.path_format
            if template is None:
                continue
            route = context.original_route
            by_id.setdefault(id(route), template)
            # Plain routes and mounts are found by what they dispatch to.
            target = getattr(route, "endpoint", None) or getattr(route, "app", None)
            if target is not None:
                by_id.setdefault(id(target), template)
        self._by_id = by_id

    def for_scope(self, scope: Scope) -> str:
        """The template of the route that served `scope`, or UNMATCHED."""
        target = scope.get("route") or scope.get("endpoint")
        if target is None:
            return UNMATCHED
        template = self._by_id.get(id(target))
        if template is None:
            self._rebuild()
            template = self._by_id.setdefault(
                id(target), getattr(target, "path_format", None) or UNMATCHED
            )
        return template


def incoming_request_id(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The client's X-Request-ID, if it sent a sane one."""
    for key, value in headers:
        if key == _REQUEST_ID_KEY:
            return value.decode("ascii") if _SANE_REQUEST_ID.fullmatch(value) else None
    return None


class RequestContextMiddleware:
    """Gives every HTTP request an id (echoed back), a log line and its metrics."""

    def __init__(
        self, app: ASGIApp, *, templates: RouteTemplates, metrics: "HttpMetrics | None" = None
    ) -> None:
        self.app = app
        self.templates = templates
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        request_id = incoming_request_id(scope["headers"]) or uuid4().hex
        # request.state.request_id, for handlers outside this middleware (the 500 one).
        scope.setdefault("state", {})["request_id"] = request_id
        id_header = (_REQUEST_ID_KEY, request_id.encode("ascii"))
        status = 500  # what the client gets if the app raises before answering

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), id_header]}
            await send(message)

        token = request_id_var.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)
            self._record(scope, status, perf_counter() - started, request_id)

    def _record(self, scope: Scope, status: int, seconds: float, request_id: str) -> None:
        method: str = scope["method"]
        route = self.templates.for_scope(scope)
        if self.metrics is not None:
            self.metrics.observe(method, route, status, seconds)
        if access_logger.isEnabledFor(logging.INFO):
            duration_ms = round(seconds * 1000, 2)
            fields: dict[str, Any] = {
                "method": method,
                "route": route,
                "status": status,
                "duration_ms": duration_ms,
                "request_id": request_id,
            }
            access_logger.info(
                "%s %s %s %.2fms", method, route, status, duration_ms, extra=fields
            )


class BodyLimitMiddleware:
    """Refuses request bodies over `max_body_size` bytes with 413.

    Inside RequestContextMiddleware, so the 413 carries X-Request-ID and is logged
    (FastAPI's own `max_body_size` wraps the app outside every middleware). A
    Content-Length over the limit is refused before any route runs, so nothing is
    done for a request that is then refused; a streamed body is counted as the route
    reads it (Starlette's limiter, whose 413 the app's handler answers).
    """

    def __init__(self, app: ASGIApp, *, max_body_size: int) -> None:
        self.app = RequestBodyLimitMiddleware(app, max_body_size=max_body_size)
        self.max_body_size = max_body_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _declared_length(scope) > self.max_body_size:
            response = PlainTextResponse(PAYLOAD_TOO_LARGE_TEXT, status_code=413)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _declared_length(scope: Scope) -> int:
    """The Content-Length sent (0 if none or unreadable: the server has vetted it)."""
    for key, value in scope["headers"]:
        if key == b"content-length":
            if not value.isdigit():
                return 0
            # Past 18 digits it is over any limit; int() would refuse 4,300 of them.
            return int(value) if len(value) <= 18 else 10**18
    return 0
