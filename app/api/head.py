"""HEAD wherever GET is served (RFC 9110, 9.1: every general-purpose server supports both).

FastAPI routes answer only the methods they declare, and declaring HEAD on each would
publish a HEAD operation per path in the OpenAPI document. A HEAD request is served as
the GET it stands for, with the same status and headers (Content-Length and ETag
included) and no body.
"""

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadAsGetMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                if not message.get("more_body", False):
                    await send({"type": "http.response.body", "body": b""})
                return
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, without_body)
