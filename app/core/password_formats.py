"""Password hashes other applications wrote, checked so their users keep their passwords.

A legacy database brings hashes from Werkzeug (`generate_password_hash`: pbkdf2 and
scrypt) or passlib (pbkdf2_sha1/256/512, sha256_crypt, sha512_crypt, bcrypt). Each is
checked here with hashlib and hmac, as those libraries compute them, rather than by
depending on either library for a path taken once per user: at the first successful
login the service replaces the hash with this project's own (app/core/security.py).

Plain bcrypt from another application hashed the password itself, where this project
hashes a SHA-256 of it first, so the two cannot share the `$2b$` prefix:
`import-legacy` stores such a hash as `bcrypt-raw$` + the hash. (`$2a$` and `$2y$`
hashes, which this project never writes, are taken as raw bcrypt as they are.)
"""

import base64
import hashlib
import hmac
from collections.abc import Callable

import bcrypt

# A hash costlier than these is refused rather than allowed to hold a core (or a GiB
# of memory) for seconds at each login; the libraries' defaults are far below.
MAX_PBKDF2_ITERATIONS = 5_000_000
MAX_SCRYPT_MEMORY = 256 * 1024 * 1024
MAX_SHA_CRYPT_ROUNDS = 2_000_000

RAW_BCRYPT_PREFIX = "bcrypt-raw$"


class UnknownHashFormat(ValueError):
    """The stored hash is in no format this module can check."""


def scheme_of(hashed: str) -> str:
    """A short name of the hash's format, for log lines ("werkzeug-scrypt"); never the hash."""
    for prefix, name in _PREFIXES:
        if hashed.startswith(prefix):
            return name
    return "unknown"


def verify_legacy(password: str, hashed: str) -> bool:
    """Whether `password` matches `hashed`, a hash another application wrote;
    UnknownHashFormat if it is in no format known here or is malformed."""
    for prefix, name in _PREFIXES:
        if hashed.startswith(prefix):
            try:
                return _VERIFIERS[name](password.encode(), hashed)
            except (ValueError, TypeError, OverflowError, MemoryError) as exc:
                raise UnknownHashFormat(f"malformed {name} hash") from exc
    raise UnknownHashFormat("no known prefix")


def _werkzeug(password: bytes, hashed: str) -> bool:
    method, salt, expected = hashed.split("$")
    kind, *params = method.split(":")
    if kind == "pbkdf2":
        hash_name, iterations = params[0], int(params[1])
        if not 0 < iterations <= MAX_PBKDF2_ITERATIONS:
            raise ValueError("iterations out of range")
        actual = hashlib.pbkdf2_hmac(hash_name, password, salt.encode(), iterations).hex()
    else:
        n, r, p = (int(x) for x in params)
        memory = 132 * n * r * p  # Werkzeug's own allowance
        if not 0 < memory <= MAX_SCRYPT_MEMORY:
            raise ValueError("scrypt cost out of range")
        actual = hashlib.scrypt(password, salt=salt.encode(), n=n, r=r, p=p, maxmem=memory).hex()
    return hmac.compare_digest(actual, expected)


def _ab64(text: str) -> bytes:
    # passlib's "adapted base64": "." for "+", no padding.
    text = text.replace(".", "+")
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _passlib_pbkdf2(password: bytes, hashed: str) -> bool:
    _, ident, rounds, salt, checksum = hashed.split("$")
    hash_name = {"pbkdf2": "sha1", "pbkdf2-sha256": "sha256", "pbkdf2-sha512": "sha512"}[ident]
    iterations = int(rounds)
    if not 0 < iterations <= MAX_PBKDF2_ITERATIONS:
        raise ValueError("rounds out of range")
    expected = _ab64(checksum)
    actual = hashlib.pbkdf2_hmac(hash_name, password, _ab64(salt), iterations, len(expected))
    return hmac.compare_digest(actual, expected)


