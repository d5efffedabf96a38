"""A row deleted by another request between a PATCH's read and its write is 404, not a 500."""

import pytest
from sqlalchemy import delete
from sqlalchemy.orm import Session

from app.schemas.hero import HeroUpdate
from app.schemas.item import ItemUpdate
from app.schemas.team import TeamUpdate
from app.schemas.user import UserUpdate
from app.services import heroes, items, teams, users
from app.services.errors import NotFound
from app.testing.factories import (
    TEST_BCRYPT_ROUNDS,
    HeroFactory,
    ItemFactory,
    TeamFactory,
    UserFactory,
)


def _delete_behind_the_orms_back(db: Session, row: object) -> None:
    """What a concurrent DELETE looks like to this session: the row is gone, the object is not."""
    table = type(row).__table__  # type: ignore[attr-defined]
    db.connection().execute(delete(table).where(table.c.id == row.id))  # type: ignore[attr-defined]


UPDATES = {
    "user": (UserFactory, lambda db, row: users.update_user(
        db=db, actor=row, user=row, user_in=UserUpdate(full_name="Renamed"),
        bcrypt_rounds=TEST_BCRYPT_ROUNDS)),
    "team": (TeamFactory, lambda db, row: teams.update_team(
        db=db, team=row, team_in=TeamUpdate(headquarters="Nowhere At All"))),
    "hero": (HeroFactory, lambda db, row: heroes.update_hero(
        db=db, hero=row, hero_in=HeroUpdate(age=12))),  # factories use 16 to 90: a real change
    "item": (ItemFactory, lambda db, row: items.update_item(
        db=db, item=row, item_in=ItemUpdate(title="Renamed"))),
}


@pytest.mark.parametrize("resource", UPDATES)
def test_updating_a_row_deleted_meanwhile_is_not_found(db, resource):
    factory, update = UPDATES[resource]
    row = factory()
    _delete_behind_the_orms_back(db, row)

    with pytest.raises(NotFound, match=f"{type(row).__name__} not found"):
        update(db, row)
