"""ORM models; importing this package registers every table on Base.metadata."""

from app.models.hero import Hero
from app.models.item import Item
from app.models.legacy_row import LegacyRow
from app.models.team import Team
from app.models.user import User

__all__ = ["Hero", "Item", "LegacyRow", "Team", "User"]