# SHA-crypt (Drepper's specification, glibc's "$5$" and "$6$"): the final digest's
# bytes are written in this order, three at a time, in crypt's own base64.
_CRYPT64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_Order = list[tuple[int | None, int | None, int]]
_SHA256_ORDER: _Order = [
    (0, 10, 20), (21, 1, 11), (12, 22, 2), (3, 13, 23), (24, 4, 14),
    (15, 25, 5), (6, 16, 26), (27, 7, 17), (18, 28, 8), (9, 19, 29), (None, 31, 30),
]  # fmt: skip
_SHA512_ORDER: _Order = [
    (0, 21, 42), (22, 43, 1), (44, 2, 23), (3, 24, 45), (25, 46, 4), (47, 5, 26),
    (6, 27, 48), (28, 49, 7), (50, 8, 29), (9, 30, 51), (31, 52, 10), (53, 11, 32),
    (12, 33, 54), (34, 55, 13), (56, 14, 35), (15, 36, 57), (37, 58, 16), (59, 17, 38),
    (18, 39, 60), (40, 61, 19), (62, 20, 41), (None, None, 63),
]  # fmt: skip


def _crypt64(digest: bytes, order: _Order) -> str:
    out = []
    for a, b, c in order:
        word = (digest[a] << 16 if a is not None else 0) | (
            digest[b] << 8 if b is not None else 0
        ) | digest[c]
        chars = 4 if a is not None else (3 if b is not None else 2)
        for _ in range(chars):
            out.append(_CRYPT64[word & 0x3F])
            word >>= 6
    return "".join(out)


def _sha_crypt_digest(
    password: bytes, salt: bytes, rounds: int, new: Callable[..., "hashlib._Hash"]
) -> bytes:
    size = new().digest_size
    b = new(password + salt + password).digest()
    a = new(password + salt)
    a.update((b * (len(password) // size + 1))[: len(password)])
    length = len(password)
    while length:
        a.update(b if length & 1 else password)
        length >>= 1
    c = a.digest()
    dp = new(password * len(password)).digest()
    p = (dp * (len(password) // size + 1))[: len(password)]
    ds = new(salt * (16 + c[0])).digest()
    s = (ds * (len(salt) // size + 1))[: len(salt)]
    for i in range(rounds):
        step = new(p if i & 1 else c)
        if i % 3:
            step.update(s)
        if i % 7:
            step.update(p)
        step.update(c if i & 1 else p)
        c = step.digest()
    return c


def _sha_crypt(password: bytes, hashed: str) -> bool:
    parts = hashed.split("$")  # "", "5", ["rounds=N"], salt, checksum
    if len(parts) == 5:
        _, ident, rounds_field, salt, checksum = parts
        if not rounds_field.startswith("rounds="):
            raise ValueError("no rounds")
        rounds = min(max(int(rounds_field[7:]), 1000), 999_999_999)
    else:
        _, ident, salt, checksum = parts
        rounds = 5000
    if rounds > MAX_SHA_CRYPT_ROUNDS:
        raise ValueError("rounds out of range")
    new, order = (hashlib.sha256, _SHA256_ORDER)
    if ident == "6":
        new, order = hashlib.sha512, _SHA512_ORDER
    digest = _sha_crypt_digest(password, salt.encode()[:16], rounds, new)
    return hmac.compare_digest(_crypt64(digest, order), checksum)


def _raw_bcrypt(password: bytes, hashed: str) -> bool:
    if hashed.startswith(RAW_BCRYPT_PREFIX):
        hashed = hashed[len(RAW_BCRYPT_PREFIX) :]
    # Other applications' bcrypt libraries cut the password at 72 bytes; bcrypt 5 refuses.
    return bcrypt.checkpw(password[:72], hashed.encode())


_VERIFIERS: dict[str, Callable[[bytes, str], bool]] = {
    "werkzeug-pbkdf2": _werkzeug,
    "werkzeug-scrypt": _werkzeug,
    "passlib-pbkdf2": _passlib_pbkdf2,
    "sha256-crypt": _sha_crypt,
    "sha512-crypt": _sha_crypt,
    "raw-bcrypt": _raw_bcrypt,
}
_PREFIXES = [
    ("pbkdf2:", "werkzeug-pbkdf2"),
    ("scrypt:", "werkzeug-scrypt"),
    ("$pbkdf2$", "passlib-pbkdf2"),
    ("$pbkdf2-sha256$", "passlib-pbkdf2"),
    ("$pbkdf2-sha512$", "passlib-pbkdf2"),
    ("$5$", "sha256-crypt"),
    ("$6$", "sha512-crypt"),
    (RAW_BCRYPT_PREFIX, "raw-bcrypt"),
    ("$2a$", "raw-bcrypt"),
    ("$2y$", "raw-bcrypt"),
]
