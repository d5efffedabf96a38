"""Password hashing and access tokens; no database and no HTTP here."""

import base64
import hashlib
import hmac
import os
import secrets
import threading
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import bcrypt
import jwt

from app.core.blocking import off_the_loop
from app.core.limits import MAX_BIGINT
from app.core.password_formats import UnknownHashFormat, verify_legacy

ALGORITHM = "HS256"


def _prehash(password: str) -> bytes:
    # bcrypt reads only 72 bytes; hashing first keeps every byte significant.
    # base64 keeps NUL bytes (which bcrypt would stop at) out of its input.
    return base64.b64encode(hashlib.sha256(password.encode()).digest())


# bcrypt is CPU-bound by design (about 0.25 s at cost 12). Unbounded, a burst of
# logins takes every core and starves the event loop; capped one short of the
# core count, logins queue among themselves while other requests stay fast.
HASHING_SLOTS = max(1, (os.cpu_count() or 1) - 1)
_hashing = threading.BoundedSemaphore(HASHING_SLOTS)


def _hash(password: str, rounds: int) -> str:
    with _hashing:
        return bcrypt.hashpw(_prehash(password), bcrypt.gensalt(rounds)).decode()


# What this project writes: bcrypt of the SHA-256 prehash. Anything else came from a
# legacy application (app/core/password_formats.py) and is replaced at the next login.
OWN_PREFIX = "$2b$"


def _check(password: str, hashed: str) -> bool:
    with _hashing:
        if not is_own_hash(hashed):
            return verify_legacy(password, hashed)
        try:
            return bcrypt.checkpw(_prehash(password), hashed.encode())
        except ValueError as exc:  # "Invalid salt": truncated or mangled
            raise UnknownHashFormat("malformed bcrypt hash") from exc


def is_own_hash(hashed: str) -> bool:
    """Whether `hashed` is in this project's own format (else: re-hash at next login)."""
    return hashed.startswith(OWN_PREFIX)


def hash_password(password: str, rounds: int) -> str:
    return off_the_loop(_hash, password, rounds)


def verify_password(password: str, hashed: str) -> bool:
    """Whether `password` matches `hashed`, ours or a legacy application's;
    UnknownHashFormat when `hashed` is in no format known here."""
    return off_the_loop(_check, password, hashed)


@lru_cache
def _decoy_hash(rounds: int) -> str:
    return hash_password("decoy password, never matches", rounds)


def burn_verify_time(password: str, rounds: int) -> None:
    """Spend what a real check costs, so unknown usernames cannot be told by timing."""
    verify_password(password, _decoy_hash(rounds))


def password_fingerprint(hashed_password: str, secret_key: str) -> str:
    """A short tag of the stored hash: any password change makes old tokens stale."""
    digest = hmac.new(secret_key.encode(), hashed_password.encode(), hashlib.sha256)
    return digest.hexdigest()[:16]


def create_access_token(
    *, user_id: int, hashed_password: str, secret_key: str, expires_minutes: int
) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "iat": now,
        "exp": now + timedelta(minutes=expires_minutes),
        "pwd": password_fingerprint(hashed_password, secret_key),
    }
    return jwt.encode(claims, secret_key, algorithm=ALGORITHM)


class InvalidToken(Exception):
    """The token is malformed, forged or expired."""


def decode_access_token(token: str, secret_key: str) -> tuple[int, str]:
    """Return the user id and password fingerprint a valid token carries."""
    try:
        claims = jwt.decode(
            token, secret_key, algorithms=[ALGORITHM], options={"require": ["sub", "exp"]}
        )
        user_id = int(claims["sub"])
        fingerprint = str(claims.get("pwd", ""))
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise InvalidToken from exc
    if not 0 < user_id <= MAX_BIGINT:
        raise InvalidToken
    return user_id, fingerprint


# Opaque tokens (refresh, password reset): 32 random bytes, URL-safe base64 without
# padding, so always this many characters of this alphabet.
OPAQUE_TOKEN_LENGTH = 43
OPAQUE_TOKEN_PATTERN = r"^[A-Za-z0-9_-]{43}$"


def new_opaque_token() -> str:
    """A token nobody can guess (256 bits)."""
    return secrets.token_urlsafe(32)


def opaque_token_hash(token: str) -> str:
    """What is stored of an opaque token: its sha256, in hex. No salt or slow hash is
    needed, as for passwords: the token is random, not chosen by a person."""
    return hashlib.sha256(token.encode()).hexdigest()
