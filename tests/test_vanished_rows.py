"""A row deleted by another request between a write's read and its commit: 404 for the
row itself, 422 for a row it refers to, 401 for its caller; never a 500."""

import pytest
from sqlalchemy import delete
from sqlalchemy.orm import Session

from app.schemas.hero import HeroCreate, HeroUpdate
from app.schemas.item import ItemCreate, ItemUpdate
from app.schemas.team import TeamUpdate
from app.schemas.user import UserUpdate
from app.services import heroes, items, teams, users
from app.services.errors import InvalidReference, NotAuthenticated, NotFound
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


DELETES = {
    "user": (UserFactory, lambda db, row: users.delete_user(db, actor=row, user=row)),
    "team": (TeamFactory, lambda db, row: teams.delete_team(db=db, team=row)),
    "hero": (HeroFactory, lambda db, row: heroes.delete_hero(db=db, hero=row)),
    "item": (ItemFactory, lambda db, row: items.delete_item(db=db, item=row)),
}


@pytest.mark.parametrize("resource", DELETES)
def test_deleting_a_row_deleted_meanwhile_is_not_found(db, resource):
    """Of two DELETEs of one row, only the one that removed it succeeds."""
    factory, delete_ = DELETES[resource]
    row = factory()
    _delete_behind_the_orms_back(db, row)

    with pytest.raises(NotFound, match=f"{type(row).__name__} not found"):
        delete_(db, row)


def test_item_of_an_owner_deleted_meanwhile_is_not_authenticated(db):
    """The owner is the caller: gone between their token check and the INSERT, they are
    no longer anyone (401, as for their next request), not a foreign key error (500)."""
    owner = UserFactory()
    _delete_behind_the_orms_back(db, owner)

    with pytest.raises(NotAuthenticated, match="Could not validate credentials"):
        items.create_item(db=db, owner=owner, item_in=ItemCreate(title="Orphan"))


def test_hero_joining_a_team_deleted_meanwhile_is_an_invalid_reference(db):
    team = TeamFactory()  # in the session: the service's check finds it without a query
    _delete_behind_the_orms_back(db, team)

    with pytest.raises(InvalidReference, match=f"Team {team.id} does not exist"):
        heroes.create_hero(db=db, hero_in=HeroCreate(name="Joiner", secret_name="s",
                                                     team_id=team.id))


def test_hero_moving_to_a_team_deleted_meanwhile_is_an_invalid_reference(db):
    hero, team = HeroFactory(), TeamFactory()
    _delete_behind_the_orms_back(db, team)

    with pytest.raises(InvalidReference, match=f"Team {team.id} does not exist"):
        heroes.update_hero(db=db, hero=hero, hero_in=HeroUpdate(team_id=team.id))
