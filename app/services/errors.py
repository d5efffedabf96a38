"""Domain errors: what went wrong in the business rules, in words, not status codes."""


class DomainError(Exception):
    """Base of every error a service raises on purpose."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(DomainError):
    """No such row, or one the caller may not see."""


class Conflict(DomainError):
    """A unique value is already taken."""


class InvalidReference(DomainError):
    """The input points at a row that does not exist."""


class PermissionDenied(DomainError):
    """The caller is known but may not do this."""


class NotAuthenticated(DomainError):
    """No usable credentials: missing, forged, expired or no longer valid."""


class InvalidCredentials(NotAuthenticated):
    """Login failed; deliberately says nothing about which part was wrong."""


class InactiveUser(DomainError):
    """The credentials are right but the account is switched off."""


class ValueTooLong(DomainError):
    """A value, as it would be stored, does not fit its column (app/db/lengths.py)."""

    def __init__(self, field: str, length: int, limit: int, *, derived: bool) -> None:
        how = " once normalised for comparison" if derived else ""
        super().__init__(
            f"{field} is too long{how}: {length} characters, at most {limit} are stored"
        )
        self.field = field


class InvalidToken(DomainError):
    """A single-use token (a password reset's) that is spent, expired or unknown."""


class NotConfigured(DomainError):
    """The service lacks the settings this needs (e-mail without SMTP_HOST)."""


class PreconditionFailed(DomainError):
    """The caller's If-Match names a version the row no longer has."""


class KeyReused(DomainError):
    """An Idempotency-Key sent again with another body, or on another path."""
