"""Heroes, always read together with their team (one joined statement); any signed-in user
may create, change and delete them."""

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from app.core.limits import MAX_BIGINT
from app.models import Hero, Team, User
from app.schemas.hero import HeroCreate, HeroUpdate
from app.services.commit import commit, delete_row
from app.services.errors import InvalidReference
from app.services.lookup import get_by_id, get_one
from app.services.paging import Page, PageRequest, fetch_page

# Every hero read carries its team; declared once so no query forgets it.
WITH_TEAM = joinedload(Hero.team)


def _team_or_invalid(db: Session, team_id: int | None) -> Team | None:
    if team_id is None:
        return None
    team = db.get(Team, team_id) if team_id <= MAX_BIGINT else None
    if team is None:
        raise InvalidReference(f"Team {team_id} does not exist")
    return team


def _commit(db: Session, team_id: int | None) -> None:
    # The only constraint a hero write can break: its team vanished meanwhile.
    missing_team = InvalidReference(f"Team {team_id} does not exist")
    commit(db, {"fk_heroes_team_id_teams": missing_team}, row=Hero)


def get_hero(db: Session, actor: User, *, hero_id: int) -> Hero:
    """The hero with its team, or NotFound."""
    return get_one(db, select(Hero).options(WITH_TEAM), Hero, hero_id)


def list_heroes(
    db: Session,
    actor: User,
    *,
    page: PageRequest,
    team_id: int | None = None,
    name: str | None = None,
    min_age: int | None = None,
    max_age: int | None = None,
) -> Page[Hero]:
    """Heroes with their teams; age bounds are inclusive and never match a missing age."""
    stmt = select(Hero)
    if team_id is not None:
        stmt = stmt.where(Hero.team_id == team_id)
    if name is not None:
        stmt = stmt.where(Hero.name.icontains(name, autoescape=True))
    if min_age is not None:
        stmt = stmt.where(Hero.age >= min_age)
    if max_age is not None:
        stmt = stmt.where(Hero.age <= max_age)
    return fetch_page(db, stmt, Hero.id, page, options=[WITH_TEAM])


def create_hero(db: Session, actor: User, *, hero_in: HeroCreate) -> Hero:
    """A new hero; InvalidReference if its team does not exist."""
    team = _team_or_invalid(db, hero_in.team_id)
    hero = Hero(**hero_in.model_dump(exclude={"team_id"}), team=team)
    db.add(hero)
    _commit(db, hero_in.team_id)
    return hero


def update_hero(db: Session, actor: User, *, hero_id: int, hero_in: HeroUpdate) -> Hero:
    """Apply the fields sent; team_id null leaves the team."""
    hero = get_hero(db, actor, hero_id=hero_id)
    changes = hero_in.model_dump(exclude_unset=True)
    team_id = hero.team_id
    if "team_id" in changes:
        team_id = changes.pop("team_id")
        hero.team = _team_or_invalid(db, team_id)
    for field, value in changes.items():
        setattr(hero, field, value)
    _commit(db, team_id)
    return hero


def delete_hero(db: Session, actor: User, *, hero_id: int) -> None:
    """Remove the hero; NotFound if a concurrent request removed it first."""
    delete_row(db, get_by_id(db, Hero, hero_id))
