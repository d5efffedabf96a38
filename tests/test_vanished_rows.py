"""A row deleted by another request between a write's read and its commit: 404 for the
row itself, 422 for a row it refers to, 401 for its caller; never a 500."""

import pytest
from sqlalchemy import delete, event
from sqlalchemy.orm import ORMExecuteState, Session

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


def _vanishes_before_the_write(db: Session, row: object) -> None:
    """Delete `row` behind the ORM's back just before the service's write reaches the
    database: after the service read it, as a concurrent DELETE would."""

    vanished = []

    def vanish() -> None:
        if not vanished:
            vanished.append(row)
            _delete_behind_the_orms_back(db, row)

    def on_flush(session: Session, *_: object) -> None:
        vanish()

    def on_execute(state: ORMExecuteState) -> None:
        if state.is_delete or state.is_update:
            vanish()

    event.listen(db, "before_flush", on_flush)
    event.listen(db, "do_orm_execute", on_execute)


# Each takes the session, the row, and someone signed in who may change it.
UPDATES = {
    "user": (UserFactory, lambda db, row, actor: users.update_user(
        db, row, user_id=row.id, user_in=UserUpdate(full_name="Renamed"),
        bcrypt_rounds=TEST_BCRYPT_ROUNDS)),
    "team": (TeamFactory, lambda db, row, actor: teams.update_team(
        db, actor, team_id=row.id, team_in=TeamUpdate(headquarters="Nowhere At All"))),
    "hero": (HeroFactory, lambda db, row, actor: heroes.update_hero(
        db, actor, hero_id=row.id, hero_in=HeroUpdate(age=12))),  # factories use 16 to 90
    "item": (ItemFactory, lambda db, row, actor: items.update_item(
        db, actor, item_id=row.id, item_in=ItemUpdate(title="Renamed"))),
}


@pytest.mark.parametrize("resource", UPDATES)
def test_updating_a_row_deleted_meanwhile_is_not_found(db, resource):
    factory, update = UPDATES[resource]
    row, actor = factory(), UserFactory(is_superuser=True)
    _vanishes_before_the_write(db, row)

    with pytest.raises(NotFound, match=f"{type(row).__name__} not found"):
        update(db, row, actor)


DELETES = {
    "user": (UserFactory, lambda db, row, actor: users.delete_user(db, row, user_id=row.id)),
    "team": (TeamFactory, lambda db, row, actor: teams.delete_team(db, actor, team_id=row.id)),
    "hero": (HeroFactory, lambda db, row, actor: heroes.delete_hero(db, actor, hero_id=row.id)),
    "item": (ItemFactory, lambda db, row, actor: items.delete_item(db, actor, item_id=row.id)),
}


@pytest.mark.parametrize("resource", DELETES)
def test_deleting_a_row_deleted_meanwhile_is_not_found(db, resource):
    """Of two DELETEs of one row, only the one that removed it succeeds."""
    factory, delete_ = DELETES[resource]
    row, actor = factory(), UserFactory(is_superuser=True)
    _vanishes_before_the_write(db, row)

    with pytest.raises(NotFound, match=f"{type(row).__name__} not found"):
        delete_(db, row, actor)


def test_item_of_an_owner_deleted_meanwhile_is_not_authenticated(db):
    """The owner is the caller: gone between their token check and the INSERT, they are
    no longer anyone (401, as for their next request), not a foreign key error (500)."""
    owner = UserFactory()
    _delete_behind_the_orms_back(db, owner)

    with pytest.raises(NotAuthenticated, match="Could not validate credentials"):
        items.create_item(db, actor=owner, item_in=ItemCreate(title="Orphan"))


def test_hero_joining_a_team_deleted_meanwhile_is_an_invalid_reference(db):
    # The team is in the session: the service's check finds it without a query.
    team, actor = TeamFactory(), UserFactory()
    _delete_behind_the_orms_back(db, team)

    with pytest.raises(InvalidReference, match=f"Team {team.id} does not exist"):
        heroes.create_hero(db, actor, hero_in=HeroCreate(name="Joiner", secret_name="s",
                                                     team_id=team.id))


def test_hero_moving_to_a_team_deleted_meanwhile_is_an_invalid_reference(db):
    hero, team, actor = HeroFactory(), TeamFactory(), UserFactory()
    _vanishes_before_the_write(db, team)

    with pytest.raises(InvalidReference, match=f"Team {team.id} does not exist"):
        heroes.update_hero(
            db, actor, hero_id=hero.id, hero_in=HeroUpdate(team_id=team.id)
        )
