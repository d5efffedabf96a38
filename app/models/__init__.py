"""ORM models; importing this package registers every table on Base.metadata."""

from app.models.hero import Hero
from app.models.idempotency import IdempotencyKey
from app.models.item import Item
from app.models.team import Team
from app.models.user import User

__all__ = ["Hero", "IdempotencyKey", "Item", "Team", "User"]
