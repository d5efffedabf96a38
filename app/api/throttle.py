"""Login throttling: failed logins counted per account and per client address.

Counting is the `limits` library's (moving windows, so there is no burst at a
window's edge), in memory for one process or in Redis for several instances.

- Checked before the password is (a throttled attempt costs no bcrypt), counted
  only when it fails with wrong credentials: a person who types the right
  password is never counted, and a few typos are far below the limits.
- Keyed by the login normalised as login reads it, case folded and hashed: an
  unknown account counts exactly like a real one, so a 429 tells nothing about
  existence, and Redis never holds an email address.
- A stranger can block an account only while they keep failing, and only for the
  account's short window (`LOGIN_RATE_LIMIT_PER_ACCOUNT`, 10 per minute); a
  success clears the account's count. The address count is never cleared by a
  success, or one valid account would reset a guesser's count.
- Concurrent attempts are checked before any of them is counted, so a burst may
  overshoot a limit by the attempts in flight; bcrypt's cost bounds that.
- Redis unreachable: the attempt is allowed and a warning logged (fail open).
  Throttling is a brake on guessing, the password check still happens, and an
  outage of an auxiliary store should not stop every user from logging in.
"""

import hashlib
import ipaddress
import logging
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from limits import RateLimitItem, parse_many
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import ConfigurationError
from limits.storage import storage_from_string

from app.core.casefold import caseless_key
from app.core.config import BadSetting, Settings
from app.core.identifiers import normalise_identifier
from app.services.errors import InvalidCredentials, InvalidToken

logger = logging.getLogger(__name__)

TOO_MANY_ATTEMPTS = "Too many failed login attempts; try again later"
TOO_MANY_RESETS = "Too many password reset attempts; try again later"
# Redis answers in well under a millisecond; a second means it is not answering.
REDIS_SOCKET_TIMEOUT = 1.0


def _storage_uri(url: str) -> str:
    # The limits library's asyncio storages are named async+<scheme>.
    return url if url.startswith("async+") else f"async+{url}"


def _parse_limits(name: str, value: str) -> list[RateLimitItem]:
    try:
        return parse_many(value) if value.strip() else []
    except ValueError:
        raise BadSetting(
            name, f"={value!r} is not a rate limit; use e.g. '10/minute' or '30/minute;1000/day'"
        ) from None


def _account_key(login: str) -> str:
    # Every spelling login accepts for one account counts as that account.
    folded = caseless_key(normalise_identifier(login))
    return "account:" + hashlib.sha256(folded.encode()).hexdigest()


def _address_key(request: Request) -> str:
    host = request.client.host if request.client else "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return f"address:{host}"
    if address.version == 6:
        # One IPv6 host usually holds a whole /64: count it as one address.
        return f"address:{ipaddress.ip_network(f'{address}/64', strict=False)}"
    return f"address:{address}"


class LoginThrottle:
    """The counters of one app; `attempt` wraps one login."""

    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.login_rate_limit_enabled
        self._per_account = _parse_limits(
            "LOGIN_RATE_LIMIT_PER_ACCOUNT", settings.login_rate_limit_per_account
        )
        self._per_address = _parse_limits(
            "LOGIN_RATE_LIMIT_PER_ADDRESS", settings.login_rate_limit_per_address
        )
        url = settings.rate_limit_storage_url
        options: dict[str, float | str | bool] = {}
        if url.split("://", 1)[0].removeprefix("async+").startswith(("redis", "rediss")):
            options = {
                "implementation": "redispy",
                "key_prefix": settings.rate_limit_key_prefix,
                "socket_timeout": REDIS_SOCKET_TIMEOUT,
                "socket_connect_timeout": REDIS_SOCKET_TIMEOUT,
            }
        try:
            storage = storage_from_string(_storage_uri(url), **options)
        except ConfigurationError as exc:
            reason = str(exc).replace("async+", "")
            raise BadSetting(
                "RATE_LIMIT_STORAGE_URL",
                f"={url!r} cannot be used ({reason}); use memory:// or redis://host:port/db",
            ) from None
        self._limiter = MovingWindowRateLimiter(storage)

    def _rules(self, account: str | None, address: str) -> list[tuple[RateLimitItem, str]]:
        by_account = [(limit, account) for limit in self._per_account] if account else []
        return by_account + [(limit, address) for limit in self._per_address]

    async def _retry_after(self, rules: list[tuple[RateLimitItem, str]]) -> int | None:
        """Seconds until every exhausted limit allows an attempt again; None if none is."""
        waits = []
        for limit, key in rules:
            if not await self._limiter.test(limit, key):
                stats = await self._limiter.get_window_stats(limit, key)
                waits.append(max(1, math.ceil(stats.reset_time - time.time())))
        return max(waits) if waits else None

    async def _refuse_if_over(self, rules: list[tuple[RateLimitItem, str]], detail: str) -> None:
        try:
            retry_after = await self._retry_after(rules)
        except Exception as exc:  # the storage: Redis down, timing out, refusing
            logger.warning("login throttling unavailable, attempt allowed: %s", exc)
            retry_after = None
        if retry_after is not None:
            raise HTTPException(429, detail, headers={"Retry-After": str(retry_after)})

    @asynccontextmanager
    async def attempt(self, *, login: str, request: Request) -> AsyncIterator[None]:
        """429 if the account or the address is over its limit; else run the login,
        counting it if it fails with wrong credentials."""
        if not self.enabled:
            yield
            return
        account, address = _account_key(login), _address_key(request)
        rules = self._rules(account, address)
        await self._refuse_if_over(rules, TOO_MANY_ATTEMPTS)
        try:
            yield
        except InvalidCredentials:
            await self._record(rules)
            raise
        await self._forget(account)

    async def reset_requested(self, *, email: str, request: Request) -> None:
        """A password reset request for `email`: 429 if the address asked for, or the
        client's address, is over the login limits; else counted, whatever becomes of
        it (each may send an e-mail, so none is free). Counted apart from logins, with
        the same limits, the same whether or not the account exists."""
        if not self.enabled:
            return
        rules = self._rules("reset-" + _account_key(email), "reset-" + _address_key(request))
        await self._refuse_if_over(rules, TOO_MANY_RESETS)
        await self._record(rules)

    @asynccontextmanager
    async def reset_confirmation(self, *, request: Request) -> AsyncIterator[None]:
        """A reset token being confirmed: 429 if the client's address is over its limit;
        counted when the token is refused, as a failed login is."""
        if not self.enabled:
            yield
            return
        rules = self._rules(None, "reset-confirm-" + _address_key(request))
        await self._refuse_if_over(rules, TOO_MANY_RESETS)
        try:
            yield
        except InvalidToken:
            await self._record(rules)
            raise

    async def _record(self, rules: list[tuple[RateLimitItem, str]]) -> None:
        try:
            for limit, key in rules:
                await self._limiter.hit(limit, key)
        except Exception as exc:
            logger.warning("login throttling unavailable, failure not counted: %s", exc)

    async def _forget(self, account: str) -> None:
        try:
            for limit in self._per_account:
                await self._limiter.clear(limit, account)
        except Exception as exc:
            logger.warning("login throttling unavailable, count not cleared: %s", exc)


async def login_throttle(request: Request) -> LoginThrottle:
    """The app's throttle (built with it in create_app)."""
    throttle: LoginThrottle = request.app.state.login_throttle
    return throttle


LoginThrottleDep = Annotated[LoginThrottle, Depends(login_throttle)]
