"""Refresh tokens: one family per login, rotated at each use, revoked on reuse.

Each token is spent by the refresh that uses it, which issues the next one of its
family. The database decides who spends a token: a conditional UPDATE (`WHERE
spent_at IS NULL`) that only one transaction can win, so of two concurrent refreshes
with one token exactly one succeeds. A token sent again once spent (by a client that
kept it, or by whoever stole it) revokes its whole family: the thief and the owner
both have to log in again (OAuth 2.0 Security BCP, refresh token rotation).

Expired rows are purged a bounded batch at a time by the writes that add rows (a
login, a refresh), so the table stays the size of the live sessions with no cron job.
"""

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.orm import Session

from app.core.security import new_opaque_token, opaque_token_hash
from app.db.base import utcnow
from app.models import RefreshToken, User
from app.services.errors import InactiveUser, NotAuthenticated

INVALID_REFRESH_TOKEN = "Invalid refresh token"
# How many expired rows one write removes: enough to outpace the rows written (each
# write adds one), small enough that no request pays for a backlog.
PURGE_BATCH = 100


@dataclass(frozen=True)
class IssuedRefreshToken:
    """A refresh token as its client gets it, once: the only time it exists in clear."""

    token: str
    expires_in: int  # seconds


def _issue(db: Session, *, user_id: int, family: str, lifetime_days: int) -> IssuedRefreshToken:
    token = new_opaque_token()
    lifetime = timedelta(days=lifetime_days)
    db.add(
        RefreshToken(
            user_id=user_id,
            family=family,
            token_hash=opaque_token_hash(token),
            expires_at=utcnow() + lifetime,
        )
    )
    purge_expired(db)
    return IssuedRefreshToken(token=token, expires_in=int(lifetime.total_seconds()))


def start_family(db: Session, *, user: User, lifetime_days: int) -> IssuedRefreshToken:
    """The first refresh token of a new login of `user`; the caller commits."""
    return _issue(db, user_id=user.id, family=secrets.token_hex(16), lifetime_days=lifetime_days)


def purge_expired(db: Session, *, now: datetime | None = None) -> int:
    """Delete at most PURGE_BATCH expired refresh tokens; how many went."""
    expired = (
        select(RefreshToken.id)
        .where(RefreshToken.expires_at < (now or utcnow()))
        .order_by(RefreshToken.expires_at)
        .limit(PURGE_BATCH)
    )
    # A subquery in a DELETE, as both databases allow (MySQL would not).
    result = db.execute(delete(RefreshToken).where(RefreshToken.id.in_(expired.scalar_subquery())))
    return int(result.rowcount)  # type: ignore[attr-defined]


def _revoke(db: Session, *criteria: ColumnElement[bool]) -> None:
    """Revoke the live tokens that match, their rows locked first in id order.

    Requests that revoke the same family at once (the losers of a refresh race, each
    seeing reuse) otherwise locked its rows in the order each UPDATE met them, which
    differs as the rows' versions move: PostgreSQL found deadlocks, a second apart, until
    the requests gave up with 503 (tests/reliability/test_refresh_race.py). One order,
    no cycle. SQLite has one writer at a time and ignores FOR UPDATE."""
    live = (*criteria, RefreshToken.revoked_at.is_(None))
    db.execute(select(RefreshToken.id).where(*live).order_by(RefreshToken.id).with_for_update())
    db.execute(update(RefreshToken).where(*live).values(revoked_at=utcnow()))


def _revoke_family(db: Session, family: str) -> None:
    _revoke(db, RefreshToken.family == family)


def revoke_all_of_user(db: Session, *, user_id: int) -> None:
    """Revoke every refresh token of the user (a password change); the caller commits."""
    _revoke(db, RefreshToken.user_id == user_id)


def _find(db: Session, token: str) -> RefreshToken | None:
    return db.scalars(
        select(RefreshToken).where(RefreshToken.token_hash == opaque_token_hash(token))
    ).one_or_none()


def rotate(db: Session, *, token: str, lifetime_days: int) -> tuple[User, IssuedRefreshToken]:
    """Spend `token` and issue the next of its family, for its active user.

    NotAuthenticated if the token is unknown, expired, revoked or already spent; a spent
    one also revokes its family (committed before the error is raised). InactiveUser
    for a user switched off since they logged in (the token is kept)."""
    row = _find(db, token)
    now = utcnow()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        raise NotAuthenticated(INVALID_REFRESH_TOKEN)
    user = db.get(User, row.user_id)
    if user is None:
        raise NotAuthenticated(INVALID_REFRESH_TOKEN)
    if not user.is_active:
        raise InactiveUser("Inactive user")
    spent = db.execute(
        update(RefreshToken)
        .where(
            RefreshToken.id == row.id,
            RefreshToken.spent_at.is_(None),
            RefreshToken.revoked_at.is_(None),
        )
        .values(spent_at=now)
        .execution_options(synchronize_session=False)
    )
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        # Spent already: replayed, or sent twice at once. Either way it is reuse.
        _revoke_family(db, row.family)
        db.commit()
        raise NotAuthenticated(INVALID_REFRESH_TOKEN)
    issued = _issue(db, user_id=user.id, family=row.family, lifetime_days=lifetime_days)
    db.commit()
    return user, issued


def revoke_family_of(db: Session, *, token: str) -> None:
    """Log out: revoke the family `token` belongs to. Unknown, spent or revoked tokens
    are accepted silently (RFC 7009): there is nothing left to end."""
    row = _find(db, token)
    if row is not None:
        _revoke_family(db, row.family)
        db.commit()
