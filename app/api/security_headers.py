"""OWASP's recommended response headers, on every response, in one pure ASGI middleware.

Every response: `X-Content-Type-Options: nosniff` (a JSON body is never sniffed into
HTML), `X-Frame-Options: DENY` and CSP `frame-ancestors 'none'` (no page of ours is
framed: clickjacking), `Referrer-Policy: no-referrer`, `Cross-Origin-Opener-Policy:
same-origin`. A page a browser renders (text/html: /docs, /docs/errors) gets a full
Content-Security-Policy: scripts and styles from this app only, its inline scripts
allowed by their hash. `Strict-Transport-Security` belongs to whoever terminates TLS
(docs/operations.md): this app does not know whether it is reached over HTTPS.
"""

import base64
import hashlib
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

COMMON = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
API_CSP = b"default-src 'none'; frame-ancestors 'none'"
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)


def page_csp(html: bytes) -> bytes:
    """The policy for an HTML page: its own inline scripts by hash, everything else 'self'."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script).digest()).decode() + "'"
        for script in _INLINE_SCRIPT.findall(html)
    )
    return (
        f"default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ).encode()


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: Message | None = None

        async def with_headers(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                is_html = any(k == b"content-type" and v.startswith(b"text/html")
                              for k, v in headers)
                present = {k for k, _ in headers}
                headers += [(k, v) for k, v in COMMON if k not in present]
                message = {**message, "headers": headers}
                if is_html and b"content-security-policy" not in present:
                    start = message  # its policy names the page's scripts: wait for the body
                    return
                if b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", API_CSP))
                await send(message)
                return
            if start is not None and message["type"] == "http.response.body":
                # Our pages are small and sent in one piece (HTMLResponse).
                held, start = start, None
                csp = page_csp(message.get("body", b""))
                await send({**held, "headers": [*held["headers"],
                                                (b"content-security-policy", csp)]})
            await send(message)

        await self.app(scope, receive, with_headers)
