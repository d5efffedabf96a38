"""commit() names the constraint a failed commit broke, on every driver, and maps it."""

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, UniqueConstraint, insert, select
from sqlalchemy.exc import IntegrityError

from app.db.base import NAMING_CONVENTION
from app.models import Hero, Item, LegacyRow, Team, User
from app.services.commit import commit, mapped_errors
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


# --- composite keys and Core statements (issue 16) ---------------------------------------


def _legacy_row(key: str) -> LegacyRow:
    return LegacyRow(legacy_table="user", legacy_key=key, target_table="users", target_key="1")


def test_a_composite_primary_key_has_one_name_on_every_database(db):
    db.add(_legacy_row("7"))
    commit(db)
    db.add(_legacy_row("7"))

    # SQLite says "UNIQUE constraint failed: legacy_rows.legacy_table, legacy_rows.legacy_key";
    # PostgreSQL names pk_legacy_rows. Both are pk_legacy_rows here.
    with pytest.raises(Conflict, match="^imported already$"):
        commit(db, {"uq_legacy_rows_legacy_table": Conflict("wrong name"),
                    "pk_legacy_rows": Conflict("imported already")})


def test_the_naming_convention_names_every_column_of_a_composite_key():
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    follows = Table(
        "follows", metadata, Column("a", Integer), Column("b", Integer),
        UniqueConstraint("a", "b"), UniqueConstraint("a"),
    )

    assert sorted(c.name for c in follows.constraints if isinstance(c, UniqueConstraint)) == [
        "uq_follows_a", "uq_follows_a_b"
    ]


def test_a_core_statement_in_a_service_is_mapped_too(db):
    TeamFactory(name="Taken")

    # A Core INSERT fails when executed, before any commit could map it.
    with pytest.raises(Conflict, match="^name taken$"):
        with mapped_errors(db, {"uq_teams_name": Conflict("name taken")}):
            db.execute(insert(Team).values(name="Taken", headquarters="x"))
            db.commit()

    db.add(Team(name="Afterwards", headquarters="x"))
    commit(db)  # the session is usable again
    assert db.scalar(select(Team).where(Team.name == "Afterwards")) is not None
