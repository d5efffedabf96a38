"""JSON bodies that fail to decode for any reason are 422, as the contract asks, never 400."""

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute


class StrictJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise json.JSONDecodeError("Body is not valid UTF-8", "", exc.start) from exc
            try:
                self._json = json.loads(text)
            except RecursionError as exc:
                raise json.JSONDecodeError("JSON is nested too deeply", "", 0) from exc
        return self._json


class StrictJSONRoute(APIRoute):
    """A route whose request decodes JSON with StrictJSONRequest."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict_handler
