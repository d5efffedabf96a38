"""Each service holds its own rule about who may: called directly, as a route, a
command or a test would, by someone who may not, it refuses, and nothing changes."""

import inspect
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.orm import Session

from app.schemas.item import ItemUpdate
from app.schemas.user import UserCreate, UserUpdate
from app.services import analytics, heroes, items, teams, users
from app.services.errors import DomainError, NotAuthenticated, NotFound, PermissionDenied
from app.services.paging import PageRequest
from app.testing.factories import TEST_BCRYPT_ROUNDS, ItemFactory, UserFactory

NEW_USER = UserCreate(username="newcomer", email="newcomer@example.com", password="long enough")

# service -> (what the refused call does, the error, its message)
REFUSALS: dict[Callable[..., Any], tuple[Callable[[Session, Any], Any], type[DomainError], str]] = {
    items.get_item: (
        lambda db, other: items.get_item(db, other, item_id=ItemFactory().id),
        NotFound, "Item not found"),
    items.update_item: (
        lambda db, other: items.update_item(
            db, other, item_id=ItemFactory(title="Mine").id, item_in=ItemUpdate(title="Theirs")),
        NotFound, "Item not found"),
    items.delete_item: (
        lambda db, other: items.delete_item(db, other, item_id=ItemFactory().id),
        NotFound, "Item not found"),
    users.update_user: (
        lambda db, other: users.update_user(
            db, other, user_id=UserFactory(full_name="Unchanged").id,
            user_in=UserUpdate(full_name="Renamed"), bcrypt_rounds=TEST_BCRYPT_ROUNDS),
        PermissionDenied, "Not enough permissions"),
    users.delete_user: (
        lambda db, other: users.delete_user(db, other, user_id=UserFactory().id),
        PermissionDenied, "Not enough permissions"),
    users.require_superuser: (
        lambda db, other: users.require_superuser(db, other),
        PermissionDenied, "Superuser privileges required"),
    users.register_user: (
        lambda db, other: users.register_user(
            db, other, open_registration=False, user_in=NEW_USER,
            bcrypt_rounds=TEST_BCRYPT_ROUNDS),
        PermissionDenied, "Superuser privileges required"),
}

# Services whose rule is "any signed-in user": nobody who has an actor is refused.
OPEN_TO_EVERY_ACTOR = {
    users.get_user, users.list_users, users.current_user,
    teams.get_team, teams.list_teams, teams.create_team, teams.update_team, teams.delete_team,
    heroes.get_hero, heroes.list_heroes, heroes.create_hero, heroes.update_hero,
    heroes.delete_hero, items.list_items, items.create_item,
}


def _services_with_an_actor() -> set[Callable[..., Any]]:
    found = set()
    for module in (analytics, heroes, items, teams, users):
        for _, fn in inspect.getmembers(module, inspect.isfunction):
            if fn.__module__ == module.__name__ and not fn.__name__.startswith("_"):
                parameters = list(inspect.signature(fn).parameters)
                if parameters[1:2] in (["actor"], ["registrar"]):
                    found.add(fn)
    return found


def test_every_service_that_acts_for_someone_has_its_rule_pinned_here():
    assert _services_with_an_actor() == set(REFUSALS) | OPEN_TO_EVERY_ACTOR


@pytest.mark.parametrize("service", REFUSALS, ids=lambda fn: f"{fn.__module__}.{fn.__name__}")
def test_someone_who_may_not_is_refused_by_the_service_itself(db, service):
    call, error, message = REFUSALS[service]
    other = UserFactory(username="someone_else")

    with pytest.raises(error, match=message):
        call(db, other)


def test_what_a_refused_change_would_have_written_is_not_written(db):
    owner, other = UserFactory(), UserFactory()
    item = ItemFactory(owner=owner, title="Mine")

    with pytest.raises(NotFound):
        items.update_item(db, other, item_id=item.id, item_in=ItemUpdate(title="Theirs"))

    db.expire_all()
    assert items.get_item(db, owner, item_id=item.id).title == "Mine"


def test_closed_registration_without_anyone_signed_in_is_not_authenticated(db):
    with pytest.raises(NotAuthenticated):
        users.register_user(db, None, open_registration=False, user_in=NEW_USER,
                            bcrypt_rounds=TEST_BCRYPT_ROUNDS)


def test_someone_elses_items_are_not_listed(db):
    owner, other = UserFactory(), UserFactory()
    ItemFactory(owner=owner)

    page = items.list_items(db, other, page=PageRequest(), owner_id=owner.id)

    assert (page.rows, page.total) == ([], 0)
