"""commit() names the constraint a failed commit broke, on every driver, and maps it."""

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.models import Hero, Item, Team, User
from app.services.commit import commit
from app.services.errors import Conflict, InvalidReference, NotAuthenticated
from app.testing.factories import TeamFactory, UserFactory

MISSING_ID = 2**62


def _user(username: str, email: str) -> User:
    return User(username=username, email=email, hashed_password="x")


CASES = {
    "uq_teams_name": lambda: (TeamFactory(name="Taken"), Team(name="Taken", headquarters="x")),
    # (An identical email breaks uq_users_email and uq_users_email_key at once, and
    # the databases differ on which they report; the users service maps both.)
    "uq_users_email_key": lambda: (UserFactory(email="straße@example.com"),
                                   _user("other", "strasse@example.com")),
    "uq_users_username_lower": lambda: (UserFactory(username="Bob"),
                                        _user("bob", "bob2@example.com")),
    "fk_heroes_team_id_teams": lambda: (None, Hero(name="h", secret_name="s",
                                                   team_id=MISSING_ID)),
    "fk_items_owner_id_users": lambda: (None, Item(title="t", owner_id=MISSING_ID)),
}


@pytest.mark.parametrize("constraint", CASES)
def test_each_constraint_maps_to_the_error_named_for_it(db, constraint):
    _, row = CASES[constraint]()
    db.add(row)
    expected = Conflict(f"{constraint} broken")

    with pytest.raises(Conflict, match=f"^{constraint} broken$"):
        commit(db, {"uq_unrelated": Conflict("wrong one"), constraint: expected})


def test_a_foreign_key_maps_among_unique_constraints(db):
    db.add(Item(title="t", owner_id=MISSING_ID))

    with pytest.raises(NotAuthenticated):
        commit(db, {"uq_teams_name": Conflict("no"),
                    "fk_items_owner_id_users": NotAuthenticated("gone")})


def test_a_constraint_nobody_named_is_not_hidden(db):
    db.add(Hero(name="h", secret_name="s", team_id=MISSING_ID))

    with pytest.raises(IntegrityError):
        commit(db, {"uq_teams_name": Conflict("no")})


def test_after_a_mapped_failure_the_session_is_usable(db):
    db.add(Hero(name="h", secret_name="s", team_id=MISSING_ID))
    with pytest.raises(InvalidReference):
        commit(db, {"fk_heroes_team_id_teams": InvalidReference("gone")})

    db.add(Team(name="Afterwards", headquarters="x"))
    commit(db)
    assert db.scalar(select(Team).where(Team.name == "Afterwards")) is not None
