"""Logging in and out, refreshing, resolving a token to its user, and the first superuser."""

import hmac
import logging
from dataclasses import dataclass, field

from sqlalchemy import update
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.password_formats import UnknownHashFormat, scheme_of
from app.core.security import (
    InvalidToken,
    burn_verify_time,
    create_access_token,
    decode_access_token,
    hash_password,
    is_own_hash,
    password_fingerprint,
    verify_password,
)
from app.models import User
from app.schemas.auth import AccessToken, Token
from app.schemas.user import UserCreate
from app.services import refresh_tokens
from app.services.commit import SequenceRepaired, commit
from app.services.errors import Conflict, InactiveUser, InvalidCredentials, NotAuthenticated
from app.services.users import create_user, get_user_by_login

logger = logging.getLogger(__name__)

WRONG_CREDENTIALS = "Incorrect username or password"
INVALID_TOKEN = "Could not validate credentials"


def authenticate(db: Session, *, login: str, password: str, bcrypt_rounds: int) -> User:
    """The user these credentials belong to; the same work is done whether or not it exists."""
    user = get_user_by_login(db, login=login)
    # End the read before bcrypt's quarter of a second (queued behind other logins on
    # HASHING_SLOTS): the connection goes back to the pool instead of waiting with it.
    # The user's columns stay loaded (expire_on_commit=False).
    db.commit()
    if user is None:
        burn_verify_time(password, bcrypt_rounds)
        raise InvalidCredentials(WRONG_CREDENTIALS)
    try:
        matches = verify_password(password, user.hashed_password)
    except UnknownHashFormat as exc:
        # Nothing the caller can fix: the same answer as a wrong password, and one line
        # for the operator (never the hash itself).
        logger.warning(
            "user %s cannot log in: their stored password hash is unusable (%s); "
            "set a new password for them",
            user.id,
            exc,
        )
        burn_verify_time(password, bcrypt_rounds)
        raise InvalidCredentials(WRONG_CREDENTIALS) from None
    if not matches:
        raise InvalidCredentials(WRONG_CREDENTIALS)
    if not user.is_active:
        raise InactiveUser("Inactive user")
    if not is_own_hash(user.hashed_password):
        _replace_legacy_hash(db, user, password=password, bcrypt_rounds=bcrypt_rounds)
    return user


def _replace_legacy_hash(db: Session, user: User, *, password: str, bcrypt_rounds: int) -> None:
    """Store the project's own hash in place of a legacy one the password just matched.

    Only if the hash is still the legacy one: of two concurrent first logins, the
    second keeps the first one's hash, so the token the first was given stays valid
    (tokens carry a fingerprint of the hash)."""
    legacy = user.hashed_password
    new = hash_password(password, bcrypt_rounds)
    db.execute(
        update(User)
        .where(User.id == user.id, User.hashed_password == legacy)
        .values(hashed_password=new)
        .execution_options(synchronize_session=False)
    )
    db.commit()
    db.refresh(user)
    db.commit()
    if user.hashed_password == new:
        logger.info("user %s: %s password hash replaced by bcrypt", user.id, scheme_of(legacy))


def issue_token(*, user: User, settings: Settings) -> AccessToken:
    """A signed access token for `user`."""
    token = create_access_token(
        user_id=user.id,
        hashed_password=user.hashed_password,
        secret_key=settings.secret_key,
        expires_minutes=settings.access_token_expire_minutes,
    )
    return AccessToken(access_token=token, expires_in=settings.access_token_expire_minutes * 60)


def _token_pair(
    user: User, refresh: refresh_tokens.IssuedRefreshToken, settings: Settings
) -> Token:
    access = issue_token(user=user, settings=settings)
    return Token(
        **access.model_dump(), refresh_token=refresh.token, refresh_expires_in=refresh.expires_in
    )


def log_in(db: Session, *, login: str, password: str, settings: Settings) -> Token:
    """An access token and the first refresh token of a new login, for these credentials."""
    user = authenticate(db, login=login, password=password, bcrypt_rounds=settings.bcrypt_rounds)
    refresh = refresh_tokens.start_family(
        db, user=user, lifetime_days=settings.refresh_token_expire_days
    )
    # The user deleted between the password check and now: as if they never existed.
    commit(db, {"fk_refresh_tokens_user_id_users": InvalidCredentials(WRONG_CREDENTIALS)})
    return _token_pair(user, refresh, settings)


def refresh(db: Session, *, refresh_token: str, settings: Settings) -> Token:
    """Spend `refresh_token` for a new access token and the next refresh token of its
    login; NotAuthenticated if it cannot be (a spent one revokes its login's tokens)."""
    user, issued = refresh_tokens.rotate(
        db, token=refresh_token, lifetime_days=settings.refresh_token_expire_days
    )
    return _token_pair(user, issued, settings)


def log_out(db: Session, *, refresh_token: str) -> None:
    """End the login `refresh_token` belongs to: every refresh token of it is revoked."""
    refresh_tokens.revoke_family_of(db, token=refresh_token)


@dataclass(frozen=True)
class Caller:
    """Who a request's bearer token says is calling: its signature and expiry checked
    (`caller_from_token`), its user not read yet (`signed_in_user` does, in the request's
    unit of work)."""

    user_id: int
    fingerprint: str  # of the password hash the token was issued against
    secret_key: str = field(repr=False)


def caller_from_token(token: str | None, *, secret_key: str) -> Caller:
    """The caller a bearer token names; NotAuthenticated if there is none, or it is
    malformed, forged or expired. No database: a token can be refused before anything
    else is done for its request."""
    if not token:
        raise NotAuthenticated("Not authenticated")
    try:
        user_id, fingerprint = decode_access_token(token, secret_key)
    except InvalidToken as exc:
        raise NotAuthenticated(INVALID_TOKEN) from exc
    return Caller(user_id=user_id, fingerprint=fingerprint, secret_key=secret_key)


def signed_in_user(db: Session, caller: Caller) -> User:
    """The active user `caller` is, read fresh (permissions count as they are now);
    NotAuthenticated if they are gone, inactive, or changed their password since."""
    user = db.get(User, caller.user_id)
    if user is None or not user.is_active:
        raise NotAuthenticated(INVALID_TOKEN)
    expected = password_fingerprint(user.hashed_password, caller.secret_key)
    if not hmac.compare_digest(caller.fingerprint, expected):
        raise NotAuthenticated(INVALID_TOKEN)  # issued before the last password change
    return user


def ensure_first_superuser(db: Session, *, settings: Settings) -> User | None:
    """Create the superuser named in the settings unless a user already has that name."""
    username, email = settings.first_superuser_username, settings.first_superuser_email
    password = settings.first_superuser_password
    if not (username and email and password):
        return None
    existing = get_user_by_login(db, login=username) or get_user_by_login(db, login=email)
    if existing is not None:
        return existing
    user_in = UserCreate(username=username, email=email, password=password)
    try:
        try:
            return create_user(
                db=db, user_in=user_in, bcrypt_rounds=settings.bcrypt_rounds, is_superuser=True
            )
        except SequenceRepaired:  # ids were copied in (import-legacy); the id is free now
            return create_user(
                db=db, user_in=user_in, bcrypt_rounds=settings.bcrypt_rounds, is_superuser=True
            )
    except Conflict:
        # Another worker starting at the same moment created it first.
        return get_user_by_login(db, login=username)
