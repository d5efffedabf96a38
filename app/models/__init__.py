"""ORM models; importing this package registers every table on Base.metadata."""

from app.models.hero import Hero
from app.models.idempotency import IdempotencyKey
from app.models.item import Item
from app.models.legacy_row import LegacyRow
from app.models.password_reset import PasswordResetToken
from app.models.refresh_token import RefreshToken
from app.models.team import Team
from app.models.user import User

__all__ = [
    "Hero", "IdempotencyKey", "Item", "LegacyRow", "PasswordResetToken", "RefreshToken", "Team",
    "User",
]
