"""Problem details (RFC 9457) for clients that ask for them; the v1 bodies for the rest.

Every error body the app sends (the handlers in app/api/errors.py, the 413 of the body
limit, a 405, a 404 for an unknown path, a 503 from the readiness check) is first built
in its v1 shape. For a request whose Accept names `application/problem+json`, this
middleware, the one place that knows the problem shape, rewrites that body as a problem
document: `type` (a section of /docs/errors), `title`, `status`, `detail` (one string),
`instance` (the path), `request_id`, and for a 422 `errors` (the validation list, as
capped). Every other request's bytes pass through untouched.
"""

import html
import json
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

PROBLEM_JSON = "application/problem+json"
ERRORS_PAGE = "/docs/errors"
# Error bodies are small by construction (app/api/errors.py caps a 422 at a few KiB);
# one larger than this is passed on as it is rather than held in memory.
MAX_REWRITTEN_BYTES = 64 * 1024


@dataclass(frozen=True)
class Explained:
    slug: str
    title: str
    explanation: str


EXPLAINED: dict[int, Explained] = {
    400: Explained("bad-request", "Bad Request",
                   "The request could not be understood (an unknown Host, a CORS preflight "
                   "from an origin that is not allowed)."),
    401: Explained("unauthorized", "Unauthorized",
                   "No bearer token, or one that is forged, expired, or belongs to a user "
                   "who is gone, inactive or changed their password since. Sign in again "
                   "(POST /api/v1/auth/token)."),
    403: Explained("forbidden", "Forbidden",
                   "Signed in, but not allowed: another user's account, a superuser-only "
                   "field or endpoint, or an inactive account at sign-in."),
    404: Explained("not-found", "Not Found",
                   "No such resource, or one the caller may not see (another user's item). "
                   "An id outside 1..2^63-1 is never found."),
    405: Explained("method-not-allowed", "Method Not Allowed",
                   "The path exists, but not with this method; `Allow` lists those it has."),
    409: Explained("conflict", "Conflict",
                   "A unique value (email, username, team name) is already taken, perhaps "
                   "by a request that ran at the same time; or a request with the same "
                   "Idempotency-Key is still running."),
    412: Explained("precondition-failed", "Precondition Failed",
                   "If-Match does not hold the resource's current ETag: someone changed it "
                   "since you read it. Nothing was changed; read it again (GET), reapply "
                   "your change and send it with the new ETag."),
    413: Explained("content-too-large", "Content Too Large",
                   "The request body is over 1 MiB."),
    422: Explained("unprocessable-content", "Unprocessable Content",
                   "The body, query, path or a header is invalid (`errors` lists the first "
                   "20 problems), or refers to a row that does not exist; or an "
                   "Idempotency-Key was reused with another body or on another path."),
    429: Explained("too-many-requests", "Too Many Requests",
                   "Too many failed sign-ins for this account or address; retry after "
                   "`Retry-After` seconds."),
    500: Explained("internal-server-error", "Internal Server Error",
                   "A bug. The response's X-Request-ID finds it in the server's log."),
    503: Explained("service-unavailable", "Service Unavailable",
                   "The database cannot be reached or did not answer in time; retry later. "
                   "A write refused this way did not happen."),
}


def wants_problem(scope: Scope) -> bool:
    """Whether the request's Accept names application/problem+json (with a q above 0)."""
    for key, value in scope["headers"]:
        if key != b"accept":
            continue
        for media_range in value.decode("latin-1").lower().split(","):
            media_type, *params = (part.strip() for part in media_range.split(";"))
            if media_type == PROBLEM_JSON and not any(
                p.replace(" ", "") in {"q=0", "q=0.0", "q=0.00", "q=0.000"} for p in params
            ):
                return True
    return False


def problem(status: int, v1: bytes, content_type: str, *, instance: str,
            request_id: str | None) -> dict[str, Any]:
    """The problem document for a v1 error body."""
    explained = EXPLAINED.get(status)
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Error"
    document: dict[str, Any] = {
        "type": f"{ERRORS_PAGE}#{explained.slug}" if explained else "about:blank",
        "title": explained.title if explained else reason,
        "status": status,
        "detail": reason,
        "instance": instance,
        "request_id": request_id,
    }
    body: Any = None
    if content_type.startswith("application/json"):
        try:
            body = json.loads(v1)
        except ValueError:
            body = None
    elif v1:
        document["detail"] = v1.decode("utf-8", "replace")
    if isinstance(body, dict):
        detail = body.get("detail")
        if isinstance(detail, str):
            document["detail"] = detail
        elif isinstance(detail, list):  # FastAPI's validation list, capped already
            count = body.get("error_count", len(detail))
            document["detail"] = f"The request is invalid ({count} error(s); see `errors`)"
            document["errors"] = detail
            document["error_count"] = count
        elif status == 503:
            document["detail"] = "Database unavailable"
    return document


class ProblemDetailsMiddleware:
    """Rewrites 4xx and 5xx bodies as problem documents for clients that ask for them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not wants_problem(scope):
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        held: list[bytes] = []
        passing = False

        async def rewrite(message: Message) -> None:
            nonlocal start, passing
            if passing:
                await send(message)
                return
            if message["type"] == "http.response.start":
                if message["status"] < 400:
                    passing = True
                    await send(message)
                    return
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            held.append(message.get("body", b""))
            if sum(map(len, held)) > MAX_REWRITTEN_BYTES:
                passing = True
                await send(start)
                await send({"type": "http.response.body", "body": b"".join(held),
                            "more_body": message.get("more_body", False)})
                return
            if message.get("more_body", False):
                return
            await _send_problem(scope, start, b"".join(held), send)

        await self.app(scope, receive, rewrite)


async def _send_problem(scope: Scope, start: Message, v1: bytes, send: Send) -> None:
    headers = [(k, v) for k, v in start.get("headers", ())
               if k not in (b"content-type", b"content-length")]
    content_type = next((v.decode("latin-1") for k, v in start.get("headers", ())
                         if k == b"content-type"), "")
    request_id = scope.get("state", {}).get("request_id")
    document = problem(
        start["status"], v1, content_type, instance=scope["path"], request_id=request_id
    )
    body = json.dumps(document, ensure_ascii=True, separators=(",", ":")).encode("ascii")
    headers += [(b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(body)).encode())]
    await send({**start, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def errors_page() -> str:
    """The page `type` points at: one section per error, its anchor the slug."""
    sections = "\n".join(
        f'<section id="{e.slug}"><h2>{status} {html.escape(e.title)}</h2>'
        f"<p>{html.escape(e.explanation)}</p></section>"
        for status, e in sorted(EXPLAINED.items())
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>Heroes API - errors</title></head><body><h1>Errors</h1>"
        "<p>What each status means here. Send <code>Accept: application/problem+json</code> "
        "to get errors as RFC 9457 problem documents whose <code>type</code> links here."
        f"</p>\n{sections}\n</body></html>"
    )
