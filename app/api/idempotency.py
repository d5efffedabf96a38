"""Idempotency-Key on the creates (contract: "Idempotent creates"), on the wire.

`once` runs a create at most once per key and caller (app/services/idempotency.py):
the first request runs and its response is kept; a retry with the same key, path and
body gets that response again, byte for byte, with `Idempotent-Replayed: true`.
"""

import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Header, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from app.api.conditional import ETAG, ETAG_HEADER
from app.api.errors import status_for
from app.core.config import Settings
from app.services import idempotency as service
from app.services.errors import DomainError
from app.services.unit_of_work import UnitOfWork

logger = logging.getLogger(__name__)

REPLAYED = "Idempotent-Replayed"
ANONYMOUS = "anonymous"
# 1..255 visible ASCII characters.
KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"

CREATED_HEADERS: dict[str, Any] = {
    **ETAG_HEADER,
    REPLAYED: {
        "description": "`true` when this is the kept response of an earlier request with "
        "the same Idempotency-Key (nothing was created this time)",
        "schema": {"type": "string", "enum": ["true"]},
    },
}


async def idempotency_key(
    value: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            pattern=KEY_PATTERN,
            description="1..255 visible ASCII characters. A retry with the same key, body and "
            "path gets the first response again (`Idempotent-Replayed: true`) and creates "
            "nothing; another body or path is 422; a retry while the first runs is 409. "
            "Kept for IDEMPOTENCY_KEY_HOURS.",
        ),
    ] = None,
) -> str | None:
    return value


IdempotencyKeyDep = Annotated[str | None, Depends(idempotency_key)]


def scope_of(user_id: int | None) -> str:
    """Whose keys these are: the token's user, or every anonymous registration."""
    return ANONYMOUS if user_id is None else f"user:{user_id}"


def _body_hash(settings: Settings, body: BaseModel) -> str:
    # Keyed: a registration's body holds a password, and a plain hash of it could be
    # guessed at offline.
    digest = hmac.new(settings.secret_key.encode(), body.model_dump_json().encode(), hashlib.sha256)
    return digest.hexdigest()


def _replay(stored: service.Stored) -> Response:
    headers = {REPLAYED: "true"}
    if stored.location:
        headers["Location"] = stored.location
    if stored.etag:
        headers[ETAG] = stored.etag
    return Response(stored.body, status_code=stored.status, headers=headers,
                    media_type="application/json")


async def once(
    create: Callable[[], Awaitable[Any]],
    *,
    key: str | None,
    scope: str,
    body: BaseModel,
    model: type[BaseModel],
    work: UnitOfWork,
    settings: Settings,
    request: Request,
    response: Response,
) -> Any:
    """`create()`'s result; with a key, run at most once and replayed after."""
    if key is None:
        return await create()
    claim = {"scope": scope, "key": key}
    stored = await work.run(
        service.claim, **claim, path=request.url.path, body_hash=_body_hash(settings, body),
        hours=settings.idempotency_key_hours,
    )
    if stored is not None:
        return _replay(stored)
    try:
        result = await create()
    except DomainError as refused:  # a 4xx: the answer a retry gets too
        body_bytes = JSONResponse({"detail": refused.detail}).body
        kept = service.Stored(status_for(refused), bytes(body_bytes).decode(), None, None)
        await work.run(service.finish, **claim, stored=kept)
        raise
    except BaseException:  # a 5xx (or the client went away): a retry runs again
        try:
            await work.run(service.release, **claim)
        except Exception:  # the database is away: the claim is taken over once abandoned
            logger.warning("could not release Idempotency-Key claim", exc_info=True)
        raise
    content = jsonable_encoder(model.model_validate(result))
    kept = service.Stored(
        201, bytes(JSONResponse(content).body).decode(), response.headers.get("Location"),
        response.headers.get(ETAG),
    )
    await work.run(service.finish, **claim, stored=kept)
    return result
