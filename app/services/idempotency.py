"""Idempotency keys: a create runs once per key, and its retries get its response again.

A request with a key first claims it: one INSERT, committed, which the unique
constraint (scope, key) lets exactly one of any number of concurrent requests win,
on every worker and instance sharing the database. The winner runs the create and
then records its response on the claim (`finish`), or gives the claim up (`release`)
if the answer was a 5xx, so that a retry runs again. A loser reads the claim: still
running (409), another body or path (422), or done (its response, replayed).
"""

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.base import utcnow
from app.models import IdempotencyKey
from app.services.commit import constraint_name
from app.services.errors import Conflict, KeyReused

RUNNING = "A request with this Idempotency-Key is still running; retry later"
OTHER_BODY = "This Idempotency-Key was used with another request body"
OTHER_PATH = "This Idempotency-Key was used on another path"
# A claim still running after this long was abandoned (its process died before it
# could finish or release it): a retry takes it over. Far beyond any request's life
# (statement timeouts and reruns bound it to seconds).
ABANDONED_AFTER = timedelta(minutes=2)
# Expired keys removed per claim: enough to keep ahead of any steady stream of
# creates (each removes up to this many), never a long statement.
PURGE_BATCH = 100
_UNIQUE = "uq_idempotency_keys_scope_key"


@dataclass(frozen=True)
class Stored:
    """The response a key's first request got."""

    status: int
    body: str
    location: str | None
    etag: str | None


def claim(
    db: Session, *, scope: str, key: str, path: str, body_hash: str, hours: float
) -> Stored | None:
    """Claim `key` for this request (None: go ahead and create), or the response its
    first request got; Conflict while that one runs; KeyReused for another body or path."""
    now = utcnow()
    expired = select(IdempotencyKey.id).where(IdempotencyKey.expires_at < now).limit(PURGE_BATCH)
    purge = delete(IdempotencyKey).where(IdempotencyKey.id.in_(expired.scalar_subquery()))
    db.execute(purge.execution_options(synchronize_session=False))
    db.add(IdempotencyKey(scope=scope, key=key, path=path, body_hash=body_hash,
                          expires_at=now + timedelta(hours=hours)))
    try:
        db.commit()
        return None
    except IntegrityError as exc:
        db.rollback()
        if constraint_name(exc) != _UNIQUE:
            raise
    held = db.scalars(
        select(IdempotencyKey).where(IdempotencyKey.scope == scope, IdempotencyKey.key == key)
    ).one_or_none()
    if held is not None and held.status is None and held.created_at < now - ABANDONED_AFTER:
        abandoned = delete(IdempotencyKey).where(
            IdempotencyKey.id == held.id, IdempotencyKey.status.is_(None)
        )
        db.execute(abandoned.execution_options(synchronize_session=False))
        db.commit()
        held = None
    if held is None:  # released (a 5xx), purged or abandoned since: this request may run
        return claim(db, scope=scope, key=key, path=path, body_hash=body_hash, hours=hours)
    if held.path != path:
        raise KeyReused(OTHER_PATH)
    if held.body_hash != body_hash:
        raise KeyReused(OTHER_BODY)
    if held.status is None or held.body is None:
        raise Conflict(RUNNING)
    return Stored(held.status, held.body, held.location, held.etag)


def finish(db: Session, *, scope: str, key: str, stored: Stored) -> None:
    """Keep the response the claimed request got, for its retries."""
    db.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.scope == scope, IdempotencyKey.key == key)
        .values(status=stored.status, body=stored.body, location=stored.location,
                etag=stored.etag)
    )
    db.commit()


def release(db: Session, *, scope: str, key: str) -> None:
    """Give the claim up: the request failed in a way a retry may fix (a 5xx)."""
    db.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.scope == scope, IdempotencyKey.key == key,
            IdempotencyKey.status.is_(None),
        )
    )
    db.commit()
