"""Password resets: a single-use token sent by e-mail, spent to set a new password.

The request never says whether the address belongs to anyone (the route answers 202
before this runs); the token is stored only as its sha256, lives
PASSWORD_RESET_MINUTES, and is spent by the conditional UPDATE that confirms it, so
two confirmations of one token cannot both succeed. A confirmed reset ends every
session of the user: the new password hash voids their access tokens, and their
refresh tokens and other pending resets are revoked with it.
"""

from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from app.core.casefold import caseless_key
from app.core.config import Settings
from app.core.security import hash_password, new_opaque_token, opaque_token_hash
from app.db.base import utcnow
from app.models import PasswordResetToken, User
from app.services.commit import commit
from app.services.errors import InvalidToken
from app.services.refresh_tokens import PURGE_BATCH, revoke_all_of_user

INVALID_RESET_TOKEN = "Invalid or expired reset token"
CONFIRM_PATH = "/api/v1/auth/password-reset/confirm"


@dataclass(frozen=True)
class ResetTicket:
    """A reset just started: where to send its token, and the token, in clear this once."""

    email: str
    token: str


def _purge_expired(db: Session) -> None:
    expired = (
        select(PasswordResetToken.id)
        .where(PasswordResetToken.expires_at < utcnow())
        .order_by(PasswordResetToken.expires_at)
        .limit(PURGE_BATCH)
    )
    stale = PasswordResetToken.id.in_(expired.scalar_subquery())
    db.execute(delete(PasswordResetToken).where(stale))


def start_reset(db: Session, *, email: str, lifetime_minutes: int) -> ResetTicket | None:
    """A new reset token for the active user with this address; None if there is none."""
    user = db.scalars(select(User).where(User.email_key == caseless_key(email))).one_or_none()
    if user is None or not user.is_active:
        return None
    token = new_opaque_token()
    db.add(
        PasswordResetToken(
            user_id=user.id,
            token_hash=opaque_token_hash(token),
            expires_at=utcnow() + timedelta(minutes=lifetime_minutes),
        )
    )
    _purge_expired(db)
    commit(db)
    return ResetTicket(email=user.email, token=token)


def confirm_reset(db: Session, *, token: str, new_password: str, bcrypt_rounds: int) -> None:
    """Spend `token` and give its user `new_password`, ending every session of theirs;
    InvalidToken if it is spent, expired or unknown, or its user is no longer active."""
    # Hashed before the first query begins the transaction: no pooled connection waits
    # on bcrypt. Every token costs it, so timing tells nothing about which are real.
    hashed_password = hash_password(new_password, bcrypt_rounds)
    now = utcnow()
    user_id = db.scalar(
        select(PasswordResetToken.user_id).where(
            PasswordResetToken.token_hash == opaque_token_hash(token)
        )
    )
    spent = db.execute(
        update(PasswordResetToken)
        .where(
            PasswordResetToken.token_hash == opaque_token_hash(token),
            PasswordResetToken.spent_at.is_(None),
            PasswordResetToken.expires_at > now,
        )
        .values(spent_at=now)
        .execution_options(synchronize_session=False)
    )
    user = db.get(User, user_id) if user_id is not None else None
    if spent.rowcount != 1 or user is None or not user.is_active:  # type: ignore[attr-defined]
        db.rollback()
        raise InvalidToken(INVALID_RESET_TOKEN)
    user.hashed_password = hashed_password
    # The user's other pending resets would undo this one: spent with it.
    db.execute(
        update(PasswordResetToken)
        .where(PasswordResetToken.user_id == user.id, PasswordResetToken.spent_at.is_(None))
        .values(spent_at=now)
    )
    revoke_all_of_user(db, user_id=user.id)
    commit(db)


def _link(base: str, token: str) -> str:
    parts = urlsplit(base)
    query = urlencode([*parse_qsl(parts.query, keep_blank_values=True), ("token", token)])
    return urlunsplit(parts._replace(query=query))


def reset_message(ticket: ResetTicket, settings: Settings) -> EmailMessage:
    """The e-mail for `ticket`: plain text; a link from PASSWORD_RESET_URL when it is set
    (never from a request's Host header), else the token and how to use it."""
    minutes = settings.password_reset_minutes
    if settings.password_reset_url:
        how = (
            f"To choose a new password, open this link within {minutes} minutes:\n\n"
            f"{_link(settings.password_reset_url, ticket.token)}\n"
        )
    else:
        how = (
            f"Your reset token, valid for {minutes} minutes and once:\n\n{ticket.token}\n\n"
            f"To choose a new password, send it with the new password to the API:\n"
            f'POST {CONFIRM_PATH} {{"token": "{ticket.token}", "new_password": "..."}}\n'
        )
    message = EmailMessage()
    message["To"] = ticket.email
    message["Subject"] = "Reset your password"
    text = (
        "Someone, we hope you, asked to reset the password of the account with this "
        f"address.\n\n{how}\nIf it was not you, ignore this e-mail: your password stays as "
        "it is. Resetting it signs you out everywhere.\n"
    )
    # Plain 7-bit text when it can be: the token and link read as sent, even unrendered.
    message.set_content(text, cte="7bit" if text.isascii() else None)
    return message
