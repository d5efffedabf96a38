"""What legacy SQLAlchemy habits meet in these models, and the fixes
docs/migrating-from-legacy-sqlalchemy.md quotes from here."""

import pytest
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.orm import Session, selectinload

from app.models import Hero, Team


@pytest.fixture
def hero_id(db: Session) -> int:
    hero = Hero(
        name="Old Timer",
        secret_name="Query Get",
        team=Team(name="Legacy League", headquarters="Gotham"),
    )
    db.add(hero)
    db.commit()
    db.expunge_all()  # what a new request would see: nothing loaded yet
    return hero.id


def test_touching_a_relationship_nobody_loaded_raises(db, hero_id):
    hero = db.get(Hero, hero_id)

    with pytest.raises(InvalidRequestError, match="'Hero.team' is not available due to lazy="):
        hero.team  # noqa: B018  (the attribute access is what raises)


def test_loading_the_relationship_with_the_row_fixes_it(db, hero_id, sql_statements):
    hero = db.get(Hero, hero_id, options=[selectinload(Hero.team)])

    assert hero.team.name == "Legacy League"
    assert len(sql_statements) == 2  # the hero, then its team; nothing when touched
